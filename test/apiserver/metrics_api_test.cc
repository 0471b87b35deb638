#include "apiserver/metrics_api.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "apiserver/self_metrics.h"
#include "apiserver/status.h"
#include "test/apiserver/proto_reader.h"
#include "window/publication.h"

namespace apiserver {
namespace {

using nlohmann::json;

constexpr base::UnixNanos kSample = 1736430339'000'000'000LL;

window::PodInput Pod(std::string ns, std::string name) {
  window::PodInput p;
  p.namespace_ = std::move(ns);
  p.name = std::move(name);
  p.timestamp = kSample;
  p.window = std::chrono::seconds(15);
  p.containers = {{"app", 1000000, 1 << 20}};
  return p;
}

class MetricsApiTest : public ::testing::Test {
 protected:
  MetricsApiTest() : clock_(kSample + 25'000'000'000LL) {
    windows_.Publish(std::make_shared<window::Window>(
        1,
        std::vector<window::NodeMetrics>{
            {"node-b", kSample, std::chrono::seconds(15), 2000000000, 2ull << 30},
            {"node-a", kSample, std::chrono::seconds(15), 500000000, 1ull << 30},
            {"node-gone", kSample, std::chrono::seconds(15), 1, 1}},
        std::vector<window::PodInput>{Pod("default", "web-1"), Pod("default", "web-0"),
                                      Pod("kube-system", "dns"), Pod("default", "db-0"),
                                      Pod("default", "completed")}));
    nodes_.Replace({{"node-a", {{"role", "worker"}}, {}, {}, 0, 0, 0},
                    {"node-b", {{"role", "infra"}}, {}, {}, 0, 0, 0},
                    {"node-c", {{"role", "worker"}}, {}, {}, 0, 0, 0}});
    // "completed" is not Running, so it is not in the Running-pod cache.
    pods_.Replace({{"default", "web-0", {{"app", "web"}, {"tier", "front"}}},
                   {"default", "web-1", {{"app", "web"}}},
                   {"default", "db-0", {{"app", "db"}}},
                   {"default", "pending-metrics", {{"app", "web"}}},
                   {"kube-system", "dns", {{"app", "dns"}}}});
  }

  MetricsApi Api(MetricsApiOptions options = {}) {
    return MetricsApi(windows_, nodes_, pods_, clock_, std::move(options));
  }

  HttpResponse Get(const MetricsApi& api, const std::string& target,
                   const std::string& accept = "application/json",
                   const std::string& method = "GET") {
    HttpRequest req;
    req.method = method;
    req.target = target;
    Query query(req.RawQuery());
    RequestInfo info = ParseRequestInfo(method, req.Path(), query);
    if (!info.is_resource) {
      auto r = api.ServeDiscovery(req.Path(), accept);
      if (!r) return ErrorResponse(NotFoundError());
      return *r;
    }
    return api.ServeResource(info, query, accept);
  }

  static std::vector<std::string> Names(const HttpResponse& r) {
    std::vector<std::string> out;
    const json body = json::parse(r.body);
    for (const auto& item : body["items"]) {
      std::string ns = item["metadata"].value("namespace", "");
      out.push_back((ns.empty() ? "" : ns + "/") + item["metadata"]["name"].get<std::string>());
    }
    return out;
  }

  window::Publication windows_;
  kube::NodeCache nodes_;
  kube::PodCache pods_;
  base::ManualClock clock_;
};

TEST_F(MetricsApiTest, DiscoveryServesTheConfiguredVersions) {
  MetricsApi api = Api();
  auto group = json::parse(Get(api, "/apis/metrics.k8s.io").body);
  ASSERT_EQ(group["versions"].size(), 2u);
  EXPECT_EQ(group["versions"][0]["version"], "v1beta1");
  EXPECT_EQ(group["versions"][1]["version"], "v1");
  EXPECT_EQ(Get(api, "/apis/metrics.k8s.io/v1").status, 200u);
  EXPECT_EQ(json::parse(Get(api, "/apis").body)["groups"][0]["name"], "metrics.k8s.io");

  MetricsApi v1_only = Api({{"v1"}, {}, nullptr});
  EXPECT_EQ(Get(v1_only, "/apis/metrics.k8s.io/v1beta1").status, 404u);
  EXPECT_EQ(Get(v1_only, "/apis/metrics.k8s.io/v1beta1/nodes").status, 404u);
  EXPECT_EQ(Get(v1_only, "/apis/metrics.k8s.io/v1/nodes").status, 200u);
  auto list = json::parse(Get(v1_only, "/apis/metrics.k8s.io/v1/nodes").body);
  EXPECT_EQ(list["apiVersion"], "metrics.k8s.io/v1");
}

TEST_F(MetricsApiTest, AggregatedDiscoveryOnlyAcceptIs406) {
  MetricsApi api = Api();
  HttpResponse r = Get(api, "/apis",
                       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                       "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
  EXPECT_EQ(r.status, 406u);
  EXPECT_EQ(json::parse(r.body)["reason"], "NotAcceptable");
}

TEST_F(MetricsApiTest, ListNodesSortedSkippingNodesWithoutMetricsOrNotInCache) {
  MetricsApi api = Api();
  HttpResponse r = Get(api, "/apis/metrics.k8s.io/v1beta1/nodes");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(Names(r), (std::vector<std::string>{"node-a", "node-b"}));
  auto body = json::parse(r.body);
  EXPECT_EQ(body["kind"], "NodeMetricsList");
  EXPECT_EQ(body["items"][0]["usage"]["cpu"], "500m");
  EXPECT_EQ(body["items"][0]["usage"]["memory"], "1Gi");
  EXPECT_EQ(body["items"][0]["metadata"]["labels"]["role"], "worker");
  EXPECT_EQ(body["items"][0]["metadata"]["creationTimestamp"], "2025-01-09T13:46:04Z");
  // The list's resourceVersion is the window generation; its items carry none.
  EXPECT_EQ(body["metadata"]["resourceVersion"], "1");
  EXPECT_FALSE(body["items"][0]["metadata"].contains("resourceVersion"));
  auto table = json::parse(
      Get(api, "/apis/metrics.k8s.io/v1beta1/nodes", "application/json;as=Table;v=v1;g=meta.k8s.io")
          .body);
  EXPECT_EQ(table["metadata"]["resourceVersion"], "1");
}

TEST_F(MetricsApiTest, NodeLabelAndFieldSelectors) {
  MetricsApi api = Api();
  EXPECT_EQ(Names(Get(api, "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=role%3Dinfra")),
            (std::vector<std::string>{"node-b"}));
  EXPECT_EQ(
      Names(Get(api, "/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=metadata.name!%3Dnode-b")),
      (std::vector<std::string>{"node-a"}));
  // Nodes have no namespace: "metadata.namespace=x" matches none, "=" matches all.
  EXPECT_TRUE(
      Names(Get(api, "/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=metadata.namespace%3Dx"))
          .empty());
  EXPECT_EQ(
      Names(Get(api, "/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=metadata.namespace%3D"))
          .size(),
      2u);
}

TEST_F(MetricsApiTest, NodeSelectorOptionHidesNodes) {
  MetricsApiOptions options;
  options.node_selector = *kube::LabelSelector::Parse("role=worker");
  MetricsApi api = Api(options);
  EXPECT_EQ(Names(Get(api, "/apis/metrics.k8s.io/v1beta1/nodes")),
            (std::vector<std::string>{"node-a"}));
  HttpResponse r = Get(api, "/apis/metrics.k8s.io/v1beta1/nodes/node-b");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(json::parse(r.body)["message"], "nodemetrics.metrics.k8s.io \"node-b\" not found");
}

TEST_F(MetricsApiTest, GetNodeAndItsNotFoundForms) {
  MetricsApi api = Api();
  HttpResponse ok = Get(api, "/apis/metrics.k8s.io/v1beta1/nodes/node-a");
  ASSERT_EQ(ok.status, 200u);
  auto node = json::parse(ok.body);
  EXPECT_EQ(node["kind"], "NodeMetrics");
  EXPECT_EQ(node["apiVersion"], "metrics.k8s.io/v1beta1");
  EXPECT_EQ(node["window"], "15s");

  auto missing = json::parse(Get(api, "/apis/metrics.k8s.io/v1beta1/nodes/node-x").body);
  EXPECT_EQ(missing["code"], 404);
  EXPECT_EQ(missing["message"], "node \"node-x\" not found");
  EXPECT_EQ(missing["details"], json::parse(R"({"name":"node-x","kind":"node"})"));

  auto no_metrics = json::parse(Get(api, "/apis/metrics.k8s.io/v1beta1/nodes/node-c").body);
  EXPECT_EQ(no_metrics["message"], "nodemetrics.metrics.k8s.io \"node-c\" not found");
  EXPECT_EQ(no_metrics["details"],
            json::parse(R"({"name":"node-c","group":"metrics.k8s.io","kind":"nodemetrics"})"));
}

TEST_F(MetricsApiTest, GetPodAndItsNotFoundForms) {
  MetricsApi api = Api();
  auto pod =
      json::parse(Get(api, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-0").body);
  EXPECT_EQ(pod["kind"], "PodMetrics");
  EXPECT_EQ(pod["metadata"]["namespace"], "default");
  EXPECT_EQ(pod["containers"][0]["usage"]["cpu"], "1m");
  EXPECT_EQ(pod["metadata"]["labels"]["tier"], "front");

  auto not_running =
      json::parse(Get(api, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/completed").body);
  EXPECT_EQ(not_running["message"], "pods \"completed\" not found");
  EXPECT_EQ(not_running["details"], json::parse(R"({"name":"completed","kind":"pods"})"));

  auto no_metrics = json::parse(
      Get(api, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/pending-metrics").body);
  EXPECT_EQ(no_metrics["message"],
            "podmetrics.metrics.k8s.io \"default/pending-metrics\" not found");
  EXPECT_EQ(no_metrics["details"]["name"], "default/pending-metrics");
  EXPECT_EQ(no_metrics["reason"], "NotFound");

  // Cluster-scoped path of a namespaced resource only lists.
  EXPECT_EQ(Get(api, "/apis/metrics.k8s.io/v1beta1/pods/web-0").status, 404u);
}

TEST_F(MetricsApiTest, ListPodsOnlyRunningSortedByNamespaceThenName) {
  MetricsApi api = Api();
  EXPECT_EQ(Names(Get(api, "/apis/metrics.k8s.io/v1beta1/pods")),
            (std::vector<std::string>{"default/db-0", "default/web-0", "default/web-1",
                                      "kube-system/dns"}));
  EXPECT_EQ(Names(Get(api, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods")),
            (std::vector<std::string>{"default/db-0", "default/web-0", "default/web-1"}));
  EXPECT_TRUE(Names(Get(api, "/apis/metrics.k8s.io/v1beta1/namespaces/empty/pods")).empty());
}

TEST_F(MetricsApiTest, PodSelectorsAreFormDecoded) {
  MetricsApi api = Api();
  // As the aggregator re-encodes it: spaces as '+', parentheses and commas escaped.
  EXPECT_EQ(
      Names(Get(api, "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app+in+%28web%2Cdns%29")),
      (std::vector<std::string>{"default/web-0", "default/web-1", "kube-system/dns"}));
  EXPECT_EQ(Names(Get(api,
                      "/apis/metrics.k8s.io/v1beta1/namespaces/default/"
                      "pods?labelSelector=app%3Dweb%2C%21tier")),
            (std::vector<std::string>{"default/web-1"}));
  EXPECT_EQ(
      Names(Get(api,
                "/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.namespace!%3Ddefault")),
      (std::vector<std::string>{"kube-system/dns"}));
  EXPECT_EQ(
      Names(Get(api, "/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.name%3Dweb-1")),
      (std::vector<std::string>{"default/web-1"}));
  // The first value of a repeated key wins.
  EXPECT_EQ(
      Names(Get(
          api, "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Ddb&labelSelector=app%3Dweb")),
      (std::vector<std::string>{"default/db-0"}));
}

TEST_F(MetricsApiTest, BadSelectorsAre400) {
  MetricsApi api = Api();
  HttpResponse field =
      Get(api, "/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=spec.nodeName%3Dx");
  EXPECT_EQ(field.status, 400u);
  EXPECT_EQ(json::parse(field.body)["message"],
            "\"spec.nodeName\" is not a known field selector: only \"metadata.name\", "
            "\"metadata.namespace\"");
  HttpResponse label = Get(api, "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dweb%2C");
  EXPECT_EQ(label.status, 400u);
  EXPECT_EQ(json::parse(label.body)["reason"], "BadRequest");
}

// The cases of validation_test.go (k8s.io/apimachinery/pkg/apis/meta/internalversion/
// validation, TestValidateListOptions, WatchList enabled), error text for error text.
TEST(ValidateListOptionsTest, MatchesUpstreamValidation) {
  auto errs = [](std::string_view raw, bool watch) {
    std::vector<std::string> out;
    for (const FieldError& e : ValidateListOptions(Query(raw), watch)) {
      out.push_back(e.field + ": " + e.body);
    }
    return out;
  };
  using V = std::vector<std::string>;
  const std::string need_sie =
      "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless "
      "sendInitialEvents is provided";
  const std::string need_not_older =
      "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch "
      "to NotOlderThan";
  // Lists.
  EXPECT_EQ(errs("", false), V{});
  EXPECT_EQ(errs("resourceVersion=5&resourceVersionMatch=Exact", false), V{});
  EXPECT_EQ(errs("resourceVersionMatch=NotOlderThan", false),
            V{"resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
              "resourceVersion is provided"});
  EXPECT_EQ(errs("resourceVersion=0&resourceVersionMatch=Exact", false),
            V{"resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for "
              "resourceVersion \"0\""});
  EXPECT_EQ(errs("resourceVersion=1&resourceVersionMatch=x", false),
            V{"resourceVersionMatch: Unsupported value: \"x\": supported values: \"Exact\", "
              "\"NotOlderThan\", \"\""});
  EXPECT_EQ(errs("resourceVersion=1&resourceVersionMatch=Exact&continue=c", false),
            V{"resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue "
              "is provided"});
  EXPECT_EQ(errs("sendInitialEvents=true", false),
            V{"sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"});
  // Watches.
  EXPECT_EQ(errs("", true), V{});
  EXPECT_EQ(errs("sendInitialEvents=true&resourceVersionMatch=NotOlderThan", true), V{});
  EXPECT_EQ(errs("sendInitialEvents=false&resourceVersionMatch=NotOlderThan", true), V{});
  EXPECT_EQ(errs("resourceVersionMatch=NotOlderThan", true), V{need_sie});
  EXPECT_EQ(errs("sendInitialEvents=true", true), V{need_not_older});
  EXPECT_EQ(errs("sendInitialEvents=true&resourceVersionMatch=incorrect", true),
            (V{need_not_older,
               "resourceVersionMatch: Unsupported value: \"incorrect\": supported values: "
               "\"NotOlderThan\""}));
  EXPECT_EQ(errs("sendInitialEvents=true&resourceVersionMatch=NotOlderThan&continue=123", true),
            V{"resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue "
              "is provided"});
}

TEST_F(MetricsApiTest, InvalidListOptionsAre422) {
  MetricsApi api = Api();
  HttpResponse list = Get(api, "/apis/metrics.k8s.io/v1beta1/pods?sendInitialEvents=true");
  EXPECT_EQ(list.status, 422u);
  const json status = json::parse(list.body);
  EXPECT_EQ(status["reason"], "Invalid");
  EXPECT_EQ(status["message"],
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: "
            "sendInitialEvents is forbidden for list");
  EXPECT_EQ(status["details"]["causes"][0]["field"], "sendInitialEvents");
  EXPECT_EQ(status["details"]["causes"][0]["reason"], "FieldValueForbidden");
  EXPECT_EQ(Get(api, "/apis/metrics.k8s.io/v1beta1/nodes?resourceVersionMatch=Exact").status,
            422u);
  // A value that does not decode is 400, as the parameter codec's error is.
  EXPECT_EQ(Get(api, "/apis/metrics.k8s.io/v1beta1/pods?sendInitialEvents=maybe").status, 400u);
  EXPECT_EQ(Get(api, "/apis/metrics.k8s.io/v1beta1/pods?resourceVersion=1&"
                     "resourceVersionMatch=NotOlderThan")
                .status,
            200u);
  // A get is not a list: get.go's GetResource reads no ListOptions.
  EXPECT_EQ(Get(api, "/apis/metrics.k8s.io/v1beta1/nodes/n1?sendInitialEvents=true").status,
            Get(api, "/apis/metrics.k8s.io/v1beta1/nodes/n1").status);
}

TEST_F(MetricsApiTest, WatchAndOtherMethodsAre405UnknownPathsAre404) {
  MetricsApi api = Api();
  for (const char* value : {"true", "1", "", "yes"}) {
    HttpResponse r = Get(api, std::string("/apis/metrics.k8s.io/v1beta1/pods?watch=") + value);
    EXPECT_EQ(r.status, 405u) << value;
    EXPECT_EQ(json::parse(r.body)["message"],
              "watch is not supported on resources of kind \"pods.metrics.k8s.io\"");
    EXPECT_EQ(json::parse(r.body)["details"],
              json::parse(R"({"group":"metrics.k8s.io","kind":"pods"})"));
  }
  for (const char* value : {"false", "0", "FALSE"}) {
    EXPECT_EQ(Get(api, std::string("/apis/metrics.k8s.io/v1beta1/nodes?watch=") + value).status,
              200u)
        << value;
  }
  HttpResponse post = Get(api, "/apis/metrics.k8s.io/v1beta1/nodes", "", "POST");
  EXPECT_EQ(post.status, 405u);
  EXPECT_EQ(json::parse(post.body)["message"],
            "the server does not allow this method on the requested resource");
  HttpResponse unknown = Get(api, "/apis/metrics.k8s.io/v1beta1/services");
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(json::parse(unknown.body)["message"],
            "the server could not find the requested resource");
  EXPECT_EQ(Get(api, "/apis/metrics.k8s.io/v1beta1/watch/pods").status, 404u);
  EXPECT_EQ(Get(api, "/apis/other.k8s.io/v1/pods").status, 404u);
  EXPECT_EQ(Get(api, "/apis/metrics.k8s.io/v1beta1/namespaces/default/nodes").status, 404u);
}

TEST_F(MetricsApiTest, ContentNegotiation) {
  MetricsApi api = Api();
  const std::string path = "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods";
  HttpResponse pb = Get(api, path, "application/vnd.kubernetes.protobuf, */*");
  EXPECT_EQ(pb.content_type, "application/vnd.kubernetes.protobuf");
  EXPECT_EQ(pb.body.substr(0, 4), std::string("k8s\0", 4));
  EXPECT_EQ(Get(api, path, "application/json, */*").content_type, "application/json");
  EXPECT_EQ(Get(api, path, "").content_type, "application/json");
  EXPECT_EQ(
      Get(api, path, "application/vnd.kubernetes.protobuf;q=0.5,application/json").content_type,
      "application/json");
  HttpResponse table = Get(api, path,
                           "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;"
                           "v=v1beta1;g=meta.k8s.io,application/json");
  EXPECT_EQ(table.content_type, "application/json");
  auto t = json::parse(table.body);
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["rows"].size(), 3u);
  EXPECT_EQ(t["rows"][0]["cells"][1], "1m");
  EXPECT_EQ(t["rows"][0]["object"]["metadata"]["namespace"], "default");
  HttpResponse yaml = Get(api, path, "application/yaml");
  EXPECT_EQ(yaml.status, 406u);
  EXPECT_EQ(json::parse(yaml.body)["reason"], "NotAcceptable");
  HttpResponse bad_include =
      Get(api, path + "?includeObject=Everything", "application/json;as=Table;v=v1;g=meta.k8s.io");
  EXPECT_EQ(bad_include.status, 400u);
  // Errors follow the negotiated format.
  HttpResponse pb_error = Get(api, "/apis/metrics.k8s.io/v1beta1/nodes/node-x",
                              "application/vnd.kubernetes.protobuf, */*");
  EXPECT_EQ(pb_error.status, 404u);
  EXPECT_EQ(pb_error.content_type, "application/vnd.kubernetes.protobuf");
  std::string raw = testing::ProtoBytes(pb_error.body.substr(4), 2);
  EXPECT_EQ(testing::ProtoBytes(raw, 3), "node \"node-x\" not found");
  EXPECT_EQ(testing::ProtoVarint(raw, 6), 404u);
}

TEST_F(MetricsApiTest, FreshnessIsObserved) {
  base::MetricsRegistry registry;
  ServerMetrics metrics = ServerMetrics::Create(registry);
  MetricsApiOptions options;
  options.freshness = metrics.metric_freshness;
  MetricsApi api = Api(options);
  Get(api, "/apis/metrics.k8s.io/v1beta1/nodes");
  EXPECT_NE(registry.Render().find("metrics_server_api_metric_freshness_seconds_count 2\n"),
            std::string::npos);
}

// Reads a streamed body to its end: the chunks in order, and whether it ended.
std::vector<std::string> ReadStream(ResponseStream& stream, size_t max_chunks = 100000) {
  std::vector<std::string> chunks;
  for (bool end = false; !end && chunks.size() < max_chunks;) {
    stream.Next([&](StreamChunk chunk) {
      end = chunk.end;
      if (end) return;
      std::string joined;
      for (std::string_view p : chunk.parts) joined += p;
      chunks.push_back(std::move(joined));
    });
  }
  return chunks;
}

// Gets and small lists encode their own objects; a list of many pods encodes the whole window
// once, shared with the responses after it. Either way the bodies are the same.
TEST_F(MetricsApiTest, SmallResponsesEncodeTheirOwnObjectsAndLargePodListsTheWindow) {
  EncodedWindowCache cache;
  MetricsApiOptions options;
  options.encoded = &cache;
  MetricsApi api = Api(options);
  const std::string get = "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-0";
  const std::string list = "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods";
  const std::string proto = "application/vnd.kubernetes.protobuf";
  ASSERT_EQ(Get(api, get).status, 200u);
  EXPECT_EQ(Names(Get(api, "/apis/metrics.k8s.io/v1beta1/nodes")),
            (std::vector<std::string>{"node-a", "node-b"}));
  EXPECT_EQ(cache.Ready(windows_.Current()), nullptr) << "nothing encoded the whole window";
  EXPECT_FALSE(cache.used());

  // 1,000 pods in a window of 8,000: a list of them is too small a part to encode them all.
  std::vector<window::PodInput> metrics = {Pod("default", "web-0"), Pod("default", "web-1")};
  std::vector<kube::Pod> cached = {{"default", "web-0", {{"app", "web"}, {"tier", "front"}}},
                                   {"default", "web-1", {{"app", "web"}}}};
  for (size_t i = 0; i < 8 * kSharedEncodingMinPods; ++i) {
    const std::string ns = i < kSharedEncodingMinPods ? "big" : "other";
    const std::string name = "pod-" + std::to_string(100000 + i);
    metrics.push_back(Pod(ns, name));
    cached.push_back({ns, name, {}});
  }
  windows_.Publish(std::make_shared<window::Window>(2, std::vector<window::NodeMetrics>{},
                                                    std::vector<window::PodInput>(metrics)));
  pods_.Replace(cached);
  HttpResponse own_get = Get(api, get);
  HttpResponse own_list = Get(api, list, proto);
  ASSERT_EQ(own_get.status, 200u);
  ASSERT_EQ(own_list.status, 200u);
  HttpResponse part = Get(api, "/apis/metrics.k8s.io/v1beta1/namespaces/big/pods");
  ASSERT_EQ(part.status, 200u);
  ASSERT_NE(part.stream, nullptr);
  EXPECT_EQ(cache.Ready(windows_.Current()), nullptr);

  // Every pod: the window is encoded, and kept for what comes next.
  HttpResponse all = Get(api, "/apis/metrics.k8s.io/v1beta1/pods");
  ASSERT_NE(all.stream, nullptr);
  std::shared_ptr<const EncodedWindow> shared = cache.Ready(windows_.Current());
  ASSERT_NE(shared, nullptr);
  EXPECT_EQ(&shared->window(), windows_.Current().get());
  EXPECT_TRUE(cache.used());
  EXPECT_EQ(Get(api, get).body, own_get.body);
  EXPECT_EQ(Get(api, list, proto).body, own_list.body);
  EXPECT_EQ(cache.Ready(windows_.Current()), shared) << "one encoding per window";
  std::string body;
  for (const std::string& chunk : ReadStream(*all.stream)) body += chunk;
  HttpResponse whole;
  whole.body = body;
  EXPECT_EQ(Names(whole).size(), metrics.size());
}

// `n` pods in namespace "big" (pod-100000, ...), with metrics and labels app=a0..a6.
void BigNamespace(size_t n, std::vector<window::PodInput>& metrics,
                  std::vector<kube::Pod>& cached) {
  for (size_t i = 0; i < n; ++i) {
    std::string name = "pod-" + std::to_string(100000 + i);
    metrics.push_back(Pod("big", name));
    cached.push_back({"big", name, {{"app", "a" + std::to_string(i % 7)}}});
  }
}

// While lists of all pods keep coming, the encodings that follow the windows carry the pods'
// heads in the format listed, and the lists written from them are the lists written from the
// cached pods, a pod changed since included.
TEST_F(MetricsApiTest, ListsThatKeepComingAreWrittenFromThePodsHeads) {
  const size_t n = kStreamedListItems + 10;
  std::vector<window::PodInput> metrics;
  std::vector<kube::Pod> cached;
  BigNamespace(n, metrics, cached);
  pods_.Replace(cached);
  auto publish = [&](uint64_t generation) {
    windows_.Publish(std::make_shared<window::Window>(
        generation, std::vector<window::NodeMetrics>{}, std::vector<window::PodInput>(metrics)));
  };
  publish(5);
  EncodedWindowCache cache(&pods_);
  MetricsApiOptions options;
  options.encoded = &cache;
  MetricsApi api = Api(options);
  MetricsApi reference = Api();  // its own encodings, made for each request: no heads
  window::Publication::Subscription follow =
      cache.EncodeWhileUsed(windows_, [](std::function<void()> work) { work(); }, {});
  auto list = [&](const MetricsApi& from, const std::string& accept) {
    HttpResponse r = Get(from, "/apis/metrics.k8s.io/v1beta1/pods", accept);
    EXPECT_EQ(r.status, 200u);
    std::string body;
    if (r.stream != nullptr) {
      for (const std::string& chunk : ReadStream(*r.stream)) body += chunk;
    }
    return body;
  };
  const std::string json = "application/json";
  const std::string proto = "application/vnd.kubernetes.protobuf";
  list(api, json);  // a large JSON list: the next window is encoded with JSON heads
  publish(6);
  std::shared_ptr<const EncodedWindow> followed = cache.Ready(windows_.Current());
  ASSERT_NE(followed, nullptr);
  ASSERT_EQ(followed->window().generation(), 6u);
  const EncodedWindow::Item& first = followed->pod(&followed->window().pods()[0]);
  EXPECT_NE(first.revision, 0u);
  EXPECT_NE(first.json_head, 0u);
  EXPECT_EQ(first.proto_head, 0u);

  pods_.Upsert({"big", "pod-100003", {{"app", "changed"}}});
  const std::string body = list(api, json);
  EXPECT_EQ(body, list(reference, json));
  EXPECT_NE(body.find(R"("name":"pod-100003","namespace":"big","creationTimestamp":")"
                      R"(2025-01-09T13:46:04Z","labels":{"app":"changed"}})"),
            std::string::npos);
  EXPECT_EQ(list(api, proto), list(reference, proto));
  publish(7);  // JSON and protobuf lists were served: heads in both
  followed = cache.Ready(windows_.Current());
  ASSERT_NE(followed, nullptr);
  EXPECT_NE(followed->pod(&followed->window().pods()[0]).proto_head, 0u);
  EXPECT_EQ(list(api, json), list(reference, json));
  EXPECT_EQ(list(api, proto), list(reference, proto));
}

TEST_F(MetricsApiTest, LargeListsAreStreamedFromTheWindowAndCacheTheyStarted) {
  const size_t n = kStreamedListItems + 500;
  std::vector<window::PodInput> metrics;
  std::vector<kube::Pod> cached;
  BigNamespace(n, metrics, cached);
  windows_.Publish(
      std::make_shared<window::Window>(5, std::vector<window::NodeMetrics>{}, std::move(metrics)));
  pods_.Replace(cached);
  base::MetricsRegistry registry;
  MetricsApiOptions options;
  options.freshness = ServerMetrics::Create(registry).metric_freshness;
  MetricsApi api = Api(options);

  for (const std::string accept : {"application/json", "application/vnd.kubernetes.protobuf"}) {
    SCOPED_TRACE(accept);
    HttpResponse r = Get(api, "/apis/metrics.k8s.io/v1beta1/pods", accept);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.content_type, accept);
    ASSERT_NE(r.stream, nullptr);
    EXPECT_TRUE(r.stream_finite);
    EXPECT_TRUE(r.body.empty());
    // What was listed stays served while a new window and cache replace them.
    windows_.Publish(std::make_shared<window::Window>(6, std::vector<window::NodeMetrics>{},
                                                      std::vector<window::PodInput>{}));
    pods_.Replace({});
    const std::vector<std::string> chunks = ReadStream(*r.stream);
    ASSERT_GT(chunks.size(), 1u);
    std::string body;
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (i + 1 < chunks.size()) EXPECT_GE(chunks[i].size(), kStreamedListChunkBytes) << i;
      EXPECT_LT(chunks[i].size(), kStreamedListChunkBytes + 1024) << i;
      body += chunks[i];
    }
    EXPECT_EQ(r.stream_size, body.size());
    if (accept == "application/json") {
      HttpResponse whole;
      whole.body = body;
      const std::vector<std::string> names = Names(whole);
      ASSERT_EQ(names.size(), n);
      EXPECT_EQ(names.front(), "big/pod-100000");
      EXPECT_EQ(names.back(), "big/pod-" + std::to_string(100000 + n - 1));
      EXPECT_EQ(json::parse(body)["metadata"]["resourceVersion"], "5");
    } else {
      EXPECT_EQ(body.substr(0, 4), std::string("k8s\0", 4));
      EXPECT_NE(body.find("pod-" + std::to_string(100000 + n - 1)), std::string::npos);
    }
    // Once ended, the stream stays ended.
    EXPECT_TRUE(ReadStream(*r.stream).empty());
    // Put the big window back for the next format.
    std::vector<window::PodInput> again;
    for (size_t i = 0; i < n; ++i) again.push_back(Pod("big", "pod-" + std::to_string(100000 + i)));
    windows_.Publish(
        std::make_shared<window::Window>(7, std::vector<window::NodeMetrics>{}, std::move(again)));
    pods_.Replace(cached);
  }
  EXPECT_NE(registry.Render().find("metrics_server_api_metric_freshness_seconds_count " +
                                   std::to_string(2 * n) + "\n"),
            std::string::npos);

  // A cancelled stream ends at its next chunk.
  HttpResponse cancelled = Get(api, "/apis/metrics.k8s.io/v1beta1/pods");
  ASSERT_NE(cancelled.stream, nullptr);
  EXPECT_EQ(ReadStream(*cancelled.stream, 1).size(), 1u);
  cancelled.stream->Cancel();
  EXPECT_TRUE(ReadStream(*cancelled.stream).empty());

  // Below the threshold, and Tables, are answered whole.
  std::vector<kube::Pod> fewer(cached.begin(), cached.begin() + (kStreamedListItems - 1));
  pods_.Replace(fewer);
  HttpResponse small = Get(api, "/apis/metrics.k8s.io/v1beta1/pods");
  EXPECT_EQ(small.stream, nullptr);
  EXPECT_EQ(Names(small).size(), kStreamedListItems - 1);
  pods_.Replace(cached);
  HttpResponse table =
      Get(api, "/apis/metrics.k8s.io/v1beta1/pods", "application/json;as=Table;v=v1;g=meta.k8s.io");
  ASSERT_EQ(table.status, 200u);
  EXPECT_EQ(table.stream, nullptr);
  EXPECT_EQ(json::parse(table.body)["rows"].size(), n);
}

}  // namespace
}  // namespace apiserver
