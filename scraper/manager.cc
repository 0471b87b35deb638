#include "scraper/manager.h"

#include <spdlog/spdlog.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <optional>

#include "base/mutex.h"
#include "scraper/resource_metrics.h"
#include "scraper/summary.h"

namespace scraper {

using std::chrono::nanoseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

nanoseconds TickSpread(size_t count, const ManagerSettings& settings) {
  const nanoseconds spacing = settings.launch_spacing;
  if (!settings.spread || count == 0 || spacing <= nanoseconds(0)) return nanoseconds(0);
  const nanoseconds most = std::max(nanoseconds(0), settings.resolution - settings.request_timeout);
  if (count >= static_cast<uint64_t>(most / spacing)) return most;  // also: no overflow below
  return spacing * static_cast<int64_t>(count);
}

std::vector<nanoseconds> PlanLaunches(size_t count, nanoseconds spread, size_t batches) {
  std::vector<nanoseconds> offsets(count);
  if (spread.count() <= 0 || count == 0) return offsets;
  const int64_t quantum = batches > 0 ? spread.count() / static_cast<int64_t>(batches) : 0;
  for (size_t i = 0; i < count; ++i) {
    int64_t offset = static_cast<int64_t>(static_cast<__int128>(spread.count()) *
                                          static_cast<__int128>(i) / static_cast<__int128>(count));
    if (quantum > 0) offset = std::min(spread.count(), (offset + quantum - 1) / quantum * quantum);
    offsets[i] = nanoseconds(offset);
  }
  return offsets;
}

struct Manager::Job {
  std::string node;
  std::optional<Target> target;
  nanoseconds offset{0};
  SteadyTime started{};
  bool done = false;  // outcome recorded
  bool kept = false;  // start-up tick: not scraped, its first sample kept for the next tick
  NodeOutcome outcome;
};

namespace {

// How many of the nodes not started before a tick's deadline its warning names.
constexpr size_t kNotStartedNamed = 5;

// One node's /metrics/resource body and its parse, kept while its /stats/summary is read.
struct Scrape {
  std::string body;
  ResourceMetrics metrics;  // points into body
  SummaryStorage summary;
};

// Parses a /metrics/resource answer (the protobuf or the text exposition, by its content type)
// into `metrics`; sets outcome->success or outcome->error.
void ParseResourceBody(const base::Result<std::string_view>& body, std::string_view content_type,
                       NodeOutcome* outcome, ResourceMetrics* metrics) {
  if (!body.ok()) {
    outcome->error = body.error();
    return;
  }
  base::Result<ExpositionFormat> format = ExpositionFormatOf(content_type);
  if (!format.ok()) {
    outcome->error = "parse: " + format.error();
    return;
  }
  base::Status parsed = *format == ExpositionFormat::kProtobufDelimited
                            ? ParseResourceMetricsProtobuf(*body, outcome->started, metrics)
                            : ParseResourceMetrics(*body, outcome->started, metrics);
  if (!parsed.ok()) {
    outcome->error = "parse: " + parsed.message();
  } else if (metrics->scrape_error) {
    outcome->error = "kubelet reported resource_scrape_error 1";
  } else {
    outcome->success = true;
  }
}
void ParseResourceBody(const base::Result<KubeletResponse>& response, NodeOutcome* outcome,
                       ResourceMetrics* metrics) {
  ParseResourceBody(response.ok()
                        ? base::Result<std::string_view>(response->body)
                        : base::Result<std::string_view>(base::MakeError(response.error())),
                    response.ok() ? std::string_view(response->content_type) : std::string_view(),
                    outcome, metrics);
}

}  // namespace

// The first tick's outcomes (sorted by node) and, parallel to them, when each successful one
// answered (SteadyTime{} for a failure): the start-up tick's plan.
struct Manager::FirstAnswers {
  std::shared_ptr<const TickReport> report;
  std::vector<SteadyTime> answered;
};

struct Manager::TickRun {
  explicit TickRun(boost::asio::strand<boost::asio::io_context::executor_type>& strand)
      : launch_timer(strand), watchdog(strand) {}
  TickKind kind = TickKind::kRegular;
  bool by_offset = false;  // jobs sorted by launch offset instead of by node
  SteadyTime start{};
  SteadyTime deadline{};  // every scrape of this tick ends by then
  base::UnixNanos wall_start = 0;
  std::vector<Job> jobs;
  size_t next = 0;  // next job to launch
  size_t in_flight = 0;
  size_t remaining = 0;  // jobs not finished
  bool ended = false;    // EndTick ran; late timer callbacks must do nothing
  Store::Tick* tick = nullptr;
  boost::asio::steady_timer launch_timer;
  // launch_timer waits for the launch due at timer_due; re-arming it for the same time after
  // every completion would cancel and requeue its wait (and reprogram the kernel timer).
  bool timer_armed = false;
  SteadyTime timer_due{};
  boost::asio::steady_timer watchdog;  // ends the tick if a client misses its deadline
  // Nodes still queued behind the concurrency limit at the deadline: one warning per tick
  // names the first few and counts the rest (every node's error is in the tick's report).
  size_t not_started = 0;
  std::vector<std::string> not_started_named;
  std::function<void()> done;
  // Guards `closed`: once the tick is closed, late answers no longer reach the store.
  base::Mutex merge_mu;
  bool closed GUARDED_BY(merge_mu) = false;
  std::vector<char> answered GUARDED_BY(merge_mu);  // per job: its answer reached the store
};

Manager::Manager(boost::asio::io_context& io, base::Clock& clock, NodeSource& nodes,
                 KubeletClient& client, Store& store, ManagerSettings settings)
    : clock_(clock),
      nodes_(nodes),
      client_(client),
      store_(store),
      settings_(std::move(settings)),
      strand_(boost::asio::make_strand(io)),
      tick_timer_(strand_) {}

Manager::~Manager() = default;

void Manager::Start() {
  boost::asio::post(strand_, [this] {
    if (running_) return;
    running_ = true;
    SteadyTime now = clock_.Steady();
    first_tick_ = now;
    BeginTick(nullptr,
              settings_.early_second_sample ? TickKind::kStartUpFirst : TickKind::kRegular);
    ScheduleNext(now + settings_.resolution);
  });
}

void Manager::Stop() {
  boost::asio::post(strand_, [this] {
    running_ = false;
    tick_timer_.cancel();
  });
}

void Manager::RunTick(std::function<void()> done) {
  boost::asio::post(strand_, [this, done = std::move(done)]() mutable {
    if (current_) {
      if (done) done();
      return;
    }
    BeginTick(std::move(done));
  });
}

void Manager::ScheduleNext(SteadyTime due) {
  SteadyTime now = clock_.Steady();
  if (due + settings_.resolution < now) due = now;  // fell far behind: drop missed ticks
  tick_timer_.expires_after(due - now);
  tick_timer_.async_wait([this, due](boost::system::error_code ec) {
    if (ec || !running_) return;
    if (current_) {
      spdlog::warn("skipping a scrape tick: the previous one is still running");
    } else {
      BeginTick(nullptr);
    }
    ScheduleNext(due + settings_.resolution);
  });
}

bool Manager::HasData() const {
  StoreStats stats = store_.Stats();
  return stats.servable_nodes > 0 || stats.servable_pods > 0;
}

std::shared_ptr<const TickReport> Manager::LastReport() const {
  base::MutexLock lock(report_mu_);
  return report_;
}

void Manager::BeginTick(std::function<void()> done, TickKind kind, const FirstAnswers* first) {
  auto run = std::make_shared<TickRun>(strand_);
  run->kind = kind;
  run->start = clock_.Steady();
  run->wall_start = clock_.Now();
  // Leave a twentieth of the tick to publish before the next one starts; the start-up tick ends
  // that much before the second regular tick.
  run->deadline = (kind == TickKind::kStartUpSecond ? first_tick_ : run->start) +
                  settings_.resolution - settings_.resolution / 20;
  run->done = std::move(done);

  std::vector<std::shared_ptr<const kube::Node>> nodes = nodes_.Nodes();
  run->jobs.reserve(nodes.size());
  for (const auto& node : nodes) {
    if (!node || node->name.empty()) continue;
    if (!settings_.node_selector.Empty() && !settings_.node_selector.Matches(node->labels)) {
      continue;
    }
    Job job;
    job.node = node->name;
    job.outcome.node = node->name;
    auto target = ResolveTarget(*node, settings_.target);
    if (target.ok()) {
      job.outcome.url = target->Url();
      job.target = std::move(target.value());
    } else {
      job.outcome.error = target.error();
    }
    run->jobs.push_back(std::move(job));
  }
  std::stable_sort(run->jobs.begin(), run->jobs.end(),
                   [](const Job& a, const Job& b) { return a.node < b.node; });
  run->jobs.erase(std::unique(run->jobs.begin(), run->jobs.end(),
                              [](const Job& a, const Job& b) { return a.node == b.node; }),
                  run->jobs.end());
  std::vector<std::string> names;
  names.reserve(run->jobs.size());
  for (const auto& job : run->jobs) names.push_back(job.node);
  client_.Retain(names);

  if (kind == TickKind::kStartUpSecond) {
    const size_t launched = PlanSecondSamples(*run, *first);
    const size_t kept = static_cast<size_t>(
        std::count_if(run->jobs.begin(), run->jobs.end(), [](const Job& j) { return j.kept; }));
    if (launched == 0) {
      spdlog::debug(
          "start-up: no second sample before the first regular tick: the first tick ended "
          "{:.2f}s after it started",
          std::chrono::duration<double>(run->start - first_tick_).count());
      return;
    }
    spdlog::debug(
        "start-up: second sample of {} nodes, each a third of a resolution after its first "
        "answer; {} keep theirs for the first regular tick",
        launched, kept);
  } else {
    nanoseconds spread = kind == TickKind::kStartUpFirst
                             ? nanoseconds(0)
                             : TickSpread(run->jobs.size(), settings_);
    auto offsets = PlanLaunches(run->jobs.size(), spread, kLaunchBatches);
    for (size_t i = 0; i < run->jobs.size(); ++i) run->jobs[i].offset = offsets[i];
  }
  last_tick_start_.store(run->wall_start);

  {
    // Not shared with another thread yet; the lock only satisfies the annotation.
    base::MutexLock lock(run->merge_mu);
    run->answered.assign(run->jobs.size(), 0);
  }
  run->tick = &store_.BeginTick();
  run->remaining = run->jobs.size();
  current_ = run;
  // Nodes without a usable target fail now (keeping their history while retention allows).
  for (auto& job : run->jobs) {
    if (job.kept) {
      run->tick->Keep(job.node);
      job.done = true;
      --run->remaining;
      continue;
    }
    if (!job.target) {
      run->tick->Failure(job.node);
      job.outcome.error = "target: " + job.outcome.error;
      spdlog::warn("Failed to scrape node {}: {}", job.node, job.outcome.error);
      --run->remaining;
      total_failure_.fetch_add(1);
    }
  }
  if (run->remaining == 0) {
    EndTick(run);
    return;
  }
  // Every request has a deadline before run->deadline; this only fires if a client breaks
  // that promise, so one stuck connection cannot stall every later tick.
  nanoseconds grace = std::min<nanoseconds>(settings_.resolution / 40, std::chrono::seconds(1));
  run->watchdog.expires_after(run->deadline + grace - clock_.Steady());
  run->watchdog.async_wait([this, run](boost::system::error_code ec) {
    if (ec || run->ended) return;
    std::vector<char> answered;
    {
      base::MutexLock lock(run->merge_mu);
      run->closed = true;
      answered = run->answered;
    }
    for (size_t i = 0; i < run->jobs.size(); ++i) {
      Job& job = run->jobs[i];
      // Skip the finished, the never started, and those whose answer is queued for Finish.
      if (job.done || job.started == SteadyTime{} || answered[i]) continue;
      NodeOutcome outcome = job.outcome;
      outcome.error = "no answer by the tick deadline";
      outcome.duration = clock_.Steady() - job.started;
      run->tick->Failure(job.node);
      --run->in_flight;
      Record(run, i, std::move(outcome));
    }
    LaunchDue(run);
  });
  LaunchDue(run);
}

size_t Manager::PlanSecondSamples(TickRun& run, const FirstAnswers& first) const {
  const nanoseconds third = settings_.resolution / 3;
  const SteadyTime last_launch = run.deadline - settings_.resolution / 10;
  // Launches go out in groups, as in a regular tick: offsets rounded up to a multiple of this.
  const int64_t quantum =
      std::max<int64_t>(1, (settings_.resolution / static_cast<int64_t>(kLaunchBatches)).count());
  const std::vector<NodeOutcome>& firsts = first.report->nodes;
  size_t launched = 0;
  for (Job& job : run.jobs) {
    if (!job.target) continue;  // fails at once, as in any tick
    auto it = std::lower_bound(
        firsts.begin(), firsts.end(), job.node,
        [](const NodeOutcome& o, const std::string& node) { return o.node < node; });
    const bool found = it != firsts.end() && it->node == job.node;
    const size_t i = static_cast<size_t>(it - firsts.begin());
    // A node that failed or was not there yet: a third of a resolution after start, as a
    // regular tick would retry it later.
    const SteadyTime due = (found && it->success ? first.answered[i] : first_tick_) + third;
    int64_t offset = std::max<int64_t>(0, (due - run.start).count());
    offset = (offset + quantum - 1) / quantum * quantum;
    if (run.start + nanoseconds(offset) > last_launch) {
      job.kept = true;
      if (found) job.outcome = *it;  // the report shows its first scrape
      continue;
    }
    job.offset = nanoseconds(offset);
    ++launched;
  }
  std::stable_sort(run.jobs.begin(), run.jobs.end(),
                   [](const Job& a, const Job& b) { return a.offset < b.offset; });
  run.by_offset = true;
  return launched;
}

void Manager::LaunchDue(const std::shared_ptr<TickRun>& run) {
  if (run->ended) return;
  SteadyTime now = clock_.Steady();
  while (run->next < run->jobs.size() && run->in_flight < settings_.max_concurrency) {
    Job& job = run->jobs[run->next];
    if (!job.target || job.kept) {
      ++run->next;
      continue;
    }
    if (run->start + job.offset > now) break;
    if (now >= run->deadline) {
      // Queued behind the concurrency limit until the tick ran out.
      size_t index = run->next++;
      NodeOutcome outcome = job.outcome;
      outcome.error = "not started before the tick deadline (" +
                      std::to_string(settings_.max_concurrency) + " scrapes in flight)";
      run->tick->Failure(job.node);
      if (run->not_started_named.size() < kNotStartedNamed) {
        run->not_started_named.push_back(job.node);
      }
      ++run->not_started;
      Record(run, index, std::move(outcome), /*log=*/false);
      continue;
    }
    Launch(run, run->next++);
  }
  while (run->next < run->jobs.size() &&
         (!run->jobs[run->next].target || run->jobs[run->next].kept)) {
    ++run->next;
  }
  if (run->remaining == 0) {
    run->launch_timer.cancel();
    EndTick(run);
    return;
  }
  if (run->next < run->jobs.size() && run->in_flight < settings_.max_concurrency) {
    SteadyTime due = run->start + run->jobs[run->next].offset;
    if (run->timer_armed && run->timer_due == due) return;  // already waiting for it
    run->timer_armed = true;
    run->timer_due = due;
    run->launch_timer.expires_after(due - now);
    run->launch_timer.async_wait([this, run](boost::system::error_code ec) {
      if (ec) return;  // cancelled, or re-armed for another time (that wait is armed)
      run->timer_armed = false;
      LaunchDue(run);
    });
  }
}

void Manager::Launch(const std::shared_ptr<TickRun>& run, size_t index) {
  Job& job = run->jobs[index];
  ++run->in_flight;
  job.started = clock_.Steady();
  job.outcome.started = clock_.Now();
  SteadyTime deadline = std::min(job.started + settings_.request_timeout, run->deadline);
  // The callbacks get their own copies: the watchdog may record this job while they run.
  // A client's callback may come after the tick ended (the watchdog gave up on it), and by
  // then the Manager may be gone: they touch only `run`, the clock and the client (which
  // outlive the Manager) and a copy of the strand, and reach `this` only on the strand while the
  // tick is running.
  // Merges one node's result into the tick and hands the outcome to the strand.
  auto complete = [this, run, index, started = job.started, &clock = clock_, strand = strand_](
                      NodeOutcome outcome, const ResourceMetrics* metrics,
                      const SummaryStorage* summary) mutable {
    {
      base::MutexLock lock(run->merge_mu);
      if (!run->closed) {
        run->answered[index] = 1;
        if (outcome.success) {
          run->tick->Success(outcome.node, *metrics, summary);
        } else {
          run->tick->Failure(outcome.node);
        }
      }
    }
    outcome.duration = clock.Steady() - started;
    boost::asio::post(strand, [this, run, index, outcome = std::move(outcome)]() mutable {
      if (run->ended) return;  // late: `this` may be gone
      Finish(run, index, std::move(outcome));
    });
  };
  std::optional<Target> summary_target;
  if (settings_.summary_api) {
    summary_target = *job.target;
    summary_target->path = kSummaryPath;
  }
  client_.Get(
      job.node, *job.target, deadline,
      [complete, outcome = job.outcome, summary_target = std::move(summary_target), deadline,
       &client = client_](base::Result<KubeletResponse> body) mutable {
        // Runs on the client's thread: parse and merge here, so the body is dropped at once.
        if (!summary_target) {
          thread_local ResourceMetrics metrics;
          ParseResourceBody(body, &outcome, &metrics);
          complete(std::move(outcome), &metrics, nullptr);
          return;
        }
        // With the summary: keep the body (the metrics point into it) until the summary is in,
        // read on the same connection right after.
        auto scrape = std::make_shared<Scrape>();
        if (body.ok()) scrape->body = std::move(body->body);
        ParseResourceBody(body.ok() ? base::Result<std::string_view>(scrape->body)
                                    : base::Result<std::string_view>(base::MakeError(body.error())),
                          body.ok() ? std::string_view(body->content_type) : std::string_view(),
                          &outcome, &scrape->metrics);
        if (!outcome.success) {
          complete(std::move(outcome), &scrape->metrics, nullptr);
          return;
        }
        const std::string node = outcome.node;
        const std::string url = summary_target->Url();
        client.Get(node, *summary_target, deadline,
                   [complete, scrape, url, outcome = std::move(outcome)](
                       base::Result<KubeletResponse> summary_body) mutable {
                     const SummaryStorage* summary = nullptr;
                     if (!summary_body.ok()) {
                       outcome.summary_error = url + ": " + summary_body.error();
                     } else if (base::Status s = ParseSummary(summary_body->body, &scrape->summary);
                                !s.ok()) {
                       outcome.summary_error = url + ": " + s.message();
                     } else {
                       summary = &scrape->summary;
                     }
                     complete(std::move(outcome), &scrape->metrics, summary);
                   });
      });
}

void Manager::Record(const std::shared_ptr<TickRun>& run, size_t index, NodeOutcome outcome,
                     bool log) {
  --run->remaining;
  run->jobs[index].done = true;
  if (outcome.success) {
    total_success_.fetch_add(1);
    if (settings_.summary_api) {
      (outcome.summary_error.empty() ? summary_success_ : summary_failure_).fetch_add(1);
    }
    if (!outcome.summary_error.empty()) {
      spdlog::warn("Failed to read the summary of node {} (its resource metrics are served): {}",
                   outcome.node, outcome.summary_error);
    }
  } else {
    total_failure_.fetch_add(1);
    if (log) {
      spdlog::warn("Failed to scrape node {} ({}): {}", outcome.node, outcome.url, outcome.error);
    }
  }
  run->jobs[index].outcome = std::move(outcome);
}

void Manager::Finish(const std::shared_ptr<TickRun>& run, size_t index, NodeOutcome outcome) {
  if (run->jobs[index].done) return;  // answered after the watchdog closed the tick
  --run->in_flight;
  Record(run, index, std::move(outcome));
  LaunchDue(run);  // launches what is due and ends the tick when nothing remains
}

void Manager::EndTick(const std::shared_ptr<TickRun>& run) {
  run->ended = true;
  run->watchdog.cancel();
  if (run->not_started > 0) {
    std::string named;
    for (const std::string& node : run->not_started_named) {
      if (!named.empty()) named += ", ";
      named += node;
    }
    const size_t more = run->not_started - run->not_started_named.size();
    if (more > 0) named += " and " + std::to_string(more) + " more";
    spdlog::warn(
        "Failed to scrape {} node{}: not started before the tick deadline ({} scrapes in flight "
        "took the whole tick; raise --kubelet-max-concurrency if the server has CPU to spare): "
        "{}",
        run->not_started, run->not_started == 1 ? "" : "s", settings_.max_concurrency, named);
  }
  {
    base::MutexLock lock(run->merge_mu);
    run->closed = true;
  }
  store_.Publish();
  if (run->by_offset) {
    std::sort(run->jobs.begin(), run->jobs.end(),
              [](const Job& a, const Job& b) { return a.node < b.node; });
  }
  // The first tick at start-up plans the start-up tick from when each node answered.
  FirstAnswers first;
  if (run->kind == TickKind::kStartUpFirst) {
    first.answered.reserve(run->jobs.size());
    for (const Job& job : run->jobs) {
      first.answered.push_back(job.outcome.success ? job.started + job.outcome.duration
                                                   : SteadyTime{});
    }
  }
  auto report = std::make_shared<TickReport>();
  report->start = run->wall_start;
  report->duration = clock_.Steady() - run->start;
  report->nodes.reserve(run->jobs.size());
  std::map<std::string, base::UnixNanos, std::less<>> last_success;
  for (Job& job : run->jobs) {
    NodeOutcome& o = job.outcome;
    if (o.success) {
      o.last_success = o.started;
      ++report->succeeded;
    } else {
      auto it = last_success_.find(o.node);
      if (it != last_success_.end()) o.last_success = it->second;
      ++report->failed;
    }
    if (o.last_success != 0) last_success.emplace_hint(last_success.end(), o.node, o.last_success);
    report->nodes.push_back(std::move(o));
  }
  last_success_ = std::move(last_success);  // forget deleted nodes
  spdlog::debug("scrape tick: {} nodes, {} failed, {:.3f}s", report->nodes.size(), report->failed,
                std::chrono::duration<double>(report->duration).count());
  if (run->kind == TickKind::kStartUpFirst) first.report = report;
  {
    base::MutexLock lock(report_mu_);
    report_ = std::move(report);
  }
  current_.reset();
  if (run->kind == TickKind::kStartUpFirst && running_) {
    BeginTick(nullptr, TickKind::kStartUpSecond, &first);
  }
  // `done` comes last: it may end the owner's interest in this Manager (destroy it, from this
  // thread or from another one it wakes), so nothing of `this` is touched once it has started.
  std::function<void()> done = std::move(run->done);
  if (done) done();
}

}  // namespace scraper
