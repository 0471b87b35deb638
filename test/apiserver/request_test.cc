#include "apiserver/request.h"

#include <gtest/gtest.h>

#include <optional>

namespace apiserver {
namespace {

TEST(QueryTest, FormDecoding) {
  Query q("a=1+2&b=%41%zz&c&d=x%3Dy&a=second&e=%2");
  EXPECT_EQ(q.Get("a"), "1 2");
  EXPECT_EQ(q.Get("b"), std::nullopt);  // malformed escape: pair dropped
  EXPECT_EQ(q.Get("c"), "");
  EXPECT_EQ(q.Get("d"), "x=y");
  EXPECT_EQ(q.Get("e"), std::nullopt);
  EXPECT_EQ(q.Get("zzz"), std::nullopt);
}

TEST(RequestInfoTest, ResourceAttributes) {
  Query none("");
  RequestInfo list =
      ParseRequestInfo("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", none);
  EXPECT_TRUE(list.is_resource);
  EXPECT_EQ(list.verb, "list");
  EXPECT_EQ(list.namespace_, "default");
  EXPECT_EQ(list.resource, "pods");
  RequestInfo get = ParseRequestInfo("GET", "/apis/metrics.k8s.io/v1beta1/nodes/node-1", none);
  EXPECT_EQ(get.verb, "get");
  EXPECT_EQ(get.name, "node-1");
  EXPECT_EQ(get.namespace_, "");
  RequestInfo watch =
      ParseRequestInfo("GET", "/apis/metrics.k8s.io/v1beta1/pods", Query("watch=1"));
  EXPECT_EQ(watch.verb, "watch");
  RequestInfo discovery = ParseRequestInfo("GET", "/apis/metrics.k8s.io/v1beta1", none);
  EXPECT_FALSE(discovery.is_resource);
  EXPECT_EQ(discovery.verb, "get");
  EXPECT_EQ(ParseRequestInfo("POST", "/apis/metrics.k8s.io/v1beta1/pods", none).verb, "create");
  EXPECT_EQ(ParseRequestInfo("DELETE", "/apis/metrics.k8s.io/v1beta1/pods", none).verb,
            "deletecollection");
}

}  // namespace
}  // namespace apiserver
