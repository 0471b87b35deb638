#include "base/metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace base {
namespace {

TEST(SelfMetricsTest, RendersPrometheusTextFormat) {
  MetricsRegistry registry;
  auto& counter = registry.Counter("demo_requests_total", "Requests.", {"code"});
  auto& gauge = registry.Gauge("demo_points", "Points.");
  auto& hist = registry.Histogram("demo_duration_seconds", "Durations.", {"verb"}, {0.1, 1});
  counter.Add({"200"}, 2);
  counter.Add({"4\"0\\4\n"}, 1);
  gauge.Set({}, 1.5);
  hist.Observe({"GET"}, 0.05);
  hist.ObserveAll({"GET"}, {0.5, 3});
  int refreshed = 0;
  registry.AddCollector([&] { ++refreshed; });
  EXPECT_EQ(registry.Render(),
            "# HELP demo_requests_total Requests.\n"
            "# TYPE demo_requests_total counter\n"
            "demo_requests_total{code=\"200\"} 2\n"
            "demo_requests_total{code=\"4\\\"0\\\\4\\n\"} 1\n"
            "# HELP demo_points Points.\n"
            "# TYPE demo_points gauge\n"
            "demo_points 1.5\n"
            "# HELP demo_duration_seconds Durations.\n"
            "# TYPE demo_duration_seconds histogram\n"
            "demo_duration_seconds_bucket{verb=\"GET\",le=\"0.1\"} 1\n"
            "demo_duration_seconds_bucket{verb=\"GET\",le=\"1\"} 2\n"
            "demo_duration_seconds_bucket{verb=\"GET\",le=\"+Inf\"} 3\n"
            "demo_duration_seconds_sum{verb=\"GET\"} 3.55\n"
            "demo_duration_seconds_count{verb=\"GET\"} 3\n");
  EXPECT_EQ(refreshed, 1);
  hist.Clear();
  EXPECT_EQ(registry.Render().find("demo_duration_seconds_count"), std::string::npos);
}

}  // namespace
}  // namespace base
