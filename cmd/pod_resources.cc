#include "cmd/pod_resources.h"

#include <utility>

namespace cmd {

exporter::Resources ToResources(const kube::PodResourcesCache& pods, const kube::NodeCache& nodes) {
  exporter::Resources out;
  out.pods.reserve(pods.Size());
  pods.ForEach([&](const kube::PodResources& pod) {  // sorted by namespace, then name
    exporter::PodResources& p = out.pods.emplace_back();
    p.namespace_ = pod.namespace_;
    p.name = pod.name;
    p.node = pod.node_name;
    p.containers.reserve(pod.containers.size());
    for (const kube::ContainerResources& c : pod.containers) {  // sorted by name
      p.containers.push_back({c.name, c.cpu_request_millicores, c.cpu_limit_millicores,
                              c.memory_request_bytes, c.memory_limit_bytes});
    }
  });
  for (const auto& node : nodes.List()) {  // sorted by name
    out.nodes.push_back({node->name, node->capacity_cpu_millicores,
                         node->allocatable_cpu_millicores, node->capacity_memory_bytes,
                         node->allocatable_memory_bytes});
  }
  return out;
}

std::shared_ptr<const exporter::Resources> ResourcesSnapshots::Current() const {
  if (!pods_.HasSynced()) return nullptr;
  base::MutexLock lock(mu_);
  // Read before building: a change during the build makes the next call build again.
  const uint64_t pods_generation = pods_.Generation();
  const uint64_t nodes_generation = nodes_.Generation();
  if (current_ == nullptr || pods_generation != pods_generation_ ||
      nodes_generation != nodes_generation_) {
    current_ = std::make_shared<const exporter::Resources>(ToResources(pods_, nodes_));
    pods_generation_ = pods_generation;
    nodes_generation_ = nodes_generation;
    ++builds_;
  }
  return current_;
}

uint64_t ResourcesSnapshots::builds() const {
  base::MutexLock lock(mu_);
  return builds_;
}

}  // namespace cmd
