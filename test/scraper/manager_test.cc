#include "scraper/manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <limits>
#include <map>
#include <sstream>

#include "scraper/options.h"
#include "scraper/self_metrics.h"
#include "test/testing/exposition_protobuf.h"
#include "test/testing/fake_nodes.h"

namespace scraper {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing_support::FakeNodes;
using testing_support::NodeAt;

std::string Payload(double cpu_seconds, int64_t ts_ms) {
  std::string ts = std::to_string(ts_ms);
  return "node_cpu_usage_seconds_total " + std::to_string(cpu_seconds) + " " + ts +
         "\nnode_memory_working_set_bytes 1000 " + ts +
         "\ncontainer_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"p\"} " +
         std::to_string(cpu_seconds / 2) + " " + ts +
         "\ncontainer_memory_working_set_bytes{container=\"c\",namespace=\"ns\",pod=\"p\"} 10 " +
         ts + "\n";
}

// Answers from a table, on the io_context, after advancing the manual clock by `delay`.
class FakeKubelet : public KubeletClient {
 public:
  FakeKubelet(boost::asio::io_context& io, base::ManualClock* clock) : io_(io), clock_(clock) {}

  struct Call {
    std::string node;
    Target target;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point at;
    std::chrono::steady_clock::time_point clock_at;  // on the manual clock, when there is one
    int in_flight = 0;  // requests of this fake not yet answered when this one was made
  };

  void Get(std::string_view node, const Target& target,
           std::chrono::steady_clock::time_point deadline, Callback done) override {
    std::string name(node);
    const auto now = std::chrono::steady_clock::now();
    calls.push_back({name, target, deadline, now, clock_ ? clock_->Steady() : now, in_flight});
    const bool delayed = calls.size() <= delayed_calls;
    ++in_flight;
    max_in_flight = std::max(max_in_flight, in_flight);
    // Complete two hops later so that several requests overlap.
    boost::asio::post(io_, [this, name, delayed, done = std::move(done)]() mutable {
      boost::asio::post(io_, [this, name, delayed, done = std::move(done)]() mutable {
        --in_flight;
        if (clock_ && delayed) clock_->Advance(delay[name]);
        auto it = responses.find(name);
        if (it == responses.end()) {
          done(base::MakeError("connect: connection refused"));
        } else {
          auto type = content_types.find(name);
          done(it->second.ok()
                   ? base::Result<KubeletResponse>(KubeletResponse{
                         *it->second, type == content_types.end() ? "" : type->second})
                   : base::Result<KubeletResponse>(base::MakeError(it->second.error())));
        }
      });
    });
  }
  void Retain(const std::vector<std::string>& nodes) override { retained.push_back(nodes); }

  std::map<std::string, base::Result<std::string>> responses;
  std::map<std::string, std::string> content_types;  // by node; none: no Content-Type
  std::map<std::string, std::chrono::nanoseconds> delay;
  size_t delayed_calls = std::numeric_limits<size_t>::max();  // later calls take no time
  std::vector<Call> calls;
  std::vector<std::vector<std::string>> retained;
  int in_flight = 0;
  int max_in_flight = 0;

 private:
  boost::asio::io_context& io_;
  base::ManualClock* clock_;
};

class ManagerTest : public ::testing::Test {
 protected:
  ManagerTest() : kubelet_(io_, &clock_), store_(StoreSettings{seconds(15), 2}, windows_) {}

  std::unique_ptr<Manager> Make(ManagerSettings settings, base::Clock& clock) {
    return std::make_unique<Manager>(io_, clock, nodes_, kubelet_, store_, settings);
  }

  // Runs one tick to completion (bounded by a real-time timeout).
  void RunTick(Manager& m) {
    bool done = false;
    m.RunTick([&] { done = true; });
    io_.restart();
    auto limit = std::chrono::steady_clock::now() + seconds(10);
    while (!done && std::chrono::steady_clock::now() < limit) io_.run_for(milliseconds(50));
    ASSERT_TRUE(done);
  }

  boost::asio::io_context io_;
  base::ManualClock clock_;
  FakeNodes nodes_;
  FakeKubelet kubelet_;
  window::Publication windows_;
  Store store_;
};

ManagerSettings NoSpread() {
  ManagerSettings s;
  s.spread = false;
  s.target.preferred_address_types = {"InternalIP"};
  return s;
}

// The body is parsed by its Content-Type: protobuf, text (also with no Content-Type at all),
// and a protobuf encoding never asked for is an error that names it.
TEST_F(ManagerTest, ParsesByContentType) {
  nodes_.Add(NodeAt("protobuf", "10.0.0.1"));
  nodes_.Add(NodeAt("text", "10.0.0.2"));
  nodes_.Add(NodeAt("untyped", "10.0.0.3"));
  nodes_.Add(NodeAt("protobuf-text", "10.0.0.4"));
  nodes_.Add(NodeAt("protobuf-lie", "10.0.0.5"));
  const std::string text = Payload(10, 1'700'000'000'000);
  std::string protobuf;
  ASSERT_TRUE(testing_support::AppendAsDelimitedProtobuf(text, &protobuf));
  const std::string delimited =
      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
      "encoding=delimited; escaping=underscores";
  kubelet_.responses.emplace("protobuf", protobuf);
  kubelet_.content_types["protobuf"] = delimited;
  kubelet_.responses.emplace("text", text);
  kubelet_.content_types["text"] = "text/plain; version=0.0.4; charset=utf-8";
  kubelet_.responses.emplace("untyped", text);
  kubelet_.responses.emplace("protobuf-text", text);
  kubelet_.content_types["protobuf-text"] =
      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text";
  kubelet_.responses.emplace("protobuf-lie", text);
  kubelet_.content_types["protobuf-lie"] = delimited;
  auto m = Make(NoSpread(), clock_);
  RunTick(*m);
  std::map<std::string, NodeOutcome> by_name;
  for (const auto& o : m->LastReport()->nodes) by_name[o.node] = o;
  EXPECT_TRUE(by_name["protobuf"].success) << by_name["protobuf"].error;
  EXPECT_TRUE(by_name["text"].success) << by_name["text"].error;
  EXPECT_TRUE(by_name["untyped"].success) << by_name["untyped"].error;
  EXPECT_EQ(by_name["protobuf-text"].error,
            "parse: unsupported protobuf exposition: proto=\"io.prometheus.client.MetricFamily\" "
            "encoding=\"text\"");
  EXPECT_THAT(by_name["protobuf-lie"].error, HasSubstr("parse: family 1: "));
}

TEST_F(ManagerTest, TickScrapesEveryNodeAndReportsOutcomes) {
  nodes_.Add(NodeAt("good", "10.0.0.1"));
  nodes_.Add(NodeAt("garbage", "10.0.0.2"));
  nodes_.Add(NodeAt("refused", "10.0.0.3"));
  nodes_.Add(NodeAt("erroring", "10.0.0.4"));
  nodes_.Add(NodeAt("no-address", ""));
  kubelet_.responses.emplace("good", Payload(10, 1'700'000'000'000));
  kubelet_.responses.emplace("garbage", std::string("<html>\n"));
  kubelet_.responses.emplace("erroring", std::string("scrape_error 1\n"));
  kubelet_.delay["good"] = milliseconds(30);
  auto m = Make(NoSpread(), clock_);
  EXPECT_EQ(m->LastTickStart(), 0);
  EXPECT_EQ(m->LastReport(), nullptr);
  base::UnixNanos start = clock_.Now();
  RunTick(*m);
  EXPECT_EQ(m->LastTickStart(), start);
  auto report = m->LastReport();
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(report->succeeded, 1u);
  EXPECT_EQ(report->failed, 4u);
  ASSERT_EQ(report->nodes.size(), 5u);
  std::map<std::string, NodeOutcome> by_name;
  for (const auto& o : report->nodes) by_name[o.node] = o;
  EXPECT_EQ(report->nodes[0].node, "erroring");  // sorted
  EXPECT_TRUE(by_name["good"].success);
  EXPECT_EQ(by_name["good"].url, "https://10.0.0.1:10250/metrics/resource");
  EXPECT_EQ(by_name["good"].duration, milliseconds(30));
  EXPECT_EQ(by_name["good"].last_success, start);
  EXPECT_THAT(by_name["garbage"].error, HasSubstr("parse: line 1"));
  EXPECT_EQ(by_name["refused"].error, "connect: connection refused");
  EXPECT_EQ(by_name["erroring"].error, "kubelet reported resource_scrape_error 1");
  EXPECT_EQ(by_name["no-address"].error, "target: no address matched types [InternalIP]");
  EXPECT_EQ(by_name["no-address"].started, 0);
  EXPECT_EQ(m->TotalSuccesses(), 1u);
  EXPECT_EQ(m->TotalFailures(), 4u);
  EXPECT_EQ(kubelet_.calls.size(), 4u);
  ASSERT_EQ(kubelet_.retained.size(), 1u);
  EXPECT_THAT(kubelet_.retained[0],
              ElementsAre("erroring", "garbage", "good", "no-address", "refused"));
  EXPECT_FALSE(m->HasData());  // one point only

  kubelet_.responses.erase("good");
  kubelet_.responses.emplace("good", Payload(25, 1'700'000'015'000));
  clock_.Advance(seconds(15));
  RunTick(*m);
  EXPECT_TRUE(m->HasData());
  auto window = windows_.Current();
  ASSERT_NE(window->FindNode("good"), nullptr);
  EXPECT_EQ(window->FindNode("good")->cpu_nanocores, 1'000'000'000u);
  ASSERT_NE(window->FindPod("ns", "p"), nullptr);
  EXPECT_EQ(window->FindPod("ns", "p")->containers[0].cpu_nanocores, 500'000'000u);
  // A failure keeps the last success time.
  kubelet_.responses.erase("good");
  base::UnixNanos second_start = m->LastTickStart();
  clock_.Advance(seconds(15));
  RunTick(*m);
  for (const auto& o : m->LastReport()->nodes) {
    if (o.node == "good") {
      EXPECT_FALSE(o.success);
      EXPECT_EQ(o.last_success, second_start);
    }
  }
  EXPECT_NE(windows_.Current()->FindNode("good"), nullptr);  // retained across one failure
}

TEST_F(ManagerTest, ConcurrencyIsBoundedAndDeadlinesFitTheTick) {
  for (int i = 0; i < 20; ++i)
    nodes_.Add(NodeAt("n" + std::to_string(i), "10.0.1." + std::to_string(i)));
  ManagerSettings s = NoSpread();
  s.max_concurrency = 3;
  s.request_timeout = seconds(10);
  s.resolution = seconds(15);
  auto m = Make(s, clock_);
  auto start = clock_.Steady();
  RunTick(*m);
  EXPECT_EQ(kubelet_.calls.size(), 20u);
  EXPECT_EQ(kubelet_.max_in_flight, 3);
  for (const auto& call : kubelet_.calls) {
    EXPECT_LE(call.deadline, start + seconds(10));
    EXPECT_GT(call.deadline, start);
  }
  EXPECT_EQ(m->LastReport()->failed, 20u);
}

TEST_F(ManagerTest, NodesQueuedPastTheTickDeadlineFailWithoutBeingScraped) {
  nodes_.Add(NodeAt("a", "10.0.0.1"));
  nodes_.Add(NodeAt("b", "10.0.0.2"));
  nodes_.Add(NodeAt("c", "10.0.0.3"));
  kubelet_.responses.emplace("a", Payload(1, 1'700'000'000'000));
  kubelet_.delay["a"] = seconds(20);  // answers (as a misbehaving client would) after the tick
  ManagerSettings s = NoSpread();
  s.max_concurrency = 1;
  auto m = Make(s, clock_);
  RunTick(*m);
  EXPECT_EQ(kubelet_.calls.size(), 1u);
  auto report = m->LastReport();
  ASSERT_EQ(report->nodes.size(), 3u);
  EXPECT_TRUE(report->nodes[0].success);
  EXPECT_EQ(report->nodes[1].error, "not started before the tick deadline (1 scrapes in flight)");
  EXPECT_EQ(report->nodes[2].error, "not started before the tick deadline (1 scrapes in flight)");
  EXPECT_EQ(report->nodes[2].started, 0);
}

// Thousands of nodes never started in one tick (an overloaded start-up) log one warning that
// names the first five and counts the rest, not one line per node; the tick's report still
// holds every node's error.
TEST_F(ManagerTest, NodesNotStartedBeforeTheDeadlineAreSummedUpInOneWarning) {
  for (int i = 0; i < 12; ++i) {
    std::string name = "n" + std::to_string(10 + i);
    nodes_.Add(NodeAt(name, "10.0.2." + std::to_string(i)));
    kubelet_.delay[name] = seconds(20);
  }
  ManagerSettings s = NoSpread();
  s.max_concurrency = 2;
  auto m = Make(s, clock_);
  auto out = std::make_shared<std::ostringstream>();
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "not-started-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(*out)));
  RunTick(*m);
  spdlog::set_default_logger(previous);
  auto report = m->LastReport();
  ASSERT_EQ(report->nodes.size(), 12u);
  int not_started = 0;
  for (const auto& node : report->nodes) {
    if (node.error == "not started before the tick deadline (2 scrapes in flight)") ++not_started;
  }
  EXPECT_EQ(not_started, 10);
  const std::string log = out->str();
  EXPECT_THAT(log, testing::HasSubstr(
                       "Failed to scrape 10 nodes: not started before the tick deadline (2 "
                       "scrapes in flight took the whole tick; raise --kubelet-max-concurrency if "
                       "the server has CPU to spare): n12, n13, n14, n15, n16 and 5 more"));
  EXPECT_THAT(log, testing::Not(testing::HasSubstr("Failed to scrape node n12")));
}

TEST_F(ManagerTest, NodeSelectorFiltersNodes) {
  kube::Node worker = NodeAt("worker", "10.0.0.1");
  worker.labels.Set("role", "worker");
  nodes_.Add(worker);
  nodes_.Add(NodeAt("control-plane", "10.0.0.2"));
  Options options;
  options.node_selector = "role=worker";
  options.kubelet_preferred_address_types = {"InternalIP"};
  auto s = MakeManagerSettings(options);
  ASSERT_TRUE(s.ok()) << s.error();
  s->spread = false;
  auto m = Make(*s, clock_);
  RunTick(*m);
  ASSERT_EQ(kubelet_.calls.size(), 1u);
  EXPECT_EQ(kubelet_.calls[0].node, "worker");
  options.node_selector = "role in (";
  EXPECT_FALSE(MakeManagerSettings(options).ok());
  EXPECT_EQ(options.Validate().size(), 1u);
}

TEST_F(ManagerTest, RequestDeadlineNeverPassesTheTick) {
  nodes_.Add(NodeAt("slowpoke", "10.0.0.1"));
  ManagerSettings s = NoSpread();
  s.request_timeout = seconds(30);  // longer than the tick: capped
  s.resolution = seconds(20);
  auto m = Make(s, clock_);
  auto start = clock_.Steady();
  RunTick(*m);
  ASSERT_EQ(kubelet_.calls.size(), 1u);
  EXPECT_EQ(kubelet_.calls[0].deadline, start + seconds(19));
}

TEST_F(ManagerTest, DeletedNodesAreForgotten) {
  nodes_.Add(NodeAt("a", "10.0.0.1"));
  nodes_.Add(NodeAt("b", "10.0.0.2"));
  kubelet_.responses.emplace("a", Payload(1, 1'700'000'000'000));
  kubelet_.responses.emplace("b", Payload(1, 1'700'000'000'000));
  auto m = Make(NoSpread(), clock_);
  RunTick(*m);
  nodes_.Remove("b");
  RunTick(*m);
  EXPECT_THAT(kubelet_.retained.back(), ElementsAre("a"));
  ASSERT_EQ(m->LastReport()->nodes.size(), 1u);
  EXPECT_EQ(store_.Stats().nodes, 1u);
}

// Holds the callbacks of one node forever, like a client that ignores its deadline.
class HangingKubelet : public FakeKubelet {
 public:
  using FakeKubelet::FakeKubelet;
  void Get(std::string_view node, const Target& target,
           std::chrono::steady_clock::time_point deadline, Callback done) override {
    if (node == "stuck") {
      held.push_back(std::move(done));
      return;
    }
    FakeKubelet::Get(node, target, deadline, std::move(done));
  }
  std::vector<Callback> held;
};

// Two nodes, "ok" and "stuck" (whose client never answers), and a manager with a short tick
// whose watchdog gives up on "stuck".
class ManagerWatchdog : public ::testing::Test {
 protected:
  ManagerWatchdog() : kubelet_(io_, nullptr), store_(StoreSettings{}, windows_) {
    nodes_.Add(NodeAt("ok", "10.0.0.1"));
    nodes_.Add(NodeAt("stuck", "10.0.0.2"));
    kubelet_.responses.emplace("ok", Payload(1, 1'700'000'000'000));
    ManagerSettings s = NoSpread();
    s.resolution = milliseconds(400);
    s.request_timeout = milliseconds(100);
    manager_ =
        std::make_unique<Manager>(io_, base::SystemClock::Instance(), nodes_, kubelet_, store_, s);
  }
  // Runs one tick until its done callback (at most 10 s of real time).
  void RunTick() {
    bool done = false;
    manager_->RunTick([&] { done = true; });
    auto limit = std::chrono::steady_clock::now() + seconds(10);
    while (!done && std::chrono::steady_clock::now() < limit) io_.run_for(milliseconds(20));
    ASSERT_TRUE(done);
  }
  // The stuck node's answer, late, then the io_context run briefly.
  void AnswerLate() {
    ASSERT_EQ(kubelet_.held.size(), 1u);
    kubelet_.held[0](KubeletResponse{Payload(1, 1'700'000'000'000), ""});
    io_.restart();
    io_.run_for(milliseconds(50));
  }

  boost::asio::io_context io_;
  FakeNodes nodes_;
  HangingKubelet kubelet_;
  window::Publication windows_;
  Store store_;
  std::unique_ptr<Manager> manager_;
};

TEST_F(ManagerWatchdog, ClientMissingItsDeadlineCannotStallTheLoop) {
  ASSERT_NO_FATAL_FAILURE(RunTick());
  auto report = manager_->LastReport();
  ASSERT_EQ(report->nodes.size(), 2u);
  EXPECT_TRUE(report->nodes[0].success);
  EXPECT_EQ(report->nodes[1].error, "no answer by the tick deadline");
  EXPECT_EQ(store_.Stats().nodes, 1u);
  // The late answer is ignored: no crash, no effect on the published tick.
  ASSERT_NO_FATAL_FAILURE(AnswerLate());
  EXPECT_EQ(store_.Stats().nodes, 1u);
  EXPECT_EQ(manager_->LastReport(), report);
}

// A late answer (the watchdog already ended its tick) that arrives after the owner destroyed
// the Manager is dropped without reaching it (scraper/manager.h, "Lifetime").
TEST_F(ManagerWatchdog, LateAnswerAfterTheManagerIsGoneIsDropped) {
  ASSERT_NO_FATAL_FAILURE(RunTick());
  manager_.reset();
  ASSERT_NO_FATAL_FAILURE(AnswerLate());  // ASan: no use of the freed Manager
  EXPECT_EQ(store_.Stats().nodes, 1u);
}

TEST(PlanLaunches, SpreadsEvenly) {
  auto offsets = PlanLaunches(4, seconds(2));
  EXPECT_THAT(offsets, ElementsAre(milliseconds(0), milliseconds(500), milliseconds(1000),
                                   milliseconds(1500)));
  EXPECT_THAT(PlanLaunches(2, seconds(0)), ElementsAre(seconds(0), seconds(0)));
  EXPECT_TRUE(PlanLaunches(0, seconds(5)).empty());
}

TEST(PlanLaunches, GroupsLaunchesIntoBatches) {
  // 10 nodes over 1 s in 4 batches of 250 ms: each offset rounded up to a multiple of 250 ms.
  auto offsets = PlanLaunches(10, seconds(1), 4);
  EXPECT_THAT(offsets,
              ElementsAre(milliseconds(0), milliseconds(250), milliseconds(250), milliseconds(500),
                          milliseconds(500), milliseconds(500), milliseconds(750),
                          milliseconds(750), milliseconds(1000), milliseconds(1000)));
  // Never earlier than the even spread, never later than `spread`, never more than one
  // batch later.
  auto even = PlanLaunches(1000, seconds(14), 0);
  auto batched = PlanLaunches(1000, seconds(14), kLaunchBatches);
  for (size_t i = 0; i < even.size(); ++i) {
    EXPECT_GE(batched[i], even[i]) << i;
    EXPECT_LE(batched[i], seconds(14)) << i;
    EXPECT_LT(batched[i] - even[i], std::chrono::nanoseconds(seconds(14)) / kLaunchBatches) << i;
  }
  // Fewer nodes than batches: one launch per node, as with no batching.
  auto few = PlanLaunches(4, seconds(2), kLaunchBatches);
  EXPECT_THAT(
      few, ElementsAre(milliseconds(0), milliseconds(500), milliseconds(1000), milliseconds(1500)));
  EXPECT_THAT(PlanLaunches(2, seconds(0), 4), ElementsAre(seconds(0), seconds(0)));
}

TEST(TickSpread, LaunchSpacingPerNodeAtMostTheTicksFirstPart) {
  ManagerSettings s;  // 15 s resolution, 10 s request timeout, 250 µs spacing
  EXPECT_EQ(TickSpread(100, s), milliseconds(25));
  EXPECT_EQ(TickSpread(1000, s), milliseconds(250));
  EXPECT_EQ(TickSpread(5000, s), milliseconds(1250));
  EXPECT_EQ(TickSpread(10000, s), milliseconds(2500));
  EXPECT_EQ(TickSpread(20000, s), seconds(5));
  EXPECT_EQ(TickSpread(30000, s), seconds(5));
  EXPECT_EQ(TickSpread(0, s), seconds(0));
  EXPECT_EQ(TickSpread(std::numeric_limits<size_t>::max(), s), seconds(5));  // no overflow
  s.launch_spacing = seconds(0);
  EXPECT_EQ(TickSpread(1000, s), seconds(0));
  s.launch_spacing = milliseconds(1);
  s.spread = false;
  EXPECT_EQ(TickSpread(1000, s), seconds(0));
}

// Start-up with a first tick that runs long, on the manual clock: each answer of the first tick
// advances it by its delay, then the test advances it by 1 ms per real millisecond or more, so
// that the launch timers (real time, as long as the manual difference) are never late on it.
// Once the first tick's report is out, the start-up tick (if any) has begun; the manager is then
// stopped, so no regular tick comes. Resolution 900 ms: the start-up tick's deadline is the first
// tick's start + 855 ms, its last launch 90 ms before that.
class ManagerStartUp : public ManagerTest {
 protected:
  // Five nodes answering with `delay` each in the first tick (all launched at once, answered one
  // after the other: node i at (i + 1) * delay), at once later; runs until the start-up tick,
  // if any, ended.
  void Run(std::chrono::nanoseconds delay) {
    for (int i = 0; i < 5; ++i) {
      const std::string name = "n" + std::to_string(i);
      nodes_.Add(NodeAt(name, "10.0.0.1"));
      kubelet_.responses.emplace(name, Payload(10, 1'700'000'000'000));
      kubelet_.delay[name] = delay;
    }
    kubelet_.delayed_calls = 5;
    ManagerSettings s = NoSpread();
    s.early_second_sample = true;
    s.resolution = milliseconds(900);
    s.request_timeout = milliseconds(600);
    start_ = clock_.Steady();
    manager_ = Make(s, clock_);
    manager_->Start();
    auto limit = std::chrono::steady_clock::now() + seconds(20);
    while (std::chrono::steady_clock::now() < limit) {
      io_.run_for(milliseconds(1));
      if (manager_->LastReport() == nullptr) continue;
      if (first_report_ == nullptr) {
        first_report_ = manager_->LastReport();
        manager_->Stop();
      }
      if (clock_.Steady() > start_ + milliseconds(860) && kubelet_.in_flight == 0) break;
      clock_.Advance(milliseconds(1));
    }
    ASSERT_NE(first_report_, nullptr);
  }
  std::chrono::steady_clock::time_point start_;
  std::unique_ptr<Manager> manager_;
  std::shared_ptr<const TickReport> first_report_;
};

TEST_F(ManagerStartUp, SecondSampleAThirdOfAResolutionAfterEachFirstAnswer) {
  // Answers at 100..500 ms: second samples due at 400..800 ms, the last launch by 765 ms.
  Run(milliseconds(100));
  ASSERT_EQ(kubelet_.calls.size(), 9u);
  for (size_t i = 5; i < 9; ++i) {
    const int node = static_cast<int>(i) - 5;
    EXPECT_EQ(kubelet_.calls[i].node, "n" + std::to_string(node));
    const auto answered = start_ + milliseconds(100 * (node + 1));
    EXPECT_GE(kubelet_.calls[i].clock_at, answered + milliseconds(300)) << i;
    EXPECT_EQ(kubelet_.calls[i].deadline, start_ + milliseconds(855)) << i;
  }
  // n4 (due at 800 ms) was not scraped again: kept, not failed, and the report of the start-up
  // tick shows its first scrape.
  auto report = manager_->LastReport();
  ASSERT_NE(report, first_report_);
  ASSERT_EQ(report->nodes.size(), 5u);
  EXPECT_EQ(report->failed, 0u);
  EXPECT_EQ(report->nodes[4].node, "n4");
  EXPECT_EQ(report->nodes[4].started, first_report_->nodes[4].started);
  EXPECT_GT(report->nodes[3].started, first_report_->nodes[3].started);
  EXPECT_EQ(manager_->TotalFailures(), 0u);
  EXPECT_EQ(store_.Stats().nodes, 5u);  // n4's first sample is still there
}

TEST_F(ManagerStartUp, NoStartUpTickWhenNoSecondSampleFitsBeforeTheRegularTick) {
  Run(milliseconds(160));  // the first tick ends at 800 ms, after the last launch (765 ms)
  EXPECT_EQ(kubelet_.calls.size(), 5u);
  EXPECT_EQ(manager_->LastReport(), first_report_);
  EXPECT_EQ(manager_->TotalFailures(), 0u);
}

// Five nodes on one address and a manager on the real clock, for the cadence tests.
class ManagerRealTime : public ::testing::Test {
 protected:
  ManagerRealTime() : kubelet_(io_, nullptr), store_(StoreSettings{}, windows_) {
    for (int i = 0; i < 5; ++i) nodes_.Add(NodeAt("n" + std::to_string(i), "10.0.0.1"));
  }

  // Starts a manager with `s` and runs it until the kubelet saw `calls` requests (at most
  // 20 s); `at(i)` is then request i's time since the start.
  void Run(ManagerSettings s, size_t calls) {
    s.target.preferred_address_types = {"InternalIP"};
    manager_ =
        std::make_unique<Manager>(io_, base::SystemClock::Instance(), nodes_, kubelet_, store_, s);
    started_ = std::chrono::steady_clock::now();
    manager_->Start();
    auto limit = started_ + seconds(20);
    while (kubelet_.calls.size() < calls && std::chrono::steady_clock::now() < limit) {
      io_.run_for(milliseconds(10));
    }
    manager_->Stop();
    io_.run_for(milliseconds(50));
    ASSERT_GE(kubelet_.calls.size(), calls);
  }
  std::chrono::nanoseconds at(size_t i) const { return kubelet_.calls[i].at - started_; }

  boost::asio::io_context io_;
  FakeNodes nodes_;
  FakeKubelet kubelet_;
  window::Publication windows_;
  Store store_;
  std::unique_ptr<Manager> manager_;
  std::chrono::steady_clock::time_point started_;
};

TEST_F(ManagerRealTime, SpreadsLaunchesOverTheTickAndTicksPeriodically) {
  ManagerSettings s;
  s.resolution = milliseconds(400);
  s.request_timeout = milliseconds(150);  // launches spread over 250 ms
  s.launch_spacing = milliseconds(100);   // 5 nodes: 500 ms, capped at 250 ms
  ASSERT_FALSE(s.early_second_sample);    // the default; MakeManagerSettings turns it on
  Run(s, 15);
  // Within the first tick, node i starts no earlier than i * 50 ms.
  for (size_t i = 0; i < 5; ++i) EXPECT_GE(at(i), milliseconds(50 * i) - milliseconds(1)) << i;
  // The second tick starts one resolution after the first, the third two.
  EXPECT_GE(at(5), milliseconds(400) - milliseconds(1));
  EXPECT_GE(at(10), milliseconds(800) - milliseconds(1));
  EXPECT_GE(manager_->TotalFailures(), 10u);
}

TEST_F(ManagerRealTime, StartUpTakesTheSecondSampleAThirdOfAResolutionLater) {
  for (const auto& node : nodes_.Nodes()) {
    kubelet_.responses.emplace(node->name, Payload(10, 1'700'000'000'000));
  }
  Options options;
  auto s = MakeManagerSettings(options);
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_TRUE(s->early_second_sample);
  s->resolution = milliseconds(900);
  s->request_timeout = milliseconds(300);  // regular ticks spread launches over 600 ms
  s->launch_spacing = milliseconds(200);    // (5 nodes: 1 s, capped at 600 ms)
  Run(*s, 15);
  // The first tick launches every node at once: in one pass, before any answer (which the fake
  // gives two io hops later), not spread over 600 ms. Counted, not timed, so a busy machine
  // cannot change the verdict.
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(kubelet_.calls[i].in_flight, static_cast<int>(i)) << i;
  // The start-up tick: every node again, a third of the resolution after its first answer
  // (so after the first tick's first request), with a deadline before the second regular tick.
  for (size_t i = 5; i < 10; ++i) {
    EXPECT_EQ(kubelet_.calls[i].node, kubelet_.calls[i - 5].node);
    EXPECT_GE(kubelet_.calls[i].at - kubelet_.calls[0].at, milliseconds(300)) << i;
    // From the first tick's first request, which comes no earlier than the first tick itself
    // (the test's own start may be earlier by however long the machine took to run Start).
    EXPECT_LE(kubelet_.calls[i].deadline - kubelet_.calls[0].at, milliseconds(900)) << i;
  }
  // Then the regular cadence: the second regular tick one resolution after the first, spread.
  EXPECT_GE(at(10), milliseconds(900) - milliseconds(1));
  EXPECT_GE(at(14) - at(10), milliseconds(400));
  EXPECT_EQ(manager_->TotalFailures(), 0u);
}

// The scraper's and the store's self-metrics, as /metrics shows them: the names, help and labels
// are what dashboards and alerts use.
TEST_F(ManagerTest, SelfMetricsShowTheLastTickAndTheStore) {
  nodes_.Add(NodeAt("good", "10.0.0.1"));
  nodes_.Add(NodeAt("refused", "10.0.0.2"));
  kubelet_.responses.emplace("good", Payload(10, 1'700'000'000'000));
  kubelet_.delay["good"] = milliseconds(30);
  auto m = Make(NoSpread(), clock_);
  base::MetricsRegistry registry;
  RegisterScrapeMetrics(registry, *m);
  RegisterStorageMetrics(registry, store_);
  auto has = [&](const std::string& text) {
    std::string rendered = registry.Render();
    return rendered.find(text) != std::string::npos ? ::testing::AssertionSuccess()
                                                    : ::testing::AssertionFailure() << rendered;
  };

  EXPECT_TRUE(has(
      "# HELP metrics_server_kubelet_request_duration_seconds Duration of the last scrape of each "
      "node's kubelet (request and parse).\n"
      "# TYPE metrics_server_kubelet_request_duration_seconds histogram\n"
      "# HELP metrics_server_kubelet_request_total Kubelet scrapes since start, by outcome.\n"
      "# TYPE metrics_server_kubelet_request_total counter\n"
      "metrics_server_kubelet_request_total{success=\"false\"} 0\n"
      "metrics_server_kubelet_request_total{success=\"true\"} 0\n"
      "# HELP metrics_server_kubelet_last_request_time_seconds Time of last request performed to "
      "Kubelet API since unix epoch in seconds\n"
      "# TYPE metrics_server_kubelet_last_request_time_seconds gauge\n"
      "# HELP metrics_server_kubelet_last_success_time_seconds Time of the last successful scrape "
      "of each node's kubelet since unix epoch in seconds.\n"
      "# TYPE metrics_server_kubelet_last_success_time_seconds gauge\n"
      "# HELP metrics_server_scraper_last_tick_timestamp_seconds Unix time at which the last "
      "scrape tick started.\n"
      "# TYPE metrics_server_scraper_last_tick_timestamp_seconds gauge\n"
      "metrics_server_scraper_last_tick_timestamp_seconds 0\n"
      "# HELP metrics_server_scraper_tick_duration_seconds Duration of the last complete scrape "
      "tick.\n"
      "# TYPE metrics_server_scraper_tick_duration_seconds gauge\n"
      "# HELP metrics_server_storage_points Objects held by the metric store, by type.\n"
      "# TYPE metrics_server_storage_points gauge\n"
      "metrics_server_storage_points{type=\"container\"} 0\n"
      "metrics_server_storage_points{type=\"node\"} 0\n"
      "metrics_server_storage_points{type=\"pod\"} 0\n"));
  EXPECT_EQ(registry.Render().find("kubelet_summary"),
            std::string::npos);  // --kubelet-summary-api off

  RunTick(*m);
  kubelet_.responses.erase("good");
  kubelet_.responses.emplace("good", Payload(25, 1'700'000'015'000));
  clock_.Advance(seconds(15));
  RunTick(*m);
  EXPECT_TRUE(
      has("metrics_server_kubelet_request_duration_seconds_sum{node=\"good\"} 0.03\n"
          "metrics_server_kubelet_request_duration_seconds_count{node=\"good\"} 1\n"));
  EXPECT_TRUE(has("metrics_server_kubelet_request_duration_seconds_count{node=\"refused\"} 1\n"));
  EXPECT_TRUE(
      has("metrics_server_kubelet_request_total{success=\"false\"} 2\n"
          "metrics_server_kubelet_request_total{success=\"true\"} 2\n"));
  EXPECT_TRUE(has("metrics_server_scraper_last_tick_timestamp_seconds 1700000015.03"));
  // metrics-server's per-node gauge: when the last request ended, whatever its outcome.
  EXPECT_TRUE(has("metrics_server_kubelet_last_request_time_seconds{node=\"good\"} 1700000015\n"));
  EXPECT_TRUE(
      has("metrics_server_kubelet_last_request_time_seconds{node=\"refused\"} 1700000015\n"));
  EXPECT_TRUE(has("metrics_server_kubelet_last_success_time_seconds{node=\"good\"} 1700000015.03"));
  EXPECT_FALSE(has("metrics_server_kubelet_last_success_time_seconds{node=\"refused\"}"));
  EXPECT_TRUE(has("metrics_server_scraper_tick_duration_seconds 0.03\n"));
  EXPECT_TRUE(
      has("metrics_server_storage_points{type=\"container\"} 1\n"
          "metrics_server_storage_points{type=\"node\"} 1\n"
          "metrics_server_storage_points{type=\"pod\"} 1\n"));

  // The per-node durations are the last tick's only: a node gone is gone from them.
  nodes_.Remove("refused");
  clock_.Advance(seconds(15));
  RunTick(*m);
  EXPECT_TRUE(has("metrics_server_kubelet_request_duration_seconds_count{node=\"good\"} 1\n"));
  EXPECT_FALSE(has("{node=\"refused\"}"));
}

}  // namespace
}  // namespace scraper
