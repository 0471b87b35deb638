// The served "latest window": per node and per pod, the CPU rate and memory computed from the
// two newest kubelet samples. A Window is immutable once published; the scraper's store builds
// the next one aside after each tick and publishes it (window/publication.h), so readers never
// wait for a scrape.
//
// This layer sits between the scraper, which writes windows, and every consumer (the Metrics
// API, and exporters or watchers), which only read them; it depends on nothing but base/.
//
// Thread-safety: a `shared_ptr<const Window>` may be read from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"

namespace window {

// Usage of one node over its window.
struct NodeMetrics {
  std::string name;
  base::UnixNanos timestamp = 0;       // kubelet sample time of the newer point
  std::chrono::nanoseconds window{0};  // newer minus older sample time (> 0)
  uint64_t cpu_nanocores = 0;          // Δ cumulative CPU ns / Δ seconds, truncated
  uint64_t memory_bytes = 0;           // working set of the newer point
  bool has_swap = false;               // the kubelet reported swap usage with the newer point
  uint64_t swap_bytes = 0;             // swap in use at the newer point; only if has_swap
  // From the kubelet's /stats/summary (--kubelet-summary-api): node.fs.usedBytes.
  bool has_ephemeral_storage = false;
  uint64_t ephemeral_storage_bytes = 0;  // only if has_ephemeral_storage
};

struct ContainerMetrics {
  std::string name;
  uint64_t cpu_nanocores = 0;
  uint64_t memory_bytes = 0;
  bool has_swap = false;    // as NodeMetrics::has_swap
  uint64_t swap_bytes = 0;  // only if has_swap
  // From /stats/summary (--kubelet-summary-api): the container's rootfs + logs usedBytes.
  bool has_ephemeral_storage = false;
  uint64_t ephemeral_storage_bytes = 0;  // only if has_ephemeral_storage
};

// Usage of one pod: every container with data, sorted by name. `timestamp`/`window` come from
// the container with the earliest newer-point timestamp, as metrics-server reports them.
struct PodMetrics {
  std::string namespace_;
  std::string name;
  base::UnixNanos timestamp = 0;
  std::chrono::nanoseconds window{0};
  std::vector<ContainerMetrics> containers;  // never empty in a published window
};

// One immutable generation of servable metrics.
class Window {
 public:
  Window(uint64_t generation, std::vector<NodeMetrics> nodes, std::vector<PodMetrics> pods);

  // Increases by one with every published window.
  uint64_t generation() const { return generation_; }
  // Sorted by name.
  const std::vector<NodeMetrics>& nodes() const { return nodes_; }
  // Sorted by namespace, then name.
  const std::vector<PodMetrics>& pods() const { return pods_; }

  // nullptr when the node / pod has no servable metrics. O(log n).
  const NodeMetrics* FindNode(std::string_view name) const;
  const PodMetrics* FindPod(std::string_view namespace_, std::string_view name) const;
  // The pods of one namespace, as a contiguous range of pods(). O(log n).
  std::pair<const PodMetrics*, const PodMetrics*> PodsInNamespace(
      std::string_view namespace_) const;

 private:
  uint64_t generation_;
  std::vector<NodeMetrics> nodes_;
  std::vector<PodMetrics> pods_;
};

// The read side of the window layer (window::Publication); the seam consumers' tests fake.
class Source {
 public:
  virtual ~Source() = default;
  // The current window; never null (empty before the first tick). Never waits for a scrape.
  virtual std::shared_ptr<const Window> Current() const = 0;
};

}  // namespace window
