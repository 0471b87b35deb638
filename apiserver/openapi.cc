#include "apiserver/openapi.h"

#include <nlohmann/json.hpp>

#include <functional>

namespace apiserver {
namespace {

using json = nlohmann::json;

std::string Hash(const std::string& s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016zX", std::hash<std::string>{}(s));
  return buf;
}

std::string DefName(const std::string& version, const std::string& kind) {
  return "io.k8s.metrics.pkg.apis.metrics." + version + "." + kind;
}

// Schemas keyed by definition name; `ref` builds a reference to another definition.
json Definitions(const std::vector<std::string>& versions,
                 const std::function<json(const std::string&)>& ref) {
  json defs = json::object();
  const std::string meta = "io.k8s.apimachinery.pkg.apis.meta.v1.";
  defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
      {"type", "string"},
      {"description",
       "Quantity is a fixed-point representation of a number, e.g. \"500m\" or \"1578392Ki\"."}};
  defs[meta + "Time"] = {{"type", "string"},
                         {"format", "date-time"},
                         {"description", "RFC 3339 time in UTC, whole seconds."}};
  defs[meta + "Duration"] = {{"type", "string"},
                             {"description", "Duration in Go's format, e.g. \"15.001s\"."}};
  defs[meta + "ObjectMeta"] = {
      {"type", "object"},
      {"description", "Standard object metadata."},
      {"properties",
       {{"name", {{"type", "string"}, {"description", "Name of the node or pod."}}},
        {"namespace", {{"type", "string"}, {"description", "Namespace of the pod."}}},
        {"creationTimestamp",
         {{"allOf", json::array({ref(meta + "Time")})},
          {"description", "Time the object was generated (the response time)."}}},
        {"labels",
         {{"type", "object"},
          {"additionalProperties", {{"type", "string"}, {"default", ""}}},
          {"description", "Labels of the node or pod."}}}}}};
  defs[meta + "ListMeta"] = {{"type", "object"},
                             {"description", "Standard list metadata (always empty)."},
                             {"properties", json::object()}};
  json usage = {{"type", "object"},
                {"additionalProperties", ref("io.k8s.apimachinery.pkg.api.resource.Quantity")},
                {"description", "The memory and CPU usage."}};
  for (const auto& v : versions) {
    const std::string gv = "metrics.k8s.io/" + v;
    auto gvk = [&](const std::string& kind) {
      return json::array({{{"group", "metrics.k8s.io"}, {"version", v}, {"kind", kind}}});
    };
    json type_meta = {
        {"apiVersion", {{"type", "string"}, {"description", "APIVersion of this object."}}},
        {"kind", {{"type", "string"}, {"description", "Kind of this object."}}}};
    json common = type_meta;
    common["metadata"] = {{"allOf", json::array({ref(meta + "ObjectMeta")})},
                          {"default", json::object()}};
    common["timestamp"] = {{"allOf", json::array({ref(meta + "Time")})},
                           {"description", "The end of the interval the usage was measured over."}};
    common["window"] = {{"allOf", json::array({ref(meta + "Duration")})},
                        {"description", "The length of the interval the usage was measured over."}};
    json node = common;
    node["usage"] = usage;
    defs[DefName(v, "NodeMetrics")] = {
        {"type", "object"},
        {"description", "NodeMetrics sets resource usage metrics of a node."},
        {"required", json::array({"timestamp", "window", "usage"})},
        {"properties", node},
        {"x-kubernetes-group-version-kind", gvk("NodeMetrics")}};
    defs[DefName(v, "ContainerMetrics")] = {
        {"type", "object"},
        {"description", "ContainerMetrics sets resource usage metrics of a container."},
        {"required", json::array({"name", "usage"})},
        {"properties",
         {{"name", {{"type", "string"}, {"default", ""}, {"description", "Container name."}}},
          {"usage", usage}}}};
    json pod = common;
    pod["containers"] = {
        {"type", "array"},
        {"items", ref(DefName(v, "ContainerMetrics"))},
        {"description", "Metrics for all containers, collected within the same window."}};
    defs[DefName(v, "PodMetrics")] = {
        {"type", "object"},
        {"description", "PodMetrics sets resource usage metrics of a pod."},
        {"required", json::array({"timestamp", "window", "containers"})},
        {"properties", pod},
        {"x-kubernetes-group-version-kind", gvk("PodMetrics")}};
    for (const std::string kind : {"NodeMetrics", "PodMetrics"}) {
      json list = type_meta;
      list["metadata"] = {{"allOf", json::array({ref(meta + "ListMeta")})},
                          {"default", json::object()}};
      list["items"] = {{"type", "array"}, {"items", ref(DefName(v, kind))}};
      defs[DefName(v, kind + "List")] = {{"type", "object"},
                                         {"description", kind + "List is a list of " + kind + "."},
                                         {"required", json::array({"items"})},
                                         {"properties", list},
                                         {"x-kubernetes-group-version-kind", gvk(kind + "List")}};
    }
    (void)gv;
  }
  return defs;
}

// Path items for one version; `ref` builds a schema reference, `v3` selects the format.
json Paths(const std::string& v, const std::function<json(const std::string&)>& ref, bool v3) {
  json paths = json::object();
  const std::string base = "/apis/metrics.k8s.io/" + v;
  auto op = [&](const std::string& id, const std::string& kind, const std::string& action,
                bool namespaced, bool named, bool list) {
    json params = json::array();
    auto param = [&](const std::string& name, const std::string& in, const std::string& desc,
                     const std::string& type = "string") {
      json p = {{"name", name}, {"in", in}, {"description", desc}};
      if (in == "path") p["required"] = true;
      if (v3) {
        p["schema"] = {{"type", type}};
      } else {
        p["type"] = type;
      }
      return p;
    };
    if (named) params.push_back(param("name", "path", "name of the " + kind));
    if (namespaced) params.push_back(param("namespace", "path", "object name and auth scope"));
    if (list) {
      params.push_back(
          param("labelSelector", "query", "A selector to restrict the list by labels."));
      params.push_back(
          param("fieldSelector", "query", "A selector on metadata.name and metadata.namespace."));
      // Watch (watch.h): the list path with watch=true streams WatchEvents.
      params.push_back(param("watch", "query",
                             "Watch for changes (one set per metrics window) and return them as "
                             "a stream of add, update, and remove notifications.",
                             "boolean"));
      params.push_back(param("resourceVersion", "query",
                             "The window generation to watch from (a list's "
                             "metadata.resourceVersion); unset or 0: the current objects first."));
      params.push_back(
          param("resourceVersionMatch", "query", "NotOlderThan, with sendInitialEvents."));
      params.push_back(param("allowWatchBookmarks", "query",
                             "A BOOKMARK for each window that brought the watch no event.",
                             "boolean"));
      params.push_back(param("sendInitialEvents", "query",
                             "The current objects, then a BOOKMARK annotated "
                             "k8s.io/initial-events-end.",
                             "boolean"));
      params.push_back(
          param("timeoutSeconds", "query", "Ends the watch after this many seconds.", "integer"));
    }
    json ok = {{"description", "OK"}};
    if (v3) {
      ok["content"] = {
          {"application/json", {{"schema", ref(DefName(v, kind))}}},
          {"application/vnd.kubernetes.protobuf", {{"schema", ref(DefName(v, kind))}}}};
    } else {
      ok["schema"] = ref(DefName(v, kind));
    }
    json o = {{"operationId", id},
              {"description", action},
              {"tags", json::array({"metrics_" + v})},
              {"responses", {{"200", ok}, {"401", {{"description", "Unauthorized"}}}}},
              {"x-kubernetes-action", list ? "list" : "get"},
              {"x-kubernetes-group-version-kind",
               {{"group", "metrics.k8s.io"},
                {"version", v},
                {"kind", list ? kind.substr(0, kind.size() - 4) : kind}}}};
    if (!v3) {
      o["produces"] = json::array({"application/json", "application/vnd.kubernetes.protobuf"});
      o["schemes"] = json::array({"https"});
    }
    return json{{"get", o}, {"parameters", params}};
  };
  const std::string V = std::string(1, static_cast<char>(std::toupper(v[0]))) + v.substr(1);
  paths[base + "/nodes"] = op("listMetrics" + V + "NodeMetrics", "NodeMetricsList",
                              "list objects of kind NodeMetrics", false, false, true);
  paths[base + "/nodes/{name}"] = op("readMetrics" + V + "NodeMetrics", "NodeMetrics",
                                     "read the specified NodeMetrics", false, true, false);
  paths[base + "/pods"] = op("listMetrics" + V + "PodMetricsForAllNamespaces", "PodMetricsList",
                             "list objects of kind PodMetrics", false, false, true);
  paths[base + "/namespaces/{namespace}/pods"] =
      op("listMetrics" + V + "NamespacedPodMetrics", "PodMetricsList",
         "list objects of kind PodMetrics", true, false, true);
  paths[base + "/namespaces/{namespace}/pods/{name}"] =
      op("readMetrics" + V + "NamespacedPodMetrics", "PodMetrics", "read the specified PodMetrics",
         true, true, false);
  return paths;
}

}  // namespace

OpenApi::OpenApi(const std::vector<std::string>& versions) {
  auto ref2 = [](const std::string& name) { return json{{"$ref", "#/definitions/" + name}}; };
  json v2 = {{"swagger", "2.0"},
             {"info", {{"title", "cpp-metrics-server"}, {"version", "v0.1.0"}}},
             {"paths", json::object()},
             {"definitions", Definitions(versions, ref2)},
             {"securityDefinitions",
              {{"BearerToken",
                {{"type", "apiKey"},
                 {"name", "authorization"},
                 {"in", "header"},
                 {"description", "Bearer Token authentication"}}}}},
             {"security", json::array({{{"BearerToken", json::array()}}})}};
  for (const auto& v : versions) {
    json paths = Paths(v, ref2, false);
    for (auto& [path, item] : paths.items()) v2["paths"][path] = item;
  }
  v2_ = v2.dump();
  v2_etag_ = "\"" + Hash(v2_) + "\"";

  auto ref3 = [](const std::string& name) {
    return json{{"$ref", "#/components/schemas/" + name}};
  };
  json index = {{"paths", json::object()}};
  for (const auto& v : versions) {
    json doc = {{"openapi", "3.0.0"},
                {"info", {{"title", "cpp-metrics-server"}, {"version", "v0.1.0"}}},
                {"paths", Paths(v, ref3, true)},
                {"components",
                 {{"schemas", Definitions({v}, ref3)},
                  {"securitySchemes",
                   {{"BearerToken",
                     {{"type", "apiKey"},
                      {"name", "authorization"},
                      {"in", "header"},
                      {"description", "Bearer Token authentication"}}}}}}}};
    std::string text = doc.dump();
    std::string hash = Hash(text);
    const std::string key = "apis/metrics.k8s.io/" + v;
    v3_["/openapi/v3/" + key] = {text, "\"" + hash + "\""};
    index["paths"][key] = {{"serverRelativeURL", "/openapi/v3/" + key + "?hash=" + hash}};
  }
  v3_index_ = index.dump();
}

std::optional<HttpResponse> OpenApi::Serve(std::string_view path,
                                           const HttpRequest& request) const {
  const std::string* body = nullptr;
  const std::string* etag = nullptr;
  std::string index_etag;
  if (path == "/openapi/v2") {
    body = &v2_;
    etag = &v2_etag_;
  } else if (path == "/openapi/v3" || path == "/openapi/v3/") {
    body = &v3_index_;
  } else if (auto it = v3_.find(std::string(path)); it != v3_.end()) {
    body = &it->second.first;
    etag = &it->second.second;
  } else {
    return std::nullopt;
  }
  HttpResponse r;
  r.content_type = "application/json";
  if (etag != nullptr) {
    r.headers.emplace_back("ETag", *etag);
    if (auto inm = request.Header("If-None-Match"); inm && *inm == *etag) {
      r.status = 304;
      return r;
    }
  }
  r.body = *body;
  return r;
}

}  // namespace apiserver
