// The request pipeline behind the TLS server, in k8s.io/apiserver's order: authentication (401)
// → authorization (403) → routing (404/405) → negotiation (406) → handler. Routes: metrics.k8s.io
// discovery and resources (MetricsApi), /healthz /livez /readyz, /metrics (Prometheus text),
// /openapi/v2 and /openapi/v3, /debug/nodes (each node's scrape state as JSON, from the
// scraper through `node_scrape_state`), /metrics/heapster (Heapster's metric set in Prometheus
// text, through `heapster_metrics`). Records request latency by verb, resource and code.
// /metrics, /metrics/heapster and /debug/nodes are authorized like any non-resource path: a
// SubjectAccessReview for `get` on the path (cluster-admin, or a role granting that
// nonResourceURL).
//
// Thread-safety: Handle may be called from any thread; every dependency must outlive it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "apiserver/auth.h"
#include "apiserver/health.h"
#include "apiserver/metrics_api.h"
#include "apiserver/openapi.h"
#include "apiserver/self_metrics.h"
#include "apiserver/server.h"
#include "base/clock.h"

namespace apiserver {

// Where Heapster's metric set is exposed, beside the server's own /metrics as the kubelet serves
// /metrics/resource and /metrics/cadvisor beside its /metrics.
inline constexpr std::string_view kHeapsterMetricsPath = "/metrics/heapster";

struct ApiHandlerDeps {
  const RequestAuthenticator& authenticator;
  const RequestAuthorizer& authorizer;
  const MetricsApi& api;
  const HealthChecks& health;
  const OpenApi& openapi;
  const base::MetricsRegistry& registry;
  ServerMetrics metrics;  // families may be null
  const base::Clock& clock;
  // The body of /debug/nodes for `failed_only`; null: the path is not served (404).
  std::function<std::string(bool failed_only)> node_scrape_state = nullptr;
  // The body of kHeapsterMetricsPath (Prometheus text 0.0.4) for the current window, encoded
  // once per window by the callee; null: the path is not served (404).
  std::function<std::shared_ptr<const std::string>()> heapster_metrics = nullptr;
};

class ApiHandler final : public Handler {
 public:
  explicit ApiHandler(ApiHandlerDeps deps) : d_(std::move(deps)) {}
  void Handle(HttpRequest request, std::function<void(HttpResponse)> done) override;

  // Routing after authentication and authorization (exposed for tests).
  HttpResponse Route(const HttpRequest& request, const RequestInfo& info, const Query& query) const;

 private:
  ApiHandlerDeps d_;
};

}  // namespace apiserver
