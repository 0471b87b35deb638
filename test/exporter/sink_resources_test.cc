// --heapster-pod-resources through both sinks (WindowSink::SetResources): each window written
// carries the requests, limits and node_* names computed from the Resources the source gives
// for it, asked once per window; without a source the names are absent. Against a real local
// HTTP server on 127.0.0.1 port 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "exporter/influx_sink.h"
#include "exporter/otlp_sink.h"
#include "test/exporter/sink_test_support.h"
#include "test/testing/local_https_server.h"
#include "test/testing/wait.h"

namespace exporter {
namespace {

using sink_testing::MakeWindow;
using sink_testing::PlainHttp;
using testing_support::LocalHttpsServer;
using testing_support::Reply;
using testing_support::SeenRequest;
using testing_support::WaitFor;

std::shared_ptr<const Resources> MakeResources() {
  auto r = std::make_shared<Resources>();
  r->pods.push_back({"default", "web", "node-1", {{"app", 500, 1000, 64 << 20, 128 << 20}}});
  r->nodes.push_back({"node-1", 4000, 4000, 8LL << 30, 8LL << 30});
  return r;
}

template <typename Config>
Config Fast(Config config) {
  config.delivery = sink_testing::FastDelivery();
  return config;
}

TEST(SinkResources, InfluxDbWritesRequestsLimitsAndNodeNames) {
  LocalHttpsServer server(PlainHttp(), [](const SeenRequest&) { return Reply::Status(204); });
  base::MetricsRegistry registry;
  auto config =
      ParseSinkFlag("influxdb:http://127.0.0.1:" + std::to_string(server.port()) + "?db=k8s");
  ASSERT_TRUE(config.ok()) << config.error();
  auto sink = InfluxSink::Create(Fast(*config), SinkMetrics::Register(registry));
  ASSERT_TRUE(sink.ok()) << sink.error();
  std::atomic<int> asked{0};
  (*sink)->SetResources([&] {
    ++asked;
    return MakeResources();
  });
  (*sink)->Start();
  (*sink)->Enqueue(MakeWindow(1));
  (*sink)->Enqueue(MakeWindow(2));
  ASSERT_TRUE(WaitFor([&] { return (*sink)->written() == 2; }));
  EXPECT_EQ(asked.load(), 2);
  std::string body;
  for (const auto& r : server.requests()) {
    if (r.target.starts_with("/write")) body = r.body;
  }
  EXPECT_NE(body.find("cpu/request,container_name=app,namespace_name=default,pod_name=web,"
                      "type=pod_container value=500i "),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("memory/limit,container_name=app,namespace_name=default,pod_name=web,"
                      "type=pod_container value=134217728i "),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("cpu/node_utilization,nodename=node-1,type=node value=0.5 "),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("cpu/node_reservation,nodename=node-1,type=node value=0.125 "),
            std::string::npos)
      << body;
}

TEST(SinkResources, OtlpSendsRequestsAndNothingWithoutASource) {
  LocalHttpsServer server(PlainHttp(),
                          [](const SeenRequest&) { return Reply::Ok("{}", "application/json"); });
  base::MetricsRegistry registry;
  const SinkMetrics metrics = SinkMetrics::Register(registry);
  auto config = ParseOtlpSinkFlag("otlp:http://127.0.0.1:" + std::to_string(server.port()));
  ASSERT_TRUE(config.ok()) << config.error();
  auto with = OtlpSink::Create(Fast(*config), metrics);
  auto without = OtlpSink::Create(Fast(*config), metrics);
  ASSERT_TRUE(with.ok() && without.ok());
  (*with)->SetResources(MakeResources);
  (*with)->Start();
  (*with)->Enqueue(MakeWindow(1));
  ASSERT_TRUE(WaitFor([&] { return (*with)->written() == 1; }));
  (*without)->Start();
  (*without)->Enqueue(MakeWindow(1));
  ASSERT_TRUE(WaitFor([&] { return (*without)->written() == 1; }));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  auto names = [](const std::string& body) {
    std::vector<std::string> out;
    auto json = nlohmann::json::parse(body);
    for (const auto& m : json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]) {
      out.push_back(m["name"]);
    }
    return out;
  };
  auto first = names(requests[0].body);
  auto second = names(requests[1].body);
  auto has = [](const std::vector<std::string>& v, const std::string& name) {
    return std::find(v.begin(), v.end(), name) != v.end();
  };
  // Which request came from which sink is not ordered: one has the names, the other not.
  EXPECT_NE(has(first, "cpu/request"), has(second, "cpu/request"));
  EXPECT_NE(has(first, "memory/node_reservation"), has(second, "memory/node_reservation"));
  EXPECT_TRUE(has(first, "cpu/usage_rate") && has(second, "cpu/usage_rate"));
}

}  // namespace
}  // namespace exporter
