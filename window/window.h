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
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/shared_string.h"

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

// Usage of one container, one of a window's array of all its containers: a pod views its own
// (PodMetrics::containers), so that building a window allocates a few arrays instead of one per
// pod. The names of pods and containers share their characters with the store and the other
// windows. 32 bytes: swap, which kubelets report for every container on Linux (0 without swap),
// is kept in place with a value that no kubelet sends for "not reported"; ephemeral storage,
// which only --kubelet-summary-api gives, in an array of its own beside (PodMetrics).
struct ContainerMetrics {
  static constexpr uint64_t kNoSwap = UINT64_MAX;  // above any value the parsers accept

  base::SharedString name;
  uint64_t cpu_nanocores = 0;
  uint64_t memory_bytes = 0;
  uint64_t swap_bytes = kNoSwap;  // swap in use at the newer point, if the kubelet reported it

  bool has_swap() const { return swap_bytes != kNoSwap; }
};
static_assert(sizeof(ContainerMetrics) == 32);

// What a container may have beside CPU and memory, as encoders read it.
struct ContainerExtras {
  uint64_t swap_bytes = 0;  // only if has_swap
  // From /stats/summary (--kubelet-summary-api): the container's rootfs + logs usedBytes.
  uint64_t ephemeral_storage_bytes = 0;  // only if has_ephemeral_storage
  bool has_swap = false;                 // as NodeMetrics::has_swap
  bool has_ephemeral_storage = false;
};

// Usage of one pod: every container with data, sorted by name. `timestamp`/`window` come from
// the container with the earliest newer-point timestamp, as metrics-server reports them.
// `containers` and `ephemeral_storage` view the window's storage: valid while the window lives.
struct PodMetrics {
  static constexpr uint64_t kNoStorage = UINT64_MAX;

  base::SharedString namespace_;
  base::SharedString name;
  base::UnixNanos timestamp = 0;
  std::chrono::nanoseconds window{0};
  std::span<const ContainerMetrics> containers;  // never empty in a published window
  // Null when no container of the window has ephemeral storage; else parallel to `containers`,
  // kNoStorage for a container without it.
  const uint64_t* ephemeral_storage = nullptr;

  // The swap and ephemeral storage of containers[k].
  ContainerExtras extras_of(size_t k) const {
    const ContainerMetrics& c = containers[k];
    const uint64_t storage = ephemeral_storage != nullptr ? ephemeral_storage[k] : kNoStorage;
    return {.swap_bytes = c.has_swap() ? c.swap_bytes : 0,
            .ephemeral_storage_bytes = storage != kNoStorage ? storage : 0,
            .has_swap = c.has_swap(),
            .has_ephemeral_storage = storage != kNoStorage};
  }
};
static_assert(sizeof(PodMetrics) == 56);

// A pod as a test or a small caller gives it to Window's constructor: its containers in a
// vector of their own.
struct ContainerInput {
  base::SharedString name;
  uint64_t cpu_nanocores = 0;
  uint64_t memory_bytes = 0;
  uint64_t swap_bytes = 0;
  uint64_t ephemeral_storage_bytes = 0;
  bool has_swap = false;
  bool has_ephemeral_storage = false;
};
struct PodInput {
  base::SharedString namespace_;
  base::SharedString name;
  base::UnixNanos timestamp = 0;
  std::chrono::nanoseconds window{0};
  std::vector<ContainerInput> containers;
};

// A filesystem from the kubelet's /stats/summary (FsStats): Heapster's filesystem/usage, /limit
// and /available. Each value is meaningful only when its bit is set in `has`.
struct FsUsage {
  enum : uint8_t { kUsed = 1, kCapacity = 2, kAvailable = 4 };
  uint8_t has = 0;
  uint64_t used_bytes = 0;       // usedBytes
  uint64_t capacity_bytes = 0;   // capacityBytes
  uint64_t available_bytes = 0;  // availableBytes
};

// What --kubelet-summary-api adds for one node, pod or container, from /stats/summary. Kept
// beside the window (Window::node_summary / pod_summary), not in NodeMetrics or PodMetrics, so a
// window without the summary is as small as before. A field is meaningful only when its bit is
// set in `has`; which fields an object can have follows the summary: memory for nodes and
// containers, network for nodes and pods, filesystems for nodes ("/": node.fs) and containers
// ("/": rootfs, "logs": logs).
struct SummaryStats {
  enum : uint16_t {
    kStartTime = 1 << 0,
    kMemoryTime = 1 << 1,
    kMemoryUsage = 1 << 2,
    kMemoryRss = 1 << 3,
    kPageFaults = 1 << 4,
    kMajorPageFaults = 1 << 5,
    kNetworkTime = 1 << 6,
    kRxBytes = 1 << 7,
    kRxErrors = 1 << 8,
    kTxBytes = 1 << 9,
    kTxErrors = 1 << 10,
  };
  static constexpr int kRootFs = 0;  // index in fs: "/" (node.fs, a container's rootfs)
  static constexpr int kLogs = 1;    // index in fs: "logs" (a container's logs)

  uint16_t has = 0;
  bool Has(uint16_t field) const { return (has & field) != 0; }

  base::UnixNanos start_time = 0;    // startTime: when the object started (uptime)
  base::UnixNanos memory_time = 0;   // memory.time: sample time of the memory values
  base::UnixNanos network_time = 0;  // network.time: sample time of the network counters
  uint64_t memory_usage_bytes = 0;   // memory.usageBytes (gauge)
  uint64_t memory_rss_bytes = 0;     // memory.rssBytes (gauge)
  uint64_t page_faults = 0;          // memory.pageFaults (cumulative count)
  uint64_t major_page_faults = 0;    // memory.majorPageFaults (cumulative count)
  uint64_t rx_bytes = 0;             // network.rxBytes (cumulative, default interface)
  uint64_t rx_errors = 0;            // network.rxErrors (cumulative)
  uint64_t tx_bytes = 0;             // network.txBytes (cumulative)
  uint64_t tx_errors = 0;            // network.txErrors (cumulative)
  FsUsage fs[2];                     // [kRootFs], [kLogs]
};

// The summary of one pod and of its containers; `containers` is parallel to the pod's
// PodMetrics::containers (same length and order).
struct PodSummary {
  SummaryStats pod;
  std::vector<SummaryStats> containers;
};

// One immutable generation of servable metrics.
class Window {
 public:
  class Builder;

  Window(uint64_t generation, std::vector<NodeMetrics> nodes, std::vector<PodInput> pods);
  // With the summary (--kubelet-summary-api): `node_summaries` parallel to `nodes`,
  // `pod_summaries` parallel to `pods` (each either empty or of the same length).
  Window(uint64_t generation, std::vector<NodeMetrics> nodes, std::vector<PodInput> pods,
         std::vector<SummaryStats> node_summaries, std::vector<PodSummary> pod_summaries);
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  // Increases by one with every published window.
  uint64_t generation() const { return generation_; }
  // Sorted by name.
  const std::vector<NodeMetrics>& nodes() const { return nodes_; }
  // Sorted by namespace, then name.
  const std::vector<PodMetrics>& pods() const { return pods_; }

  // True when the window was built with the kubelet's summary (--kubelet-summary-api).
  bool has_summary() const { return !node_summaries_.empty() || !pod_summaries_.empty(); }
  // The summary of nodes()[i] / pods()[i]; nullptr when the window was built without it.
  const SummaryStats* node_summary(size_t i) const {
    return i < node_summaries_.size() ? &node_summaries_[i] : nullptr;
  }
  const PodSummary* pod_summary(size_t i) const {
    return i < pod_summaries_.size() ? &pod_summaries_[i] : nullptr;
  }

  // nullptr when the node / pod has no servable metrics. O(log n).
  const NodeMetrics* FindNode(std::string_view name) const;
  const PodMetrics* FindPod(std::string_view namespace_, std::string_view name) const;
  // The pods of one namespace, as a contiguous range of pods(). O(log n).
  std::pair<const PodMetrics*, const PodMetrics*> PodsInNamespace(
      std::string_view namespace_) const;

 private:
  Window() = default;
  // Appends a container of the pod added last; the storage array starts with the first container
  // that has ephemeral storage.
  void AppendContainer(base::SharedString name, uint64_t cpu_nanocores, uint64_t memory_bytes,
                       const ContainerExtras& extras);
  // Points each pod at its containers (`first`: per pod, the index of its first one; the arrays
  // are complete, so the views hold), then sorts.
  void Seal(const std::vector<uint32_t>& first);
  void Sort();

  uint64_t generation_ = 0;
  std::vector<NodeMetrics> nodes_;
  std::vector<PodMetrics> pods_;
  std::vector<ContainerMetrics> containers_;  // every pod's, viewed by PodMetrics::containers
  std::vector<uint64_t> storage_;             // empty, or parallel to containers_
  std::vector<SummaryStats> node_summaries_;  // empty, or parallel to nodes_
  std::vector<PodSummary> pod_summaries_;     // empty, or parallel to pods_
};

// Builds a window in place: nodes, then pods each followed by its containers. Pods come in the
// order given; a builder that gives them sorted (the store) spares the window a sort.
class Window::Builder {
 public:
  // `with_summary`: the window carries summaries (--kubelet-summary-api). The counts are
  // capacities to reserve, not limits.
  Builder(uint64_t generation, bool with_summary, size_t nodes, size_t pods, size_t containers);

  // `summary`: the node's, with the summary; null gives it an empty one.
  void AddNode(NodeMetrics node, const SummaryStats* summary = nullptr);
  // Starts a pod; the containers added next are its own. `summary`: the pod's, with the summary;
  // null gives it an empty one with one entry per container.
  void AddPod(base::SharedString namespace_, base::SharedString name, base::UnixNanos timestamp,
              std::chrono::nanoseconds window, const PodSummary* summary = nullptr);
  void AddContainer(base::SharedString name, uint64_t cpu_nanocores, uint64_t memory_bytes,
                    const ContainerExtras& extras = {});
  // Sorts what is not sorted yet (a linear check when it is).
  std::shared_ptr<const Window> Build() &&;

 private:
  std::unique_ptr<Window> window_;
  bool with_summary_;
  std::vector<uint32_t> first_;  // per pod, the index of its first container
};

// The read side of the window layer (window::Publication); the seam consumers' tests fake.
class Source {
 public:
  virtual ~Source() = default;
  // The current window; never null (empty before the first tick). Never waits for a scrape.
  virtual std::shared_ptr<const Window> Current() const = 0;
};

}  // namespace window
