#include "exporter/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "test/testing/temp_dir.h"

namespace exporter {
namespace {

using window::ContainerInput;
using window::NodeMetrics;
using window::PodInput;

constexpr base::UnixNanos kT1 = 1'700'000'000'123'456'789;  // ms: 1700000000123
constexpr base::UnixNanos kT2 = 1'700'000'005'000'000'000;

Point P(std::string metric, std::vector<std::pair<std::string, std::string>> tags, int64_t value,
        base::UnixNanos ts) {
  return Point{std::move(metric), std::move(tags), value, ts};
}

TEST(PrometheusName, PrefixesAndReplacesSlashes) {
  EXPECT_EQ(PrometheusName("cpu/usage_rate"), "heapster_cpu_usage_rate");
  EXPECT_EQ(PrometheusName("memory/working_set"), "heapster_memory_working_set");
  EXPECT_EQ(PrometheusName("uptime"), "heapster_uptime");
  EXPECT_EQ(PrometheusName("custom/a-b.c"), "heapster_custom_a_b_c");
}

TEST(PrometheusText, HelpTypeThenSamplesWithMillisecondTimestamps) {
  std::vector<Point> points = {
      P("cpu/usage_rate", {{"nodename", "n1"}, {"type", "node"}}, 250, kT1),
  };
  EXPECT_EQ(PrometheusText(points),
            "# HELP heapster_cpu_usage_rate CPU usage on all cores, in millicores (Heapster "
            "cpu/usage_rate).\n"
            "# TYPE heapster_cpu_usage_rate gauge\n"
            "heapster_cpu_usage_rate{nodename=\"n1\",type=\"node\"} 250 1700000000123\n");
}

TEST(PrometheusText, GroupsEachFamilyInOrderOfFirstAppearance) {
  std::vector<Point> points = {
      P("cpu/usage_rate", {{"type", "node"}}, 1, kT1),
      P("memory/working_set", {{"type", "node"}}, 2, kT1),
      P("cpu/usage_rate", {{"type", "pod"}}, 3, kT2),
      P("memory/working_set", {{"type", "pod"}}, 4, kT2),
  };
  const std::string text = PrometheusText(points);
  const size_t cpu_help = text.find("# HELP heapster_cpu_usage_rate ");
  const size_t cpu_node = text.find("heapster_cpu_usage_rate{type=\"node\"} 1 1700000000123\n");
  const size_t cpu_pod = text.find("heapster_cpu_usage_rate{type=\"pod\"} 3 1700000005000\n");
  const size_t mem_help = text.find("# HELP heapster_memory_working_set ");
  const size_t mem_node = text.find("heapster_memory_working_set{type=\"node\"} 2 1700000000123\n");
  const size_t mem_pod = text.find("heapster_memory_working_set{type=\"pod\"} 4 1700000005000\n");
  for (size_t at : {cpu_help, cpu_node, cpu_pod, mem_help, mem_node, mem_pod}) {
    ASSERT_NE(at, std::string::npos) << text;
  }
  EXPECT_LT(cpu_help, cpu_node);
  EXPECT_LT(cpu_node, cpu_pod);
  EXPECT_LT(cpu_pod, mem_help);
  EXPECT_LT(mem_help, mem_node);
  EXPECT_LT(mem_node, mem_pod);
  EXPECT_EQ(text.find("# TYPE heapster_cpu_usage_rate", cpu_pod), std::string::npos)
      << "one TYPE line per family";
}

TEST(PrometheusText, EscapesLabelValuesAndSanitizesLabelNames) {
  std::vector<Point> points = {
      P("custom/x", {{"labels", "a:\"q\",b:c\\d\ne"}, {"bad-key", "v"}}, 7, kT1),
  };
  EXPECT_EQ(PrometheusText(points),
            "# HELP heapster_custom_x Heapster metric custom/x.\n"
            "# TYPE heapster_custom_x gauge\n"
            "heapster_custom_x{labels=\"a:\\\"q\\\",b:c\\\\d\\ne\",bad_key=\"v\"} 7 "
            "1700000000123\n");
}

TEST(PrometheusText, FloatValues) {
  Point ratio = P("cpu/node_utilization", {{"type", "node"}}, 0, kT1);
  ratio.is_float = true;
  ratio.float_value = 0.125;
  Point nan = ratio;
  nan.tags = {{"type", "a"}};
  nan.float_value = std::numeric_limits<double>::quiet_NaN();
  Point inf = ratio;
  inf.tags = {{"type", "b"}};
  inf.float_value = -std::numeric_limits<double>::infinity();
  const std::string text = PrometheusText(std::vector<Point>{ratio, nan, inf});
  EXPECT_NE(text.find("heapster_cpu_node_utilization{type=\"node\"} 0.125 1700000000123\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("{type=\"a\"} NaN "), std::string::npos) << text;
  EXPECT_NE(text.find("{type=\"b\"} -Inf "), std::string::npos) << text;
}

TEST(PrometheusText, LeavesOutPointsWithoutASampleTime) {
  // An empty window: only the cluster's points, at time 0.
  window::Window empty(0, {}, {});
  EXPECT_EQ(PrometheusText(HeapsterPoints(empty)), "");
}

TEST(PrometheusText, ExposesTheWholeSchemaOfAWindow) {
  NodeMetrics node;
  node.name = "n1";
  node.timestamp = kT1;
  node.cpu_nanocores = 2'000'000'000;
  node.memory_bytes = 1 << 30;
  PodInput pod;
  pod.namespace_ = "default";
  pod.name = "web";
  pod.timestamp = kT2;
  ContainerInput c;
  c.name = "app";
  c.cpu_nanocores = 250'000'000;
  c.memory_bytes = 1000;
  pod.containers = {c};
  window::Window w(1, {node}, {pod});
  const std::vector<Point> points = HeapsterPoints(w);
  const std::string text = PrometheusText(points);
  // Every point is one sample line: nothing is lost or repeated.
  size_t samples = 0;
  for (size_t at = 0; (at = text.find("\nheapster_", at)) != std::string::npos; ++at) ++samples;
  EXPECT_EQ(samples + (text.rfind("heapster_", 0) == 0 ? 1 : 0), points.size()) << text;
  EXPECT_NE(text.find("heapster_cpu_usage_rate{container_name=\"app\",namespace_name=\"default\","
                      "pod_name=\"web\",type=\"pod_container\"} 250 1700000005000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("heapster_memory_working_set{nodename=\"n1\",type=\"node\"} 1073741824 "
                      "1700000000123\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("heapster_cpu_usage_rate{type=\"cluster\"} 250 1700000005000\n"),
            std::string::npos)
      << text;
}

// Debian's promtool (scripts/install-deps.sh) lints an exposition with every edge this encoder
// has: escaped label values, a sanitized label name, a generic HELP line, float, NaN and
// infinite values, and a whole window's families. Missing promtool is a failure, not a skip.
TEST(PrometheusText, PromtoolCheckMetricsIsClean) {
  NodeMetrics node;
  node.name = "n1";
  node.timestamp = kT1;
  node.cpu_nanocores = 1'500'000'000;
  node.memory_bytes = 1 << 20;
  PodInput pod;
  pod.namespace_ = "kube-system";
  pod.name = "dns-7f9c";
  pod.timestamp = kT2;
  ContainerInput c;
  c.name = "coredns";
  c.cpu_nanocores = 3'000'000;
  c.memory_bytes = 12345;
  pod.containers = {c};
  std::vector<Point> points = HeapsterPoints(window::Window(1, {node}, {pod}));
  points.push_back(P("custom/x-y", {{"labels", "a:\"q\",b:c\\d\ne"}, {"bad-key", "v"}}, 7, kT1));
  Point ratio = P("memory/node_utilization", {{"nodename", "n1"}, {"type", "node"}}, 0, kT1);
  ratio.is_float = true;
  ratio.float_value = 0.3333333333333333;
  points.push_back(ratio);
  ratio.tags = {{"nodename", "n2"}, {"type", "node"}};
  ratio.float_value = std::numeric_limits<double>::quiet_NaN();
  points.push_back(ratio);
  ratio.tags = {{"nodename", "n3"}, {"type", "node"}};
  ratio.float_value = std::numeric_limits<double>::infinity();
  points.push_back(ratio);

  testing_support::TempDir dir;
  const std::string in = dir.Write("exposition.prom", PrometheusText(points));
  const std::string out = dir.File("promtool.out");
  const std::string command = "promtool check metrics <'" + in + "' >'" + out + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream f(out);
  std::stringstream said;
  said << f.rdbuf();
  ASSERT_EQ(status, 0) << "promtool check metrics (scripts/install-deps.sh installs Debian's "
                          "prometheus): "
                       << said.str();
  EXPECT_EQ(said.str(), "");
}

TEST(HeapsterExposition, EncodesEachWindowOnce) {
  HeapsterExposition exposition;
  NodeMetrics node;
  node.name = "n1";
  node.timestamp = kT1;
  auto w1 = std::make_shared<const window::Window>(1, std::vector<NodeMetrics>{node},
                                                   std::vector<PodInput>{});
  auto first = exposition.Get(w1);
  EXPECT_EQ(exposition.Get(w1).get(), first.get()) << "the same window is served from the cache";

  node.cpu_nanocores = 5'000'000;
  auto w2 = std::make_shared<const window::Window>(2, std::vector<NodeMetrics>{node},
                                                   std::vector<PodInput>{});
  auto second = exposition.Get(w2);
  EXPECT_NE(second.get(), first.get());
  EXPECT_NE(second->find("heapster_cpu_usage_rate{nodename=\"n1\",type=\"node\"} 5 "),
            std::string::npos);
  EXPECT_EQ(exposition.Get(w2).get(), second.get());
  // An older window is encoded for its caller and does not replace the newer one.
  EXPECT_NE(exposition.Get(w1).get(), second.get());
  EXPECT_EQ(exposition.Get(w2).get(), second.get());
}

// With the kubelet's summary, the _rate forms come from the window encoded before.
TEST(HeapsterExposition, SummaryRatesFromTheWindowEncodedBefore) {
  auto make = [](uint64_t generation, base::UnixNanos t, uint64_t rx) {
    NodeMetrics node;
    node.name = "n1";
    node.timestamp = t;
    window::SummaryStats stats;
    stats.has = window::SummaryStats::kNetworkTime | window::SummaryStats::kRxBytes;
    stats.network_time = t;
    stats.rx_bytes = rx;
    return std::make_shared<const window::Window>(
        generation, std::vector<NodeMetrics>{node}, std::vector<PodInput>{},
        std::vector<window::SummaryStats>{stats}, std::vector<window::PodSummary>{});
  };
  HeapsterExposition exposition;
  auto first = exposition.Get(make(1, kT1, 1000));
  EXPECT_EQ(first->find("heapster_network_rx_rate"), std::string::npos) << *first;
  auto second = exposition.Get(make(2, kT1 + 10'000'000'000, 3000));
  EXPECT_NE(second->find("heapster_network_rx_rate{nodename=\"n1\",type=\"node\"} 200 "),
            std::string::npos)
      << *second;
}

// --heapster-pod-resources: the source is asked once per window encoded, and its requests and
// the node's allocatable become the request and node_* families.
TEST(HeapsterExposition, ResourcesAreAskedOncePerWindow) {
  NodeMetrics node;
  node.name = "n1";
  node.timestamp = kT1;
  node.cpu_nanocores = 1'000'000'000;
  auto w = std::make_shared<const window::Window>(1, std::vector<NodeMetrics>{node},
                                                  std::vector<PodInput>{});
  auto resources = std::make_shared<Resources>();
  resources->nodes.push_back({"n1", 4000, 4000, 8LL << 30, 8LL << 30});
  int asked = 0;
  ResourcesSource source = [&]() -> std::shared_ptr<const Resources> {
    ++asked;
    return resources;
  };
  HeapsterExposition exposition;
  auto text = exposition.Get(w, source);
  EXPECT_EQ(exposition.Get(w, source).get(), text.get());
  EXPECT_EQ(asked, 1);
  EXPECT_NE(text->find("heapster_cpu_request{nodename=\"n1\",type=\"node\"} 0 "), std::string::npos)
      << *text;
  EXPECT_NE(text->find("heapster_cpu_node_utilization{nodename=\"n1\",type=\"node\"} 0.25 "),
            std::string::npos)
      << *text;
  // A source with nothing yet (the pod cache not synced) leaves the names out.
  HeapsterExposition without;
  auto plain = without.Get(w, [] { return std::shared_ptr<const Resources>(); });
  EXPECT_EQ(plain->find("heapster_cpu_request"), std::string::npos);
}

}  // namespace
}  // namespace exporter
