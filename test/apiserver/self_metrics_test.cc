#include "apiserver/self_metrics.h"

#include <gtest/gtest.h>

#include "apiserver/health.h"

namespace apiserver {
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

TEST(HealthTest, EndpointsVerboseExcludeAndSingleChecks) {
  HealthChecks health;
  bool data = false;
  health.Add("ping", HealthChecks::kHealthz | HealthChecks::kLivez | HealthChecks::kReadyz,
             [] { return base::Status::Ok(); });
  health.Add("metric-storage-ready", HealthChecks::kReadyz,
             [&] { return data ? base::Status::Ok() : base::Status::Error("empty"); });
  auto livez = health.Serve("/livez", Query(""));
  ASSERT_TRUE(livez);
  EXPECT_EQ(livez->status, 200u);
  EXPECT_EQ(livez->body, "ok");
  auto verbose = health.Serve("/livez", Query("verbose"));
  EXPECT_EQ(verbose->body, "[+]ping ok\nlivez check passed\n");
  auto not_ready = health.Serve("/readyz", Query(""));
  EXPECT_EQ(not_ready->status, 500u);
  EXPECT_EQ(not_ready->body,
            "[+]ping ok\n[-]metric-storage-ready failed: reason withheld\nreadyz check failed\n");
  auto excluded = health.Serve("/readyz", Query("exclude=metric-storage-ready"));
  EXPECT_EQ(excluded->status, 200u);
  EXPECT_EQ(health.Serve("/readyz/ping", Query(""))->status, 200u);
  EXPECT_EQ(health.Serve("/readyz/metric-storage-ready", Query(""))->status, 500u);
  EXPECT_EQ(health.Serve("/readyz/nope", Query(""))->status, 404u);
  data = true;
  EXPECT_EQ(health.Serve("/readyz", Query(""))->status, 200u);
  EXPECT_FALSE(health.Serve("/metrics", Query("")).has_value());
  EXPECT_FALSE(health.Serve("/livezz", Query("")).has_value());
}

}  // namespace
}  // namespace apiserver
