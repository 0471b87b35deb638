// The metrics.k8s.io handlers: discovery documents and NodeMetrics/PodMetrics get and list over
// the current window joined with the node and Running-pod caches, with metrics-server's
// semantics (see the wire contract): label selectors on the core objects' labels, field
// selectors on metadata.name/metadata.namespace, objects without metrics left out, NotFound
// forms that tell a missing object from missing metrics (the errors are status.h's). Lists carry
// the window generation as metadata.resourceVersion. Watch is handed to a WatchHub (watch.h)
// when one is given, after its parameters are checked as k8s.io/apiserver's get.go checks them:
// 400 BadRequest for a value that does not decode (selector, timeoutSeconds, sendInitialEvents,
// resourceVersion), 422 Invalid for a combination ValidateListOptions forbids (lists too); 406
// unless JSON or protobuf is acceptable); without one it is 405, as in metrics-server.
//
// Thread-safety: Serve* may be called from any number of threads. A list of many pods uses the
// window's shared encodings (EncodedWindowCache: built once per window, by the first such list
// or ahead of it while such lists keep coming); other responses use them when they are ready and
// otherwise encode their few objects themselves (EncodedItems).
#pragma once

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "apiserver/encoding.h"
#include "apiserver/request.h"
#include "apiserver/status.h"
#include "apiserver/watch.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "kube/cache.h"
#include "kube/selector.h"
#include "window/window.h"

namespace apiserver {

// A JSON or protobuf list of at least this many objects is streamed: written as it is
// encoded, kStreamedListChunkBytes at a time, after its Content-Length, instead of built whole
// first (a smaller one, ~430 KB of JSON at most, is answered from one string).
inline constexpr size_t kStreamedListItems = 1000;
inline constexpr size_t kStreamedListChunkBytes = 128 * 1024;
// A list of at least this many pods, and at least 1/kSharedEncodingFraction of the window's,
// uses (and if need be makes) the window's shared encodings; a smaller response encodes its own
// objects unless the shared encodings are ready (MetricsApi).
inline constexpr size_t kSharedEncodingMinPods = 1000;
inline constexpr size_t kSharedEncodingFraction = 8;

// The field errors k8s.io/apimachinery's ValidateListOptions (WatchList enabled) finds in a list
// (`watch` false) or watch query: resourceVersionMatch with sendInitialEvents, resourceVersion
// and continue, sendInitialEvents on a list. Empty when valid. ServeResource answers them 422.
std::vector<FieldError> ValidateListOptions(const Query& query, bool watch);

struct MetricsApiOptions {
  // Served versions of metrics.k8s.io in discovery order (the first is preferred); a subset of
  // {"v1beta1", "v1"}, never empty.
  std::vector<std::string> versions = {"v1beta1", "v1"};
  // --node-selector: nodes that do not match are served as having no metrics.
  kube::LabelSelector node_selector;
  // Optional histogram observing, per served object, response time minus its timestamp.
  base::MetricFamily* freshness = nullptr;
  // Serves watch (and advertises the verb) when set; otherwise watch is 405 as in
  // metrics-server. Must outlive the MetricsApi.
  WatchHub* watch = nullptr;
  // The window encodings, shared with the watch hub (WatchOptions::encoded) so that each window
  // is encoded once; null: the MetricsApi keeps its own. Must outlive the MetricsApi.
  const EncodedWindowCache* encoded = nullptr;
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

 private:
  // A resource request that passed validation: what to serve and how to encode it.
  struct ResourceRequest {
    Kind kind = Kind::kNode;
    bool list = false;           // else get `name`
    bool watch = false;          // a watch of the list (of `name` alone when set)
    std::string api_version;     // "metrics.k8s.io/<version>"
    std::string namespace_;      // pods; empty = every namespace (list only)
    std::string name;            // get only
    Negotiated negotiated;       // never "nothing acceptable"
    std::string include_object;  // Table only: "Metadata", "Object" or "None"
    kube::LabelSelector labels;  // list only
    kube::FieldSelector fields;  // list only: on metadata.name and metadata.namespace
  };
  // The entries of a response and what they point into: the window, the cached objects their
  // metadata views, and their items' encodings (the window's shared ones or their own), which
  // must stay alive until the response is encoded.
  struct Selection {
    std::vector<ListEntry> entries;
    std::vector<std::shared_ptr<const kube::Node>> nodes;
    std::vector<std::shared_ptr<const kube::Pod>> pods;
    std::shared_ptr<const window::Window> window;
    std::shared_ptr<const EncodedWindow> shared;  // null when `own` holds the encodings
    EncodedItems own;
  };

  // Validates a resource request in the order k8s.io/apiserver does: the path (404), the verb
  // (405), watch (405), Accept (406), then the query (400). The error response on failure.
  std::variant<ResourceRequest, HttpResponse> ParseResourceRequest(const RequestInfo& info,
                                                                   const Query& query,
                                                                   std::string_view accept) const;
  HttpResponse GetNode(const ResourceRequest& request) const;
  HttpResponse GetPod(const ResourceRequest& request) const;
  // The window to serve: the current one, or the one the ready shared encodings are of (the
  // previous one while the current one is being encoded), with them set in the selection.
  Selection Serving() const;
  // Points the entries' items at the shared encodings when the selection is a large list of pods
  // (made now if need be) or they are ready, at encodings of their own in `format` otherwise.
  void Encode(Kind kind, Format format, Selection& selection) const;
  // The listed objects that have metrics in `selection.window`, in cache order (items not set).
  void SelectNodes(const ResourceRequest& request, Selection& selection) const;
  void SelectPods(const ResourceRequest& request, Selection& selection) const;
  // Encodes `entries` in the negotiated format (one object for a get, a list otherwise, whose
  // metadata.resourceVersion is `resource_version`).
  HttpResponse Respond(const ResourceRequest& request, const std::vector<ListEntry>& entries,
                       std::string_view resource_version = {}) const;
  // A list of at least kStreamedListItems objects in JSON or protobuf: the response streams
  // the body (ListStream in metrics_api.cc), holding `selection` until written.
  HttpResponse RespondStreamed(const ResourceRequest& request, Selection selection,
                               std::string resource_version) const;
  // Records the age of every served sample in options_.freshness.
  void ObserveFreshness(const std::vector<ListEntry>& entries, base::UnixNanos now) const;
  // Starts a watch (the request passed ParseResourceRequest as a list); a 400 for a bad watch
  // parameter.
  HttpResponse Watch(const ResourceRequest& request, const Query& query) const;

  const window::Source& windows_;
  const kube::NodeCache& nodes_;
  const kube::PodCache& pods_;
  const base::Clock& clock_;
  MetricsApiOptions options_;

  const EncodedWindowCache own_encoded_;
  const EncodedWindowCache& encoded_;  // options_.encoded or own_encoded_
};

}  // namespace apiserver
