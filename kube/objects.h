// The parts of Kubernetes objects this server keeps in memory. Plain values; not thread-safe on
// their own (caches publish them as shared_ptr<const ...>).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kube {

using Labels = std::map<std::string, std::string>;

// One entry of Node.status.addresses.
struct NodeAddress {
  std::string type;     // "InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS"
  std::string address;  // as the kubelet reported it (IPv6 without brackets)
};

// What the scraper and the API need of a Node.
struct Node {
  std::string name;
  std::string uid;
  Labels labels;
  // Only the annotations this server reads (metrics.k8s.io/resource-metrics-path).
  std::map<std::string, std::string> annotations;
  std::vector<NodeAddress> addresses;      // status.addresses, in the order the node lists them
  int32_t kubelet_port = 0;                // status.daemonEndpoints.kubeletEndpoint.Port; 0 = unset
  int64_t allocatable_cpu_millicores = 0;  // status.allocatable.cpu; 0 = unknown
  int64_t allocatable_memory_bytes = 0;    // status.allocatable.memory; 0 = unknown
};

// What the API needs of a Running pod (watched as PartialObjectMetadata).
struct Pod {
  std::string namespace_;
  std::string name;
  std::string uid;
  Labels labels;
};

}  // namespace kube
