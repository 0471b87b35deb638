#include "test/kube/fake_kube_apiserver.h"

#include <algorithm>

namespace kube::fake {
namespace {

using nlohmann::json;
using testing_support::Reply;

std::string Unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    std::size_t amp = q.find('&');
    std::string_view kv = q.substr(0, amp);
    std::size_t eq = kv.find('=');
    out[Unescape(kv.substr(0, eq))] = eq == kv.npos ? "" : Unescape(kv.substr(eq + 1));
    if (amp == q.npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

// "nodes" -> "NodeList", as typed clients expect.
std::string ListKind(const std::string& collection) {
  if (collection == "nodes") return "NodeList";
  if (collection == "pods") return "PodList";
  return "ConfigMapList";
}

Reply StatusReply(unsigned code, const std::string& reason, const std::string& message) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  Reply r = Reply::Status(code, s.dump());
  r.content_type = "application/json";
  return r;
}

}  // namespace

FakeKubeApiserver::FakeKubeApiserver() : FakeKubeApiserver(Options{}) {}

FakeKubeApiserver::FakeKubeApiserver(Options fake_options)
    : record_targets_(fake_options.record_requests) {
  nodes_.name = "nodes";
  pods_.name = "pods";
  configmaps_.name = "configmaps";
  sar_policy_ = [](const json& spec) {
    bool allowed = spec.value("user", "") == "alice";
    return json{{"allowed", allowed}, {"reason", allowed ? "alice may" : ""}};
  };
  testing_support::ServerOptions options;
  options.certificate = pki_.ServerCert();
  options.io_timeout = std::chrono::milliseconds(30000);
  options.max_request_body = 1 << 20;
  options.port = fake_options.port;
  options.record_requests = fake_options.record_requests;
  server_ = std::make_unique<testing_support::LocalHttpsServer>(
      options, [this](const testing_support::SeenRequest& req) { return Handle(req); });
}

FakeKubeApiserver::~FakeKubeApiserver() {
  {
    base::MutexLock lock(mu_);
    for (Collection* c : {&nodes_, &pods_, &configmaps_}) {
      for (Watch& w : c->watches) w.feed->Abort();
    }
  }
  server_.reset();
}

RestConfig FakeKubeApiserver::Config() const {
  RestConfig config;
  config.endpoint = server_->endpoint();
  config.tls.ca_file = pki_.ca_file();
  config.bearer_token = kToken;
  config.source = "fake kube-apiserver";
  return config;
}

uint64_t FakeKubeApiserver::resource_version() const {
  base::MutexLock lock(mu_);
  return rv_;
}

// ---- state ----

void FakeKubeApiserver::Change(Collection& c, const std::string& key, const std::string& type,
                               json object) {
  ++rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv_);
  if (type == "DELETED") {
    c.items.erase(key);
  } else {
    c.items[key] = Render(object);
  }
  c.history.push_back({rv_, type, object});
  for (Watch& w : c.watches) {
    if (Selected(w, object)) w.feed->Push(EventLine(type, object, w.metadata_only));
  }
}

void FakeKubeApiserver::UpsertNode(const std::string& name,
                                   const std::map<std::string, std::string>& labels,
                                   int kubelet_port) {
  json node = {{"kind", "Node"},
               {"apiVersion", "v1"},
               {"metadata", {{"name", name}, {"uid", "uid-" + name}, {"labels", labels}}},
               {"status",
                {{"addresses", json::array({{{"type", "InternalIP"}, {"address", "127.0.0.1"}},
                                            {{"type", "Hostname"}, {"address", name}}})},
                 {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", kubelet_port}}}}},
                 {"allocatable", {{"cpu", "4"}, {"memory", "8Gi"}}}}}};
  base::MutexLock lock(mu_);
  Change(nodes_, name, nodes_.items.count(name) ? "MODIFIED" : "ADDED", std::move(node));
}

void FakeKubeApiserver::DeleteNode(const std::string& name) {
  base::MutexLock lock(mu_);
  auto it = nodes_.items.find(name);
  if (it == nodes_.items.end()) return;
  Change(nodes_, name, "DELETED", json::parse(it->second.json));
}

void FakeKubeApiserver::UpsertPod(const std::string& ns, const std::string& name,
                                  const std::map<std::string, std::string>& labels) {
  json pod = {{"kind", "Pod"},
              {"apiVersion", "v1"},
              {"metadata",
               {{"name", name},
                {"namespace", ns},
                {"uid", "uid-" + ns + "-" + name},
                {"labels", labels},
                {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
              {"spec", {{"nodeName", "node-1"}, {"containers", json::array({{{"name", "c"}}})}}},
              {"status", {{"phase", "Running"}}}};
  std::string key = ns + "/" + name;
  base::MutexLock lock(mu_);
  Change(pods_, key, pods_.items.count(key) ? "MODIFIED" : "ADDED", std::move(pod));
}

void FakeKubeApiserver::DeletePod(const std::string& ns, const std::string& name) {
  base::MutexLock lock(mu_);
  auto it = pods_.items.find(ns + "/" + name);
  if (it == pods_.items.end()) return;
  Change(pods_, it->first, "DELETED", json::parse(it->second.json));
}

void FakeKubeApiserver::SetAuthConfigMap(const json& data) {
  json cm = {
      {"kind", "ConfigMap"},
      {"apiVersion", "v1"},
      {"metadata", {{"name", "extension-apiserver-authentication"}, {"namespace", "kube-system"}}},
      {"data", data}};
  const std::string key = "extension-apiserver-authentication";
  base::MutexLock lock(mu_);
  Change(configmaps_, key, configmaps_.items.count(key) ? "MODIFIED" : "ADDED", std::move(cm));
}

void FakeKubeApiserver::BulkAddPods(std::size_t n, std::size_t namespaces,
                                    std::size_t labels_per_pod) {
  base::MutexLock lock(mu_);
  ++rv_;
  for (std::size_t i = 0; i < n; ++i) {
    std::string ns = "ns-" + std::to_string(i % std::max<std::size_t>(1, namespaces));
    std::string name = "pod-" + std::to_string(i) + "-7d9f8b6c5d-x2k4q";
    json labels = json::object();
    for (std::size_t l = 0; l < labels_per_pod; ++l) {
      labels["label-" + std::to_string(l)] = "value-" + std::to_string((i + l) % 10);
    }
    json pod = {{"kind", "Pod"},
                {"apiVersion", "v1"},
                {"metadata",
                 {{"name", name},
                  {"namespace", ns},
                  {"uid", "0b9f3c2e-5d1a-4f7b-9e8c-" + std::to_string(100000000000 + i)},
                  {"resourceVersion", std::to_string(rv_)},
                  {"labels", labels}}},
                {"status", {{"phase", "Running"}}}};
    pods_.items[ns + "/" + name] = Render(pod);
  }
  compacted_ = rv_;  // no history for these
}

void FakeKubeApiserver::BulkAdd(const std::string& collection, std::vector<json> objects) {
  Collection* c = Find(collection);  // the collections themselves never change
  if (c == nullptr) throw std::invalid_argument("no collection " + collection);
  uint64_t rv;
  {
    base::MutexLock lock(mu_);
    rv = ++rv_;
  }
  std::vector<std::pair<std::string, Item>> rendered;
  rendered.reserve(objects.size());
  for (json& object : objects) {
    object["metadata"]["resourceVersion"] = std::to_string(rv);
    Item item = Render(object);
    object = nullptr;
    std::string key = c == &pods_ ? item.fields.ns + "/" + item.fields.name : item.fields.name;
    rendered.emplace_back(std::move(key), std::move(item));
  }
  base::MutexLock lock(mu_);
  for (auto& [key, item] : rendered) c->items[key] = std::move(item);
  compacted_ = std::max(compacted_, rv);  // no history for these
}

std::size_t FakeKubeApiserver::size(const std::string& collection) const {
  base::MutexLock lock(mu_);
  auto* c = const_cast<FakeKubeApiserver*>(this)->Find(collection);
  return c == nullptr ? 0 : c->items.size();
}

FakeKubeApiserver::Collection* FakeKubeApiserver::Find(const std::string& name) {
  for (Collection* c : {&nodes_, &pods_, &configmaps_}) {
    if (c->name == name) return c;
  }
  return nullptr;
}

FakeKubeApiserver::Fields FakeKubeApiserver::FieldsOf(const json& object) {
  Fields f;
  auto text = [&object](const char* parent, const char* field) -> std::string {
    auto p = object.find(parent);
    if (p == object.end() || !p->is_object()) return "";
    auto v = p->find(field);
    return v != p->end() && v->is_string() ? v->get<std::string>() : "";
  };
  f.name = text("metadata", "name");
  f.ns = text("metadata", "namespace");
  f.node_name = text("spec", "nodeName");
  f.phase = text("status", "phase");
  return f;
}

FakeKubeApiserver::Item FakeKubeApiserver::Render(const json& object) {
  Item item;
  std::string& out = item.json;
  out = "{";
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (out.size() > 1) out += ',';
    out += json(it.key()).dump();
    out += ':';
    std::string value = it.value().dump();
    if (it.key() == "metadata") {
      item.meta_begin = out.size();
      item.meta_size = value.size();
    }
    out += value;
  }
  out += '}';
  item.fields = FieldsOf(object);
  return item;
}

bool FakeKubeApiserver::Matches(const std::string& selector, const Fields& f, std::string* error) {
  std::string_view rest = selector;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view term = rest.substr(0, comma);
    rest = comma == rest.npos ? std::string_view() : rest.substr(comma + 1);
    if (term.empty()) continue;
    bool negate = false;
    std::size_t op = term.find("!=");
    std::size_t value_at;
    if (op != term.npos) {
      negate = true;
      value_at = op + 2;
    } else {
      op = term.find('=');
      if (op == term.npos) {
        if (error) *error = "invalid field selector term: " + std::string(term);
        return false;
      }
      value_at = term.compare(op, 2, "==") == 0 ? op + 2 : op + 1;
    }
    std::string_view field = term.substr(0, op), value = term.substr(value_at);
    const std::string* actual = nullptr;
    if (field == "metadata.name") actual = &f.name;
    if (field == "metadata.namespace") actual = &f.ns;
    if (field == "spec.nodeName") actual = &f.node_name;
    if (field == "status.phase") actual = &f.phase;
    if (actual == nullptr) {
      if (error) *error = "field label not supported: " + std::string(field);
      return false;
    }
    if ((*actual == value) == negate) return false;
  }
  return true;
}

// ---- faults ----

void FakeKubeApiserver::SetUnavailable(bool unavailable) {
  unavailable_ = unavailable;
  if (unavailable) AbortWatches();
}

void FakeKubeApiserver::CompactHistory() {
  base::MutexLock lock(mu_);
  compacted_ = rv_;
  for (Collection* c : {&nodes_, &pods_, &configmaps_}) c->history.clear();
}

void FakeKubeApiserver::SendGoneToWatches() {
  base::MutexLock lock(mu_);
  json status = {{"kind", "Status"},
                 {"apiVersion", "v1"},
                 {"metadata", json::object()},
                 {"status", "Failure"},
                 {"message", "too old resource version: 1 (" + std::to_string(rv_) + ")"},
                 {"reason", "Expired"},
                 {"code", 410}};
  std::string line = json{{"type", "ERROR"}, {"object", status}}.dump() + "\n";
  for (Collection* c : {&nodes_, &pods_, &configmaps_}) {
    for (Watch& w : c->watches) {
      w.feed->Push(line);
      w.feed->End();
    }
    c->watches.clear();
  }
}

void FakeKubeApiserver::EndWatches() {
  base::MutexLock lock(mu_);
  for (Collection* c : {&nodes_, &pods_, &configmaps_}) {
    for (Watch& w : c->watches) w.feed->End();
    c->watches.clear();
  }
}

void FakeKubeApiserver::AbortWatches() {
  base::MutexLock lock(mu_);
  for (Collection* c : {&nodes_, &pods_, &configmaps_}) {
    for (Watch& w : c->watches) w.feed->Abort();
    c->watches.clear();
  }
}

void FakeKubeApiserver::PushRawToWatches(const std::string& raw) {
  base::MutexLock lock(mu_);
  for (Collection* c : {&nodes_, &pods_, &configmaps_}) {
    for (Watch& w : c->watches) w.feed->Push(raw);
  }
}

void FakeKubeApiserver::SendBookmarks() {
  base::MutexLock lock(mu_);
  for (Collection* c : {&nodes_, &pods_, &configmaps_}) {
    for (Watch& w : c->watches) {
      if (!w.bookmarks) continue;
      json obj = {{"kind", w.metadata_only ? "PartialObjectMetadata" : "Pod"},
                  {"apiVersion", w.metadata_only ? "meta.k8s.io/v1" : "v1"},
                  {"metadata", {{"resourceVersion", std::to_string(rv_)}}}};
      w.feed->Push(json{{"type", "BOOKMARK"}, {"object", obj}}.dump() + "\n");
    }
  }
}

void FakeKubeApiserver::CorruptNextLists(int n, std::string body) {
  base::MutexLock lock(mu_);
  corrupt_lists_ = n;
  corrupt_body_ = std::move(body);
}

void FakeKubeApiserver::FailNextWatches(int n, unsigned status) {
  base::MutexLock lock(mu_);
  fail_watches_ = n;
  fail_watch_status_ = status;
}

void FakeKubeApiserver::RestartWithHistoryFrom(uint64_t rv) {
  AbortWatches();
  base::MutexLock lock(mu_);
  rv_ = rv;
  compacted_ = rv;
  for (Collection* c : {&nodes_, &pods_, &configmaps_}) {
    c->history.clear();
    for (auto& [key, item] : c->items) {
      json object = json::parse(item.json);
      object["metadata"]["resourceVersion"] = std::to_string(rv);
      item = Render(object);
    }
  }
}

void FakeKubeApiserver::SetAccessReviewsFailing(bool failing) {
  base::MutexLock lock(mu_);
  access_reviews_failing_ = failing;
}

void FakeKubeApiserver::ExpireToken(const std::string& token) {
  base::MutexLock lock(mu_);
  tokens_.erase(token);
  expired_tokens_[token] = true;
}

void FakeKubeApiserver::SetReviewDelay(std::chrono::milliseconds delay) {
  base::MutexLock lock(mu_);
  review_delay_ = delay;
}

void FakeKubeApiserver::AddToken(const std::string& token, const std::string& user,
                                 const std::vector<std::string>& groups) {
  base::MutexLock lock(mu_);
  tokens_[token] = {user, groups};
}

void FakeKubeApiserver::SetSarPolicy(SarPolicy policy) {
  base::MutexLock lock(mu_);
  sar_policy_ = std::move(policy);
}

std::size_t FakeKubeApiserver::open_watches(const std::string& collection) const {
  base::MutexLock lock(mu_);
  for (const Collection* c : {&nodes_, &pods_, &configmaps_}) {
    if (c->name == collection) return c->watches.size();
  }
  return 0;
}

int FakeKubeApiserver::list_requests(const std::string& collection) const {
  base::MutexLock lock(mu_);
  for (const Collection* c : {&nodes_, &pods_, &configmaps_}) {
    if (c->name == collection) return c->lists;
  }
  return 0;
}

int FakeKubeApiserver::watch_requests(const std::string& collection) const {
  base::MutexLock lock(mu_);
  for (const Collection* c : {&nodes_, &pods_, &configmaps_}) {
    if (c->name == collection) return c->watch_count;
  }
  return 0;
}

std::vector<std::string> FakeKubeApiserver::targets() const {
  base::MutexLock lock(mu_);
  return targets_;
}

// ---- serving ----

std::string FakeKubeApiserver::EventLine(const std::string& type, const json& object,
                                         bool metadata_only) {
  json obj = object;
  if (metadata_only) {
    obj = {{"kind", "PartialObjectMetadata"},
           {"apiVersion", "meta.k8s.io/v1"},
           {"metadata", object["metadata"]}};
  }
  return json{{"type", type}, {"object", obj}}.dump() + "\n";
}

bool FakeKubeApiserver::Selected(const Watch& w, const json& object) {
  return Matches(w.field_selector, FieldsOf(object));
}

Reply FakeKubeApiserver::Handle(const testing_support::SeenRequest& req) {
  if (record_targets_) {
    base::MutexLock lock(mu_);
    targets_.push_back(req.method + " " + req.target);
  }
  if (unavailable_) {
    Reply r;
    r.action = Reply::Action::kReset;
    return r;
  }
  std::string_view target = req.target;
  std::size_t qpos = target.find('?');
  std::string path(target.substr(0, qpos));
  if (req.method == "GET" && path == "/version") {
    return Reply::Ok(R"({"major":"1","minor":"36","gitVersion":"v1.36.3","gitCommit":"fake",)"
                     R"("gitTreeState":"clean","buildDate":"2026-01-01T00:00:00Z",)"
                     R"("goVersion":"go1.25.0","compiler":"gc","platform":"linux/amd64"})",
                     "application/json");
  }
  if (req.Header("Authorization") != std::string("Bearer ") + kToken) {
    return StatusReply(401, "Unauthorized", "Unauthorized");
  }
  auto query = ParseQuery(qpos == target.npos ? "" : target.substr(qpos + 1));
  if (req.method == "POST" && (path == "/apis/authentication.k8s.io/v1/tokenreviews" ||
                               path == "/apis/authorization.k8s.io/v1/subjectaccessreviews")) {
    Reply r = path.find("tokenreviews") != std::string::npos ? TokenReview(req.body)
                                                             : AccessReview(req.body);
    base::MutexLock lock(mu_);
    r.delay = review_delay_;
    return r;
  }
  if (req.method != "GET") return StatusReply(405, "MethodNotAllowed", "method not allowed");
  bool metadata_only = req.Header("Accept").find("as=PartialObjectMetadata") != std::string::npos;
  // /api/v1/<resource>[/<name>] or /api/v1/namespaces/<ns>/<resource>[/<name>]
  std::vector<std::string> parts;
  for (std::size_t at = 0; at < path.size();) {
    std::size_t slash = path.find('/', at + 1);
    std::string part = path.substr(at + 1, slash == path.npos ? path.npos : slash - at - 1);
    if (!part.empty()) parts.push_back(Unescape(part));
    if (slash == path.npos) break;
    at = slash;
  }
  std::string ns, resource, name;
  if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1") {
    if (parts[2] == "namespaces" && parts.size() >= 5) {
      ns = parts[3];
      resource = parts[4];
      if (parts.size() == 6) name = parts[5];
      if (parts.size() > 6) resource.clear();
    } else if (parts.size() <= 4) {
      resource = parts[2];
      if (parts.size() == 4) name = parts[3];
    }
  }
  base::MutexLock lock(mu_);
  Collection* c = nullptr;
  if (resource == "nodes" && ns.empty()) c = &nodes_;
  if (resource == "pods") c = &pods_;
  if (resource == "configmaps" && ns == "kube-system") c = &configmaps_;
  if (!c) return StatusReply(404, "NotFound", "the server could not find the requested resource");
  if (!name.empty()) return Get(*c, c == &pods_ ? ns + "/" + name : name, metadata_only);
  std::string error;
  if (!Matches(query["fieldSelector"], Fields{}, &error) && !error.empty()) {
    return StatusReply(400, "BadRequest", error);
  }
  if (!ns.empty() && c == &pods_) {
    std::string& selector = query["fieldSelector"];
    selector += (selector.empty() ? "" : ",") + std::string("metadata.namespace=") + ns;
  }
  if (query["watch"] == "true" || query["watch"] == "1")
    return StartWatch(*c, query, metadata_only);
  return List(*c, query, metadata_only, ns);
}

Reply FakeKubeApiserver::Get(Collection& c, const std::string& key, bool metadata_only) {
  auto it = c.items.find(key);
  if (it == c.items.end()) {
    return StatusReply(404, "NotFound", c.name + " \"" + key + "\" not found");
  }
  const Item& item = it->second;
  if (!metadata_only) return Reply::Ok(item.json, "application/json");
  return Reply::Ok(R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":)" +
                       item.json.substr(item.meta_begin, item.meta_size) + "}",
                   "application/json");
}

Reply FakeKubeApiserver::List(Collection& c, const std::map<std::string, std::string>& q,
                              bool metadata_only, const std::string& /*ns*/) {
  ++c.lists;
  if (corrupt_lists_ > 0) {
    --corrupt_lists_;
    return Reply::Ok(corrupt_body_, "application/json");
  }
  // Continue tokens are "<list rv>:<last key>" (opaque to clients, like the real ones).
  std::string after_key;
  bool has_after = false;
  uint64_t list_rv = rv_;
  if (auto it = q.find("continue"); it != q.end() && !it->second.empty()) {
    std::size_t colon = it->second.find(':');
    list_rv = std::stoull(it->second.substr(0, colon));
    after_key = it->second.substr(colon + 1);
    has_after = true;
    if (list_rv < compacted_) {
      return StatusReply(410, "Expired",
                         "The provided continue parameter is too old to display a consistent list "
                         "result.");
    }
  }
  std::size_t limit = c.items.size();
  if (auto it = q.find("limit"); it != q.end() && !it->second.empty() && it->second != "0") {
    limit = std::stoull(it->second);
  }
  const std::string selector = q.count("fieldSelector") ? q.at("fieldSelector") : "";
  // Rendered by hand: dumping each stored object is much cheaper than copying it into a DOM.
  std::string items;
  std::size_t taken = 0;
  std::string last_key;
  auto it = has_after ? c.items.upper_bound(after_key) : c.items.begin();
  for (; it != c.items.end() && taken < limit; ++it) {
    if (!Matches(selector, it->second.fields)) continue;
    if (taken++ > 0) items += ',';
    if (metadata_only) {
      items += R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":)";
      items.append(it->second.json, it->second.meta_begin, it->second.meta_size);
      items += '}';
    } else {
      items += it->second.json;
    }
    last_key = it->first;
  }
  json meta = {{"resourceVersion", std::to_string(list_rv)}};
  if (it != c.items.end()) meta["continue"] = std::to_string(list_rv) + ":" + last_key;
  std::string body = std::string(R"({"kind":")") +
                     (metadata_only ? std::string("PartialObjectMetadataList") : ListKind(c.name)) +
                     R"(","apiVersion":")" + (metadata_only ? "meta.k8s.io/v1" : "v1") +
                     R"(","metadata":)" + meta.dump() + R"(,"items":[)" + items + "]}";
  return Reply::Ok(std::move(body), "application/json");
}

Reply FakeKubeApiserver::StartWatch(Collection& c, const std::map<std::string, std::string>& q,
                                    bool metadata_only) {
  ++c.watch_count;
  if (fail_watches_ > 0) {
    --fail_watches_;
    return StatusReply(fail_watch_status_, "InternalError", "injected watch failure");
  }
  Watch w;
  w.feed = std::make_shared<testing_support::ChunkFeed>();
  w.bookmarks = q.count("allowWatchBookmarks") && q.at("allowWatchBookmarks") == "true";
  w.metadata_only = metadata_only;
  w.field_selector = q.count("fieldSelector") ? q.at("fieldSelector") : "";
  uint64_t from = 0;
  if (auto it = q.find("resourceVersion"); it != q.end() && !it->second.empty()) {
    from = std::stoull(it->second);
  }
  Reply r;
  r.content_type = "application/json";
  r.stream = w.feed;
  if (q.count("sendInitialEvents") && q.at("sendInitialEvents") == "true") {
    // A watch-list (client-go's WatchListClient): the current state as ADDED events, then a
    // bookmark marking the end of the initial events, then changes.
    std::string chunk;
    for (const auto& [key, item] : c.items) {
      if (!Matches(w.field_selector, item.fields)) continue;
      chunk += R"({"type":"ADDED","object":)";
      if (metadata_only) {
        chunk += R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":)";
        chunk.append(item.json, item.meta_begin, item.meta_size);
        chunk += '}';
      } else {
        chunk += item.json;
      }
      chunk += "}\n";
      if (chunk.size() >= 256 * 1024) {
        w.feed->Push(std::move(chunk));
        chunk.clear();
      }
    }
    if (!chunk.empty()) w.feed->Push(std::move(chunk));
    std::string kind = ListKind(c.name);
    kind.resize(kind.size() - 4);  // "NodeList" -> "Node"
    json bookmark = {{"kind", metadata_only ? "PartialObjectMetadata" : kind},
                     {"apiVersion", metadata_only ? "meta.k8s.io/v1" : "v1"},
                     {"metadata",
                      {{"resourceVersion", std::to_string(rv_)},
                       {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
    w.feed->Push(json{{"type", "BOOKMARK"}, {"object", bookmark}}.dump() + "\n");
    c.watches.push_back(std::move(w));
    return r;
  }
  if (from > rv_) {
    return StatusReply(504, "Timeout",
                       "Too large resource version: " + std::to_string(from) +
                           ", current: " + std::to_string(rv_));
  }
  if (from < compacted_) {
    json status = {{"kind", "Status"},
                   {"apiVersion", "v1"},
                   {"metadata", json::object()},
                   {"status", "Failure"},
                   {"message", "too old resource version: " + std::to_string(from) + " (" +
                                   std::to_string(rv_) + ")"},
                   {"reason", "Expired"},
                   {"code", 410}};
    w.feed->Push(json{{"type", "ERROR"}, {"object", status}}.dump() + "\n");
    w.feed->End();
    return r;
  }
  for (const Event& e : c.history) {
    if (e.rv > from && Selected(w, e.object)) {
      w.feed->Push(EventLine(e.type, e.object, metadata_only));
    }
  }
  c.watches.push_back(std::move(w));
  return r;
}

Reply FakeKubeApiserver::TokenReview(const std::string& body) {
  ++token_reviews_;
  json req = json::parse(body, nullptr, false);
  if (req.is_discarded() || req.value("kind", "") != "TokenReview") {
    return StatusReply(400, "BadRequest", "not a TokenReview");
  }
  std::string token = req["spec"].value("token", "");
  json status = {{"authenticated", false}};
  {
    base::MutexLock lock(mu_);
    if (expired_tokens_.count(token)) {
      status["error"] = "[invalid bearer token, service account token has expired]";
    } else if (auto it = tokens_.find(token); it != tokens_.end()) {
      status = {{"authenticated", true},
                {"user",
                 {{"username", it->second.first},
                  {"uid", "uid-" + it->second.first},
                  {"groups", it->second.second}}}};
    } else {
      status["error"] = "invalid bearer token";
    }
  }
  req["status"] = status;
  Reply r = Reply::Ok(req.dump(), "application/json");
  r.status = 201;
  return r;
}

Reply FakeKubeApiserver::AccessReview(const std::string& body) {
  ++access_reviews_;
  json req = json::parse(body, nullptr, false);
  if (req.is_discarded() || req.value("kind", "") != "SubjectAccessReview") {
    return StatusReply(400, "BadRequest", "not a SubjectAccessReview");
  }
  SarPolicy policy;
  {
    base::MutexLock lock(mu_);
    if (access_reviews_failing_) {
      return StatusReply(500, "InternalError", "injected SubjectAccessReview failure");
    }
    policy = sar_policy_;
  }
  req["status"] = policy(req["spec"]);
  Reply r = Reply::Ok(req.dump(), "application/json");
  r.status = 201;
  return r;
}

}  // namespace kube::fake
