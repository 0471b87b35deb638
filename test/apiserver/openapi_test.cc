#include "apiserver/openapi.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

namespace apiserver {
namespace {

using nlohmann::json;

TEST(OpenApiTest, V2HasTheKindsWithTheirGroupVersionKind) {
  OpenApi openapi({"v1beta1", "v1"});
  HttpRequest req;
  auto r = openapi.Serve("/openapi/v2", req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->content_type, "application/json");
  auto doc = json::parse(r->body);
  EXPECT_EQ(doc["swagger"], "2.0");
  const auto& pod = doc["definitions"]["io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics"];
  EXPECT_EQ(pod["x-kubernetes-group-version-kind"][0]["kind"], "PodMetrics");
  EXPECT_EQ(pod["properties"]["containers"]["items"]["$ref"],
            "#/definitions/io.k8s.metrics.pkg.apis.metrics.v1beta1.ContainerMetrics");
  EXPECT_TRUE(doc["definitions"].contains("io.k8s.metrics.pkg.apis.metrics.v1.NodeMetricsList"));
  EXPECT_TRUE(doc["paths"].contains("/apis/metrics.k8s.io/v1/namespaces/{namespace}/pods/{name}"));
  EXPECT_EQ(doc["paths"]["/apis/metrics.k8s.io/v1beta1/nodes"]["get"]["x-kubernetes-action"],
            "list");
  // List paths take the watch parameters.
  std::set<std::string> params;
  for (const auto& p : doc["paths"]["/apis/metrics.k8s.io/v1beta1/pods"]["parameters"]) {
    params.insert(p["name"].get<std::string>());
  }
  for (const char* name :
       {"labelSelector", "fieldSelector", "watch", "resourceVersion", "resourceVersionMatch",
        "allowWatchBookmarks", "sendInitialEvents", "timeoutSeconds"}) {
    EXPECT_TRUE(params.count(name)) << name;
  }

  // ETag round trip.
  std::string etag;
  for (const auto& [k, v] : r->headers) {
    if (k == "ETag") etag = v;
  }
  ASSERT_FALSE(etag.empty());
  req.headers = {{"If-None-Match", etag}};
  EXPECT_EQ(openapi.Serve("/openapi/v2", req)->status, 304u);
}

TEST(OpenApiTest, V3IndexPointsAtPerVersionDocuments) {
  OpenApi openapi({"v1beta1"});
  HttpRequest req;
  auto index = json::parse(openapi.Serve("/openapi/v3", req)->body);
  std::string url = index["paths"]["apis/metrics.k8s.io/v1beta1"]["serverRelativeURL"];
  ASSERT_EQ(url.rfind("/openapi/v3/apis/metrics.k8s.io/v1beta1?hash=", 0), 0u);
  auto doc = openapi.Serve("/openapi/v3/apis/metrics.k8s.io/v1beta1", req);
  ASSERT_TRUE(doc);
  auto parsed = json::parse(doc->body);
  EXPECT_EQ(parsed["openapi"], "3.0.0");
  EXPECT_TRUE(parsed["components"]["schemas"].contains(
      "io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics"));
  EXPECT_FALSE(openapi.Serve("/openapi/v3/apis/metrics.k8s.io/v1", req).has_value());
  EXPECT_FALSE(openapi.Serve("/openapi/v4", req).has_value());
}

}  // namespace
}  // namespace apiserver
