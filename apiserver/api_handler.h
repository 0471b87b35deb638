// The request pipeline behind the TLS server, in k8s.io/apiserver's order: authentication (401)
// → authorization (403) → routing (404/405) → negotiation (406) → handler. Routes: metrics.k8s.io
// discovery and resources (MetricsApi), /healthz /livez /readyz, /metrics (Prometheus text),
// /openapi/v2 and /openapi/v3. Records request latency by verb, resource and code.
//
// Thread-safety: Handle may be called from any thread; every dependency must outlive it.
#pragma once

#include "apiserver/auth.h"
#include "apiserver/health.h"
#include "apiserver/metrics_api.h"
#include "apiserver/openapi.h"
#include "apiserver/self_metrics.h"
#include "apiserver/server.h"
#include "base/clock.h"

namespace apiserver {

struct ApiHandlerDeps {
  const RequestAuthenticator& authenticator;
  const RequestAuthorizer& authorizer;
  const MetricsApi& api;
  const HealthChecks& health;
  const OpenApi& openapi;
  const base::MetricsRegistry& registry;
  ServerMetrics metrics;  // families may be null
  const base::Clock& clock;
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
