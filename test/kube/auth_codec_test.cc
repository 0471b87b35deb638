#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kube/auth.h"
#include "kube/authentication_config.h"
#include "kube/review_cache.h"

namespace kube {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(TokenReviewCodecTest, EncodesRequest) {
  json j = json::parse(EncodeTokenReview("tok", {}));
  EXPECT_EQ(j["apiVersion"], "authentication.k8s.io/v1");
  EXPECT_EQ(j["kind"], "TokenReview");
  EXPECT_EQ(j["spec"]["token"], "tok");
  EXPECT_FALSE(j["spec"].contains("audiences"));
  json with = json::parse(EncodeTokenReview("t\"o\nk", {"api"}));
  EXPECT_EQ(with["spec"]["token"], "t\"o\nk");
  EXPECT_EQ(with["spec"]["audiences"], json::array({"api"}));
}

TEST(TokenReviewCodecTest, DecodesAuthenticatedRejectedAndBroken) {
  auto ok = DecodeTokenReview(R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview",
    "status":{"authenticated":true,"user":{"username":"system:serviceaccount:monitoring:prometheus",
    "uid":"8f0e","groups":["system:serviceaccounts","system:authenticated"],
    "extra":{"authentication.kubernetes.io/pod-name":["prom-0"]}},"audiences":["x"]}})");
  ASSERT_TRUE(ok.ok()) << ok.error();
  ASSERT_TRUE(ok->has_value());
  EXPECT_EQ((*ok)->name, "system:serviceaccount:monitoring:prometheus");
  EXPECT_EQ((*ok)->uid, "8f0e");
  EXPECT_EQ((*ok)->groups.size(), 2u);
  EXPECT_EQ((*ok)->extra.at("authentication.kubernetes.io/pod-name"),
            std::vector<std::string>{"prom-0"});

  auto rejected = DecodeTokenReview(
      R"({"kind":"TokenReview","status":{"authenticated":false,"error":"invalid bearer token"}})");
  ASSERT_TRUE(rejected.ok());
  EXPECT_FALSE(rejected->has_value());
  auto no_status = DecodeTokenReview(R"({"kind":"TokenReview","status":{}})");
  ASSERT_TRUE(no_status.ok());
  EXPECT_FALSE(no_status->has_value());

  EXPECT_FALSE(DecodeTokenReview("not json").ok());
  EXPECT_FALSE(DecodeTokenReview(R"({"kind":"Status","code":403})").ok());
  EXPECT_FALSE(DecodeTokenReview(R"({"kind":"TokenReview"})").ok());
  EXPECT_FALSE(
      DecodeTokenReview(R"({"kind":"TokenReview","status":{"authenticated":true,"user":{}}})")
          .ok());
}

TEST(SubjectAccessReviewCodecTest, EncodesResourceAndNonResource) {
  Attributes a;
  a.user = {"alice", "uid-1", {"dev", "system:authenticated"}, {{"scopes", {"a", "b"}}}};
  a.verb = "list";
  a.api_group = "metrics.k8s.io";
  a.api_version = "v1beta1";
  a.resource = "pods";
  a.namespace_ = "default";
  json j = json::parse(EncodeSubjectAccessReview(a));
  EXPECT_EQ(j["apiVersion"], "authorization.k8s.io/v1");
  EXPECT_EQ(j["kind"], "SubjectAccessReview");
  EXPECT_EQ(j["spec"]["user"], "alice");
  EXPECT_EQ(j["spec"]["uid"], "uid-1");
  EXPECT_EQ(j["spec"]["groups"], json::array({"dev", "system:authenticated"}));
  EXPECT_EQ(j["spec"]["extra"]["scopes"], json::array({"a", "b"}));
  json ra = j["spec"]["resourceAttributes"];
  EXPECT_EQ(ra, json::parse(R"({"namespace":"default","verb":"list","group":"metrics.k8s.io",
                                 "version":"v1beta1","resource":"pods"})"));
  EXPECT_FALSE(j["spec"].contains("nonResourceAttributes"));

  Attributes n;
  n.user.name = "system:kube-aggregator";
  n.resource_request = false;
  n.verb = "get";
  n.path = "/apis/metrics.k8s.io/v1beta1";
  json nj = json::parse(EncodeSubjectAccessReview(n));
  EXPECT_EQ(nj["spec"]["nonResourceAttributes"],
            json::parse(R"({"path":"/apis/metrics.k8s.io/v1beta1","verb":"get"})"));
  EXPECT_FALSE(nj["spec"].contains("groups"));
  EXPECT_FALSE(nj["spec"].contains("resourceAttributes"));
}

TEST(SubjectAccessReviewCodecTest, DecodesDecisions) {
  auto allowed = DecodeSubjectAccessReview(
      R"({"kind":"SubjectAccessReview","status":{"allowed":true,"reason":"RBAC: allowed by ClusterRoleBinding"}})");
  ASSERT_TRUE(allowed.ok());
  EXPECT_TRUE(allowed->allowed);
  EXPECT_EQ(allowed->reason, "RBAC: allowed by ClusterRoleBinding");
  auto no_opinion =
      DecodeSubjectAccessReview(R"({"kind":"SubjectAccessReview","status":{"allowed":false}})");
  ASSERT_TRUE(no_opinion.ok());
  EXPECT_FALSE(no_opinion->allowed);
  auto denied = DecodeSubjectAccessReview(
      R"({"kind":"SubjectAccessReview","status":{"allowed":false,"denied":true,"reason":"nope"}})");
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->allowed);
  EXPECT_EQ(denied->reason, "nope");
  auto eval_error = DecodeSubjectAccessReview(
      R"({"kind":"SubjectAccessReview","status":{"allowed":false,"evaluationError":"webhook down"}})");
  ASSERT_TRUE(eval_error.ok());
  EXPECT_EQ(eval_error->reason, "webhook down");
  auto both = DecodeSubjectAccessReview(
      R"({"kind":"SubjectAccessReview","status":{"allowed":true,"denied":true}})");
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(both.error(), HasSubstr("both allowed and denied"));
  EXPECT_FALSE(DecodeSubjectAccessReview("{").ok());
  EXPECT_FALSE(DecodeSubjectAccessReview(R"({"kind":"SubjectAccessReview"})").ok());
}

TEST(ReviewCacheTest, ExpiresPerEntryTtl) {
  base::ManualClock clock;
  ReviewCache<int> cache(clock, 10);
  cache.Put("allowed", 1, std::chrono::seconds(10));
  cache.Put("denied", 0, std::chrono::seconds(2));
  EXPECT_EQ(cache.Get("allowed"), 1);
  EXPECT_EQ(cache.Get("denied"), 0);
  clock.Advance(std::chrono::seconds(2));
  EXPECT_EQ(cache.Get("denied"), std::nullopt);
  EXPECT_EQ(cache.Get("allowed"), 1);
  clock.Advance(std::chrono::seconds(8));
  EXPECT_EQ(cache.Get("allowed"), std::nullopt);
  EXPECT_EQ(cache.Size(), 0u);
  cache.Put("zero", 1, std::chrono::seconds(0));
  EXPECT_EQ(cache.Get("zero"), std::nullopt);
}

TEST(ReviewCacheTest, BoundedEvictsSoonestExpiry) {
  base::ManualClock clock;
  ReviewCache<int> cache(clock, 3);
  cache.Put("a", 1, std::chrono::seconds(30));
  cache.Put("b", 2, std::chrono::seconds(5));
  cache.Put("c", 3, std::chrono::seconds(20));
  cache.Put("d", 4, std::chrono::seconds(20));  // full: "b" expires first and goes
  EXPECT_EQ(cache.Size(), 3u);
  EXPECT_EQ(cache.Get("b"), std::nullopt);
  EXPECT_EQ(cache.Get("a"), 1);
  cache.Put("a", 5, std::chrono::seconds(1));  // replacing does not grow
  EXPECT_EQ(cache.Size(), 3u);
  EXPECT_EQ(cache.Get("a"), 5);
  for (int i = 0; i < 1000; ++i) cache.Put("k" + std::to_string(i), i, std::chrono::seconds(60));
  EXPECT_EQ(cache.Size(), 3u);
}

TEST(AuthenticationConfigTest, ParsesConfigMap) {
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata",
              {{"name", "extension-apiserver-authentication"},
               {"namespace", "kube-system"},
               {"resourceVersion", "77"}}},
             {"data",
              {{"client-ca-file", "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"},
               {"requestheader-client-ca-file",
                "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n"},
               {"requestheader-allowed-names", "[\"front-proxy-client\"]"},
               {"requestheader-username-headers", "[\"X-Remote-User\"]"},
               {"requestheader-group-headers", "[\"X-Remote-Group\"]"},
               {"requestheader-extra-headers-prefix", "[\"X-Remote-Extra-\"]"},
               {"requestheader-uid-headers", "[\"X-Remote-Uid\"]"}}}};
  auto c = ParseAuthenticationConfigMap(cm.dump());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_THAT(c->client_ca_pem, HasSubstr("AAA"));
  EXPECT_THAT(c->requestheader_client_ca_pem, HasSubstr("BBB"));
  EXPECT_EQ(c->allowed_names, std::vector<std::string>{"front-proxy-client"});
  EXPECT_EQ(c->username_headers, std::vector<std::string>{"X-Remote-User"});
  EXPECT_EQ(c->group_headers, std::vector<std::string>{"X-Remote-Group"});
  EXPECT_EQ(c->extra_headers_prefix, std::vector<std::string>{"X-Remote-Extra-"});
  EXPECT_EQ(c->uid_headers, std::vector<std::string>{"X-Remote-Uid"});
  EXPECT_EQ(c->resource_version, "77");
}

TEST(AuthenticationConfigTest, AbsentKeysAreEmptyAndBadListsNamed) {
  auto minimal = ParseAuthenticationConfigMap(
      R"({"kind":"ConfigMap","data":{"client-ca-file":"pem","requestheader-allowed-names":"[]"}})");
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->client_ca_pem, "pem");
  EXPECT_TRUE(minimal->requestheader_client_ca_pem.empty());
  EXPECT_TRUE(minimal->allowed_names.empty());
  EXPECT_TRUE(minimal->username_headers.empty());

  auto bad = ParseAuthenticationConfigMap(
      R"({"kind":"ConfigMap","data":{"requestheader-group-headers":"X-Remote-Group"}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error(), HasSubstr("data.requestheader-group-headers: not a JSON array"));
  auto not_strings = ParseAuthenticationConfigMap(
      R"({"kind":"ConfigMap","data":{"requestheader-allowed-names":"[1]"}})");
  ASSERT_FALSE(not_strings.ok());
  EXPECT_THAT(not_strings.error(), HasSubstr("requestheader-allowed-names"));
  EXPECT_FALSE(ParseAuthenticationConfigMap(R"({"kind":"Secret"})").ok());
  EXPECT_FALSE(ParseAuthenticationConfigMap("]").ok());
}

}  // namespace
}  // namespace kube
