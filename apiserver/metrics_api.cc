#include "apiserver/metrics_api.h"

#include "apiserver/status.h"

#include <algorithm>
#include <atomic>
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
      own_encoded_(&pods),
      encoded_(options_.encoded != nullptr ? *options_.encoded : own_encoded_) {}

bool MetricsApi::ServesVersion(std::string_view version) const {
  return std::find(options_.versions.begin(), options_.versions.end(), version) !=
         options_.versions.end();
}

MetricsApi::Selection MetricsApi::Serving() const {
  Selection s;
  s.window = windows_.Current();
  s.shared = encoded_.Ready(s.window);
  if (s.shared != nullptr) s.window = s.shared->shared_window();
  return s;
}

void MetricsApi::Encode(Kind kind, Format format, Selection& selection) const {
  std::vector<ListEntry>& entries = selection.entries;
  if (kind == Kind::kPod && entries.size() >= kSharedEncodingMinPods &&
      entries.size() * kSharedEncodingFraction >= selection.window->pods().size()) {
    if (selection.shared != nullptr) {
      encoded_.NoteUse();
    } else {
      selection.shared = encoded_.Get(selection.window);
    }
    if (format != Format::kTable) encoded_.NoteList(format);
  }
  if (selection.shared == nullptr) {
    selection.own = EncodedItems(entries, format);
    return;
  }
  const EncodedWindow& shared = *selection.shared;
  for (ListEntry& e : entries)
    e.item = e.node != nullptr ? &shared.node(e.node) : &shared.pod(e.pod);
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

std::vector<FieldError> ValidateListOptions(const Query& query, bool watch) {
  // k8s.io/apimachinery/pkg/apis/meta/internalversion/validation/validation.go
  // ValidateListOptions and validateWatchOptions, with the WatchList feature enabled (we serve
  // sendInitialEvents). get.go's ListResource answers these errors with 422 Invalid.
  auto forbidden = [](std::string detail) {
    return FieldError{"resourceVersionMatch", "FieldValueForbidden", "Forbidden: " + detail};
  };
  auto not_supported = [](const std::string& value, std::string supported) {
    return FieldError{"resourceVersionMatch", "FieldValueNotSupported",
                      "Unsupported value: \"" + value + "\": supported values: " + supported};
  };
  std::vector<FieldError> errs;
  const std::string match = query.Get("resourceVersionMatch").value_or("");
  const bool initial = query.Get("sendInitialEvents").has_value();
  const bool has_continue = !query.Get("continue").value_or("").empty();
  if (watch) {
    if (initial && match != "NotOlderThan") {
      errs.push_back(
          forbidden("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"));
    }
    if (!match.empty()) {
      if (!initial) {
        errs.push_back(forbidden(
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"));
      }
      if (match != "NotOlderThan") errs.push_back(not_supported(match, "\"NotOlderThan\""));
      if (has_continue) {
        errs.push_back(forbidden("resourceVersionMatch is forbidden when continue is provided"));
      }
    }
    return errs;
  }
  if (!match.empty()) {
    const std::string rv = query.Get("resourceVersion").value_or("");
    if (rv.empty()) {
      errs.push_back(
          forbidden("resourceVersionMatch is forbidden unless resourceVersion is provided"));
    }
    if (has_continue) {
      errs.push_back(forbidden("resourceVersionMatch is forbidden when continue is provided"));
    }
    if (match != "Exact" && match != "NotOlderThan") {
      errs.push_back(not_supported(match, "\"Exact\", \"NotOlderThan\", \"\""));
    }
    if (match == "Exact" && rv == "0") {
      errs.push_back(
          forbidden("resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""));
    }
  }
  if (initial) {
    errs.push_back({"sendInitialEvents", "FieldValueForbidden",
                    "Forbidden: sendInitialEvents is forbidden for list"});
  }
  return errs;
}

HttpResponse MetricsApi::ServeResource(const RequestInfo& info, const Query& query,
                                       std::string_view accept) const {
  std::variant<ResourceRequest, HttpResponse> parsed = ParseResourceRequest(info, query, accept);
  if (auto* refused = std::get_if<HttpResponse>(&parsed)) return std::move(*refused);
  const ResourceRequest& request = std::get<ResourceRequest>(parsed);
  if (request.list || request.watch) {
    const std::optional<std::string> initial = query.Get("sendInitialEvents");
    if (initial && *initial != "true" && *initial != "false") {
      return ErrorResponse(
          BadRequestError("invalid sendInitialEvents value \"" + *initial + "\""),
          request.negotiated.format);
    }
    std::vector<FieldError> errs = ValidateListOptions(query, request.watch);
    if (!errs.empty()) {
      return ErrorResponse(InvalidError("meta.k8s.io", "ListOptions", "", errs),
                           request.negotiated.format);
    }
  }
  if (request.watch) return Watch(request, query);
  if (!request.list) return request.kind == Kind::kNode ? GetNode(request) : GetPod(request);
  Selection selection = Serving();
  if (request.kind == Kind::kNode) {
    SelectNodes(request, selection);
  } else {
    SelectPods(request, selection);
  }
  Encode(request.kind, request.negotiated.format, selection);
  std::string resource_version = std::to_string(selection.window->generation());
  if (request.negotiated.format != Format::kTable &&
      selection.entries.size() >= kStreamedListItems) {
    return RespondStreamed(request, std::move(selection), std::move(resource_version));
  }
  return Respond(request, selection.entries, resource_version);
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
  if (const std::optional<std::string> initial = query.Get("sendInitialEvents")) {
    w.send_initial_events = *initial == "true";  // the value was checked by ServeResource
  }
  if (auto t = query.Get("timeoutSeconds")) {
    // As the parameter codec decodes *int64: not a number is 400; a negative value is accepted
    // and, as get.go's time.After(negative), ends the watch at once; 0 means none given.
    int64_t seconds = 0;
    const char* end = t->data() + t->size();
    auto [ptr, ec] = std::from_chars(t->data(), end, seconds);
    if (t->empty() || ec != std::errc() || ptr != end) {
      return bad("invalid timeoutSeconds \"" + *t + "\"");
    }
    if (seconds != 0) w.timeout = std::chrono::seconds(std::max<int64_t>(seconds, 0));
  }
  if (w.send_initial_events.value_or(false) && !w.allow_bookmarks) {
    return bad("sendInitialEvents requires setting allowWatchBookmarks to true");
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
  Selection selection = Serving();
  const window::NodeMetrics* m = selection.window->FindNode(request.name);
  if (m == nullptr || !options_.node_selector.Matches(node->labels)) {
    return ErrorResponse(ObjectNotFoundError("nodemetrics", std::string(kGroup), request.name),
                         format);
  }
  ListEntry& e = selection.entries.emplace_back();
  e.meta = {node->name, {}, &node->labels, {}};
  e.node = m;
  Encode(request.kind, request.negotiated.format, selection);
  return Respond(request, selection.entries);
}

HttpResponse MetricsApi::GetPod(const ResourceRequest& request) const {
  const Format format = request.negotiated.format;
  const std::string& ns = request.namespace_;
  std::shared_ptr<const kube::Pod> pod = pods_.Get(ns, request.name);
  if (pod == nullptr) return ErrorResponse(ObjectNotFoundError("pods", "", request.name), format);
  Selection selection = Serving();
  const window::PodMetrics* m = selection.window->FindPod(ns, request.name);
  if (m == nullptr) {
    return ErrorResponse(
        ObjectNotFoundError("podmetrics", std::string(kGroup), ns + "/" + request.name), format);
  }
  ListEntry& e = selection.entries.emplace_back();
  e.meta = {pod->name, pod->namespace_, &pod->labels, {}, pod->plain, pod->revision};
  e.pod = m;
  Encode(request.kind, request.negotiated.format, selection);
  return Respond(request, selection.entries);
}

void MetricsApi::SelectNodes(const ResourceRequest& request, Selection& selection) const {
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
    const window::NodeMetrics* m = selection.window->FindNode(node->name);
    if (m == nullptr) continue;
    ListEntry e;
    e.meta = {node->name, {}, &node->labels, {}};
    e.node = m;
    selection.entries.push_back(e);
  }
}

void MetricsApi::SelectPods(const ResourceRequest& request, Selection& selection) const {
  const window::Window& window = *selection.window;
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
    // Both sequences are sorted by (namespace, name): advance the window cursor to the pod, one
    // three-way comparison per step (the namespace is usually equal and compared once).
    int order = -1;
    while (cursor != end && (order = ComparePodKeys(*cursor, *pod)) < 0) ++cursor;
    if (cursor == end) break;
    if (order != 0) continue;  // the pod has no metrics in this window
    // Names are unique in both: the next pod starts after this one (one comparison fewer, and
    // not one of two different names, which the shared buffers do not answer).
    const window::PodMetrics* metrics = cursor++;
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
    e.meta = {pod->name, pod->namespace_, &pod->labels, {}, pod->plain, pod->revision};
    e.pod = metrics;
    selection.entries.push_back(e);
  }
}

void MetricsApi::ObserveFreshness(const std::vector<ListEntry>& entries,
                                  base::UnixNanos now) const {
  if (options_.freshness == nullptr || entries.empty()) return;
  std::vector<double> ages;
  ages.reserve(entries.size());
  for (const auto& e : entries) {
    base::UnixNanos ts = e.node != nullptr ? e.node->timestamp : e.pod->timestamp;
    ages.push_back(static_cast<double>(now - ts) / 1e9);
  }
  options_.freshness->ObserveAll({}, ages);
}

namespace {

// A large list's body, encoded a chunk at a time into one buffer as the connection takes it
// (ListEncoder; its size is known up front and sent as the Content-Length), so that the
// response never holds the whole body: the encoded window and the cached objects the entries
// point into are held instead (`held`, which owns `entries`), until the last chunk is written.
class ListStream final : public ResponseStream, public std::enable_shared_from_this<ListStream> {
 public:
  ListStream(std::shared_ptr<const void> held, std::span<const ListEntry> entries, Format format,
             Kind kind, std::string_view api_version, base::UnixNanos now,
             std::string_view resource_version)
      : held_(std::move(held)),
        encoder_(format, kind, api_version, entries, now, resource_version) {}

  size_t size() const { return encoder_.size(); }

  void Next(std::function<void(StreamChunk)> next) override {
    StreamChunk chunk;
    if (cancelled_.load() || encoder_.done()) {
      chunk.end = true;
      return next(std::move(chunk));
    }
    buffer_.clear();
    encoder_.Next(buffer_, kStreamedListChunkBytes);
    chunk.parts.emplace_back(buffer_);
    chunk.keep = shared_from_this();
    next(std::move(chunk));
  }
  void Cancel() override { cancelled_.store(true); }

 private:
  std::shared_ptr<const void> held_;
  ListEncoder encoder_;  // over entries held_ owns
  std::string buffer_;   // the chunk being written; one Next at a time
  std::atomic<bool> cancelled_{false};
};

}  // namespace

HttpResponse MetricsApi::RespondStreamed(const ResourceRequest& request, Selection selection,
                                         std::string resource_version) const {
  const base::UnixNanos now = clock_.Now();
  ObserveFreshness(selection.entries, now);
  auto held = std::make_shared<const Selection>(std::move(selection));
  const std::span<const ListEntry> entries = held->entries;
  auto stream =
      std::make_shared<ListStream>(std::move(held), entries, request.negotiated.format,
                                   request.kind, request.api_version, now, resource_version);
  HttpResponse r;
  r.content_type = std::string(request.negotiated.format == Format::kProtobuf ? kProtobufContentType
                                                                              : kJsonContentType);
  r.stream_size = stream->size();
  r.stream_finite = true;
  r.stream = std::move(stream);
  return r;
}

HttpResponse MetricsApi::Respond(const ResourceRequest& request,
                                 const std::vector<ListEntry>& entries,
                                 std::string_view resource_version) const {
  const base::UnixNanos now = clock_.Now();
  ObserveFreshness(entries, now);
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
