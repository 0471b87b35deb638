#include "apiserver/api_handler.h"

#include "apiserver/status.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace apiserver {
namespace {

// The verb label: the request-info verb upper-cased, or OTHER for a method nobody defined, so
// clients cannot grow the series without bound (k8s.io/apiserver's metrics clean verbs alike).
std::string VerbLabel(const std::string& verb) {
  static const char* const kKnown[] = {
      "get",    "list", "watch",   "create",  "update", "patch", "delete", "deletecollection",
      "head",   "post", "put",     "options", "connect", "trace"};
  if (std::find(std::begin(kKnown), std::end(kKnown), verb) == std::end(kKnown)) return "OTHER";
  std::string v = verb;
  std::transform(v.begin(), v.end(), v.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return v;
}

// The resource label: only resources we serve (any other path is a 404 or an auth error and must
// not create a series per name a client makes up).
std::string ResourceLabel(const RequestInfo& info) {
  if (!info.is_resource || (info.resource != "nodes" && info.resource != "pods")) return "";
  return info.resource;
}

}  // namespace

HttpResponse ApiHandler::Route(const HttpRequest& request, const RequestInfo& info,
                               const Query& query) const {
  const std::string_view accept = request.Header("Accept").value_or("");
  if (info.is_resource) return d_.api.ServeResource(info, query, accept);
  const std::string_view path = request.Path();
  const bool read = request.method == "GET" || request.method == "HEAD";
  std::optional<HttpResponse> r;
  if (path == "/apis" || path.substr(0, 6) == "/apis/") {
    r = d_.api.ServeDiscovery(path, accept);
  } else if (path == "/metrics") {
    HttpResponse m;
    m.content_type = "text/plain; version=0.0.4; charset=utf-8";
    m.body = d_.registry.Render();
    r = std::move(m);
  } else if (path == kHeapsterMetricsPath && d_.heapster_metrics) {
    HttpResponse m;
    m.content_type = "text/plain; version=0.0.4; charset=utf-8";
    m.shared_body = d_.heapster_metrics();  // shared by every request, not copied
    r = std::move(m);
  } else if (path == "/debug/nodes" && d_.node_scrape_state) {
    HttpResponse m;
    m.content_type = "application/json";
    const std::optional<std::string> failed = query.Get("failed");
    m.body = d_.node_scrape_state(failed && *failed != "false" && *failed != "0");
    r = std::move(m);
  } else if (path.substr(0, 8) == "/openapi") {
    r = d_.openapi.Serve(path, request);
  } else {
    r = d_.health.Serve(path, query);
  }
  if (!r) return ErrorResponse(NotFoundError());
  if (!read) return ErrorResponse(MethodNotAllowedError());
  return std::move(*r);
}

void ApiHandler::Handle(HttpRequest request, std::function<void(HttpResponse)> done) {
  auto start = d_.clock.Steady();
  auto req = std::make_shared<HttpRequest>(std::move(request));
  d_.authenticator.Authenticate(*req, [this, req, start,
                                       done = std::move(done)](AuthnResult authn) mutable {
    Query query(req->RawQuery());
    RequestInfo info = ParseRequestInfo(req->method, req->Path(), query);
    auto finish = [this, start, info, req, user = authn.user.name](
                      std::function<void(HttpResponse)>& done, HttpResponse r) {
      double seconds = std::chrono::duration<double>(d_.clock.Steady() - start).count();
      if (d_.metrics.request_duration != nullptr) {
        d_.metrics.request_duration->Observe(
            {VerbLabel(info.verb), ResourceLabel(info), std::to_string(r.status)},
            seconds);
      }
      // The request log (-v=2 and above), like k8s.io/apiserver's httplog: which path, so which
      // metrics.k8s.io version, each client asked for, as whom, and what it was answered.
      // The header lookup is skipped below -v=2: this runs for every request.
      if (spdlog::should_log(spdlog::level::debug)) {
        spdlog::debug("request: {} {} {} {:.1f}ms user=\"{}\" user-agent=\"{}\"", req->method,
                      req->target, r.status, seconds * 1000, user,
                      req->Header("User-Agent").value_or(""));
      }
      done(std::move(r));
    };
    if (d_.metrics.authn_outcomes != nullptr) {
      static const char* const kNames[] = {"success", "anonymous", "failure"};
      d_.metrics.authn_outcomes->Add({kNames[static_cast<int>(authn.outcome)]}, 1);
    }
    if (authn.outcome == AuthnResult::Outcome::kUnauthorized) {
      spdlog::debug("unauthorized {} {}: {}", req->method, req->Path(), authn.error);
      return finish(done, ErrorResponse(UnauthorizedError()));
    }
    kube::Attributes attributes = MakeAttributes(authn.user, info);
    d_.authorizer.Authorize(
        attributes, [this, req, info = std::move(info), query = std::move(query), attributes,
                     finish, done = std::move(done)](AuthzResult authz) mutable {
          if (!authz.allowed) {
            spdlog::debug("forbidden {} {} for {}: {}", req->method, req->Path(),
                          attributes.user.name, authz.reason);
            return finish(done, ErrorResponse(ForbiddenError(attributes, authz.reason)));
          }
          finish(done, Route(*req, info, query));
        });
  });
}

}  // namespace apiserver
