// Heapster's metric schema, computed from one published window.
//
// Heapster (the system metrics-server replaced) exported, per container, pod, node, namespace and
// cluster, a set of named metrics ("cpu/usage_rate", "memory/working_set", ...) with labels
// ("type", "pod_name", "namespace_name", "container_name", "nodename"). Dashboards and sinks were
// built on those names, units and labels; this file produces the subset that a window holds:
//
//   name                 unit        types
//   cpu/usage_rate       millicores  pod_container, pod, node, ns, cluster
//   memory/working_set   bytes       pod_container, pod, node, ns, cluster
//
// and, when the window holds the kubelet's /stats/summary (--kubelet-summary-api), Heapster's
// summary-source names (metrics/sources/summary/summary.go), each only where the kubelet
// reported the value:
//
//   uptime                          ms since start   pod_container, pod, node
//   memory/usage, memory/rss        bytes            pod_container, pod (sum), node;
//                                                    memory/usage also ns, cluster (sums)
//   memory/page_faults,
//   memory/major_page_faults        count            pod_container, pod (sum), node
//   network/rx, network/tx          bytes            pod, node
//   network/rx_errors, /tx_errors   count            pod, node
//   filesystem/usage, /limit,
//   /available                      bytes            pod_container (resource_id "/" rootfs,
//                                                    "logs"), node ("/": node.fs)
//   <cumulative>_rate               per second       floats (is_float), the cumulative ones
//                                                    above, from the previous window
//
// Aggregation follows Heapster's: a pod is the sum of its containers, a namespace the sum of its
// pods, the cluster the sum of its namespaces; a node is what its kubelet reports for the node.
// Names that need data the window does not hold (requests, limits, ...) are listed, with the
// reason, in the README.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "window/window.h"

namespace exporter {

// Heapster's metric names (metrics/core/metrics.go).
inline constexpr std::string_view kCpuUsageRate = "cpu/usage_rate";
inline constexpr std::string_view kMemoryWorkingSet = "memory/working_set";
inline constexpr std::string_view kUptime = "uptime";
inline constexpr std::string_view kMemoryUsage = "memory/usage";
inline constexpr std::string_view kMemoryRss = "memory/rss";
inline constexpr std::string_view kMemoryPageFaults = "memory/page_faults";
inline constexpr std::string_view kMemoryPageFaultsRate = "memory/page_faults_rate";
inline constexpr std::string_view kMemoryMajorPageFaults = "memory/major_page_faults";
inline constexpr std::string_view kMemoryMajorPageFaultsRate = "memory/major_page_faults_rate";
inline constexpr std::string_view kNetworkRx = "network/rx";
inline constexpr std::string_view kNetworkRxRate = "network/rx_rate";
inline constexpr std::string_view kNetworkRxErrors = "network/rx_errors";
inline constexpr std::string_view kNetworkRxErrorsRate = "network/rx_errors_rate";
inline constexpr std::string_view kNetworkTx = "network/tx";
inline constexpr std::string_view kNetworkTxRate = "network/tx_rate";
inline constexpr std::string_view kNetworkTxErrors = "network/tx_errors";
inline constexpr std::string_view kNetworkTxErrorsRate = "network/tx_errors_rate";
inline constexpr std::string_view kFilesystemUsage = "filesystem/usage";
inline constexpr std::string_view kFilesystemLimit = "filesystem/limit";
inline constexpr std::string_view kFilesystemAvailable = "filesystem/available";
inline constexpr std::string_view kCpuRequest = "cpu/request";
inline constexpr std::string_view kCpuLimit = "cpu/limit";
inline constexpr std::string_view kMemoryRequest = "memory/request";
inline constexpr std::string_view kMemoryLimit = "memory/limit";
inline constexpr std::string_view kCpuNodeCapacity = "cpu/node_capacity";
inline constexpr std::string_view kCpuNodeAllocatable = "cpu/node_allocatable";
inline constexpr std::string_view kCpuNodeReservation = "cpu/node_reservation";
inline constexpr std::string_view kCpuNodeUtilization = "cpu/node_utilization";
inline constexpr std::string_view kMemoryNodeCapacity = "memory/node_capacity";
inline constexpr std::string_view kMemoryNodeAllocatable = "memory/node_allocatable";
inline constexpr std::string_view kMemoryNodeReservation = "memory/node_reservation";
inline constexpr std::string_view kMemoryNodeUtilization = "memory/node_utilization";

// Heapster's label keys (metrics/core/labels.go) and values of "type".
inline constexpr std::string_view kLabelType = "type";
inline constexpr std::string_view kLabelPodName = "pod_name";
inline constexpr std::string_view kLabelNamespaceName = "namespace_name";
inline constexpr std::string_view kLabelContainerName = "container_name";
inline constexpr std::string_view kLabelNodename = "nodename";
inline constexpr std::string_view kLabelResourceId = "resource_id";
// Heapster's resource_id values for filesystems (metrics/sources/summary/summary.go).
inline constexpr std::string_view kResourceRootFs = "/";
inline constexpr std::string_view kResourceLogs = "logs";
inline constexpr std::string_view kTypeContainer = "pod_container";
inline constexpr std::string_view kTypePod = "pod";
inline constexpr std::string_view kTypeNode = "node";
inline constexpr std::string_view kTypeNamespace = "ns";
inline constexpr std::string_view kTypeCluster = "cluster";

// One value of one metric for one labelled object.
struct Point {
  std::string metric;                                     // Heapster name, e.g. "cpu/usage_rate"
  std::vector<std::pair<std::string, std::string>> tags;  // sorted by key; never an empty value
  int64_t value = 0;                                      // in the metric's unit (table above)
  base::UnixNanos timestamp = 0;                          // kubelet sample time (see below)
  // Heapster's MetricFloat metrics (cpu/node_utilization, memory/node_utilization): the value is
  // `float_value` and `value` is unused. Encoders write an integer for the others.
  bool is_float = false;
  double float_value = 0;
};

// Pods' requests and limits and nodes' capacity and allocatable, for Heapster's request, limit
// and node autoscaling names (the opt-in pod-resources mode). Plain values.
struct ContainerResources {
  std::string name;
  int64_t cpu_request_millicores = 0;  // resources.requests.cpu; 0 when unset (as Heapster)
  int64_t cpu_limit_millicores = 0;    // resources.limits.cpu
  int64_t memory_request_bytes = 0;    // resources.requests.memory
  int64_t memory_limit_bytes = 0;      // resources.limits.memory
};
struct PodResources {
  std::string namespace_;
  std::string name;
  std::string node;                            // spec.nodeName
  std::vector<ContainerResources> containers;  // spec.containers, sorted by name
};
struct NodeResources {
  std::string name;
  int64_t cpu_capacity_millicores = 0;     // status.capacity.cpu
  int64_t cpu_allocatable_millicores = 0;  // status.allocatable.cpu; 0 = unknown
  int64_t memory_capacity_bytes = 0;       // status.capacity.memory
  int64_t memory_allocatable_bytes = 0;    // status.allocatable.memory; 0 = unknown
};
struct Resources {
  std::vector<PodResources> pods;    // sorted by (namespace_, name)
  std::vector<NodeResources> nodes;  // sorted by name
};
// Where a consumer of windows gets the current Resources (--heapster-pod-resources): called once
// per window encoded, on the consumer's thread; may return null (nothing known yet). An empty
// function means the mode is off.
using ResourcesSource = std::function<std::shared_ptr<const Resources>()>;

// Every point of `w`, in a stable order: nodes (by name), then per namespace (by name) each pod's
// containers, the pod, and the namespace, and last the cluster; within an object cpu before
// memory. Timestamps: containers and pods take their pod's timestamp, nodes their own, a
// namespace the newest of its pods', the cluster the newest of all (nodes included). An empty
// window gives the cluster's points with value 0 and timestamp 0, so callers may skip it.
// CPU in millicores is nanocores / 1e6, truncated, summed after truncation per container as
// Heapster's aggregators sum the containers' stored values.
// With the summary, each object's summary points follow its cpu and memory points, in the order
// of the table above; filesystems after the rest, "/" before "logs".
std::vector<Point> HeapsterPoints(const window::Window& w);

// As above, plus the _rate forms of the summary's cumulative values, computed as Heapster's rate
// calculator does: 1e9 * (new - old) / (new sample time - old sample time in ns), per second, a
// float, for an object present in both windows with a later sample time, the same start time
// and a counter that did not decrease. A pod's page-fault rates are the sums of its containers'.
// `previous` is the window published before `w` (null: no rates).
std::vector<Point> HeapsterPoints(const window::Window& w, const window::Window* previous);

// As above, plus, from `resources` (null: none), Heapster's pod-based enricher, aggregators and
// node autoscaling enricher (metrics/processors):
//   cpu/request, cpu/limit (millicores), memory/request, memory/limit (bytes): integers for each
//     container of the window whose pod `resources` lists (0 when unset), the pod (sum over its
//     spec's containers), its namespace and the cluster (sums over the window's pods), and the
//     node (sum over the window's pods whose spec.nodeName it is);
//   cpu/node_capacity, cpu/node_allocatable (millicores), memory/node_capacity,
//     memory/node_allocatable (bytes): floats, for each node of the window that `resources`
//     lists;
//   cpu/node_reservation = node cpu/request ÷ allocatable, cpu/node_utilization =
//     cpu/usage_rate ÷ allocatable, memory/node_reservation = node memory/request ÷ allocatable,
//     memory/node_utilization = memory/usage ÷ allocatable (Heapster's choice of usage, so only
//     with the summary): floats, only when the allocatable is known (not 0).
// Each object's resource points follow its other points.
std::vector<Point> HeapsterPoints(const window::Window& w, const window::Window* previous,
                                  const Resources* resources);

}  // namespace exporter
