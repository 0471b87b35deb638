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

}  // namespace

Window::Window(uint64_t generation, std::vector<NodeMetrics> nodes, std::vector<PodMetrics> pods)
    : Window(generation, std::move(nodes), std::move(pods), {}, {}) {}

Window::Window(uint64_t generation, std::vector<NodeMetrics> nodes, std::vector<PodMetrics> pods,
               std::vector<SummaryStats> node_summaries, std::vector<PodSummary> pod_summaries)
    : generation_(generation),
      nodes_(std::move(nodes)),
      pods_(std::move(pods)),
      node_summaries_(std::move(node_summaries)),
      pod_summaries_(std::move(pod_summaries)) {
  auto node_less = [](const NodeMetrics& a, const NodeMetrics& b) { return a.name < b.name; };
  auto pod_less = [](const PodMetrics& a, const PodMetrics& b) {
    return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
  };
  if (node_summaries_.size() != nodes_.size()) node_summaries_.clear();
  if (pod_summaries_.size() != pods_.size()) pod_summaries_.clear();
  SortWith(nodes_, node_summaries_, node_less);
  SortWith(pods_, pod_summaries_, pod_less);
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
