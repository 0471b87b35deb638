// The OTLP/HTTP sink against a real local HTTP(S) server on 127.0.0.1 port 0: the request is
// OTLP JSON on POST /v1/metrics with the configured headers, over TLS verified against a ca=
// file; 429, 5xx and transport errors are retried, other 4xx drop the window; a server that is
// down or slow never makes Enqueue wait, and the sink holds no more windows than its bound.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "exporter/otlp_sink.h"
#include "test/exporter/sink_test_support.h"
#include "test/testing/local_https_server.h"
#include "test/testing/test_pki.h"
#include "test/testing/wait.h"

namespace exporter {
namespace {

using sink_testing::MakeWindow;
using sink_testing::PlainHttp;
using testing_support::LocalHttpsServer;
using testing_support::Reply;
using testing_support::SeenRequest;
using testing_support::ServerOptions;
using testing_support::WaitFor;

OtlpSinkConfig ConfigFor(const LocalHttpsServer& server, std::string scheme = "http",
                         std::string options = "") {
  auto config = ParseOtlpSinkFlag("otlp:" + scheme +
                                  "://127.0.0.1:" + std::to_string(server.port()) + options);
  EXPECT_TRUE(config.ok()) << config.error();
  config->delivery = sink_testing::FastDelivery();
  return *config;
}

// The asInt of the data point of `metric` whose attribute `key` is `value`; "" if none.
std::string ValueOf(const nlohmann::json& request, std::string_view metric, std::string_view key,
                    std::string_view value) {
  for (const auto& m : request["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]) {
    if (m["name"] != metric) continue;
    for (const auto& dp : m["gauge"]["dataPoints"]) {
      for (const auto& a : dp["attributes"]) {
        if (a["key"] == key && a["value"]["stringValue"] == value) return dp["asInt"];
      }
    }
  }
  return "";
}

TEST(OtlpSink, PostsEachWindowAsOtlpJson) {
  LocalHttpsServer server(PlainHttp(),
                          [](const SeenRequest&) { return Reply::Ok("{}", "application/json"); });
  base::MetricsRegistry registry;
  auto sink = OtlpSink::Create(ConfigFor(server, "http", "?headers=X-Scope-OrgID=team-a"),
                               SinkMetrics::Register(registry));
  ASSERT_TRUE(sink.ok()) << sink.error();
  (*sink)->Start();
  (*sink)->Enqueue(MakeWindow(1));
  (*sink)->Enqueue(MakeWindow(2));
  ASSERT_TRUE(WaitFor([&] { return (*sink)->written() == 2; }));

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].target, "/v1/metrics");
  EXPECT_EQ(requests[0].Header("Content-Type"), "application/json");
  EXPECT_EQ(requests[0].Header("X-Scope-OrgID"), "team-a");
  auto doc = nlohmann::json::parse(requests[1].body);
  EXPECT_EQ(ValueOf(doc, "cpu/usage_rate", "nodename", "node-1"), "2000");
  EXPECT_EQ(ValueOf(doc, "memory/working_set", "container_name", "app"), "104857600");
  EXPECT_EQ(ValueOf(doc, "cpu/usage_rate", "type", "cluster"), "250");
  EXPECT_EQ(doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0]
               ["timeUnixNano"],
            "1700000000000000002");
  EXPECT_NE(
      registry.Render().find("metrics_server_sink_written_windows_total{sink=\"otlp:127.0.0.1:"),
      std::string::npos);
}

TEST(OtlpSink, HttpsVerifiesAgainstTheCaFile) {
  testing_support::TestPki pki;
  ServerOptions tls;
  tls.certificate = pki.ServerCert();
  LocalHttpsServer server(tls, [](const SeenRequest&) { return Reply::Ok("{}"); });
  base::MetricsRegistry registry;
  auto sink = OtlpSink::Create(ConfigFor(server, "https", "?ca=" + pki.ca_file()),
                               SinkMetrics::Register(registry));
  ASSERT_TRUE(sink.ok()) << sink.error();
  (*sink)->Start();
  (*sink)->Enqueue(MakeWindow(1));
  ASSERT_TRUE(WaitFor([&] { return (*sink)->written() == 1; }));

  // Against the system roots the test CA is unknown: the handshake fails, the sink is down.
  auto untrusting = OtlpSink::Create(ConfigFor(server, "https"), SinkMetrics::Register(registry));
  ASSERT_TRUE(untrusting.ok()) << untrusting.error();
  (*untrusting)->Start();
  (*untrusting)->Enqueue(MakeWindow(1));
  ASSERT_TRUE(WaitFor([&] { return (*untrusting)->down(); }));
  EXPECT_EQ((*untrusting)->written(), 0u);

  EXPECT_FALSE(OtlpSink::Create(ConfigFor(server, "https", "?ca=/nonexistent/ca.pem"),
                                SinkMetrics::Register(registry))
                   .ok());
}

// 400 (a request the server will never take) drops that window and goes on with the next;
// 429 and 503 are retried until the server takes the window.
TEST(OtlpSink, RejectedWindowsAreDroppedRetryableOnesRetried) {
  std::atomic<int> calls{0};
  LocalHttpsServer server(PlainHttp(), [&](const SeenRequest&) {
    switch (++calls) {
      case 1:
        return Reply::Status(400, "{\"message\":\"bad\"}");
      case 2:
        return Reply::Status(429, "slow down");
      case 3:
        return Reply::Status(503, "unavailable");
      default:
        return Reply::Ok("{}");
    }
  });
  base::MetricsRegistry registry;
  auto sink = OtlpSink::Create(ConfigFor(server), SinkMetrics::Register(registry));
  ASSERT_TRUE(sink.ok()) << sink.error();
  (*sink)->Start();
  (*sink)->Enqueue(MakeWindow(1));
  ASSERT_TRUE(WaitFor([&] { return (*sink)->rejected() == 1; }));
  (*sink)->Enqueue(MakeWindow(2));
  ASSERT_TRUE(WaitFor([&] { return (*sink)->written() == 1; }));
  EXPECT_EQ(calls.load(), 4);
  EXPECT_EQ((*sink)->queued(), 0u);
  EXPECT_FALSE((*sink)->down());
  const std::string text = registry.Render();
  EXPECT_NE(text.find("metrics_server_sink_rejected_windows_total{sink=\"otlp:127.0.0.1:" +
                      std::to_string(server.port()) + "\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("metrics_server_sink_failed_writes_total{sink=\"otlp:127.0.0.1:" +
                      std::to_string(server.port()) + "\"} 3"),
            std::string::npos)
      << text;
}

// Down (connections reset), then up: the queue never holds more than its bound, the windows
// dropped are freed and counted, and once the server is back the newest windows arrive.
TEST(OtlpSink, DownThenRecoveredKeepsTheBound) {
  std::atomic<bool> up{false};
  LocalHttpsServer server(PlainHttp(), [&](const SeenRequest&) {
    if (up) return Reply::Ok("{}");
    Reply r;
    r.action = Reply::Action::kReset;
    return r;
  });
  base::MetricsRegistry registry;
  OtlpSinkConfig config = ConfigFor(server);
  auto sink = OtlpSink::Create(config, SinkMetrics::Register(registry));
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
  size_t alive = 0;
  for (auto& w : sent) alive += !w.expired();
  EXPECT_LE(alive, config.delivery.max_queued_windows + 1);

  up = true;
  ASSERT_TRUE(WaitFor([&] { return (*sink)->queued() == 0; }));
  EXPECT_FALSE((*sink)->down());
  EXPECT_GE((*sink)->written(), config.delivery.max_queued_windows);
  EXPECT_LE((*sink)->written(), config.delivery.max_queued_windows + 1);
  auto requests = server.requests();
  EXPECT_NE(requests.back().body.find("\"timeUnixNano\":\"1700000000000000040\""),
            std::string::npos);
}

// A server that takes seconds to answer: Enqueue keeps returning at once and the queue stays at
// its bound.
TEST(OtlpSink, SlowServerNeverHoldsTheCaller) {
  LocalHttpsServer server(PlainHttp(), [&](const SeenRequest&) {
    Reply r = Reply::Ok("{}");
    r.delay = std::chrono::milliseconds(1500);
    return r;
  });
  base::MetricsRegistry registry;
  OtlpSinkConfig config = ConfigFor(server);
  auto sink = OtlpSink::Create(config, SinkMetrics::Register(registry));
  ASSERT_TRUE(sink.ok()) << sink.error();
  (*sink)->Start();
  (*sink)->Enqueue(MakeWindow(1));
  ASSERT_TRUE(server.WaitForRequests(1, std::chrono::milliseconds(5000)));
  for (int i = 2; i <= 30; ++i) {
    (*sink)->Enqueue(MakeWindow(static_cast<uint64_t>(i)));
    ASSERT_LE((*sink)->queued(), config.delivery.max_queued_windows);
  }
  EXPECT_EQ((*sink)->written(), 0u);
  EXPECT_EQ((*sink)->dropped(), 30 - config.delivery.max_queued_windows);
}

}  // namespace
}  // namespace exporter
