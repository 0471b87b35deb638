#include "scraper/store.h"

#include <algorithm>
#include <compare>
#include <iterator>
#include <span>
#include <tuple>

namespace scraper {
namespace {

// metrics-server's freshContainerMinMetricsResolution: a container must have run at least this
// long before its start time serves as the older point.
constexpr base::UnixNanos kFreshContainerMinAge = 10'000'000'000;

// A cumulative CPU reading at a kubelet sample time.
struct Point {
  base::UnixNanos ts = 0;
  uint64_t cpu_ns = 0;
};

}  // namespace

uint64_t CpuNanocores(uint64_t cpu_delta_ns, std::chrono::nanoseconds window) {
  if (window.count() <= 0) return 0;
  unsigned __int128 scaled = static_cast<unsigned __int128>(cpu_delta_ns) * 1'000'000'000u;
  unsigned __int128 rate = scaled / static_cast<uint64_t>(window.count());
  return rate > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(rate);
}

namespace {

// The last and (optionally) previous point of one object; a point whose timestamp is 0 is absent
// (the parsers give no sample a timestamp at or before the epoch, and a fresh container's start
// time is used only when positive). prev.ts < last.ts whenever both are present. Swap and
// ephemeral storage are "not reported" as kNone, which no parser gives (they accept nothing
// above INT64_MAX): 56 bytes, with the flags this would otherwise take.
struct Series {
  static constexpr uint64_t kNone = UINT64_MAX;

  Point last;
  Point prev;
  uint64_t memory_bytes = 0;
  uint64_t swap_bytes = kNone;     // swap is served only where the kubelet reported it
  uint64_t storage_bytes = kNone;  // ephemeral storage, from /stats/summary of this tick

  bool has_last() const { return last.ts != 0; }
  bool has_prev() const { return prev.ts != 0; }
  bool has_swap() const { return swap_bytes != kNone; }
  bool has_storage() const { return storage_bytes != kNone; }
  bool Servable() const { return has_last() && has_prev() && last.ts > prev.ts; }
};
static_assert(sizeof(Series) == 56);

// A reported gauge as Series keeps it.
uint64_t Reported(bool has, uint64_t bytes) {
  return has ? std::min(bytes, Series::kNone - 1) : Series::kNone;
}

// The gauges of the newer point: working set and, when reported, swap.
void SetGauges(const ResourceUsage& usage, Series* out) {
  out->memory_bytes = usage.memory_bytes;
  out->swap_bytes = Reported(usage.has_swap, usage.swap_bytes);
}

// metrics-server's rule for choosing the older point when a new one arrives (storage/node.go),
// plus: a counter lower than the older point means a reset, so there is no older point.
void Advance(const Series* old, const ResourceUsage& usage, Series* out) {
  out->last = {usage.cpu_timestamp, usage.cpu_ns};
  SetGauges(usage, out);
  out->prev = {};
  if (old == nullptr || !old->has_last()) return;
  if (out->last.ts > old->last.ts) {
    out->prev = old->last;
  } else if (old->has_prev() && old->prev.ts < out->last.ts) {
    // The same sample again (equal timestamps) or an out-of-order one: keep the older point.
    out->prev = old->prev;
  }
  if (out->has_prev() && out->prev.cpu_ns > out->last.cpu_ns) out->prev = {};
}

}  // namespace

struct NodeSummary {
  window::SummaryStats node;
  std::vector<window::PodSummary> pods;
};

struct ContainerState {
  base::SharedString name;  // shared with the windows
  Series series;            // no last point when the kubelet sent no CPU or no memory line
};
static_assert(sizeof(ContainerState) == 64);

struct PodState {
  base::SharedString namespace_;  // shared with the windows and, on a node, among its pods
  base::SharedString name;
  // Sorted by name; a range of the node's `containers` (one array per node instead of one per
  // pod: 32 bytes per pod instead of 40 and no allocation of its own).
  std::span<ContainerState> containers;
};

struct Store::NodeState {
  std::string name;            // viewed by the StateMap key
  Series series;               // the node's own usage
  std::vector<PodState> pods;  // sorted by (namespace, name)
  // The containers of every pod, pod after pod: PodState::containers are ranges of it, so it is
  // sized once when the node's state is built and never grows after.
  std::vector<ContainerState> containers;
  int failed_ticks = 0;        // consecutive failed scrapes since the points were taken
  // Every pod's names are StoreSettings::pod_names' (nothing more to look up until the node's
  // pods change), and the scrapes that looked them up without finding them all.
  bool names_shared = false;
  uint8_t name_lookups_failed = 0;
  // What the node's last /stats/summary (--kubelet-summary-api) said of it and of its pods,
  // `pods` parallel to NodeState::pods; null without the flag, so the default state per node
  // grows by one pointer only.
  std::unique_ptr<NodeSummary> summary;
};

void Store::SharePodNames(NodeState& node) const {
  // A pod the source never has (not Running in the API, say) is not looked up at every scrape:
  // after a few, the node's pods keep their copies until they change. A few scrapes cover the
  // pod cache's filling at start.
  constexpr uint8_t kMaxFailedLookups = 4;
  if (!settings_.pod_names || node.names_shared || node.name_lookups_failed >= kMaxFailedLookups) {
    return;
  }
  bool all = true;
  for (PodState& pod : node.pods) {
    if (pod.name.empty()) continue;
    SharedPodNames shared = settings_.pod_names(pod.namespace_, pod.name);
    if (shared.name != pod.name || shared.namespace_ != pod.namespace_) {
      all = false;  // not known (yet): looked up again at the node's next scrape
      continue;
    }
    pod.namespace_ = std::move(shared.namespace_);
    pod.name = std::move(shared.name);
  }
  node.names_shared = all;
  if (!all) ++node.name_lookups_failed;
}

// True when `usages` lists exactly the containers of `node`, in the same order.
bool Store::SameLayout(const NodeState& node, const std::vector<ContainerUsage>& usages) {
  size_t k = 0;
  for (const PodState& pod : node.pods) {
    for (const ContainerState& c : pod.containers) {
      if (k == usages.size()) return false;
      const ContainerUsage& u = usages[k++];
      if (c.name != u.container || pod.name != u.pod || pod.namespace_ != u.namespace_) {
        return false;
      }
    }
  }
  return k == usages.size();
}

namespace {

void AdvanceContainer(const ContainerState* old, const ContainerUsage& usage,
                      std::chrono::nanoseconds resolution, ContainerState* out) {
  if (!usage.has_cpu || !usage.has_memory) return;  // no point: the pod is not servable
  const base::UnixNanos ts = usage.cpu_timestamp;
  const base::UnixNanos start = usage.start_time;
  // A fresh container: its start is the older point (zero CPU used then), so it is served
  // after its first scrape. Checked first, as in metrics-server.
  if (start > 0 && start < ts && ts - start >= kFreshContainerMinAge &&
      ts - start < resolution.count()) {
    out->series.last = {ts, usage.cpu_ns};
    SetGauges(usage, &out->series);
    out->series.prev = {start, 0};
    return;
  }
  // Restarted when it started at or after our newer point (metrics-server's rule). A start time
  // that merely differs is not enough: some kubelet stand-ins (kwok) report a start time that
  // moves with every sample, and a real reset shows as a counter decrease, handled in Advance.
  bool restarted =
      old != nullptr && old->series.has_last() && start > 0 && start >= old->series.last.ts;
  Advance(restarted || old == nullptr ? nullptr : &old->series, usage, &out->series);
}

// Advances every container of `pod`, whose layout matches usages[0..size) one to one, in place:
// the pod's strings and vectors are reused, so a tick allocates nothing for it.
void AdvancePodInPlace(PodState& pod, const ContainerUsage* usages,
                       std::chrono::nanoseconds resolution) {
  for (ContainerState& c : pod.containers) {
    ContainerState next;
    AdvanceContainer(&c, *usages++, resolution, &next);
    c.series = next.series;
  }
}

// The old state of pod (namespace_, name), found by a merge walk over `old_pods` (sorted by
// namespace, then name) from *cursor, which moves past it; nullptr when the pod is new.
PodState* FindOldPod(std::vector<PodState>& old_pods, size_t* cursor, std::string_view namespace_,
                     std::string_view name) {
  using Key = std::tuple<std::string_view, std::string_view>;
  const Key key(namespace_, name);
  auto key_of = [&](size_t i) { return Key(old_pods[i].namespace_, old_pods[i].name); };
  while (*cursor < old_pods.size() && key_of(*cursor) < key) ++*cursor;
  if (*cursor < old_pods.size() && key_of(*cursor) == key) return &old_pods[(*cursor)++];
  return nullptr;
}

// True when `old_pod` has exactly the containers usages[first, end) name, in order.
bool SameContainers(const PodState* old_pod, const std::vector<ContainerUsage>& usages,
                    size_t first, size_t end) {
  if (old_pod == nullptr || old_pod->containers.size() != end - first) return false;
  for (size_t k = first; k < end; ++k) {
    if (old_pod->containers[k - first].name != usages[k].container) return false;
  }
  return true;
}

// The names the pods of one node repeat: their namespaces and container names ("app",
// "istio-proxy"). A node's state being rebuilt takes each from here, so that it is kept once per
// node rather than once per pod; the first few distinct names are remembered.
class NodeNames {
 public:
  base::SharedString Get(std::string_view name) {
    for (const base::SharedString& known : names_) {
      if (known == name) return known;
    }
    base::SharedString fresh(name);
    Remember(fresh);
    return fresh;
  }
  // Remembers the names of a pod kept from the node's previous state.
  void Offer(const PodState& pod) {
    Remember(pod.namespace_);
    for (const ContainerState& c : pod.containers) Remember(c.name);
  }

 private:
  static constexpr size_t kMaxNames = 16;
  void Remember(const base::SharedString& name) {
    if (names_.size() == kMaxNames) return;
    for (const base::SharedString& known : names_) {
      if (known == name) return;  // the same buffer, or equal characters
    }
    names_.push_back(name);
  }
  std::vector<base::SharedString> names_;
};

// A pod whose containers were added or removed, built afresh from usages[first, end) into
// `containers` (which has room for them); old containers (if `old_pod`) are matched by a merge
// walk, both lists being sorted by name, and their names kept.
PodState RebuildPod(PodState* old_pod, const std::vector<ContainerUsage>& usages, size_t first,
                    size_t end, std::chrono::nanoseconds resolution, NodeNames* names,
                    std::vector<ContainerState>* containers) {
  PodState pod;
  const size_t begin = containers->size();
  if (old_pod != nullptr) {
    pod.namespace_ = std::move(old_pod->namespace_);
    pod.name = std::move(old_pod->name);
  } else {
    pod.namespace_ = names->Get(usages[first].namespace_);
    pod.name = usages[first].pod;
  }
  size_t next_old_container = 0;
  for (size_t k = first; k < end; ++k) {
    const ContainerUsage& usage = usages[k];
    ContainerState* old_container = nullptr;
    if (old_pod != nullptr) {
      auto& old_containers = old_pod->containers;
      while (next_old_container < old_containers.size() &&
             std::string_view(old_containers[next_old_container].name) < usage.container) {
        ++next_old_container;
      }
      if (next_old_container < old_containers.size() &&
          old_containers[next_old_container].name == usage.container) {
        old_container = &old_containers[next_old_container++];
      }
    }
    ContainerState container;
    AdvanceContainer(old_container, usage, resolution, &container);
    if (old_container != nullptr) {
      container.name = std::move(old_container->name);
    } else {
      container.name = names->Get(usage.container);
    }
    containers->push_back(std::move(container));
  }
  pod.containers = std::span<ContainerState>(containers->data() + begin, end - first);
  return pod;
}

// The pods of a node whose containers changed since the last scrape, into `pods` and
// `containers` (empty). Containers arrive sorted by (namespace, pod, container), as the old state
// is: one merge walk finds each pod's old state. A pod whose containers did not change (the
// usual case) is moved over and updated.
void MergePods(std::vector<PodState>* old_pods, const std::vector<ContainerUsage>& usages,
               std::chrono::nanoseconds resolution, std::vector<PodState>& pods,
               std::vector<ContainerState>& containers) {
  pods.reserve(old_pods ? old_pods->size() : 0);
  containers.reserve(usages.size());  // one per usage: never reallocated, so the spans hold
  size_t next_old_pod = 0;  // first old pod not yet matched or passed
  NodeNames names;
  if (old_pods != nullptr) {
    for (const PodState& pod : *old_pods) names.Offer(pod);
  }
  for (size_t first = 0, end = 0; first < usages.size(); first = end) {
    const ContainerUsage& head = usages[first];
    end = first + 1;
    while (end < usages.size() && usages[end].pod == head.pod &&
           usages[end].namespace_ == head.namespace_) {
      ++end;
    }
    PodState* old_pod =
        old_pods ? FindOldPod(*old_pods, &next_old_pod, head.namespace_, head.pod) : nullptr;
    if (SameContainers(old_pod, usages, first, end)) {
      const size_t begin = containers.size();
      for (ContainerState& c : old_pod->containers) containers.push_back(std::move(c));
      PodState& pod = pods.emplace_back(std::move(*old_pod));
      pod.containers = std::span<ContainerState>(containers.data() + begin, end - first);
      AdvancePodInPlace(pod, &usages[first], resolution);
    } else {
      pods.push_back(RebuildPod(old_pod, usages, first, end, resolution, &names, &containers));
    }
  }
  pods.shrink_to_fit();
}

}  // namespace

Store::Store(StoreSettings settings, window::Publication& publication)
    : settings_(settings),
      state_(std::make_unique<StateMap>()),
      generation_(publication.Current()->generation()),
      publication_(publication) {}

Store::~Store() = default;

Store::Tick& Store::BeginTick() {
  base::MutexLock lock(tick_mu_);
  if (next_) {
    // A tick begun again before Publish(): what the open one collected becomes the state (a
    // node it rebuilt replaces the old object), nodes it did not reach keep theirs, and the pod
    // order is rebuilt from scratch.
    for (auto& [key, node] : *next_) {
      state_->erase(key);
      std::string_view name = node->name;
      state_->emplace(name, std::move(node));
    }
    std::erase_if(*state_, [](const auto& entry) { return !entry.second; });
    order_.clear();
    rebuilt_.clear();
    for (const auto& entry : *state_) rebuilt_.push_back(entry.second.get());
  }
  next_ = std::make_unique<StateMap>();
  return tick_;
}

void Store::Tick::Success(std::string_view node, const ResourceMetrics& metrics,
                          const SummaryStorage* summary) {
  store_->Merge(node, &metrics, summary);
}

void Store::Tick::Failure(std::string_view node) { store_->Merge(node, nullptr, nullptr); }

void Store::Tick::Keep(std::string_view node) { store_->KeepAsIs(node); }

namespace {

// Sets the ephemeral-storage usage of the node and of the containers `summary` names (both
// sorted by namespace, pod, container: one merge walk). Containers it does not name keep none.
void ApplySummary(const SummaryStorage& summary, Series* node_series, std::vector<PodState>* pods) {
  if (summary.has_node_fs) {
    node_series->storage_bytes = Reported(true, summary.node_fs_used_bytes);
  }
  using Key = std::tuple<std::string_view, std::string_view>;
  size_t p = 0;
  for (const ContainerStorage& cs : summary.containers) {
    if (!cs.has_ephemeral_storage()) continue;
    const Key key(cs.namespace_, cs.pod);
    while (p < pods->size() && Key((*pods)[p].namespace_, (*pods)[p].name) < key) ++p;
    if (p == pods->size()) break;
    PodState& pod = (*pods)[p];
    if (Key(pod.namespace_, pod.name) != key) continue;
    auto it = std::lower_bound(
        pod.containers.begin(), pod.containers.end(), cs.container,
        [](const ContainerState& c, const std::string& name) { return c.name < name; });
    if (it == pod.containers.end() || it->name != cs.container) continue;
    it->series.storage_bytes = Reported(true, cs.ephemeral_storage_bytes());
  }
}

// Keeps what this tick's summary says of the node and of `pods` in `kept` (its buffers reused),
// or nothing when there is no summary.
void KeepSummary(const SummaryStorage* summary, const std::vector<PodState>& pods,
                 std::unique_ptr<NodeSummary>* kept) {
  if (summary == nullptr) {
    kept->reset();
    return;
  }
  if (!*kept) *kept = std::make_unique<NodeSummary>();
  NodeSummary& out = **kept;
  out.node = summary->node;
  out.pods.resize(pods.size());
  for (size_t i = 0; i < pods.size(); ++i) {
    const PodState& pod = pods[i];
    window::PodSummary& ps = out.pods[i];
    const PodStorage* p = summary->FindPod(pod.namespace_, pod.name);
    ps.pod = p != nullptr ? p->stats : window::SummaryStats();
    ps.containers.resize(pod.containers.size());
    for (size_t k = 0; k < pod.containers.size(); ++k) {
      const ContainerStorage* c =
          summary->FindContainer(pod.namespace_, pod.name, pod.containers[k].name);
      ps.containers[k] = c != nullptr ? c->stats : window::SummaryStats();
    }
  }
}

}  // namespace

void Store::Merge(std::string_view node, const ResourceMetrics* metrics,
                  const SummaryStorage* summary) {
  base::MutexLock lock(tick_mu_);
  if (!next_ || next_->find(node) != next_->end()) return;  // no open tick, or reported twice
  auto old_it = state_->find(node);
  // The old state is replaced at Publish(): a node kept as it was moves over by pointer; a
  // rebuilt one takes the old one's strings.
  NodeState* old = old_it == state_->end() ? nullptr : old_it->second.get();
  if (metrics == nullptr) {
    if (old != nullptr && old->failed_ticks < settings_.failure_retention_ticks) {
      ++old->failed_ticks;
      MoveNode(old_it->second, *next_);
    }
    return;
  }
  Series node_series;
  if (metrics->node.has_cpu && metrics->node.has_memory) {
    Advance(old ? &old->series : nullptr, metrics->node, &node_series);
  }
  const std::vector<ContainerUsage>& usages = metrics->containers;
  if (old != nullptr && SameLayout(*old, usages)) {
    // Nothing was created or deleted on the node since the last scrape: update in place.
    const ContainerUsage* next_usage = usages.data();
    for (PodState& pod : old->pods) {
      AdvancePodInPlace(pod, next_usage, settings_.resolution);
      next_usage += pod.containers.size();
    }
    old->series = node_series;
    old->failed_ticks = 0;
    SharePodNames(*old);
    if (summary != nullptr) ApplySummary(*summary, &old->series, &old->pods);
    KeepSummary(summary, old->pods, &old->summary);
    MoveNode(old_it->second, *next_);
    return;
  }
  auto fresh = std::make_unique<NodeState>();
  fresh->name = std::string(node);  // a copy: the old one is state_'s key until Publish()
  fresh->series = node_series;
  MergePods(old ? &old->pods : nullptr, usages, settings_.resolution, fresh->pods,
            fresh->containers);
  SharePodNames(*fresh);
  if (summary != nullptr) ApplySummary(*summary, &fresh->series, &fresh->pods);
  KeepSummary(summary, fresh->pods, &fresh->summary);
  rebuilt_.push_back(fresh.get());
  std::string_view key = fresh->name;
  next_->emplace(key, std::move(fresh));
}

void Store::KeepAsIs(std::string_view node) {
  base::MutexLock lock(tick_mu_);
  if (!next_ || next_->find(node) != next_->end()) return;  // no open tick, or reported twice
  auto old = state_->find(node);
  if (old != state_->end()) MoveNode(old->second, *next_);
}

void Store::MoveNode(std::unique_ptr<NodeState>& from, StateMap& to) {
  std::string_view key = from->name;
  to.emplace(key, std::move(from));
}

void Store::Publish() {
  StoreStats stats;
  std::shared_ptr<const window::Window> window;
  {
    base::MutexLock lock(tick_mu_);
    if (!next_) return;
    // What was not moved over (nor rebuilt from) leaves with the old map; the order must forget
    // it first. A rebuilt node's old object is among these: its pods were moved out.
    std::unique_ptr<StateMap> old = std::move(state_);
    state_ = std::move(next_);
    std::vector<const NodeState*> gone;
    for (const auto& entry : *old) {
      if (entry.second) gone.push_back(entry.second.get());
    }
    UpdateOrder(gone);
    old.reset();
    window = BuildWindow(++generation_, &stats);
  }
  {
    base::MutexLock lock(stats_mu_);
    stats_ = stats;
  }
  publication_.Publish(std::move(window));
}

namespace {

// Three-way comparison of two pods of the state by (namespace, name), then by node name.
template <typename Ref>
std::strong_ordering ComparePods(const Ref& a, const Ref& b, bool* same_key) {
  const PodState& pa = a.node->pods[a.pod];
  const PodState& pb = b.node->pods[b.pod];
  std::strong_ordering c = pa.namespace_ <=> pb.namespace_;
  if (c == 0) c = pa.name <=> pb.name;
  if (same_key != nullptr) *same_key = c == 0;
  if (c == 0) c = a.node->name.compare(b.node->name) <=> 0;
  return c;
}

}  // namespace

void Store::UpdateOrder(const std::vector<const NodeState*>& gone) {
  if (gone.empty() && rebuilt_.empty()) return;
  std::vector<PodRef> kept;
  kept.reserve(order_.size());
  if (!gone.empty()) {
    std::vector<const NodeState*> sorted_gone = gone;
    std::sort(sorted_gone.begin(), sorted_gone.end());
    for (const PodRef& ref : order_) {
      if (!std::binary_search(sorted_gone.begin(), sorted_gone.end(), ref.node)) {
        kept.push_back(ref);
      }
    }
  } else {
    kept = std::move(order_);
  }
  std::vector<PodRef> added;
  for (const NodeState* node : rebuilt_) {
    for (size_t i = 0; i < node->pods.size(); ++i) {
      added.push_back({node, static_cast<uint32_t>(i), false});
    }
  }
  rebuilt_.clear();
  auto less = [](const PodRef& a, const PodRef& b) { return ComparePods(a, b, nullptr) < 0; };
  std::sort(added.begin(), added.end(), less);
  order_.clear();
  order_.reserve(kept.size() + added.size());
  std::merge(kept.begin(), kept.end(), added.begin(), added.end(), std::back_inserter(order_),
             less);
  for (size_t i = 1; i < order_.size(); ++i) {
    bool same_key = false;
    ComparePods(order_[i - 1], order_[i], &same_key);
    order_[i].same_key = same_key;
  }
  if (!order_.empty()) order_[0].same_key = false;
}

std::shared_ptr<const window::Window> Store::BuildWindow(uint64_t generation,
                                                         StoreStats* stats) const {
  // With the summary, the window's SummaryStats beside nodes and pods.
  bool with_summary = false;
  for (const auto& entry : *state_) with_summary = with_summary || entry.second->summary;
  struct Servable {
    const PodState* pod;
    const window::PodSummary* summary;  // null without the node's summary
  };
  std::vector<Servable> servable;
  servable.reserve(order_.size());
  stats->nodes = state_->size();
  size_t servable_nodes = 0;
  for (const auto& [name, node_ptr] : *state_) {
    const NodeState& node = *node_ptr;
    if (node.failed_ticks > 0) ++stats->retained_nodes;
    for (const PodState& pod : node.pods) stats->containers += pod.containers.size();
    if (node.series.Servable()) ++servable_nodes;
  }
  // order_ lists every pod sorted by (namespace, name, node name): of a pod reported by two nodes
  // (a kubelet bug or a stale node) the first node's complete one is served, as metrics-server
  // does, and lookups stay unambiguous.
  size_t servable_containers = 0;
  for (size_t first = 0, end = 0; first < order_.size(); first = end) {
    end = first + 1;
    while (end < order_.size() && order_[end].same_key) ++end;
    for (size_t k = first; k < end; ++k) {
      const NodeState& node = *order_[k].node;
      const PodState& pod = node.pods[order_[k].pod];
      bool complete = !pod.containers.empty();
      for (const ContainerState& c : pod.containers) complete = complete && c.series.Servable();
      if (complete) {
        servable.push_back({&pod, node.summary ? &node.summary->pods[order_[k].pod] : nullptr});
        servable_containers += pod.containers.size();
        break;
      }
    }
  }
  window::Window::Builder window(generation, with_summary, servable_nodes, servable.size(),
                                 servable_containers);
  for (const auto& [name, node_ptr] : *state_) {
    const NodeState& node = *node_ptr;
    const Series& s = node.series;
    if (!s.Servable()) continue;
    window::NodeMetrics m;
    m.name = name;
    m.timestamp = s.last.ts;
    m.window = std::chrono::nanoseconds(s.last.ts - s.prev.ts);
    m.cpu_nanocores = CpuNanocores(s.last.cpu_ns - s.prev.cpu_ns, m.window);
    m.memory_bytes = s.memory_bytes;
    m.has_swap = s.has_swap();
    m.swap_bytes = s.has_swap() ? s.swap_bytes : 0;
    m.has_ephemeral_storage = s.has_storage();
    m.ephemeral_storage_bytes = s.has_storage() ? s.storage_bytes : 0;
    window.AddNode(std::move(m), node.summary ? &node.summary->node : nullptr);
  }
  for (const auto& [pod, summary] : servable) {
    // The pod's timestamp and window are its container's with the earliest newer point.
    base::UnixNanos earliest = 0;
    std::chrono::nanoseconds earliest_window{0};
    for (const ContainerState& c : pod->containers) {
      if (earliest == 0 || c.series.last.ts < earliest) {
        earliest = c.series.last.ts;
        earliest_window = std::chrono::nanoseconds(c.series.last.ts - c.series.prev.ts);
      }
    }
    window.AddPod(pod->namespace_, pod->name, earliest, earliest_window, summary);
    for (const ContainerState& c : pod->containers) {
      const Series& cs = c.series;
      window.AddContainer(c.name,
                          CpuNanocores(cs.last.cpu_ns - cs.prev.cpu_ns,
                                       std::chrono::nanoseconds(cs.last.ts - cs.prev.ts)),
                          cs.memory_bytes,
                          {.swap_bytes = cs.has_swap() ? cs.swap_bytes : 0,
                           .ephemeral_storage_bytes = cs.has_storage() ? cs.storage_bytes : 0,
                           .has_swap = cs.has_swap(),
                           .has_ephemeral_storage = cs.has_storage()});
    }
  }
  stats->servable_nodes = servable_nodes;
  stats->servable_pods = servable.size();
  stats->servable_containers += servable_containers;
  return std::move(window).Build();
}

StoreStats Store::Stats() const {
  base::MutexLock lock(stats_mu_);
  return stats_;
}

}  // namespace scraper
