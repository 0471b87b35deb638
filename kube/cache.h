// In-memory mirrors of the cluster's nodes and Running pods, filled by informers (informer.h)
// or, in tests, directly through the mutation methods.
//
// Objects are published as shared_ptr<const T>: a reader keeps what it got even if the cache
// replaces or removes the object afterwards, and never blocks an update for longer than a map
// lookup. Lists are fresh vectors of those pointers (no object is copied).
//
// Thread-safety: every method may be called from any thread concurrently (a reader/writer
// lock guards the maps). Mutations are meant to come from one informer at a time.
//
// Memory: a pod costs its Pod struct (namespace and name strings; labels), one shared_ptr
// control block and one pointer in its namespace's index, a vector sorted by name. Namespaces
// are indexed, so per-namespace lists and gets cost O(log n) + the result.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "kube/objects.h"
#include "kube/selector.h"

namespace kube {

class NodeCache {
 public:
  NodeCache() = default;
  NodeCache(const NodeCache&) = delete;
  NodeCache& operator=(const NodeCache&) = delete;

  // The node named `name`, or null.
  std::shared_ptr<const Node> Get(std::string_view name) const;
  // Nodes whose labels match `selector`, sorted by name.
  std::vector<std::shared_ptr<const Node>> List(const LabelSelector& selector = {}) const;
  std::size_t Size() const;

  // True once Replace() was called (the informer's first complete list).
  bool HasSynced() const { return synced_.load(std::memory_order_acquire); }
  // Increases on every change; lets pollers skip work when nothing changed.
  uint64_t Generation() const { return generation_.load(std::memory_order_acquire); }

  // Replaces the whole content (a fresh list) and marks the cache synced.
  void Replace(std::vector<Node> nodes);
  // Adds or replaces the node with the same name.
  void Upsert(Node node);
  // Removes the node; no-op if absent.
  void Remove(std::string_view name);

 private:
  mutable base::SharedMutex mu_;
  // Keys view the names inside the values.
  std::map<std::string_view, std::shared_ptr<const Node>> nodes_ GUARDED_BY(mu_);
  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> generation_{0};
};

class PodCache {
 public:
  PodCache() = default;
  PodCache(const PodCache&) = delete;
  PodCache& operator=(const PodCache&) = delete;

  // The pod `ns`/`name`, or null.
  std::shared_ptr<const Pod> Get(std::string_view ns, std::string_view name) const;
  // Pods in namespace `ns` ("" = all namespaces) whose labels match `selector`, sorted by
  // namespace, then name.
  std::vector<std::shared_ptr<const Pod>> List(std::string_view ns,
                                               const LabelSelector& selector = {}) const;
  // Calls `fn` for each matching pod in the same order as List, under the read lock (fn must not
  // call back into the cache). Avoids building a vector when the caller only aggregates.
  void ForEach(std::string_view ns, const LabelSelector& selector,
               const std::function<void(const std::shared_ptr<const Pod>&)>& fn) const;
  std::size_t Size() const;

  bool HasSynced() const { return synced_.load(std::memory_order_acquire); }
  uint64_t Generation() const { return generation_.load(std::memory_order_acquire); }

  // Replaces the whole content and marks the cache synced.
  void Replace(std::vector<Pod> pods);
  // Adds or replaces the pod with the same namespace and name.
  void Upsert(Pod pod);
  // Removes the pod; no-op if absent.
  void Remove(std::string_view ns, std::string_view name);

 private:
  // A namespace's pods sorted by name: 16 bytes per pod instead of a tree node of 80, and read
  // in order without chasing pointers; adding or removing a pod moves the ones after it (a
  // namespace of 10,000 pods: ~160 KB, a few microseconds).
  using NameIndex = std::vector<std::shared_ptr<const Pod>>;
  // The first pod of `index` whose name is not less than `name`.
  static NameIndex::iterator LowerBound(NameIndex& index, std::string_view name);
  static NameIndex::const_iterator LowerBound(const NameIndex& index, std::string_view name);

  // namespace -> its pods sorted by name. Each key's buffer is shared by its pods' namespace_.
  using Namespaces = std::map<base::SharedString, NameIndex, std::less<>>;
  // The index of `pod`'s namespace in `namespaces` (added if new); gives the pod the key's buffer.
  static NameIndex& IndexOf(Namespaces& namespaces, Pod& pod);

  mutable base::SharedMutex mu_;
  // Empty namespaces are erased.
  Namespaces by_namespace_ GUARDED_BY(mu_);
  std::size_t size_ GUARDED_BY(mu_) = 0;
  // One buffer per distinct label set of the cached pods (those of a ReplicaSet share theirs).
  LabelSetTable label_sets_ GUARDED_BY(mu_);
  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> generation_{0};
};

// The pods' requests and limits (the opt-in pod-resources mode: Heapster's cpu/request,
// memory/limit, ... names), keyed by namespace and name. Same thread-safety and publication as
// PodCache; no label index (nothing selects these by label).
//
// Memory: a pod costs its PodResources (namespace, name, node strings; a vector of containers,
// each a name and four integers), one shared_ptr control block and one map node whose key views
// the pod's own namespace and name (README, "Heapster's metric set", for the measured figure).
class PodResourcesCache {
 public:
  PodResourcesCache() = default;
  PodResourcesCache(const PodResourcesCache&) = delete;
  PodResourcesCache& operator=(const PodResourcesCache&) = delete;

  // Calls `fn` for each pod, sorted by namespace, then name, under the read lock (fn must not
  // call back into the cache).
  void ForEach(const std::function<void(const PodResources&)>& fn) const;
  std::size_t Size() const;

  bool HasSynced() const { return synced_.load(std::memory_order_acquire); }
  uint64_t Generation() const { return generation_.load(std::memory_order_acquire); }

  // Replaces the whole content and marks the cache synced.
  void Replace(std::vector<PodResources> pods);
  // Adds or replaces the pod with the same namespace and name.
  void Upsert(PodResources pod);
  // Removes the pod; no-op if absent.
  void Remove(std::string_view ns, std::string_view name);

 private:
  // (namespace, name), viewing the strings inside the value.
  using Key = std::pair<std::string_view, std::string_view>;
  mutable base::SharedMutex mu_;
  std::map<Key, std::shared_ptr<const PodResources>> pods_ GUARDED_BY(mu_);
  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> generation_{0};
};

}  // namespace kube
