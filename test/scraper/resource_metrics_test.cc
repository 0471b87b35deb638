#include "scraper/resource_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace scraper {
namespace {

using ::testing::HasSubstr;

constexpr base::UnixNanos kScrapeTime = 1'700'000'000'123'000'000;

// The upstream kubelet test expectation (resource_metrics_test.go), verbatim.
constexpr char kUpstream[] =
    R"(# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="container_a",namespace="namespace_a",pod="pod_a"} 10 1624396278302
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="container_a",namespace="namespace_a",pod="pod_a"} 1000 1624396278302
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="container_a",namespace="namespace_a",pod="pod_a"} 1.6243962483020916e+09
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 10 1624396278302
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1000 1624396278302
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
)";

// metrics-server's decode test values, laid out as a kubelet prints them.
constexpr char kRealistic[] =
    R"(container_cpu_usage_seconds_total{container="coredns",namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"} 4.710169 1633253812125
container_memory_working_set_bytes{container="coredns",namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"} 1.253376e+07 1633253812125
container_start_time_seconds{container="coredns",namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"} 1.633252712e+09
node_cpu_usage_seconds_total 357.35491 1633253809720
node_memory_working_set_bytes 1.616273408e+09 1633253809720
pod_cpu_usage_seconds_total{namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"} 4.67812 1633253803935
pod_memory_working_set_bytes{namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"} 1.2627968e+07 1633253803935
scrape_error 0
)";

ResourceMetrics MustParse(std::string_view text) {
  ResourceMetrics out;
  base::Status s = ParseResourceMetrics(text, kScrapeTime, &out);
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

std::string ParseError(std::string_view text) {
  ResourceMetrics out;
  base::Status s = ParseResourceMetrics(text, kScrapeTime, &out);
  EXPECT_FALSE(s.ok()) << "parsed: " << text;
  return s.message();
}

TEST(ResourceMetrics, UpstreamExposition) {
  ResourceMetrics m = MustParse(kUpstream);
  EXPECT_TRUE(m.node.has_cpu);
  EXPECT_EQ(m.node.cpu_ns, 10'000'000'000u);
  EXPECT_EQ(m.node.cpu_timestamp, 1624396278302'000'000);
  EXPECT_EQ(m.node.memory_bytes, 1000u);
  ASSERT_EQ(m.containers.size(), 1u);
  const ContainerUsage& c = m.containers[0];
  EXPECT_EQ(c.namespace_, "namespace_a");
  EXPECT_EQ(c.pod, "pod_a");
  EXPECT_EQ(c.container, "container_a");
  EXPECT_EQ(c.cpu_ns, 10'000'000'000u);
  EXPECT_EQ(c.memory_bytes, 1000u);
  // 1.6243962483020916e+09 s, to within float precision.
  EXPECT_NEAR(static_cast<double>(c.start_time), 1.6243962483020916e18, 1e3);
  EXPECT_FALSE(m.scrape_error);
  EXPECT_EQ(m.ignored_samples, 0);
}

TEST(ResourceMetrics, MetricsServerDecodeExpectation) {
  ResourceMetrics m = MustParse(kRealistic);
  EXPECT_EQ(m.node.cpu_timestamp, 1633253809720'000'000);  // 2021-10-03T09:36:49.720Z
  EXPECT_EQ(m.node.cpu_ns, 357354910000u);
  EXPECT_EQ(m.node.memory_bytes, 1616273408u);
  ASSERT_EQ(m.containers.size(), 1u);
  EXPECT_EQ(m.containers[0].cpu_timestamp, 1633253812125'000'000);
  EXPECT_EQ(m.containers[0].cpu_ns, 4710169000u);
  EXPECT_EQ(m.containers[0].memory_bytes, 12533760u);
  EXPECT_EQ(m.containers[0].start_time, 1633252712'000'000'000);  // 09:18:32Z
}

TEST(ResourceMetrics, MissingTimestampUsesScrapeTime) {
  ResourceMetrics m =
      MustParse("node_cpu_usage_seconds_total 2\nnode_memory_working_set_bytes 3\n");
  EXPECT_EQ(m.node.cpu_timestamp, kScrapeTime);
  EXPECT_EQ(m.node.memory_timestamp, kScrapeTime);
}

TEST(ResourceMetrics, CpuTimestampIsKeptWhenMemoryDiffers) {
  ResourceMetrics m =
      MustParse("node_cpu_usage_seconds_total 2 1000\nnode_memory_working_set_bytes 3 2000\n");
  EXPECT_EQ(m.node.cpu_timestamp, 1000'000'000);
  EXPECT_EQ(m.node.memory_timestamp, 2000'000'000);
}

TEST(ResourceMetrics, LabelsInAnyOrderWithEscapesAndTrailingComma) {
  ResourceMetrics m = MustParse(
      "container_cpu_usage_seconds_total{ pod = \"p\\\"od\" "
      ",namespace=\"n\\\\s\",\tcontainer=\"c\\n1\", "
      "extra=\"container=\\\"x\\\"\",} 1.5e0 1000\n");
  ASSERT_EQ(m.containers.size(), 1u);
  EXPECT_EQ(m.containers[0].pod, "p\"od");
  EXPECT_EQ(m.containers[0].namespace_, "n\\s");
  EXPECT_EQ(m.containers[0].container, "c\n1");
  EXPECT_EQ(m.containers[0].cpu_ns, 1'500'000'000u);
}

TEST(ResourceMetrics, LabelValueContainingLabelNamesIsNotConfused) {
  // metrics-server's substring search would read pod="x" here.
  ResourceMetrics m = MustParse(
      "container_memory_working_set_bytes{container=\"a,pod=\\\"x\\\"\",namespace=\"n\",pod=\"p\"}"
      " 7\n");
  ASSERT_EQ(m.containers.size(), 1u);
  EXPECT_EQ(m.containers[0].pod, "p");
  EXPECT_EQ(m.containers[0].container, "a,pod=\"x\"");
}

TEST(ResourceMetrics, ExponentsAndSpecialValues) {
  ResourceMetrics m = MustParse(
      "node_memory_working_set_bytes 5.74291968E+08 1\n"
      "node_cpu_usage_seconds_total +1.5 1\n"
      "something_else NaN\nsomething_else2 +Inf\nsomething_else3 -Inf\n"
      "something_else4 -inf\nsomething_else5 0x1p-2 -5\n");
  EXPECT_EQ(m.node.memory_bytes, 574291968u);
  EXPECT_EQ(m.node.cpu_ns, 1'500'000'000u);
}

TEST(ResourceMetrics, SpecialValuesOnKnownMetricsAreIgnoredNotFatal) {
  ResourceMetrics m = MustParse(
      "node_cpu_usage_seconds_total NaN 1000\nnode_memory_working_set_bytes -1 1000\n"
      "container_cpu_usage_seconds_total{container=\"c\",namespace=\"n\",pod=\"p\"} +Inf 1\n"
      "container_memory_working_set_bytes{container=\"c\",namespace=\"n\",pod=\"p\"} 5 1\n");
  EXPECT_FALSE(m.node.has_cpu);
  EXPECT_FALSE(m.node.has_memory);
  ASSERT_EQ(m.containers.size(), 1u);
  EXPECT_FALSE(m.containers[0].has_cpu);
  EXPECT_TRUE(m.containers[0].has_memory);
  EXPECT_EQ(m.ignored_samples, 3);
}

TEST(ResourceMetrics, OutOfRangeTimestampIgnoresOnlyThatSample) {
  // metrics-server loses the whole node on this value (decode_test "incorrect timestamp").
  ResourceMetrics m = MustParse(
      "node_cpu_usage_seconds_total 10 -62135596800000\n"
      "node_memory_working_set_bytes 10 9223372036854775807\n"
      "container_cpu_usage_seconds_total{container=\"c\",namespace=\"n\",pod=\"p\"} 1 1000\n");
  EXPECT_FALSE(m.node.has_cpu);
  EXPECT_FALSE(m.node.has_memory);
  EXPECT_EQ(m.ignored_samples, 2);
  ASSERT_EQ(m.containers.size(), 1u);
  EXPECT_TRUE(m.containers[0].has_cpu);
}

TEST(ResourceMetrics, ZeroValuesAreData) {
  ResourceMetrics m = MustParse(
      "container_cpu_usage_seconds_total{container=\"c\",namespace=\"n\",pod=\"p\"} 0 1000\n"
      "container_memory_working_set_bytes{container=\"c\",namespace=\"n\",pod=\"p\"} 0 1000\n");
  ASSERT_EQ(m.containers.size(), 1u);
  EXPECT_TRUE(m.containers[0].has_cpu);
  EXPECT_TRUE(m.containers[0].has_memory);
  EXPECT_EQ(m.containers[0].cpu_ns, 0u);
}

// The kubelet's resource metrics collector prints the swap families only on nodes with swap
// (LimitedSwap/NoSwap with swap provisioned): absent stays absent, zero is data.
TEST(ResourceMetrics, SwapFamilies) {
  ResourceMetrics m = MustParse(
      "# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in "
      "bytes. Reported only on non-windows systems\n"
      "# TYPE container_swap_usage_bytes gauge\n"
      "container_swap_usage_bytes{container=\"a\",namespace=\"n\",pod=\"p\"} 1.048576e+06 "
      "1000\n"
      "container_swap_usage_bytes{container=\"b\",namespace=\"n\",pod=\"p\"} 0 1000\n"
      "# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported "
      "only on non-windows systems\n"
      "# TYPE node_swap_usage_bytes gauge\n"
      "node_swap_usage_bytes 2.097152e+06 1000\n"
      "container_memory_working_set_bytes{container=\"c\",namespace=\"n\",pod=\"p\"} 5 1000\n");
  EXPECT_TRUE(m.node.has_swap);
  EXPECT_EQ(m.node.swap_bytes, 2097152u);
  ASSERT_EQ(m.containers.size(), 3u);
  EXPECT_TRUE(m.containers[0].has_swap);
  EXPECT_EQ(m.containers[0].swap_bytes, 1048576u);
  EXPECT_TRUE(m.containers[1].has_swap);  // zero stays zero
  EXPECT_EQ(m.containers[1].swap_bytes, 0u);
  EXPECT_FALSE(m.containers[2].has_swap);  // absent stays absent
  EXPECT_EQ(m.ignored_samples, 0);
  EXPECT_FALSE(MustParse(kUpstream).node.has_swap);
}

TEST(ResourceMetrics, BadSwapSamplesAreIgnoredNotFatal) {
  ResourceMetrics m = MustParse(
      "node_swap_usage_bytes -1\n"
      "container_swap_usage_bytes{container=\"a\",namespace=\"n\",pod=\"p\"} NaN\n"
      "container_swap_usage_bytes{container=\"b\",namespace=\"n\",pod=\"p\"} 7 -5\n");
  EXPECT_FALSE(m.node.has_swap);
  ASSERT_EQ(m.containers.size(), 2u);
  EXPECT_FALSE(m.containers[0].has_swap);
  EXPECT_FALSE(m.containers[1].has_swap);
  EXPECT_EQ(m.ignored_samples, 3);
  EXPECT_THAT(
      ParseError("container_swap_usage_bytes{namespace=\"n\",pod=\"p\"} 1\n"),
      HasSubstr("container_swap_usage_bytes: needs non-empty namespace, pod and container"));
}

TEST(ResourceMetrics, ScrapeErrorEitherName) {
  EXPECT_TRUE(MustParse("scrape_error 1\n").scrape_error);
  EXPECT_TRUE(MustParse("resource_scrape_error 1\n").scrape_error);
  EXPECT_FALSE(MustParse("resource_scrape_error 0\nscrape_error 0\n").scrape_error);
}

TEST(ResourceMetrics, ContainersSortedAndGrouped) {
  ResourceMetrics m = MustParse(
      "container_cpu_usage_seconds_total{container=\"b\",namespace=\"z\",pod=\"p\"} 1 1\n"
      "container_cpu_usage_seconds_total{container=\"a\",namespace=\"z\",pod=\"p\"} 2 1\n"
      "container_cpu_usage_seconds_total{container=\"a\",namespace=\"a\",pod=\"q\"} 3 1\n"
      "container_memory_working_set_bytes{container=\"a\",namespace=\"z\",pod=\"p\"} 4 1\n"
      "container_start_time_seconds{container=\"b\",namespace=\"z\",pod=\"p\"} 5\n");
  ASSERT_EQ(m.containers.size(), 3u);
  EXPECT_EQ(m.containers[0].namespace_, "a");
  EXPECT_EQ(m.containers[1].container, "a");
  EXPECT_EQ(m.containers[1].cpu_ns, 2'000'000'000u);
  EXPECT_EQ(m.containers[1].memory_bytes, 4u);
  EXPECT_EQ(m.containers[2].container, "b");
  EXPECT_EQ(m.containers[2].start_time, 5'000'000'000);
}

TEST(ResourceMetrics, ManyContainersAndReuse) {
  std::string text;
  for (int i = 0; i < 500; ++i) {
    text += "container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"pod-" +
            std::to_string(i) + "\"} " + std::to_string(i) + " 1000\n";
  }
  for (int i = 0; i < 500; ++i) {
    text += "container_memory_working_set_bytes{container=\"c\",namespace=\"ns\",pod=\"pod-" +
            std::to_string(i) + "\"} 1 1000\n";
  }
  ResourceMetrics m;
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(ParseResourceMetrics(text, kScrapeTime, &m).ok());
    ASSERT_EQ(m.containers.size(), 500u);
    for (const auto& c : m.containers) {
      EXPECT_TRUE(c.has_cpu && c.has_memory) << c.pod;
    }
  }
}

TEST(ResourceMetrics, CommentsBlankLinesTabsAndNoFinalNewline) {
  ResourceMetrics m = MustParse(
      "\n# just a comment\n#\n   \n# HELP node_cpu_usage_seconds_total with \\\\ and \\n\n"
      "# TYPE node_cpu_usage_seconds_total counter\n\tnode_cpu_usage_seconds_total\t 3 \t1000\t");
  EXPECT_EQ(m.node.cpu_ns, 3'000'000'000u);
}

TEST(ResourceMetrics, HistogramAndSummaryFamiliesAreAccepted) {
  MustParse(
      "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"
      "# TYPE s summary\ns{quantile=\"0.9\"} 1\ns_sum 1\ns_count 1\n");
}

TEST(ResourceMetrics, ErrorsNameTheLine) {
  EXPECT_THAT(ParseError("node_cpu_usage_seconds_total\n"), HasSubstr("line 1"));
  EXPECT_THAT(ParseError("ok 1\nbad{a=\"x} 1\n"), HasSubstr("line 2: label value: missing"));
  EXPECT_THAT(ParseError("x{a=\"\\q\"} 1\n"), HasSubstr("invalid escape"));
  EXPECT_THAT(ParseError("x{a=1} 1\n"), HasSubstr("expected '\"'"));
  EXPECT_THAT(ParseError("x{a\"1\"} 1\n"), HasSubstr("expected '='"));
  EXPECT_THAT(ParseError("x{a=\"1\" b=\"2\"} 1\n"), HasSubstr("expected ',' or '}'"));
  EXPECT_THAT(ParseError("x{a=\"1\",a=\"2\"} 1\n"), HasSubstr("duplicate label"));
  EXPECT_THAT(ParseError("x{a=\"1\"\n"), HasSubstr("missing '}'"));
  EXPECT_THAT(ParseError("x{1=\"1\"} 1\n"), HasSubstr("invalid label name"));
  EXPECT_THAT(ParseError("x 1.2.3\n"), HasSubstr("invalid value"));
  EXPECT_THAT(ParseError("x 1 12.5\n"), HasSubstr("invalid timestamp"));
  EXPECT_THAT(ParseError("x 1 99999999999999999999\n"), HasSubstr("invalid timestamp"));
  EXPECT_THAT(ParseError("x 1 2 3\n"), HasSubstr("after the timestamp"));
  EXPECT_THAT(ParseError("1x 1\n"), HasSubstr("metric name"));
  EXPECT_THAT(ParseError("x{}1\n"), HasSubstr("space before the value"));
  EXPECT_THAT(ParseError("# TYPE x countr\n"), HasSubstr("unknown type"));
  EXPECT_THAT(ParseError("# TYPE x gauge\n# TYPE x gauge\n"), HasSubstr("second TYPE"));
  EXPECT_THAT(ParseError("x 1\n# TYPE x gauge\n"), HasSubstr("after its samples"));
  EXPECT_THAT(ParseError("# HELP 9x doc\n"), HasSubstr("invalid metric name"));
  EXPECT_THAT(ParseError("container_cpu_usage_seconds_total{pod=\"p\",namespace=\"n\"} 1\n"),
              HasSubstr("needs non-empty namespace, pod and container"));
  EXPECT_THAT(ParseError("<html>oops</html>\n"), HasSubstr("line 1"));
  EXPECT_THAT(ParseError(std::string_view("x 1\0\n", 5)), HasSubstr("line 1"));
}

TEST(ResourceMetrics, EmptyBodyIsEmptyResult) {
  ResourceMetrics m = MustParse("");
  EXPECT_FALSE(m.node.has_cpu);
  EXPECT_TRUE(m.containers.empty());
}

}  // namespace
}  // namespace scraper

namespace scraper {
namespace {

TEST(ParsePrometheusFloat, FastPathMatchesStrtodBitForBit) {
  uint64_t state = 88172645463325252ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  char text[64];
  for (int i = 0; i < 200000; ++i) {
    uint64_t mantissa = next() % (i % 3 == 0 ? 10'000'000'000'000'000ull : 100'000'000ull);
    int decimals = static_cast<int>(next() % 12);
    int exponent = static_cast<int>(next() % 60) - 30;
    std::string digits = std::to_string(mantissa);
    while (static_cast<int>(digits.size()) <= decimals) digits.insert(0, "0");
    std::string number = digits.substr(0, digits.size() - decimals);
    if (decimals > 0) number += "." + digits.substr(digits.size() - decimals);
    if (i % 2) number += (i % 4 == 1 ? "e" : "E") + std::to_string(exponent);
    if (i % 5 == 0) number.insert(0, "-");
    std::snprintf(text, sizeof text, "%s", number.c_str());
    double got = 0;
    ASSERT_TRUE(ParsePrometheusFloat(text, &got)) << text;
    double want = std::strtod(text, nullptr);
    ASSERT_EQ(std::memcmp(&got, &want, sizeof got), 0) << text << " " << got << " " << want;
  }
}

TEST(ParsePrometheusFloat, Specials) {
  double v = 0;
  EXPECT_TRUE(ParsePrometheusFloat("NaN", &v) && std::isnan(v));
  EXPECT_TRUE(ParsePrometheusFloat("+Inf", &v) && std::isinf(v) && v > 0);
  EXPECT_TRUE(ParsePrometheusFloat("-Inf", &v) && std::isinf(v) && v < 0);
  EXPECT_TRUE(ParsePrometheusFloat(".5", &v) && v == 0.5);
  EXPECT_TRUE(ParsePrometheusFloat("1.", &v) && v == 1.0);
  EXPECT_TRUE(ParsePrometheusFloat("0x10", &v) && v == 16.0);
  EXPECT_TRUE(ParsePrometheusFloat("12345678901234567890123", &v) && v == 1.2345678901234568e22);
  EXPECT_FALSE(ParsePrometheusFloat("", &v));
  EXPECT_FALSE(ParsePrometheusFloat("1e", &v));
  EXPECT_FALSE(ParsePrometheusFloat("1e+", &v));
  EXPECT_FALSE(ParsePrometheusFloat("+-1", &v));
  EXPECT_FALSE(ParsePrometheusFloat("1.2.3", &v));
  EXPECT_FALSE(ParsePrometheusFloat("1e999", &v));
  EXPECT_FALSE(ParsePrometheusFloat(".", &v));
}

}  // namespace
}  // namespace scraper
