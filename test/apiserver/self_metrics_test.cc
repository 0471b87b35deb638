#include "apiserver/self_metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace apiserver {
namespace {

// The names, help and labels are what dashboards and alerts use: they must not change.
TEST(SelfMetricsTest, ServerMetricsFamilies) {
  base::MetricsRegistry registry;
  ServerMetrics metrics = ServerMetrics::Create(registry);
  metrics.request_duration->Observe({"LIST", "pods", "200"}, 0.003);
  metrics.metric_freshness->Observe({}, 12);
  metrics.authn_outcomes->Add({"success"}, 1);
  const std::string text = registry.Render();
  for (const char* line : {
           "# HELP metrics_server_api_request_duration_seconds Time to serve an API request, "
           "from parsed headers to the response being handed to the connection, by verb, "
           "resource and HTTP code.\n"
           "# TYPE metrics_server_api_request_duration_seconds histogram\n",
           "metrics_server_api_request_duration_seconds_bucket{verb=\"LIST\",resource=\"pods\","
           "code=\"200\",le=\"0.0025\"} 0\n"
           "metrics_server_api_request_duration_seconds_bucket{verb=\"LIST\",resource=\"pods\","
           "code=\"200\",le=\"0.005\"} 1\n",
           "# HELP metrics_server_api_metric_freshness_seconds Age of the served metrics "
           "(response time minus sample timestamp), per served object.\n"
           "# TYPE metrics_server_api_metric_freshness_seconds histogram\n",
           "metrics_server_api_metric_freshness_seconds_bucket{le=\"11.94\"} 0\n"
           "metrics_server_api_metric_freshness_seconds_bucket{le=\"16.28\"} 1\n",
           "# HELP metrics_server_authentication_attempts_total Authentication outcomes of "
           "incoming requests.\n"
           "# TYPE metrics_server_authentication_attempts_total counter\n"
           "metrics_server_authentication_attempts_total{result=\"success\"} 1\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nnot in\n" << text;
  }
}

}  // namespace
}  // namespace apiserver
