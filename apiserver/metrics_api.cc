#include "apiserver/metrics_api.h"

#include "apiserver/status.h"

#include <algorithm>
#include <charconv>
#include <tuple>
#include <utility>

namespace apiserver {

MetricsApi::MetricsApi(const window::Source& windows, const kube::NodeCache& nodes,
                       const kube::PodCache& pods, const base::Clock& clock,
                       MetricsApiOptions options)
    : windows_(windows),
      nodes_(nodes),
      pods_(pods),
      clock_(clock),
      options_(std::move(options)),
      encoded_(options_.encoded != nullptr ? *options_.encoded : own_encoded_) {}

bool MetricsApi::ServesVersion(std::string_view version) const {
  return std::find(options_.versions.begin(), options_.versions.end(), version) !=
         options_.versions.end();
}

std::shared_ptr<const EncodedWindow> MetricsApi::Encoded() const {
  return encoded_.Get(windows_.Current());
}

std::optional<HttpResponse> MetricsApi::ServeDiscovery(std::string_view path,
                                                       std::string_view accept) const {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::string body;
  if (path == "/apis") {
    body = EncodeApiGroupList(options_.versions);
  } else if (path == "/apis/metrics.k8s.io") {
    body = EncodeApiGroup(options_.versions);
  } else if (path.size() > 21 && path.substr(0, 21) == "/apis/metrics.k8s.io/" &&
             ServesVersion(path.substr(21))) {
    body = EncodeApiResourceList(path.substr(21), options_.watch != nullptr);
  } else {
    return std::nullopt;
  }
  if (!Negotiate(accept, false, false)) return ErrorResponse(NotAcceptableError(false));
  HttpResponse r;
  r.body = std::move(body);
  return r;
}

HttpResponse MetricsApi::ServeResource(const RequestInfo& info, const Query& query,
                                       std::string_view accept) const {
  std::variant<ResourceRequest, HttpResponse> parsed = ParseResourceRequest(info, query, accept);
  if (auto* refused = std::get_if<HttpResponse>(&parsed)) return std::move(*refused);
  const ResourceRequest& request = std::get<ResourceRequest>(parsed);
  if (request.watch) return Watch(request, query);
  if (!request.list) return request.kind == Kind::kNode ? GetNode(request) : GetPod(request);
  std::shared_ptr<const EncodedWindow> encoded = Encoded();
  const Selection selection =
      request.kind == Kind::kNode ? SelectNodes(request, *encoded) : SelectPods(request, *encoded);
  return Respond(request, selection.entries, std::to_string(encoded->window().generation()));
}

HttpResponse MetricsApi::Watch(const ResourceRequest& request, const Query& query) const {
  auto bad = [&](std::string message) {
    return ErrorResponse(BadRequestError(std::move(message)), request.negotiated.format);
  };
  WatchRequest w;
  w.kind = request.kind;
  w.version = request.api_version.substr(kGroup.size() + 1);
  w.namespace_ = request.namespace_;
  w.name = request.name;
  w.labels = request.labels;
  w.fields = request.fields;
  w.format = request.negotiated.format;
  w.table_version = request.negotiated.table_version;
  w.include_object = request.include_object;
  const std::string rv = query.Get("resourceVersion").value_or("");
  if (!rv.empty() && rv != "0") {
    uint64_t n = 0;
    const char* end = rv.data() + rv.size();
    auto [ptr, ec] = std::from_chars(rv.data(), end, n);
    if (ec != std::errc() || ptr != end || rv[0] == '+') {
      return bad("invalid resource version \"" + rv + "\"");
    }
    w.resource_version = n;
  }
  w.allow_bookmarks = QueryBool(query.Get("allowWatchBookmarks"));
  const std::optional<std::string> initial = query.Get("sendInitialEvents");
  const std::string match = query.Get("resourceVersionMatch").value_or("");
  if (initial) {
    if (*initial != "true" && *initial != "false") {
      return bad("invalid sendInitialEvents value \"" + *initial + "\"");
    }
    w.send_initial_events = *initial == "true";
    if (match != "NotOlderThan") {
      return bad("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
    }
    if (*w.send_initial_events && !w.allow_bookmarks) {
      return bad("sendInitialEvents requires setting allowWatchBookmarks to true");
    }
  } else if (!match.empty()) {
    return bad("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided");
  }
  if (auto t = query.Get("timeoutSeconds")) {
    int64_t seconds = -1;
    const char* end = t->data() + t->size();
    auto [ptr, ec] = std::from_chars(t->data(), end, seconds);
    if (ec != std::errc() || ptr != end || seconds < 0) {
      return bad("invalid timeoutSeconds \"" + *t + "\"");
    }
    if (seconds > 0) w.timeout = std::chrono::seconds(seconds);
  }
  return options_.watch->Watch(std::move(w));
}

std::variant<MetricsApi::ResourceRequest, HttpResponse> MetricsApi::ParseResourceRequest(
    const RequestInfo& info, const Query& query, std::string_view accept) const {
  const bool nodes = info.resource == "nodes";
  const bool watchable = options_.watch != nullptr;
  if (info.api_group != kGroup || !ServesVersion(info.api_version) ||
      (info.watch_prefix && !watchable) || !(nodes || info.resource == "pods") || info.parts > 2 ||
      (nodes && !info.namespace_.empty()) ||
      (!nodes && info.namespace_.empty() && !info.name.empty())) {
    return ErrorResponse(NotFoundError());
  }
  if (info.verb != "get" && info.verb != "list" && info.verb != "watch") {
    return ErrorResponse(MethodNotAllowedError());
  }
  // A watch streams JSON, protobuf or Table events (each a Table of one row, watch.h).
  std::optional<Negotiated> negotiated = Negotiate(accept, true, true);
  if (info.verb == "watch" && !watchable) {
    return ErrorResponse(MethodNotSupportedError(info.resource, std::string(kGroup), "watch"),
                         negotiated ? negotiated->format : Format::kJson);
  }
  if (!negotiated) return ErrorResponse(NotAcceptableError(true));

  ResourceRequest request;
  request.kind = nodes ? Kind::kNode : Kind::kPod;
  request.list = info.verb == "list";
  request.watch = info.verb == "watch";
  request.api_version = "metrics.k8s.io/" + info.api_version;
  request.namespace_ = info.namespace_;
  request.name = info.name;
  request.negotiated = *negotiated;
  const Format format = negotiated->format;
  if (format == Format::kTable) {
    std::string include = query.Get("includeObject").value_or("");
    if (!include.empty() && include != "None" && include != "Metadata" && include != "Object") {
      return ErrorResponse(
          BadRequestError("unrecognized includeObject value: \"" + include + "\""));
    }
    request.include_object = include.empty() ? "Metadata" : include;
  }
  if (!request.list && !request.watch) return request;  // a get does not read the selectors

  auto labels = kube::LabelSelector::Parse(query.Get("labelSelector").value_or(""));
  if (!labels.ok()) return ErrorResponse(BadRequestError(labels.error()), format);
  auto fields = kube::FieldSelector::Parse(query.Get("fieldSelector").value_or(""));
  if (!fields.ok()) return ErrorResponse(BadRequestError(fields.error()), format);
  for (const auto& r : fields->Requirements()) {
    if (r.field != "metadata.name" && r.field != "metadata.namespace") {
      return ErrorResponse(BadRequestError("\"" + r.field +
                                           "\" is not a known field selector: only "
                                           "\"metadata.name\", \"metadata.namespace\""),
                           format);
    }
  }
  request.labels = std::move(labels.value());
  request.fields = std::move(fields.value());
  return request;
}

HttpResponse MetricsApi::GetNode(const ResourceRequest& request) const {
  const Format format = request.negotiated.format;
  std::shared_ptr<const kube::Node> node = nodes_.Get(request.name);
  if (node == nullptr) return ErrorResponse(ObjectNotFoundError("node", "", request.name), format);
  std::shared_ptr<const EncodedWindow> encoded = Encoded();
  const window::NodeMetrics* m = encoded->window().FindNode(request.name);
  if (m == nullptr || !options_.node_selector.Matches(node->labels)) {
    return ErrorResponse(ObjectNotFoundError("nodemetrics", std::string(kGroup), request.name),
                         format);
  }
  ListEntry e;
  e.meta = {node->name, {}, &node->labels, {}};
  e.item = &encoded->node(m);
  e.node = m;
  return Respond(request, {e});
}

HttpResponse MetricsApi::GetPod(const ResourceRequest& request) const {
  const Format format = request.negotiated.format;
  const std::string& ns = request.namespace_;
  std::shared_ptr<const kube::Pod> pod = pods_.Get(ns, request.name);
  if (pod == nullptr) return ErrorResponse(ObjectNotFoundError("pods", "", request.name), format);
  std::shared_ptr<const EncodedWindow> encoded = Encoded();
  const window::PodMetrics* m = encoded->window().FindPod(ns, request.name);
  if (m == nullptr) {
    return ErrorResponse(
        ObjectNotFoundError("podmetrics", std::string(kGroup), ns + "/" + request.name), format);
  }
  ListEntry e;
  e.meta = {pod->name, pod->namespace_, &pod->labels, {}};
  e.item = &encoded->pod(m);
  e.pod = m;
  return Respond(request, {e});
}

MetricsApi::Selection MetricsApi::SelectNodes(const ResourceRequest& request,
                                              const EncodedWindow& encoded) const {
  Selection selection;
  selection.nodes = options_.node_selector.Empty()
                        ? nodes_.List(request.labels)
                        : nodes_.List(request.labels.And(options_.node_selector));
  selection.entries.reserve(selection.nodes.size());
  for (const auto& node : selection.nodes) {
    if (!request.fields.Empty()) {
      bool match =
          request.fields.Matches([&](std::string_view f) -> std::optional<std::string_view> {
            if (f == "metadata.name") return std::string_view(node->name);
            return std::nullopt;
          });
      if (!match) continue;
    }
    const window::NodeMetrics* m = encoded.window().FindNode(node->name);
    if (m == nullptr) continue;
    ListEntry e;
    e.meta = {node->name, {}, &node->labels, {}};
    e.item = &encoded.node(m);
    e.node = m;
    selection.entries.push_back(e);
  }
  return selection;
}

MetricsApi::Selection MetricsApi::SelectPods(const ResourceRequest& request,
                                             const EncodedWindow& encoded) const {
  const window::Window& window = encoded.window();
  Selection selection;
  selection.pods = pods_.List(request.namespace_, request.labels);
  const window::PodMetrics* cursor;
  const window::PodMetrics* end;
  if (request.namespace_.empty()) {
    cursor = window.pods().data();
    end = cursor + window.pods().size();
  } else {
    std::tie(cursor, end) = window.PodsInNamespace(request.namespace_);
  }
  selection.entries.reserve(
      std::min<size_t>(selection.pods.size(), static_cast<size_t>(end - cursor)));
  for (const auto& pod : selection.pods) {
    // Both sequences are sorted by (namespace, name): advance the window cursor to the pod.
    while (cursor != end &&
           std::tie(cursor->namespace_, cursor->name) < std::tie(pod->namespace_, pod->name)) {
      ++cursor;
    }
    if (cursor == end) break;
    if (cursor->namespace_ != pod->namespace_ || cursor->name != pod->name) continue;
    if (!request.fields.Empty()) {
      bool match =
          request.fields.Matches([&](std::string_view f) -> std::optional<std::string_view> {
            if (f == "metadata.name") return std::string_view(pod->name);
            if (f == "metadata.namespace") return std::string_view(pod->namespace_);
            return std::nullopt;
          });
      if (!match) continue;
    }
    ListEntry e;
    e.meta = {pod->name, pod->namespace_, &pod->labels, {}};
    e.item = &encoded.pod(cursor);
    e.pod = cursor;
    selection.entries.push_back(e);
  }
  return selection;
}

HttpResponse MetricsApi::Respond(const ResourceRequest& request,
                                 const std::vector<ListEntry>& entries,
                                 std::string_view resource_version) const {
  const base::UnixNanos now = clock_.Now();
  if (options_.freshness != nullptr && !entries.empty()) {
    std::vector<double> ages;
    ages.reserve(entries.size());
    for (const auto& e : entries) {
      base::UnixNanos ts = e.node != nullptr ? e.node->timestamp : e.pod->timestamp;
      ages.push_back(static_cast<double>(now - ts) / 1e9);
    }
    options_.freshness->ObserveAll({}, ages);
  }
  const Negotiated& n = request.negotiated;
  HttpResponse r;
  switch (n.format) {
    case Format::kTable:
      r.body = EncodeTable(request.kind, request.api_version, n.table_version,
                           request.include_object, entries, now, resource_version);
      r.content_type = std::string(kJsonContentType);
      break;
    case Format::kProtobuf:
    case Format::kJson:
      r.body = request.list ? EncodeList(n.format, request.kind, request.api_version, entries, now,
                                         resource_version)
                            : EncodeObject(n.format, request.kind, request.api_version,
                                           entries.front(), now);
      r.content_type =
          std::string(n.format == Format::kProtobuf ? kProtobufContentType : kJsonContentType);
      break;
  }
  return r;
}

}  // namespace apiserver
