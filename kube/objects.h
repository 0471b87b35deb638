// The parts of Kubernetes objects this server keeps in memory. Plain values; not thread-safe on
// their own (caches publish them as shared_ptr<const ...>).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/shared_string.h"
#include "kube/labels.h"

namespace kube {

// One entry of Node.status.addresses.
struct NodeAddress {
  std::string type;     // "InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS"
  std::string address;  // as the kubelet reported it (IPv6 without brackets)
};

// What the scraper and the API need of a Node.
struct Node {
  std::string name;
  Labels labels;
  // Only the annotations this server reads (metrics.k8s.io/resource-metrics-path).
  std::map<std::string, std::string> annotations;
  std::vector<NodeAddress> addresses;      // status.addresses, in the order the node lists them
  int32_t kubelet_port = 0;                // status.daemonEndpoints.kubeletEndpoint.Port; 0 = unset
  int64_t allocatable_cpu_millicores = 0;  // status.allocatable.cpu; 0 = unknown
  int64_t allocatable_memory_bytes = 0;    // status.allocatable.memory; 0 = unknown
  int64_t capacity_cpu_millicores = 0;     // status.capacity.cpu; 0 = unknown
  int64_t capacity_memory_bytes = 0;       // status.capacity.memory; 0 = unknown
};

// What the API needs of a Running pod (watched as PartialObjectMetadata).
struct Pod {
  // Shared: the pod cache gives the pods of a namespace one buffer for its name.
  base::SharedString namespace_;
  base::SharedString name;
  Labels labels;
  // The namespace, name and every label key and value are printable ASCII without the
  // characters JSON writers escape (IsPlainText): set by PodCache when it stores the pod, so
  // that the lists of 150,000 pods the API writes need not scan these strings twice each time
  // (the API server validates them to far fewer characters; false only for a pod that never
  // passed that validation, which is then escaped as usual).
  bool plain = false;
  // Set by PodCache when it stores the pod, from a process-wide counter (never 0 there): the
  // pods it replaces and the one replacing them never share a revision, so that encodings made
  // from this object (the metadata in apiserver::EncodedWindow) can be told current by comparing
  // it. 0: not from a PodCache.
  uint32_t revision = 0;
};

// Whether every byte of `s` is printable ASCII (0x20-0x7e) other than " \ < > &: a JSON
// writer copies it verbatim.
bool IsPlainText(std::string_view s);
// IsPlainText of the pod's namespace, name and every label key and value.
bool IsPlainText(const Pod& pod);

// A container's requests and limits (Heapster's cpu/request, cpu/limit, memory/request,
// memory/limit); 0 when unset, as Heapster read a missing quantity.
struct ContainerResources {
  std::string name;
  int64_t cpu_request_millicores = 0;  // resources.requests.cpu
  int64_t cpu_limit_millicores = 0;    // resources.limits.cpu
  int64_t memory_request_bytes = 0;    // resources.requests.memory
  int64_t memory_limit_bytes = 0;      // resources.limits.memory
};

// What Heapster's request and limit names need of a pod (the opt-in pod-resources mode): a
// narrowed decode of a full Pod that keeps nothing else.
struct PodResources {
  std::string namespace_;
  std::string name;
  std::string node_name;                       // spec.nodeName; "" = not scheduled
  std::vector<ContainerResources> containers;  // spec.containers, sorted by name
};

}  // namespace kube
