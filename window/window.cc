#include "window/window.h"

#include <algorithm>
#include <tuple>

namespace window {

Window::Window(uint64_t generation, std::vector<NodeMetrics> nodes, std::vector<PodMetrics> pods)
    : generation_(generation), nodes_(std::move(nodes)), pods_(std::move(pods)) {
  // The store hands over sorted vectors; checking is linear, sorting again is not.
  auto node_less = [](const NodeMetrics& a, const NodeMetrics& b) { return a.name < b.name; };
  auto pod_less = [](const PodMetrics& a, const PodMetrics& b) {
    return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
  };
  if (!std::is_sorted(nodes_.begin(), nodes_.end(), node_less)) {
    std::sort(nodes_.begin(), nodes_.end(), node_less);
  }
  if (!std::is_sorted(pods_.begin(), pods_.end(), pod_less)) {
    std::sort(pods_.begin(), pods_.end(), pod_less);
  }
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
