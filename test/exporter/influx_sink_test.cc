// The InfluxDB sink against a real local HTTP server on 127.0.0.1 port 0: the points arrive in
// Heapster's layout; a server that is down or slow never makes Enqueue wait, and the windows the
// sink holds never exceed its queue bound (dropped windows are freed and counted).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "exporter/influx_sink.h"
#include "test/exporter/sink_test_support.h"
#include "test/testing/local_https_server.h"
#include "test/testing/wait.h"
#include "window/publication.h"

namespace exporter {
namespace {

using sink_testing::MakeWindow;
using sink_testing::PlainHttp;
using testing_support::LocalHttpsServer;
using testing_support::Reply;
using testing_support::SeenRequest;
using testing_support::ServerOptions;
using testing_support::WaitFor;

InfluxSinkConfig ConfigFor(const LocalHttpsServer& server, std::string flag_options = "") {
  auto config = ParseSinkFlag("influxdb:http://127.0.0.1:" + std::to_string(server.port()) +
                              "?db=k8s" + flag_options);
  EXPECT_TRUE(config.ok()) << config.error();
  config->delivery = sink_testing::FastDelivery();
  return *config;
}

std::vector<SeenRequest> Writes(const LocalHttpsServer& server) {
  std::vector<SeenRequest> writes;
  for (auto& r : server.requests())
    if (r.target.starts_with("/write")) writes.push_back(r);
  return writes;
}

TEST(InfluxSink, WritesEachWindowInHeapsterLayout) {
  LocalHttpsServer server(PlainHttp(), [](const SeenRequest& r) {
    return r.target.starts_with("/write") ? Reply::Status(204) : Reply::Ok("{\"results\":[]}");
  });
  base::MetricsRegistry registry;
  auto sink = InfluxSink::Create(ConfigFor(server, "&user=admin&pw=secret"),
                                 SinkMetrics::Register(registry));
  ASSERT_TRUE(sink.ok()) << sink.error();
  (*sink)->Start();
  (*sink)->Enqueue(MakeWindow(1));
  (*sink)->Enqueue(MakeWindow(2));
  ASSERT_TRUE(WaitFor([&] { return (*sink)->written() == 2; }));

  auto requests = server.requests();
  ASSERT_GE(requests.size(), 3u);
  EXPECT_EQ(requests[0].target, "/query");  // CREATE DATABASE first, as Heapster
  EXPECT_NE(requests[0].body.find("CREATE%20DATABASE%20%22k8s%22"), std::string::npos);
  auto writes = Writes(server);
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].target, "/write?db=k8s&precision=ns");
  EXPECT_EQ(writes[0].Header("Authorization"), "Basic YWRtaW46c2VjcmV0");  // admin:secret
  const std::string& body = writes[1].body;
  EXPECT_NE(body.find("cpu/usage_rate,nodename=node-1,type=node value=2000i "
                      "1700000000000000002\n"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("memory/working_set,container_name=app,namespace_name=default,"
                      "pod_name=web,type=pod_container value=104857600i"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("cpu/usage_rate,type=cluster value=250i"), std::string::npos) << body;
  EXPECT_EQ((*sink)->dropped(), 0u);
  EXPECT_NE(registry.Render().find(
                "metrics_server_sink_written_windows_total{sink=\"influxdb:127.0.0.1:"),
            std::string::npos);
}

// Two sinks on one registry: one family per self-metric, a series per sink.
TEST(InfluxSink, SinksShareTheirSelfMetricFamilies) {
  base::MetricsRegistry registry;
  const SinkMetrics metrics = SinkMetrics::Register(registry);
  auto a = InfluxSink::Create(*ParseSinkFlag("influxdb:http://127.0.0.1:1"), metrics);
  auto b = InfluxSink::Create(*ParseSinkFlag("influxdb:http://127.0.0.1:2"), metrics);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string text = registry.Render();
  size_t helps = 0;
  for (size_t pos = 0; (pos = text.find("# HELP metrics_server_sink_dropped_windows_total", pos)) !=
                       std::string::npos;
       ++pos) {
    ++helps;
  }
  EXPECT_EQ(helps, 1u) << text;
  EXPECT_NE(text.find("{sink=\"influxdb:127.0.0.1:1\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("{sink=\"influxdb:127.0.0.1:2\"} 0"), std::string::npos) << text;
}

TEST(InfluxSink, WithFieldsLayout) {
  LocalHttpsServer server(PlainHttp(), [](const SeenRequest&) { return Reply::Status(204); });
  base::MetricsRegistry registry;
  auto sink =
      InfluxSink::Create(ConfigFor(server, "&withfields=true"), SinkMetrics::Register(registry));
  ASSERT_TRUE(sink.ok()) << sink.error();
  (*sink)->Start();
  (*sink)->Enqueue(MakeWindow(1));
  ASSERT_TRUE(WaitFor([&] { return (*sink)->written() == 1; }));
  auto writes = Writes(server);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_NE(writes[0].body.find("cpu,nodename=node-1,type=node usage_rate=2000i "),
            std::string::npos)
      << writes[0].body;
  EXPECT_EQ(writes[0].Header("Authorization"), "");
}

// Down (every request refused with 503), then up: the queue never holds more than its bound,
// the windows dropped are freed and counted, and once the server is back the newest windows
// arrive.
TEST(InfluxSink, DownThenRecoveredKeepsTheBound) {
  std::atomic<bool> up{false};
  LocalHttpsServer server(PlainHttp(), [&](const SeenRequest&) {
    return up ? Reply::Status(204) : Reply::Status(503, "unavailable");
  });
  base::MetricsRegistry registry;
  InfluxSinkConfig config = ConfigFor(server);
  auto sink = InfluxSink::Create(config, SinkMetrics::Register(registry));
  ASSERT_TRUE(sink.ok()) << sink.error();
  (*sink)->Start();

  constexpr int kWindows = 40;
  std::vector<std::weak_ptr<const window::Window>> sent;
  for (int i = 1; i <= kWindows; ++i) {
    auto w = MakeWindow(static_cast<uint64_t>(i));
    sent.push_back(w);
    (*sink)->Enqueue(std::move(w));
    ASSERT_LE((*sink)->queued(), config.delivery.max_queued_windows);
  }
  ASSERT_TRUE(WaitFor([&] { return (*sink)->down(); }));
  EXPECT_EQ((*sink)->written(), 0u);
  EXPECT_EQ((*sink)->dropped(), kWindows - config.delivery.max_queued_windows);
  // Memory: only the windows still queued are alive (+1 the worker may hold while encoding).
  size_t alive = 0;
  for (auto& w : sent) alive += !w.expired();
  EXPECT_LE(alive, config.delivery.max_queued_windows + 1);
  EXPECT_NE(registry.Render().find("metrics_server_sink_dropped_windows_total{sink=\"influxdb:"
                                   "127.0.0.1:" +
                                   std::to_string(server.port()) + "\"} 36"),
            std::string::npos)
      << registry.Render();

  up = true;
  ASSERT_TRUE(WaitFor([&] { return (*sink)->queued() == 0; }));
  EXPECT_FALSE((*sink)->down());
  EXPECT_GE((*sink)->written(), config.delivery.max_queued_windows);
  EXPECT_LE((*sink)->written(),
            config.delivery.max_queued_windows + 1);  // + one dropped while in flight
  auto writes = Writes(server);
  // The last successful write is the newest window.
  EXPECT_NE(writes.back().body.find(" 1700000000000000040\n"), std::string::npos);
}

// A server that takes seconds to answer: Enqueue keeps returning at once (it is called while the
// first write is still unanswered) and the queue stays at its bound.
TEST(InfluxSink, SlowServerNeverHoldsTheCaller) {
  std::atomic<int> answered{0};
  LocalHttpsServer server(PlainHttp(), [&](const SeenRequest&) {
    Reply r = Reply::Status(204);
    r.delay = std::chrono::milliseconds(1500);
    ++answered;
    return r;
  });
  base::MetricsRegistry registry;
  InfluxSinkConfig config = ConfigFor(server);
  auto sink = InfluxSink::Create(config, SinkMetrics::Register(registry));
  ASSERT_TRUE(sink.ok()) << sink.error();
  (*sink)->Start();
  (*sink)->Enqueue(MakeWindow(1));
  ASSERT_TRUE(server.WaitForRequests(1, std::chrono::milliseconds(5000)));
  for (int i = 2; i <= 30; ++i) {
    (*sink)->Enqueue(MakeWindow(static_cast<uint64_t>(i)));
    ASSERT_LE((*sink)->queued(), config.delivery.max_queued_windows);
  }
  // All 29 calls returned while the first request (CREATE DATABASE) was still being answered.
  EXPECT_EQ((*sink)->written(), 0u);
  EXPECT_EQ((*sink)->dropped(), 30 - config.delivery.max_queued_windows);
}

// Wired as the program wires it: a publication listener that enqueues. With the server down,
// Publish() returns every time and the sink keeps at most its bound of windows alive.
TEST(InfluxSink, PublicationListenerWithTheServerDown) {
  LocalHttpsServer server(PlainHttp(), [](const SeenRequest&) {
    Reply r;
    r.action = Reply::Action::kReset;
    return r;
  });
  base::MetricsRegistry registry;
  InfluxSinkConfig config = ConfigFor(server);
  auto sink = InfluxSink::Create(config, SinkMetrics::Register(registry));
  ASSERT_TRUE(sink.ok()) << sink.error();
  (*sink)->Start();
  window::Publication publication;
  auto feed = publication.Subscribe(
      [&](const std::shared_ptr<const window::Window>& w) { (*sink)->Enqueue(w); });
  std::vector<std::weak_ptr<const window::Window>> published;
  for (uint64_t g = 1; g <= 50; ++g) {
    auto w = MakeWindow(g);
    published.push_back(w);
    publication.Publish(std::move(w));
    ASSERT_LE((*sink)->queued(), config.delivery.max_queued_windows);
  }
  EXPECT_EQ(publication.published(), 50u);
  EXPECT_EQ((*sink)->dropped(), 50 - config.delivery.max_queued_windows);
  size_t alive = 0;
  for (auto& w : published) alive += !w.expired();
  // The queue, the one the worker may hold, and the publication's current window (in the queue).
  EXPECT_LE(alive, config.delivery.max_queued_windows + 1);
  feed.Reset();
}

}  // namespace
}  // namespace exporter
