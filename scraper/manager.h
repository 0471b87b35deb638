// The scrape loop: one tick per resolution; in each tick every node from the NodeSource is
// scraped once, launches spread evenly over the first part of the tick (in groups, at most
// kLaunchBatches per tick, see PlanLaunches), at most `max_concurrency` in flight, each with its
// own deadline that ends before the next tick. Each result is parsed and merged into the Store as
// it arrives (the response body is dropped right away); when the last node is done the tick's
// Window is published and a TickReport records every node's outcome for self-metrics and logs. A
// watchdog ends the tick shortly after its deadline even if a client never answers (the node is
// then reported as failed and its late answer is ignored), so one stuck connection cannot stall
// later ticks.
//
// Thread-safety: the public accessors may be called from any thread. Start/Stop/RunTick may be
// called from any thread; the loop itself runs on a strand of `io`. `io`, `clock`, `nodes`,
// `client` and `store` must outlive the Manager.
//
// Lifetime: a RunTick `done` callback is the last thing a tick does; once it has started, the
// Manager touches nothing of itself for that tick, so the owner may destroy the Manager from
// inside `done`, or from another thread as soon as `done` has started, while `io` keeps
// running (late kubelet answers of a tick the watchdog ended are dropped without reaching the
// Manager). With Start(), call Stop() and let `io` run until idle (or stop and join its
// threads) before destroying it: the tick timers' handlers reach the Manager.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "kube/selector.h"
#include "scraper/kubelet_client.h"
#include "scraper/node_source.h"
#include "scraper/store.h"
#include "scraper/target.h"

namespace scraper {

// Spread launches go out in at most this many groups per tick (+1): at 20,000 nodes and 15 s
// (a 5 s spread) 200 nodes every 50 ms, each launched at most that much later than an even
// spread would; fewer nodes than this keep one launch per node.
inline constexpr size_t kLaunchBatches = 100;

struct ManagerSettings {
  std::chrono::nanoseconds resolution = std::chrono::seconds(15);       // tick interval
  std::chrono::nanoseconds request_timeout = std::chrono::seconds(10);  // per node, < resolution
  size_t max_concurrency = 64;
  // Spread launches over the first part of the tick: `launch_spacing` per node on average, at
  // most [0, resolution - request_timeout) (see TickSpread); false launches all at once (subject
  // to max_concurrency).
  bool spread = true;
  // 250 µs: a scrape costs the scrape thread about 0.1 ms of CPU, so launching keeps it at most
  // about 40 % busy, and the window, published when the last node has answered, holds samples
  // taken within 0.25 s at 1,000 nodes, 1.25 s at 5,000, 2.5 s at 10,000, and from 20,000 on
  // the cap (5 s at a 15 s resolution and 10 s timeout). metrics-server v0.8.0 sleeps each scrape
  // 0 to 8 ms per node at random (at most 4 s), then also publishes when the last has answered.
  // At most one launch per 250 µs also bounds the kubelets' answers arriving at once: ~160 MB/s
  // at the 41 KB of 30 pods.
  std::chrono::nanoseconds launch_spacing = std::chrono::microseconds(250);
  TargetSettings target;
  // Nodes whose labels do not match are not scraped (and leave the window after one tick).
  kube::LabelSelector node_selector;
  // Start-up: the first tick launches every scrape at once (no spread); as it ends, a start-up
  // tick takes each node's second sample a third of a resolution after its first answer (a
  // node that did not answer: a third of a resolution after start), and publishes before the
  // second regular tick. A rate needs two samples, so the window has its first rates about a
  // third of a resolution after start instead of after the second regular tick. A node whose
  // second sample would come within a tenth of a resolution of that tick's deadline is kept as
  // it is (Store::Tick::Keep, no failure) and gets its rate from the next regular tick: at
  // 10,000 nodes the first tick's TLS handshakes take 10-12 s of a 15 s resolution, so the
  // nodes that answered first are served from the start-up tick on, the others a tick later.
  // A kubelet that has not taken a new sample in between (kubelets sample every ~10 s) gets its
  // rate at the next regular tick, as without this.
  bool early_second_sample = false;
  // --kubelet-summary-api: after each successful /metrics/resource answer, also read the
  // node's /stats/summary (same connection, same deadline and size limit) for
  // ephemeral-storage usage. Its failure leaves the node's resource metrics served, without
  // ephemeral storage, and is reported in NodeOutcome::summary_error.
  bool summary_api = false;
};

// One node's result in one tick.
struct NodeOutcome {
  std::string node;
  std::string url;                       // empty when no target could be chosen
  base::UnixNanos started = 0;           // wall time the request started; 0 = never started
  std::chrono::nanoseconds duration{0};  // request + parse time
  bool success = false;
  std::string error;                 // why it failed; empty on success
  base::UnixNanos last_success = 0;  // wall time of the last successful scrape; 0 = never
  std::string summary_error;         // on success: why /stats/summary could not be used
};

struct TickReport {
  base::UnixNanos start = 0;  // wall time the tick started
  std::chrono::nanoseconds duration{0};
  std::vector<NodeOutcome> nodes;  // sorted by node name
  size_t succeeded = 0;
  size_t failed = 0;
};

class Manager {
 public:
  Manager(boost::asio::io_context& io, base::Clock& clock, NodeSource& nodes, KubeletClient& client,
          Store& store, ManagerSettings settings);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Runs the first tick now, then one every resolution. A tick still running when the next is
  // due (it cannot be, given the deadlines) makes that next tick be skipped.
  void Start();
  // Stops scheduling ticks; a running tick finishes within its deadlines.
  void Stop();
  // Runs one tick now unless one is running; `done` (optional) runs on the strand after the
  // window is published, as the tick's last action (see Lifetime above).
  void RunTick(std::function<void()> done = nullptr);

  // Wall time at which the last tick started; 0 before the first (for liveness).
  base::UnixNanos LastTickStart() const { return last_tick_start_.load(); }
  // True once the store serves at least one node or pod (for readiness).
  bool HasData() const;
  // The last finished tick; empty before the first.
  std::shared_ptr<const TickReport> LastReport() const;
  // Requests since start, for kubelet_request_total{success}.
  uint64_t TotalSuccesses() const { return total_success_.load(); }
  uint64_t TotalFailures() const { return total_failure_.load(); }
  // --kubelet-summary-api: /stats/summary reads since start, for
  // kubelet_summary_request_total{success} (a failed scrape reads no summary: not counted).
  uint64_t SummarySuccesses() const { return summary_success_.load(); }
  uint64_t SummaryFailures() const { return summary_failure_.load(); }
  bool SummaryApi() const { return settings_.summary_api; }

 private:
  struct TickRun;
  struct Job;
  struct FirstAnswers;

  enum class TickKind {
    kRegular,
    kStartUpFirst,   // the first tick with early_second_sample: no spread
    kStartUpSecond,  // each node a third of a resolution after its first answer
  };

  void ScheduleNext(std::chrono::steady_clock::time_point due);
  // `first` (kStartUpSecond only): the first tick's answers, which plan the launches.
  void BeginTick(std::function<void()> done, TickKind kind = TickKind::kRegular,
                 const FirstAnswers* first = nullptr);
  // kStartUpSecond: sets each job's offset, or marks it kept for the next tick; returns how many
  // are launched.
  size_t PlanSecondSamples(TickRun& run, const FirstAnswers& first) const;
  void LaunchDue(const std::shared_ptr<TickRun>& run);
  void Launch(const std::shared_ptr<TickRun>& run, size_t index);
  // `log`: a warning for a failure (the nodes never started are summed up at the tick's end).
  void Record(const std::shared_ptr<TickRun>& run, size_t index, NodeOutcome outcome,
              bool log = true);
  void Finish(const std::shared_ptr<TickRun>& run, size_t index, NodeOutcome outcome);
  void EndTick(const std::shared_ptr<TickRun>& run);

  base::Clock& clock_;
  NodeSource& nodes_;
  KubeletClient& client_;
  Store& store_;
  const ManagerSettings settings_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer tick_timer_;

  // Owned by the strand.
  bool running_ = false;
  std::shared_ptr<TickRun> current_;
  // When the first tick started (early_second_sample: the start-up tick ends before the
  // second regular one, a resolution later).
  std::chrono::steady_clock::time_point first_tick_{};
  std::map<std::string, base::UnixNanos, std::less<>> last_success_;

  std::atomic<base::UnixNanos> last_tick_start_{0};
  std::atomic<uint64_t> total_success_{0};
  std::atomic<uint64_t> total_failure_{0};
  std::atomic<uint64_t> summary_success_{0};
  std::atomic<uint64_t> summary_failure_{0};
  mutable base::Mutex report_mu_;
  std::shared_ptr<const TickReport> report_ GUARDED_BY(report_mu_);
};

// How long a regular tick of `count` nodes spreads its launches over: count * launch_spacing,
// at most resolution - request_timeout; 0 without spread.
std::chrono::nanoseconds TickSpread(size_t count, const ManagerSettings& settings);

// Launch offsets for `count` nodes spread evenly over `spread`: i * spread / count. With
// `batches` > 0, each offset is then rounded up to the next multiple of spread / batches (and at
// most `spread`), so that the launches go out in at most `batches` + 1 groups: one wakeup of the
// scrape thread per group instead of one per node.
std::vector<std::chrono::nanoseconds> PlanLaunches(size_t count, std::chrono::nanoseconds spread,
                                                   size_t batches = 0);

}  // namespace scraper
