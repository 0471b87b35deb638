#include "kube/cache.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <utility>

#include "base/mutex.h"

namespace kube {

// ---- NodeCache ----

std::shared_ptr<const Node> NodeCache::Get(std::string_view name) const {
  base::ReaderMutexLock lock(mu_);
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const Node>> NodeCache::List(const LabelSelector& selector) const {
  std::vector<std::shared_ptr<const Node>> out;
  base::ReaderMutexLock lock(mu_);
  if (selector.Empty()) out.reserve(nodes_.size());
  for (const auto& [name, node] : nodes_) {
    if (selector.Matches(node->labels)) out.push_back(node);
  }
  return out;
}

std::size_t NodeCache::Size() const {
  base::ReaderMutexLock lock(mu_);
  return nodes_.size();
}

void NodeCache::Replace(std::vector<Node> nodes) {
  std::map<std::string_view, std::shared_ptr<const Node>> fresh;
  for (Node& n : nodes) {
    auto p = std::make_shared<const Node>(std::move(n));
    std::string_view key = p->name;
    fresh.erase(key);  // a duplicate: the last one wins, keyed by its own name
    fresh.emplace(key, std::move(p));
  }
  {
    base::WriterMutexLock lock(mu_);
    nodes_.swap(fresh);
  }
  // `fresh` (the old content) is freed outside the lock.
  generation_.fetch_add(1, std::memory_order_acq_rel);
  synced_.store(true, std::memory_order_release);
}

void NodeCache::Upsert(Node node) {
  auto p = std::make_shared<const Node>(std::move(node));
  std::shared_ptr<const Node> old;
  {
    base::WriterMutexLock lock(mu_);
    auto it = nodes_.find(p->name);
    if (it != nodes_.end()) {
      old = std::move(it->second);
      nodes_.erase(it);  // the key views the old node's name: re-insert with the new one's
    }
    std::string_view key = p->name;
    nodes_.emplace(key, std::move(p));
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void NodeCache::Remove(std::string_view name) {
  std::shared_ptr<const Node> old;
  {
    base::WriterMutexLock lock(mu_);
    auto it = nodes_.find(name);
    if (it == nodes_.end()) return;
    old = std::move(it->second);
    nodes_.erase(it);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

// ---- PodCache ----

PodCache::NameIndex::iterator PodCache::LowerBound(NameIndex& index, std::string_view name) {
  return std::lower_bound(index.begin(), index.end(), name,
                          [](const std::shared_ptr<const Pod>& p, std::string_view n) {
                            return std::string_view(p->name) < n;
                          });
}

PodCache::NameIndex::const_iterator PodCache::LowerBound(const NameIndex& index,
                                                         std::string_view name) {
  return LowerBound(const_cast<NameIndex&>(index), name);
}

std::shared_ptr<const Pod> PodCache::Get(std::string_view ns, std::string_view name) const {
  base::ReaderMutexLock lock(mu_);
  auto nit = by_namespace_.find(ns);
  if (nit == by_namespace_.end()) return nullptr;
  auto it = LowerBound(nit->second, name);
  return it == nit->second.end() || (*it)->name != name ? nullptr : *it;
}

void PodCache::ForEach(std::string_view ns, const LabelSelector& selector,
                       const std::function<void(const std::shared_ptr<const Pod>&)>& fn) const {
  base::ReaderMutexLock lock(mu_);
  auto visit = [&](const NameIndex& index) {
    for (const auto& pod : index) {
      if (selector.Matches(pod->labels)) fn(pod);
    }
  };
  if (ns.empty()) {
    for (const auto& [unused, index] : by_namespace_) visit(index);
  } else if (auto it = by_namespace_.find(ns); it != by_namespace_.end()) {
    visit(it->second);
  }
}

std::vector<std::shared_ptr<const Pod>> PodCache::List(std::string_view ns,
                                                       const LabelSelector& selector) const {
  std::vector<std::shared_ptr<const Pod>> out;
  if (selector.Empty()) {  // every pod: copied a namespace at a time, not one call per pod
    base::ReaderMutexLock lock(mu_);
    if (ns.empty()) {
      out.reserve(size_);
      for (const auto& [unused, index] : by_namespace_)
        out.insert(out.end(), index.begin(), index.end());
    } else if (auto it = by_namespace_.find(ns); it != by_namespace_.end()) {
      out.assign(it->second.begin(), it->second.end());
    }
    return out;
  }
  ForEach(ns, selector, [&](const std::shared_ptr<const Pod>& p) { out.push_back(p); });
  return out;
}

std::size_t PodCache::Size() const {
  base::ReaderMutexLock lock(mu_);
  return size_;
}

bool IsPlainText(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&') {
      return false;
    }
  }
  return true;
}

bool IsPlainText(const Pod& pod) {
  if (!IsPlainText(pod.namespace_) || !IsPlainText(pod.name)) return false;
  for (const auto& [key, value] : pod.labels) {
    if (!IsPlainText(key) || !IsPlainText(value)) return false;
  }
  return true;
}

PodCache::NameIndex& PodCache::IndexOf(Namespaces& namespaces, Pod& pod) {
  auto it = namespaces.find(pod.namespace_.view());
  if (it == namespaces.end()) it = namespaces.emplace(pod.namespace_, NameIndex()).first;
  pod.namespace_ = it->first;  // the namespace's one buffer
  return it->second;
}

namespace {

// Pod::revision: a pod and the ones replacing it get different revisions until the counter
// wraps, after 2^32 stores (encodings compared against it live for a few resolutions).
uint32_t NextPodRevision() {
  static std::atomic<uint32_t> last{0};
  uint32_t r = last.fetch_add(1, std::memory_order_relaxed) + 1;
  while (r == 0) r = last.fetch_add(1, std::memory_order_relaxed) + 1;
  return r;
}

}  // namespace

void PodCache::Replace(std::vector<Pod> pods) {
  Namespaces fresh;
  LabelSetTable label_sets;
  for (Pod& pod : pods) {
    pod.plain = IsPlainText(pod);
    pod.revision = NextPodRevision();
    label_sets.Intern(pod.labels);
    NameIndex& index = IndexOf(fresh, pod);
    index.push_back(std::make_shared<const Pod>(std::move(pod)));
  }
  std::size_t count = 0;
  for (auto& [ns, index] : fresh) {
    std::stable_sort(index.begin(), index.end(),
                     [](const std::shared_ptr<const Pod>& a, const std::shared_ptr<const Pod>& b) {
                       return a->name < b->name;
                     });
    // A name listed twice: the last one wins (the stable sort kept their order).
    auto kept = index.begin();
    for (auto it = index.begin(); it != index.end(); ++it) {
      if (std::next(it) != index.end() && (*std::next(it))->name == (*it)->name) continue;
      if (kept != it) *kept = std::move(*it);
      ++kept;
    }
    index.erase(kept, index.end());
    index.shrink_to_fit();
    count += index.size();
  }
  {
    base::WriterMutexLock lock(mu_);
    by_namespace_.swap(fresh);
    size_ = count;
    std::swap(label_sets_, label_sets);
  }
  // `fresh` (the old content) is freed outside the lock.
  generation_.fetch_add(1, std::memory_order_acq_rel);
  synced_.store(true, std::memory_order_release);
}

void PodCache::Upsert(Pod pod) {
  pod.plain = IsPlainText(pod);
  pod.revision = NextPodRevision();
  std::shared_ptr<const Pod> old;
  {
    base::WriterMutexLock lock(mu_);
    const bool sweep = label_sets_.Intern(pod.labels);
    NameIndex& index = IndexOf(by_namespace_, pod);
    auto p = std::make_shared<const Pod>(std::move(pod));
    auto it = LowerBound(index, p->name);
    if (it != index.end() && (*it)->name == p->name) {
      old = std::exchange(*it, std::move(p));
    } else {
      index.insert(it, std::move(p));
      ++size_;
    }
    if (sweep) {
      old.reset();  // its labels are not counted as held
      label_sets_.Sweep();
    }
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void PodCache::Remove(std::string_view ns, std::string_view name) {
  std::shared_ptr<const Pod> old;
  {
    base::WriterMutexLock lock(mu_);
    auto nit = by_namespace_.find(ns);
    if (nit == by_namespace_.end()) return;
    NameIndex& index = nit->second;
    auto it = LowerBound(index, name);
    if (it == index.end() || (*it)->name != name) return;
    old = std::move(*it);
    index.erase(it);
    --size_;
    if (index.empty()) by_namespace_.erase(nit);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void PodResourcesCache::ForEach(const std::function<void(const PodResources&)>& fn) const {
  base::ReaderMutexLock lock(mu_);
  for (const auto& [key, pod] : pods_) fn(*pod);
}

std::size_t PodResourcesCache::Size() const {
  base::ReaderMutexLock lock(mu_);
  return pods_.size();
}

void PodResourcesCache::Replace(std::vector<PodResources> pods) {
  std::map<Key, std::shared_ptr<const PodResources>> fresh;
  for (PodResources& pod : pods) {
    auto p = std::make_shared<const PodResources>(std::move(pod));
    Key key{p->namespace_, p->name};
    fresh.erase(key);  // a duplicate: the last one wins, keyed by its own strings
    fresh.emplace(key, std::move(p));
  }
  {
    base::WriterMutexLock lock(mu_);
    pods_.swap(fresh);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  synced_.store(true, std::memory_order_release);
}

void PodResourcesCache::Upsert(PodResources pod) {
  auto p = std::make_shared<const PodResources>(std::move(pod));
  std::shared_ptr<const PodResources> old;
  {
    base::WriterMutexLock lock(mu_);
    Key key{p->namespace_, p->name};
    if (auto it = pods_.find(key); it != pods_.end()) {
      old = std::move(it->second);  // freed after the lock
      pods_.erase(it);
    }
    pods_.emplace(key, std::move(p));
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void PodResourcesCache::Remove(std::string_view ns, std::string_view name) {
  std::shared_ptr<const PodResources> old;
  {
    base::WriterMutexLock lock(mu_);
    auto it = pods_.find(Key{ns, name});
    if (it == pods_.end()) return;
    old = std::move(it->second);
    pods_.erase(it);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace kube
