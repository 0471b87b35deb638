#include "window/window.h"

#include <algorithm>
#include <numeric>
#include <tuple>

namespace window {
namespace {

// Sorts `items` by `less` and applies the same permutation to `parallel` (when not empty).
template <typename T, typename U, typename Less>
void SortWith(std::vector<T>& items, std::vector<U>& parallel, Less less) {
  // The store hands over sorted vectors; checking is linear, sorting again is not.
  if (std::is_sorted(items.begin(), items.end(), less)) return;
  if (parallel.size() != items.size()) {
    parallel.clear();
    std::sort(items.begin(), items.end(), less);
    return;
  }
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return less(items[a], items[b]); });
  std::vector<T> sorted_items;
  std::vector<U> sorted_parallel;
  sorted_items.reserve(items.size());
  sorted_parallel.reserve(items.size());
  for (size_t i : order) {
    sorted_items.push_back(std::move(items[i]));
    sorted_parallel.push_back(std::move(parallel[i]));
  }
  items = std::move(sorted_items);
  parallel = std::move(sorted_parallel);
}

// A reported value as kept in the window; the parsers accept nothing above INT64_MAX, so the
// clamp only keeps a caller's impossible value from reading as "not reported".
uint64_t SwapOf(bool reported, uint64_t bytes) {
  return reported ? std::min(bytes, ContainerMetrics::kNoSwap - 1) : ContainerMetrics::kNoSwap;
}
uint64_t StorageOf(bool reported, uint64_t bytes) {
  return reported ? std::min(bytes, PodMetrics::kNoStorage - 1) : PodMetrics::kNoStorage;
}

}  // namespace

Window::Window(uint64_t generation, std::vector<NodeMetrics> nodes, std::vector<PodInput> pods)
    : Window(generation, std::move(nodes), std::move(pods), {}, {}) {}

Window::Window(uint64_t generation, std::vector<NodeMetrics> nodes, std::vector<PodInput> pods,
               std::vector<SummaryStats> node_summaries, std::vector<PodSummary> pod_summaries)
    : generation_(generation),
      nodes_(std::move(nodes)),
      node_summaries_(std::move(node_summaries)),
      pod_summaries_(std::move(pod_summaries)) {
  size_t containers = 0;
  for (const PodInput& pod : pods) containers += pod.containers.size();
  containers_.reserve(containers);
  pods_.reserve(pods.size());
  std::vector<uint32_t> first;
  first.reserve(pods.size());
  for (PodInput& pod : pods) {
    pods_.push_back({.namespace_ = std::move(pod.namespace_),
                     .name = std::move(pod.name),
                     .timestamp = pod.timestamp,
                     .window = pod.window,
                     .containers = {}});
    first.push_back(static_cast<uint32_t>(containers_.size()));
    for (ContainerInput& c : pod.containers) {
      AppendContainer(std::move(c.name), c.cpu_nanocores, c.memory_bytes,
                      {.swap_bytes = c.swap_bytes,
                       .ephemeral_storage_bytes = c.ephemeral_storage_bytes,
                       .has_swap = c.has_swap,
                       .has_ephemeral_storage = c.has_ephemeral_storage});
    }
  }
  Seal(first);
}

void Window::AppendContainer(base::SharedString name, uint64_t cpu_nanocores,
                             uint64_t memory_bytes, const ContainerExtras& extras) {
  const bool with_storage = !storage_.empty() || extras.has_ephemeral_storage;
  if (with_storage && storage_.empty()) {
    storage_.reserve(containers_.capacity());
    storage_.resize(containers_.size(), PodMetrics::kNoStorage);
  }
  containers_.push_back({.name = std::move(name),
                         .cpu_nanocores = cpu_nanocores,
                         .memory_bytes = memory_bytes,
                         .swap_bytes = SwapOf(extras.has_swap, extras.swap_bytes)});
  if (with_storage) {
    storage_.push_back(StorageOf(extras.has_ephemeral_storage, extras.ephemeral_storage_bytes));
  }
}

void Window::Seal(const std::vector<uint32_t>& first) {
  for (size_t i = 0; i < pods_.size(); ++i) {
    const size_t begin = first[i];
    const size_t end = i + 1 < first.size() ? first[i + 1] : containers_.size();
    pods_[i].containers = {containers_.data() + begin, end - begin};
    if (!storage_.empty()) pods_[i].ephemeral_storage = storage_.data() + begin;
  }
  Sort();
}

void Window::Sort() {
  auto node_less = [](const NodeMetrics& a, const NodeMetrics& b) { return a.name < b.name; };
  auto pod_less = [](const PodMetrics& a, const PodMetrics& b) {
    return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
  };
  if (node_summaries_.size() != nodes_.size()) node_summaries_.clear();
  if (pod_summaries_.size() != pods_.size()) pod_summaries_.clear();
  SortWith(nodes_, node_summaries_, node_less);
  SortWith(pods_, pod_summaries_, pod_less);
}

Window::Builder::Builder(uint64_t generation, bool with_summary, size_t nodes, size_t pods,
                         size_t containers)
    : window_(new Window()), with_summary_(with_summary) {
  window_->generation_ = generation;
  window_->nodes_.reserve(nodes);
  window_->pods_.reserve(pods);
  window_->containers_.reserve(containers);
  first_.reserve(pods);
  if (with_summary_) {
    window_->node_summaries_.reserve(nodes);
    window_->pod_summaries_.reserve(pods);
  }
}

void Window::Builder::AddNode(NodeMetrics node, const SummaryStats* summary) {
  window_->nodes_.push_back(std::move(node));
  if (with_summary_) window_->node_summaries_.push_back(summary ? *summary : SummaryStats());
}

void Window::Builder::AddPod(base::SharedString namespace_, base::SharedString name,
                             base::UnixNanos timestamp, std::chrono::nanoseconds window,
                             const PodSummary* summary) {
  window_->pods_.push_back({.namespace_ = std::move(namespace_),
                            .name = std::move(name),
                            .timestamp = timestamp,
                            .window = window,
                            .containers = {}});
  first_.push_back(static_cast<uint32_t>(window_->containers_.size()));
  if (with_summary_) window_->pod_summaries_.push_back(summary ? *summary : PodSummary());
}

void Window::Builder::AddContainer(base::SharedString name, uint64_t cpu_nanocores,
                                   uint64_t memory_bytes, const ContainerExtras& extras) {
  window_->AppendContainer(std::move(name), cpu_nanocores, memory_bytes, extras);
}

std::shared_ptr<const Window> Window::Builder::Build() && {
  Window& w = *window_;
  if (with_summary_) {
    for (size_t i = 0; i < w.pods_.size(); ++i) {
      const size_t end = i + 1 < first_.size() ? first_[i + 1] : w.containers_.size();
      if (w.pod_summaries_[i].containers.empty()) w.pod_summaries_[i].containers.resize(end - first_[i]);
    }
  }
  w.Seal(first_);
  return std::shared_ptr<const Window>(std::move(window_));
}

const NodeMetrics* Window::FindNode(std::string_view name) const {
  auto it =
      std::lower_bound(nodes_.begin(), nodes_.end(), name,
                       [](const NodeMetrics& n, std::string_view key) { return n.name < key; });
  return it != nodes_.end() && it->name == name ? &*it : nullptr;
}

const PodMetrics* Window::FindPod(std::string_view namespace_, std::string_view name) const {
  auto key = std::make_tuple(namespace_, name);
  auto it =
      std::lower_bound(pods_.begin(), pods_.end(), key, [](const PodMetrics& p, const auto& k) {
        return std::make_tuple(std::string_view(p.namespace_), std::string_view(p.name)) < k;
      });
  return it != pods_.end() && it->namespace_ == namespace_ && it->name == name ? &*it : nullptr;
}

std::pair<const PodMetrics*, const PodMetrics*> Window::PodsInNamespace(
    std::string_view namespace_) const {
  auto [first, last] =
      std::equal_range(pods_.begin(), pods_.end(), namespace_, [](const auto& a, const auto& b) {
        if constexpr (std::is_same_v<std::decay_t<decltype(a)>, PodMetrics>) {
          return std::string_view(a.namespace_) < b;
        } else {
          return a < std::string_view(b.namespace_);
        }
      });
  const PodMetrics* base = pods_.data();
  return {base + (first - pods_.begin()), base + (last - pods_.begin())};
}

}  // namespace window
