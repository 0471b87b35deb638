#include "exporter/line_protocol.h"

#include <gtest/gtest.h>

namespace exporter {
namespace {

Point PodCpu() {
  return Point{"cpu/usage_rate",
               {{"namespace_name", "default"}, {"pod_name", "web"}, {"type", "pod"}},
               250,
               1'700'000'000'000'000'000};
}

TEST(LineProtocol, HeapsterDefaultLayoutIsMeasurementPerMetric) {
  std::vector<Point> points = {PodCpu()};
  std::string out;
  AppendLineProtocol(points, {}, out);
  EXPECT_EQ(out,
            "cpu/usage_rate,namespace_name=default,pod_name=web,type=pod value=250i "
            "1700000000000000000\n");
}

TEST(LineProtocol, WithFieldsSplitsAtTheFirstSlash) {
  std::vector<Point> points = {PodCpu(), Point{"memory/working_set", {{"type", "cluster"}}, 7, 9},
                               Point{"uptime", {{"type", "node"}}, 3, 4}};
  std::string out = "prefix\n";
  AppendLineProtocol(points, {.with_fields = true}, out);
  EXPECT_EQ(out,
            "prefix\n"
            "cpu,namespace_name=default,pod_name=web,type=pod usage_rate=250i "
            "1700000000000000000\n"
            "memory,type=cluster working_set=7i 9\n"
            "uptime,type=node value=3i 4\n");
}

TEST(LineProtocol, FloatMetricsHaveNoIntegerSuffix) {
  Point utilization{"cpu/node_utilization", {{"type", "node"}}, 0, 5};
  utilization.is_float = true;
  utilization.float_value = 0.25;
  std::vector<Point> points = {utilization};
  std::string out;
  AppendLineProtocol(points, {}, out);
  EXPECT_EQ(out, "cpu/node_utilization,type=node value=0.25 5\n");
}

TEST(LineProtocol, EscapesAndSkipsEmptyTags) {
  std::vector<Point> points = {
      Point{"a b,c", {{"k=1", "v 1,x=y"}, {"empty", ""}, {"nl", "a\nb"}}, -5, 0}};
  std::string out;
  AppendLineProtocol(points, {}, out);
  EXPECT_EQ(out, "a\\ b\\,c,k\\=1=v\\ 1\\,x\\=y,nl=a\\ b value=-5i 0\n");
}

}  // namespace
}  // namespace exporter
