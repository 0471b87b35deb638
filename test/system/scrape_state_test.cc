// /debug/nodes on the real server: each node's last scrape with its cause decoded, the address
// used and the last success, for kubelets that fail in the ways users meet (wrong CA, refused,
// no answer, an answer that is not resource metrics).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "test/system/system_harness.h"

namespace system_test {
namespace {

using namespace std::chrono_literals;

TEST(ScrapeState, DebugNodesNamesEachCause) {
  System sys;
  sys.AddKubelets(2);
  testing_support::TestPki rogue("rogue-ca");
  sys.AddKubelet("bad-wrong-cert", KubeletMode::kHealthy, &rogue);
  sys.AddKubelet("bad-garbage", KubeletMode::kGarbage);
  sys.AddKubelet("bad-hang", KubeletMode::kHang);
  Kubelet& gone = sys.AddKubelet("bad-gone", KubeletMode::kHealthy);
  gone.Disappear();
  ASSERT_TRUE(sys.Start());

  const std::map<std::string, std::string> want = {{"node-00", "none"},
                                                   {"node-01", "none"},
                                                   {"bad-wrong-cert", "unknown_authority"},
                                                   {"bad-garbage", "malformed_response"},
                                                   {"bad-hang", "timeout"},
                                                   {"bad-gone", "refused"}};
  std::map<std::string, nlohmann::json> items;
  nlohmann::json body;
  // The hanging kubelet is reported once its request times out (3 s), within a tick or two.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = sys.Get("/debug/nodes", sys.Admin());
    ASSERT_TRUE(r.ok()) << r.error();
    ASSERT_EQ(r->status, 200u) << r->body;
    body = nlohmann::json::parse(r->body);
    items.clear();
    for (const auto& item : body["items"]) items[item["name"]] = item;
    bool all = items.size() == want.size();
    for (const auto& [node, cause] : want) {
      all = all && items.count(node) && items[node]["cause"] == cause;
    }
    if (all) break;
    std::this_thread::sleep_for(500ms);
  }
  for (const auto& [node, cause] : want) {
    SCOPED_TRACE(node);
    ASSERT_TRUE(items.count(node)) << body.dump(1);
    const auto& item = items[node];
    EXPECT_EQ(item["cause"], cause) << item.dump();
    EXPECT_THAT(
        item["address"].get<std::string>(),
        ::testing::StartsWith("https://127.0.0.1:" + std::to_string(sys.kubelet(node).port())));
    EXPECT_FALSE(item["lastAttempt"].is_null());
    EXPECT_EQ(item["success"], cause == "none");
    EXPECT_EQ(item["lastSuccess"].is_null(), cause != "none") << item.dump();
  }
  EXPECT_EQ(body["nodes"], 6);
  EXPECT_EQ(body["failed"], 4);
  // Failures come first; ?failed=true lists only them.
  EXPECT_EQ(body["items"][0]["success"], false);
  auto failed = sys.Get("/debug/nodes?failed=true", sys.Admin());
  ASSERT_TRUE(failed.ok()) << failed.error();
  EXPECT_EQ(nlohmann::json::parse(failed->body)["listed"], 4);

  // Authorized like /metrics (the whole matrix is in auth_matrix_test.cc): a user the
  // SubjectAccessReview denies is refused.
  auto denied = sys.Get("/debug/nodes", sys.ClientCert("mallory"));
  ASSERT_TRUE(denied.ok()) << denied.error();
  EXPECT_EQ(denied->status, 403u) << denied->body;

  // The self-metrics carry metrics-server's per-node request time and the last success.
  auto metrics = sys.SelfMetrics();
  ASSERT_TRUE(metrics.ok()) << metrics.error();
  EXPECT_THAT(
      *metrics,
      ::testing::HasSubstr("metrics_server_kubelet_last_request_time_seconds{node=\"bad-gone\"} "));
  EXPECT_THAT(*metrics, ::testing::HasSubstr(
                            "metrics_server_kubelet_last_success_time_seconds{node=\"node-00\"} "));
  EXPECT_THAT(*metrics,
              ::testing::Not(::testing::HasSubstr(
                  "metrics_server_kubelet_last_success_time_seconds{node=\"bad-gone\"}")));
}

}  // namespace
}  // namespace system_test
