#include "apiserver/self_metrics.h"

namespace apiserver {

ServerMetrics ServerMetrics::Create(base::MetricsRegistry& registry) {
  ServerMetrics m;
  m.request_duration = &registry.Histogram(
      "metrics_server_api_request_duration_seconds",
      "Time to serve an API request, from parsed headers to the response being handed to the "
      "connection, by verb, resource and HTTP code.",
      {"verb", "resource", "code"},
      {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
       10});
  m.metric_freshness = &registry.Histogram(
      "metrics_server_api_metric_freshness_seconds",
      "Age of the served metrics (response time minus sample timestamp), per served object.", {},
      {1, 1.364, 1.859, 2.535, 3.456, 4.711, 6.423, 8.757, 11.94, 16.28, 22.19, 30.26, 41.26, 56.25,
       76.69, 104.6, 142.6, 194.4});
  m.authn_outcomes = &registry.Counter("metrics_server_authentication_attempts_total",
                                       "Authentication outcomes of incoming requests.", {"result"});
  return m;
}

}  // namespace apiserver
