// A sink whose server is down (connection refused), hung (accepts the connection and never
// answers) or slow (answers after seconds) changes nothing in the scrape: the scrape loop
// (scraper::Manager, on a manual clock) runs the same ticks with the same durations and publishes
// every window, as it does with no sink; and the windows kept alive by the sink never exceed its
// queue bound (8, the default) plus the one its thread holds. Counts only, no wall-clock bound: a
// blocked listener would show as a tick that never ends (RunTick's timeout) and as fewer
// publications.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "exporter/influx_sink.h"
#include "exporter/otlp_sink.h"
#include "scraper/manager.h"
#include "scraper/store.h"
#include "test/exporter/sink_test_support.h"
#include "test/testing/fake_nodes.h"
#include "test/testing/local_https_server.h"
#include "test/testing/wait.h"
#include "window/publication.h"

namespace exporter {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing_support::WaitFor;

constexpr int kNodes = 5;
constexpr int kTicks = 24;
constexpr std::size_t kBound = 8;  // the sinks' default max_queued_windows

// Answers every node at once (posted to the io_context), each answer 7 ms of manual time later,
// with samples that move with the clock.
class ClockedKubelet final : public scraper::KubeletClient {
 public:
  ClockedKubelet(boost::asio::io_context& io, base::ManualClock& clock) : io_(io), clock_(clock) {}
  void Get(std::string_view node, const scraper::Target&, std::chrono::steady_clock::time_point,
           Callback done) override {
    boost::asio::post(io_, [this, name = std::string(node), done = std::move(done)] {
      clock_.Advance(milliseconds(7));
      const int64_t ms = clock_.Now() / 1'000'000;
      const std::string ts = " " + std::to_string(ms) + "\n";
      done(scraper::KubeletResponse{
          "node_cpu_usage_seconds_total " + std::to_string(ms / 1000.0) + ts +
              "node_memory_working_set_bytes 1000" + ts +
              "container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"" +
              name + "-p\"} " + std::to_string(ms / 2000.0) + ts +
              "container_memory_working_set_bytes{container=\"c\",namespace=\"ns\",pod=\"" +
              name + "-p\"} 10" + ts,
          "text/plain; version=0.0.4"});
    });
  }
  void Retain(const std::vector<std::string>&) override {}

 private:
  boost::asio::io_context& io_;
  base::ManualClock& clock_;
};

// What the scrape loop did over kTicks ticks, and the sink's view.
struct ScrapeRun {
  std::vector<std::chrono::nanoseconds> durations;
  std::vector<std::size_t> succeeded;
  uint64_t published = 0;
  std::size_t max_queued = 0;
  std::size_t max_alive = 0;  // published windows still alive after each tick
  uint64_t dropped = 0;
  uint64_t written = 0;
};

// kTicks ticks of a 5-node fleet with `sink` (may be null) fed as the program feeds it;
// `stuck` (with a sink) returns once the sink is in the state under test, and is called after
// the first tick, so that every later tick runs while it is.
ScrapeRun Scrape(WindowSink* sink, const std::function<void()>& stuck = nullptr) {
  boost::asio::io_context io;
  base::ManualClock clock;
  testing_support::FakeNodes nodes;
  for (int i = 0; i < kNodes; ++i) {
    nodes.Add(testing_support::NodeAt("node-" + std::to_string(i), "10.0.0." + std::to_string(i)));
  }
  ClockedKubelet kubelet(io, clock);
  window::Publication publication;
  scraper::Store store(scraper::StoreSettings{seconds(15), 2}, publication);
  scraper::ManagerSettings settings;
  settings.spread = false;
  settings.target.preferred_address_types = {"InternalIP"};
  scraper::Manager manager(io, clock, nodes, kubelet, store, settings);

  std::vector<std::weak_ptr<const window::Window>> published;
  auto tracker = publication.Subscribe(
      [&](const std::shared_ptr<const window::Window>& w) { published.push_back(w); });
  window::Publication::Subscription feed;
  if (sink != nullptr) {
    sink->Start();
    feed = publication.Subscribe(
        [sink](const std::shared_ptr<const window::Window>& w) { sink->Enqueue(w); });
  }

  ScrapeRun run;
  for (int t = 0; t < kTicks; ++t) {
    bool done = false;
    manager.RunTick([&] { done = true; });
    io.restart();
    const auto limit = std::chrono::steady_clock::now() + seconds(10);
    while (!done && std::chrono::steady_clock::now() < limit) io.run_for(milliseconds(20));
    EXPECT_TRUE(done) << "tick " << t << " did not end";
    if (!done) break;
    if (t == 0 && stuck) stuck();
    auto report = manager.LastReport();
    run.durations.push_back(report->duration);
    run.succeeded.push_back(report->succeeded);
    if (sink != nullptr) run.max_queued = std::max(run.max_queued, sink->queued());
    std::size_t alive = 0;
    for (auto& w : published) alive += !w.expired();
    run.max_alive = std::max(run.max_alive, alive);
    clock.Advance(seconds(15));
  }
  run.published = publication.published();
  if (sink != nullptr) {
    run.dropped = sink->dropped();
    run.written = sink->written();
  }
  feed.Reset();
  tracker.Reset();
  return run;
}

// The sink fed by a scrape loop sees what the loop without it saw; its memory stays bounded.
void ExpectUnchanged(const ScrapeRun& with, WindowSink& sink) {
  const ScrapeRun without = Scrape(nullptr);
  ASSERT_EQ(without.durations.size(), static_cast<std::size_t>(kTicks));
  EXPECT_EQ(with.durations, without.durations);
  EXPECT_EQ(with.succeeded, std::vector<std::size_t>(kTicks, kNodes));
  EXPECT_EQ(with.published, without.published);
  EXPECT_EQ(with.published, static_cast<uint64_t>(kTicks));
  EXPECT_LE(with.max_queued, kBound);
  // Without a sink only the current window is alive; with one, its queue and the window its
  // thread holds (the current one is the newest queued).
  EXPECT_EQ(without.max_alive, 1u);
  EXPECT_LE(with.max_alive, kBound + 1);
  // Nothing reached the server, so all but the bound was dropped. (The first window has no
  // rates yet, one sample per node: the OTLP sink has nothing to send and counts it written.)
  EXPECT_LE(with.written, 1u);
  EXPECT_GE(with.dropped, kTicks - kBound - 1);
  EXPECT_EQ(sink.queued(), kBound);
}

// A port nobody listens on: every connection is refused.
uint16_t RefusedPort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();  // closed when `a` goes
}

// Accepts connections and reads the requests, and never answers (the sinks' request timeout is
// 10 s, longer than the test).
class Hung {
 public:
  Hung() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Hung() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::size_t bytes() const { return bytes_.load(); }

 private:
  struct Conn {
    explicit Conn(boost::asio::io_context& io) : socket(io) {}
    boost::asio::ip::tcp::socket socket;
    char buffer[4096];
  };
  void Accept() {
    auto conn = std::make_shared<Conn>(io_);
    acceptor_.async_accept(conn->socket, [this, conn](boost::system::error_code ec) {
      if (ec) return;
      conns_.push_back(conn);
      Read(conn);
      Accept();
    });
  }
  void Read(std::shared_ptr<Conn> conn) {
    conn->socket.async_read_some(boost::asio::buffer(conn->buffer),
                                 [this, conn](boost::system::error_code ec, std::size_t n) {
                                   if (ec) return;
                                   bytes_ += n;
                                   Read(conn);
                                 });
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<Conn>> conns_;  // io thread only
  std::atomic<std::size_t> bytes_{0};
  std::thread thread_;
};

std::unique_ptr<InfluxSink> Influx(uint16_t port, const SinkMetrics& metrics) {
  auto config = ParseSinkFlag("influxdb:http://127.0.0.1:" + std::to_string(port) + "?db=k8s");
  EXPECT_TRUE(config.ok()) << config.error();
  auto sink = InfluxSink::Create(*config, metrics);
  EXPECT_TRUE(sink.ok()) << sink.error();
  return std::move(sink).value();
}

std::unique_ptr<OtlpSink> Otlp(uint16_t port, const SinkMetrics& metrics) {
  auto config = ParseOtlpSinkFlag("otlp:http://127.0.0.1:" + std::to_string(port));
  EXPECT_TRUE(config.ok()) << config.error();
  auto sink = OtlpSink::Create(*config, metrics);
  EXPECT_TRUE(sink.ok()) << sink.error();
  return std::move(sink).value();
}

TEST(SinkIsolation, ConnectionRefused) {
  base::MetricsRegistry registry;
  const SinkMetrics metrics = SinkMetrics::Register(registry);
  const uint16_t port = RefusedPort();
  auto influx = Influx(port, metrics);
  ExpectUnchanged(
      Scrape(influx.get(), [&] { ASSERT_TRUE(WaitFor([&] { return influx->down(); })); }), *influx);
  auto otlp = Otlp(port, metrics);
  // The first window has no rates (nothing to send); the second is refused.
  ExpectUnchanged(Scrape(otlp.get()), *otlp);
  EXPECT_TRUE(WaitFor([&] { return otlp->down(); }));
}

TEST(SinkIsolation, AcceptsAndNeverAnswers) {
  base::MetricsRegistry registry;
  const SinkMetrics metrics = SinkMetrics::Register(registry);
  Hung hung;
  auto influx = Influx(hung.port(), metrics);
  // Its first request (CREATE DATABASE) is in the server's hands, unanswered, during the ticks.
  ExpectUnchanged(
      Scrape(influx.get(), [&] { ASSERT_TRUE(WaitFor([&] { return hung.bytes() > 0; })); }),
      *influx);
  EXPECT_FALSE(influx->down());  // still waiting for the answer: not a failure yet
  Hung hung2;
  auto otlp = Otlp(hung2.port(), metrics);
  ExpectUnchanged(Scrape(otlp.get()), *otlp);
  EXPECT_TRUE(WaitFor([&] { return hung2.bytes() > 0; }));
  EXPECT_FALSE(otlp->down());
}

TEST(SinkIsolation, AnswersAfterSeconds) {
  testing_support::LocalHttpsServer server(sink_testing::PlainHttp(),
                                           [](const testing_support::SeenRequest&) {
                                             auto r = testing_support::Reply::Status(204);
                                             r.delay = milliseconds(3000);
                                             return r;
                                           });
  base::MetricsRegistry registry;
  const SinkMetrics metrics = SinkMetrics::Register(registry);
  auto influx = Influx(server.port(), metrics);
  const ScrapeRun with =
      Scrape(influx.get(), [&] { ASSERT_TRUE(server.WaitForRequests(1, seconds(10))); });
  const ScrapeRun without = Scrape(nullptr);
  EXPECT_EQ(with.durations, without.durations);
  EXPECT_EQ(with.published, static_cast<uint64_t>(kTicks));
  EXPECT_LE(with.max_queued, kBound);
  EXPECT_LE(with.max_alive, kBound + 1);
  EXPECT_EQ(influx->written(), 0u);  // the first request is still being answered
}

}  // namespace
}  // namespace exporter
