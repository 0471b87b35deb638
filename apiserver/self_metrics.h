// The API server's own metrics (request latency, freshness of served metrics, authentication
// outcomes), registered in the program's registry (base/metrics.h) by ServerMetrics::Create.
// Thread-safety: as base::MetricFamily; the families live as long as the registry.
#pragma once

#include "base/metrics.h"

namespace apiserver {

// Families the API server records into; created in one registry by Create().
struct ServerMetrics {
  base::MetricFamily* request_duration = nullptr;  // {verb, resource, code}
  base::MetricFamily* metric_freshness = nullptr;  // age of served metrics at response time
  base::MetricFamily* authn_outcomes = nullptr;    // {result}
  static ServerMetrics Create(base::MetricsRegistry& registry);
};

}  // namespace apiserver
