#include "apiserver/metrics_api.h"

#include <algorithm>
#include <tuple>

namespace apiserver {
namespace {

ApiError NotFound(std::string resource, std::string group, const std::string& name) {
  ApiError e;
  e.code = 404;
  e.reason = "NotFound";
  std::string qualified = group.empty() ? resource : resource + "." + group;
  e.message = qualified + " \"" + name + "\" not found";
  e.has_details = true;
  e.details = {name, std::move(group), std::move(resource)};
  return e;
}

ApiError BadRequest(std::string message) {
  ApiError e;
  e.code = 400;
  e.reason = "BadRequest";
  e.message = std::move(message);
  return e;
}

}  // namespace

ApiError NotFoundError() {
  ApiError e;
  e.code = 404;
  e.reason = "NotFound";
  e.message = "the server could not find the requested resource";
  e.has_details = true;
  return e;
}

ApiError MethodNotAllowedError() {
  ApiError e;
  e.code = 405;
  e.reason = "MethodNotAllowed";
  e.message = "the server does not allow this method on the requested resource";
  e.has_details = true;
  return e;
}

MetricsApi::MetricsApi(const window::Source& windows, const kube::NodeCache& nodes,
                       const kube::PodCache& pods, const base::Clock& clock,
                       MetricsApiOptions options)
    : windows_(windows), nodes_(nodes), pods_(pods), clock_(clock), options_(std::move(options)) {}

bool MetricsApi::ServesVersion(std::string_view version) const {
  return std::find(options_.versions.begin(), options_.versions.end(), version) !=
         options_.versions.end();
}

std::shared_ptr<const EncodedWindow> MetricsApi::Encoded() const {
  std::shared_ptr<const window::Window> window = windows_.Current();
  base::MutexLock lock(encoded_mu_);
  if (encoded_ == nullptr || &encoded_->window() != window.get()) {
    encoded_ = std::make_shared<const EncodedWindow>(std::move(window));
  }
  return encoded_;
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
    body = EncodeApiResourceList(path.substr(21));
  } else {
    return std::nullopt;
  }
  if (!Negotiate(accept, false, false)) return ErrorResponse(NotAcceptable(false));
  HttpResponse r;
  r.body = std::move(body);
  return r;
}

HttpResponse MetricsApi::ServeResource(const RequestInfo& info, const Query& query,
                                       std::string_view accept) const {
  const bool nodes = info.resource == "nodes";
  if (info.api_group != kGroup || !ServesVersion(info.api_version) || info.watch_prefix ||
      !(nodes || info.resource == "pods") || info.parts > 2 ||
      (nodes && !info.namespace_.empty()) ||
      (!nodes && info.namespace_.empty() && !info.name.empty())) {
    return ErrorResponse(NotFoundError());
  }
  if (info.verb != "get" && info.verb != "list" && info.verb != "watch") {
    return ErrorResponse(MethodNotAllowedError());
  }
  std::optional<Negotiated> n = Negotiate(accept, true, true);
  if (info.verb == "watch") {
    ApiError e;
    e.code = 405;
    e.reason = "MethodNotAllowed";
    e.message = std::string("watch is not supported on resources of kind \"") +
                (nodes ? "nodes" : "pods") + ".metrics.k8s.io\"";
    e.has_details = true;
    e.details = {"", std::string(kGroup), nodes ? "nodes" : "pods"};
    return ErrorResponse(e, n ? n->format : Format::kJson);
  }
  if (!n) return ErrorResponse(NotAcceptable(true));
  const Format error_format = n->format == Format::kProtobuf ? Format::kProtobuf : Format::kJson;
  const std::string api_version = "metrics.k8s.io/" + info.api_version;

  if (n->format == Format::kTable) {
    auto include = query.Get("includeObject");
    if (include && !include->empty() && *include != "None" && *include != "Metadata" &&
        *include != "Object") {
      return ErrorResponse(BadRequest("unrecognized includeObject value: \"" + *include + "\""));
    }
  }
  if (info.verb == "get") {
    return nodes ? GetNode(info.name, api_version, *n, query)
                 : GetPod(info.namespace_, info.name, api_version, *n, query);
  }

  // List.
  auto label_text = query.Get("labelSelector");
  auto label = kube::LabelSelector::Parse(label_text.value_or(""));
  if (!label.ok()) return ErrorResponse(BadRequest(label.error()), error_format);
  auto field_text = query.Get("fieldSelector");
  auto field = kube::FieldSelector::Parse(field_text.value_or(""));
  if (!field.ok()) return ErrorResponse(BadRequest(field.error()), error_format);
  for (const auto& r : field->Requirements()) {
    if (r.field != "metadata.name" && r.field != "metadata.namespace") {
      return ErrorResponse(BadRequest("\"" + r.field +
                                      "\" is not a known field selector: only \"metadata.name\", "
                                      "\"metadata.namespace\""),
                           error_format);
    }
  }

  std::shared_ptr<const EncodedWindow> encoded = Encoded();
  const window::Window& window = encoded->window();
  std::vector<ListEntry> entries;
  if (nodes) {
    kube::LabelSelector selector = options_.node_selector.Empty()
                                       ? std::move(label.value())
                                       : label->And(options_.node_selector);
    std::vector<std::shared_ptr<const kube::Node>> list = nodes_.List(selector);
    entries.reserve(list.size());
    for (const auto& node : list) {
      if (!field->Empty()) {
        bool match = field->Matches([&](std::string_view f) -> std::optional<std::string_view> {
          if (f == "metadata.name") return std::string_view(node->name);
          return std::nullopt;
        });
        if (!match) continue;
      }
      const window::NodeMetrics* m = window.FindNode(node->name);
      if (m == nullptr) continue;
      ListEntry e;
      e.meta = {node->name, {}, &node->labels};
      e.item = &encoded->node(m);
      e.node = m;
      entries.push_back(e);
    }
    return Respond(Kind::kNode, true, api_version, *n, query, entries);
  }

  std::vector<std::shared_ptr<const kube::Pod>> list = pods_.List(info.namespace_, *label);
  const window::PodMetrics* cursor;
  const window::PodMetrics* end;
  if (info.namespace_.empty()) {
    cursor = window.pods().data();
    end = cursor + window.pods().size();
  } else {
    std::tie(cursor, end) = window.PodsInNamespace(info.namespace_);
  }
  entries.reserve(std::min<size_t>(list.size(), static_cast<size_t>(end - cursor)));
  for (const auto& pod : list) {
    // Both sequences are sorted by (namespace, name): advance the window cursor to the pod.
    while (cursor != end &&
           std::tie(cursor->namespace_, cursor->name) < std::tie(pod->namespace_, pod->name)) {
      ++cursor;
    }
    if (cursor == end) break;
    if (cursor->namespace_ != pod->namespace_ || cursor->name != pod->name) continue;
    if (!field->Empty()) {
      bool match = field->Matches([&](std::string_view f) -> std::optional<std::string_view> {
        if (f == "metadata.name") return std::string_view(pod->name);
        if (f == "metadata.namespace") return std::string_view(pod->namespace_);
        return std::nullopt;
      });
      if (!match) continue;
    }
    ListEntry e;
    e.meta = {pod->name, pod->namespace_, &pod->labels};
    e.item = &encoded->pod(cursor);
    e.pod = cursor;
    entries.push_back(e);
  }
  // `list` keeps the pods (and so the metadata views) alive until the response is encoded.
  return Respond(Kind::kPod, true, api_version, *n, query, entries);
}

HttpResponse MetricsApi::GetNode(const std::string& name, const std::string& api_version,
                                 const Negotiated& n, const Query& query) const {
  const Format error_format = n.format == Format::kProtobuf ? Format::kProtobuf : Format::kJson;
  std::shared_ptr<const kube::Node> node = nodes_.Get(name);
  if (node == nullptr) return ErrorResponse(NotFound("node", "", name), error_format);
  std::shared_ptr<const EncodedWindow> encoded = Encoded();
  const window::NodeMetrics* m = encoded->window().FindNode(name);
  if (m == nullptr || !options_.node_selector.Matches(node->labels)) {
    return ErrorResponse(NotFound("nodemetrics", std::string(kGroup), name), error_format);
  }
  ListEntry e;
  e.meta = {node->name, {}, &node->labels};
  e.item = &encoded->node(m);
  e.node = m;
  return Respond(Kind::kNode, false, api_version, n, query, {e});
}

HttpResponse MetricsApi::GetPod(const std::string& ns, const std::string& name,
                                const std::string& api_version, const Negotiated& n,
                                const Query& query) const {
  const Format error_format = n.format == Format::kProtobuf ? Format::kProtobuf : Format::kJson;
  std::shared_ptr<const kube::Pod> pod = pods_.Get(ns, name);
  if (pod == nullptr) return ErrorResponse(NotFound("pods", "", name), error_format);
  std::shared_ptr<const EncodedWindow> encoded = Encoded();
  const window::PodMetrics* m = encoded->window().FindPod(ns, name);
  if (m == nullptr) {
    return ErrorResponse(NotFound("podmetrics", std::string(kGroup), ns + "/" + name),
                         error_format);
  }
  ListEntry e;
  e.meta = {pod->name, pod->namespace_, &pod->labels};
  e.item = &encoded->pod(m);
  e.pod = m;
  return Respond(Kind::kPod, false, api_version, n, query, {e});
}

HttpResponse MetricsApi::Respond(Kind kind, bool list, const std::string& api_version,
                                 const Negotiated& n, const Query& query,
                                 const std::vector<ListEntry>& entries) const {
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
  HttpResponse r;
  switch (n.format) {
    case Format::kTable: {
      std::string include = query.Get("includeObject").value_or("");
      r.body = EncodeTable(kind, api_version, n.table_version,
                           include.empty() ? "Metadata" : include, entries, now);
      r.content_type = std::string(kJsonContentType);
      break;
    }
    case Format::kProtobuf:
    case Format::kJson:
      r.body = list ? EncodeList(n.format, kind, api_version, entries, now)
                    : EncodeObject(n.format, kind, api_version, entries.front(), now);
      r.content_type =
          std::string(n.format == Format::kProtobuf ? kProtobufContentType : kJsonContentType);
      break;
  }
  return r;
}

}  // namespace apiserver
