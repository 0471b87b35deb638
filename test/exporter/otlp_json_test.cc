// The OTLP/HTTP JSON request built from Heapster's points: parsed back with nlohmann::json and
// checked field by field against the OTLP JSON mapping.
#include "exporter/otlp_json.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace exporter {
namespace {

Point MakePoint(std::string metric, std::vector<std::pair<std::string, std::string>> tags,
                int64_t value, base::UnixNanos ts) {
  Point p;
  p.metric = std::move(metric);
  p.tags = std::move(tags);
  p.value = value;
  p.timestamp = ts;
  return p;
}

TEST(OtlpJson, GaugePerHeapsterMetricWithLabelsAsAttributes) {
  std::vector<Point> points = {
      MakePoint("cpu/usage_rate", {{"nodename", "n1"}, {"type", "node"}}, 2000,
                1700000000000000001),
      MakePoint("memory/working_set", {{"nodename", "n1"}, {"type", "node"}}, int64_t{1} << 40,
                1700000000000000001),
      MakePoint("cpu/usage_rate",
                {{"container_name", "app"},
                 {"namespace_name", "default"},
                 {"pod_name", "web \"1\""},
                 {"type", "pod_container"}},
                250, 1700000000000000002),
  };
  Point f = MakePoint("cpu/node_utilization", {{"nodename", "n1"}, {"type", "node"}}, 0, 5);
  f.is_float = true;
  f.float_value = 0.125;
  points.push_back(f);
  points.push_back(MakePoint("cpu/usage_rate", {{"type", "cluster"}}, 0, 0));  // left out

  std::string body;
  EXPECT_EQ(AppendOtlpJson(points, body), 4u);
  auto doc = nlohmann::json::parse(body);
  ASSERT_EQ(doc["resourceMetrics"].size(), 1u);
  const auto& rm = doc["resourceMetrics"][0];
  EXPECT_EQ(rm["resource"]["attributes"][0]["key"], "service.name");
  EXPECT_EQ(rm["resource"]["attributes"][0]["value"]["stringValue"], "cpp-metrics-server");
  const auto& sm = rm["scopeMetrics"][0];
  EXPECT_EQ(sm["scope"]["name"], "cpp-metrics-server/heapster");
  const auto& metrics = sm["metrics"];
  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_EQ(metrics[0]["name"], "cpu/usage_rate");
  EXPECT_EQ(metrics[0]["unit"], "{millicore}");
  EXPECT_EQ(metrics[1]["name"], "memory/working_set");
  EXPECT_EQ(metrics[1]["unit"], "By");
  EXPECT_EQ(metrics[2]["name"], "cpu/node_utilization");
  EXPECT_EQ(metrics[2]["unit"], "1");

  const auto& cpu = metrics[0]["gauge"]["dataPoints"];
  ASSERT_EQ(cpu.size(), 2u);  // node and container; the timestamp-0 cluster point is left out
  EXPECT_EQ(cpu[0]["asInt"], "2000");
  EXPECT_EQ(cpu[0]["timeUnixNano"], "1700000000000000001");
  EXPECT_EQ(cpu[0]["attributes"][0]["key"], "nodename");
  EXPECT_EQ(cpu[0]["attributes"][0]["value"]["stringValue"], "n1");
  EXPECT_EQ(cpu[0]["attributes"][1]["key"], "type");
  EXPECT_EQ(cpu[0]["attributes"][1]["value"]["stringValue"], "node");
  EXPECT_EQ(cpu[1]["attributes"][2]["value"]["stringValue"], "web \"1\"");  // escaped and back
  EXPECT_EQ(metrics[1]["gauge"]["dataPoints"][0]["asInt"], "1099511627776");
  const auto& util = metrics[2]["gauge"]["dataPoints"][0];
  EXPECT_EQ(util["asDouble"], 0.125);
  EXPECT_FALSE(util.contains("asInt"));
}

TEST(OtlpJson, EmptyWindowHasNoMetricsAndNonFiniteDoublesAreStrings) {
  std::string body;
  EXPECT_EQ(AppendOtlpJson({MakePoint("cpu/usage_rate", {{"type", "cluster"}}, 0, 0)}, body), 0u);
  EXPECT_TRUE(
      nlohmann::json::parse(body)["resourceMetrics"][0]["scopeMetrics"][0]["metrics"].empty());

  Point p = MakePoint("memory/node_utilization", {{"type", "node"}}, 0, 1);
  p.is_float = true;
  p.float_value = std::numeric_limits<double>::quiet_NaN();
  body.clear();
  AppendOtlpJson({p}, body);
  EXPECT_NE(body.find("\"asDouble\":\"NaN\""), std::string::npos) << body;
}

TEST(OtlpJson, Units) {
  EXPECT_EQ(OtlpUnit("memory/rss"), "By");
  EXPECT_EQ(OtlpUnit("filesystem/usage"), "By");
  EXPECT_EQ(OtlpUnit("network/rx_rate"), "By/s");
  EXPECT_EQ(OtlpUnit("uptime"), "ms");
  EXPECT_EQ(OtlpUnit("something/new"), "");
}

}  // namespace
}  // namespace exporter
