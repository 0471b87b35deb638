// The latest-window store: per node and per container only what the rate needs (the newest
// point and the one before it), turned into an immutable Window after each tick.
//
// Semantics follow metrics-server's storage (last/prev, the fresh-container rule, restarts
// detected by start time) with two deliberate differences:
//  - a failed scrape does not erase a node: its last good points are kept and served for at
//    most `failure_retention_ticks` ticks, then dropped;
//  - a container whose cumulative CPU or memory is legitimately zero is served; only a
//    container with no CPU or no memory line at all (or without two usable points) keeps its
//    pod out of the window, because clients such as the HPA need every container of a pod.
// A decrease of a cumulative counter without a start-time change is treated like a restart:
// the object has no rate for that tick instead of a wrong one.
//
// The store is the one publisher of windows: Publish() ends a tick by publishing the next Window
// into the window::Publication given at construction, which readers use.
//
// Thread-safety: Stats() may be called from any thread at any time and never waits for a
// scrape. BeginTick()/Publish() and the Tick's methods are for one writer; a Tick's methods are
// internally serialized, so scrape completions on several threads may call them concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/shared_string.h"
#include "scraper/resource_metrics.h"
#include "scraper/summary.h"
#include "window/publication.h"

namespace scraper {

// A pod's namespace and name in buffers something else already holds (StoreSettings::pod_names).
struct SharedPodNames {
  base::SharedString namespace_;
  base::SharedString name;
};

struct StoreSettings {
  // The scrape interval; containers younger than this get a start-time-based first point.
  std::chrono::nanoseconds resolution = std::chrono::seconds(15);
  // Ticks during which a node whose scrapes fail keeps (and serves) its last good points.
  int failure_retention_ticks = 2;
  // Optional: where the store takes a pod's names from instead of keeping its own copies of the
  // kubelet's (the server passes its pod cache's, so that cache, store and windows hold each name
  // once). Given a namespace and a pod name, the same characters in shared buffers, or empty ones
  // when it knows no such pod. Called from scrape threads, with the store's lock held, for the
  // pods of a node whose names are not all shared yet, at each of its scrapes until they are (at
  // most four times until its pods change).
  std::function<SharedPodNames(std::string_view namespace_, std::string_view name)> pod_names =
      nullptr;
};

// Counts for self-metrics, as of the last published tick.
struct StoreStats {
  size_t nodes = 0;           // nodes with state
  size_t containers = 0;      // containers with state
  size_t servable_nodes = 0;  // nodes in the window
  size_t servable_pods = 0;   // pods in the window
  size_t servable_containers = 0;
  size_t retained_nodes = 0;  // nodes served from points kept across failed scrapes
};

class Store final {
 private:
  struct NodeState;

 public:
  // `publication` must outlive the Store.
  Store(StoreSettings settings, window::Publication& publication);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Collects one tick's results. Nodes reported neither as success nor as failure before
  // Publish() are forgotten (deleted or deselected nodes leave no trace).
  class Tick {
   public:
    // A successful scrape. `metrics` and `summary` are only read during the call. `summary`
    // (the node's /stats/summary, --kubelet-summary-api) adds ephemeral-storage usage to the
    // node and to the containers it names, and is copied for the window's SummaryStats; null
    // when not read or not readable this tick (the objects then have none).
    void Success(std::string_view node, const ResourceMetrics& metrics,
                 const SummaryStorage* summary = nullptr);
    // A failed scrape: the node's previous points are carried forward while retention allows.
    void Failure(std::string_view node);
    // Not scraped in this tick, by plan (the start-up tick leaves a node whose first sample is
    // too recent to the next one): its points are kept as they are, no failure counted.
    void Keep(std::string_view node);

   private:
    friend class Store;
    explicit Tick(Store* store) : store_(store) {}
    Store* store_;
  };

  // Starts collecting the next tick. Only one tick may be open at a time.
  Tick& BeginTick();
  // Ends the open tick: swaps in the new state and publishes a new Window.
  void Publish();

  StoreStats Stats() const;

 private:
  // Keyed by a view of NodeState::name. A node's state lives in one heap object from the tick it
  // first appears until it leaves, moved between ticks by pointer, so the pod order below can
  // refer to it.
  using StateMap = std::map<std::string_view, std::unique_ptr<NodeState>>;

  // One pod of the state: node->pods[pod]. The order lists every pod of state_ sorted by
  // (namespace, name, node name); `same_key` says the entry before it has the same namespace and
  // name (a pod reported by two nodes).
  struct PodRef {
    const NodeState* node;
    uint32_t pod;
    bool same_key;
  };

  void Merge(std::string_view node, const ResourceMetrics* metrics, const SummaryStorage* summary);
  void KeepAsIs(std::string_view node);
  static bool SameLayout(const NodeState& node, const std::vector<ContainerUsage>& usages);
  // Takes the names of `node`'s pods from settings_.pod_names where it has them.
  void SharePodNames(NodeState& node) const;
  // Moves a node's state from one tick's map into the next one's, keyed by its name.
  static void MoveNode(std::unique_ptr<NodeState>& from, StateMap& to);
  // Brings order_ in line with state_ after a tick: drops the pods of `gone` nodes, sorts in
  // the pods of the nodes rebuilt this tick (rebuilt_) and merges; when neither happened, the
  // order is kept as it is, so a tick whose pods did not change sorts nothing.
  void UpdateOrder(const std::vector<const NodeState*>& gone) REQUIRES(tick_mu_);
  std::shared_ptr<const window::Window> BuildWindow(uint64_t generation, StoreStats* stats) const
      REQUIRES(tick_mu_);

  const StoreSettings settings_;
  Tick tick_{this};

  base::Mutex tick_mu_;                                   // serializes BeginTick, Merge and Publish
  std::unique_ptr<StateMap> state_ GUARDED_BY(tick_mu_);  // the points of the last published tick
  std::unique_ptr<StateMap> next_ GUARDED_BY(tick_mu_);   // the tick being collected
  uint64_t generation_ GUARDED_BY(tick_mu_) = 0;
  std::vector<PodRef> order_ GUARDED_BY(tick_mu_);
  // Nodes of next_ whose pods were (re)built this tick: not in order_ yet.
  std::vector<const NodeState*> rebuilt_ GUARDED_BY(tick_mu_);

  window::Publication& publication_;
  mutable base::Mutex stats_mu_;  // held only to copy stats_
  StoreStats stats_ GUARDED_BY(stats_mu_);
};

// Exposed for tests: Δcpu / Δt in nanocores, truncated; 0 when window <= 0.
uint64_t CpuNanocores(uint64_t cpu_delta_ns, std::chrono::nanoseconds window);

}  // namespace scraper
