// The metrics.k8s.io handlers: discovery documents and NodeMetrics/PodMetrics get and list over
// the current window joined with the node and Running-pod caches, with metrics-server's
// semantics (see the wire contract): label selectors on the core objects' labels, field
// selectors on metadata.name/metadata.namespace, objects without metrics left out, NotFound
// forms that tell a missing object from missing metrics, 405 for watch.
//
// Thread-safety: Serve* may be called from any number of threads. The window's encodings are
// built once per window generation (by the first request that sees it) and shared.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apiserver/encoding.h"
#include "apiserver/request.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "kube/cache.h"
#include "kube/selector.h"
#include "window/window.h"

namespace apiserver {

struct MetricsApiOptions {
  // Served versions of metrics.k8s.io in discovery order (the first is preferred); a subset of
  // {"v1beta1", "v1"}, never empty.
  std::vector<std::string> versions = {"v1beta1", "v1"};
  // --node-selector: nodes that do not match are served as having no metrics.
  kube::LabelSelector node_selector;
  // Optional histogram observing, per served object, response time minus its timestamp.
  base::MetricFamily* freshness = nullptr;
};

class MetricsApi {
 public:
  // All references must outlive this object.
  MetricsApi(const window::Source& windows, const kube::NodeCache& nodes,
             const kube::PodCache& pods, const base::Clock& clock, MetricsApiOptions options);

  const MetricsApiOptions& options() const { return options_; }
  bool ServesVersion(std::string_view version) const;

  // Answers /apis, /apis/metrics.k8s.io and /apis/metrics.k8s.io/<version>; nullopt when `path`
  // is none of them.
  std::optional<HttpResponse> ServeDiscovery(std::string_view path, std::string_view accept) const;

  // Answers a resource request under /apis (404 for anything but our group's nodes and pods).
  HttpResponse ServeResource(const RequestInfo& info, const Query& query,
                             std::string_view accept) const;

  // The encodings of the current window (built on first use per generation). Calling it after
  // each publish (main polls it) moves the pre-encoding off the request path.
  std::shared_ptr<const EncodedWindow> Encoded() const;

 private:
  HttpResponse GetNode(const std::string& name, const std::string& api_version, const Negotiated& n,
                       const Query& query) const;
  HttpResponse GetPod(const std::string& ns, const std::string& name,
                      const std::string& api_version, const Negotiated& n,
                      const Query& query) const;
  HttpResponse Respond(Kind kind, bool list, const std::string& api_version, const Negotiated& n,
                       const Query& query, const std::vector<ListEntry>& entries) const;

  const window::Source& windows_;
  const kube::NodeCache& nodes_;
  const kube::PodCache& pods_;
  const base::Clock& clock_;
  MetricsApiOptions options_;

  mutable base::Mutex encoded_mu_;
  mutable std::shared_ptr<const EncodedWindow> encoded_ GUARDED_BY(encoded_mu_);
};

// Status bodies shared by the router.
ApiError NotFoundError();          // unknown path
ApiError MethodNotAllowedError();  // a method other than GET on a resource path

}  // namespace apiserver
