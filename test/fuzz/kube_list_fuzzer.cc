// libFuzzer target for list bodies from the kube-apiserver as the informers decode them: the
// input is decoded as a NodeList, a PartialObjectMetadataList of pods, a PodList narrowed to the
// containers' resources and a raw list, and each
// decoded page replaces the content of a node and a pod cache, which are then queried. Also run
// over the seed corpus by kube_list_corpus_test.
//
// Invariants: nothing crashes or throws; a decoded node or pod has a name (pods a namespace too),
// allocatable and capacity values are not negative, and so are pods' requests and limits, whose
// containers are named and sorted; after Replace every decoded item is found by Get, and the
// caches hold no more entries than the page had items.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kube/cache.h"
#include "kube/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto nodes = kube::DecodeNodeList(text); nodes.ok()) {
    for (const auto& n : nodes->items) {
      if (n.name.empty()) std::abort();
      if (n.allocatable_cpu_millicores < 0 || n.allocatable_memory_bytes < 0) std::abort();
      if (n.capacity_cpu_millicores < 0 || n.capacity_memory_bytes < 0) std::abort();
      if (n.kubelet_port < 0 || n.kubelet_port > 65535) std::abort();
    }
    kube::NodeCache cache;
    cache.Replace(nodes->items);
    if (!cache.HasSynced() || cache.Size() > nodes->items.size()) std::abort();
    for (const auto& n : nodes->items) {
      if (cache.Get(n.name) == nullptr) std::abort();
    }
    (void)cache.List();
  }
  if (auto pods = kube::DecodePodMetadataList(text); pods.ok()) {
    for (const auto& p : pods->items) {
      if (p.name.empty() || p.namespace_.empty()) std::abort();
    }
    kube::PodCache cache;
    cache.Replace(pods->items);
    if (!cache.HasSynced() || cache.Size() > pods->items.size()) std::abort();
    for (const auto& p : pods->items) {
      if (cache.Get(p.namespace_, p.name) == nullptr) std::abort();
    }
    (void)cache.List("");
  }
  if (auto pods = kube::DecodePodResourcesList(text); pods.ok()) {
    for (const auto& p : pods->items) {
      if (p.name.empty() || p.namespace_.empty()) std::abort();
      for (size_t i = 0; i < p.containers.size(); ++i) {
        const auto& c = p.containers[i];
        if (c.name.empty()) std::abort();
        if (i > 0 && c.name < p.containers[i - 1].name) std::abort();
        if (c.cpu_request_millicores < 0 || c.cpu_limit_millicores < 0 ||
            c.memory_request_bytes < 0 || c.memory_limit_bytes < 0) {
          std::abort();
        }
      }
    }
  }
  if (auto raw = kube::DecodeRawList(text); raw.ok()) {
    for (const auto& item : raw->items) {
      if (item.empty()) std::abort();
    }
  }
  return 0;
}
