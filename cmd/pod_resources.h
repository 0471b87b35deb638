// Heapster's pod-resources mode (--heapster-pod-resources): the exporter's view of the pods'
// requests and limits and the nodes' capacity and allocatable, built from the kube caches.
//
// The exporter knows nothing of Kubernetes objects (it depends on window/, net/, base/); this is
// where kube::PodResources and kube::Node become exporter::Resources. A snapshot is built when a
// consumer asks for one (once per window per consumer) and only if either cache changed since the
// last one, so consumers of the same window share it; it is immutable and freed when the last
// consumer drops it.
//
// Thread-safety: Current() may be called from any thread. The caches must outlive this object.
#pragma once

#include <cstdint>
#include <memory>

#include "base/mutex.h"
#include "exporter/heapster_schema.h"
#include "kube/cache.h"

namespace cmd {

// The pods and nodes of the caches, as HeapsterPoints takes them (sorted as it requires).
exporter::Resources ToResources(const kube::PodResourcesCache& pods, const kube::NodeCache& nodes);

class ResourcesSnapshots {
 public:
  ResourcesSnapshots(const kube::PodResourcesCache& pods, const kube::NodeCache& nodes)
      : pods_(pods), nodes_(nodes) {}

  // The caches' content; null until the pod cache has synced (no requests are better than
  // zeros for pods not listed yet). Rebuilt only when a cache's generation changed.
  std::shared_ptr<const exporter::Resources> Current() const;
  // Snapshots built so far (for tests).
  uint64_t builds() const;

 private:
  const kube::PodResourcesCache& pods_;
  const kube::NodeCache& nodes_;
  mutable base::Mutex mu_;
  mutable std::shared_ptr<const exporter::Resources> current_ GUARDED_BY(mu_);
  mutable uint64_t pods_generation_ GUARDED_BY(mu_) = 0;
  mutable uint64_t nodes_generation_ GUARDED_BY(mu_) = 0;
  mutable uint64_t builds_ GUARDED_BY(mu_) = 0;
};

}  // namespace cmd
