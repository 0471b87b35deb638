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
// Aggregation follows Heapster's: a pod is the sum of its containers, a namespace the sum of its
// pods, the cluster the sum of its namespaces; a node is what its kubelet reports for the node.
// Names that need data the window does not hold (requests, limits, /stats/summary) are listed,
// with the reason, in the README.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
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

// Heapster's label keys (metrics/core/labels.go) and values of "type".
inline constexpr std::string_view kLabelType = "type";
inline constexpr std::string_view kLabelPodName = "pod_name";
inline constexpr std::string_view kLabelNamespaceName = "namespace_name";
inline constexpr std::string_view kLabelContainerName = "container_name";
inline constexpr std::string_view kLabelNodename = "nodename";
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

// Every point of `w`, in a stable order: nodes (by name), then per namespace (by name) each pod's
// containers, the pod, and the namespace, and last the cluster; within an object cpu before
// memory. Timestamps: containers and pods take their pod's timestamp, nodes their own, a
// namespace the newest of its pods', the cluster the newest of all (nodes included). An empty
// window gives the cluster's points with value 0 and timestamp 0, so callers may skip it.
// CPU in millicores is nanocores / 1e6, truncated, summed after truncation per container as
// Heapster's aggregators sum the containers' stored values.
std::vector<Point> HeapsterPoints(const window::Window& w);

}  // namespace exporter
