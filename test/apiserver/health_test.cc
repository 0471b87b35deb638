#include "apiserver/health.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "base/clock.h"
#include "window/publication.h"

namespace apiserver {
namespace {

using std::chrono::seconds;

TEST(HealthTest, EndpointsVerboseExcludeAndSingleChecks) {
  HealthChecks health;
  bool data = false;
  health.Add("ping", HealthChecks::kHealthz | HealthChecks::kLivez | HealthChecks::kReadyz,
             [] { return base::Status::Ok(); });
  health.Add("metric-storage-ready", HealthChecks::kReadyz,
             [&] { return data ? base::Status::Ok() : base::Status::Error("empty"); });
  auto livez = health.Serve("/livez", Query(""));
  ASSERT_TRUE(livez);
  EXPECT_EQ(livez->status, 200u);
  EXPECT_EQ(livez->body, "ok");
  auto verbose = health.Serve("/livez", Query("verbose"));
  EXPECT_EQ(verbose->body, "[+]ping ok\nlivez check passed\n");
  auto not_ready = health.Serve("/readyz", Query(""));
  EXPECT_EQ(not_ready->status, 500u);
  EXPECT_EQ(not_ready->body,
            "[+]ping ok\n[-]metric-storage-ready failed: reason withheld\nreadyz check failed\n");
  auto excluded = health.Serve("/readyz", Query("exclude=metric-storage-ready"));
  EXPECT_EQ(excluded->status, 200u);
  EXPECT_EQ(health.Serve("/readyz/ping", Query(""))->status, 200u);
  EXPECT_EQ(health.Serve("/readyz/metric-storage-ready", Query(""))->status, 500u);
  EXPECT_EQ(health.Serve("/readyz/nope", Query(""))->status, 404u);
  data = true;
  EXPECT_EQ(health.Serve("/readyz", Query(""))->status, 200u);
  EXPECT_FALSE(health.Serve("/metrics", Query("")).has_value());
  EXPECT_FALSE(health.Serve("/livezz", Query("")).has_value());
}

// An informer whose sync state the test sets.
class SyncedFlag final : public kube::Informer {
 public:
  void Start() override {}
  void Stop() override {}
  bool HasSynced() const override { return synced.load(); }
  kube::InformerStats Stats() const override { return {}; }
  std::atomic<bool> synced{false};
};

class ServerHealthTest : public ::testing::Test {
 protected:
  ServerHealthTest()
      : health_(MakeServerHealthChecks({
            .clock = clock_,
            .resolution = seconds(10),
            .last_tick_start = [this] { return last_tick_start_.load(); },
            .informers = {&nodes_, &pods_},
            .windows = windows_,
            .shutting_down = shutting_down_,
        })) {}

  // The body of /<endpoint>?verbose.
  std::string Verbose(const std::string& endpoint) const {
    return health_.Serve("/" + endpoint, Query("verbose"))->body;
  }

  void PublishWindow(bool with_pods) {
    window::NodeMetrics node{"node-1", clock_.Now(), seconds(10), 1000, 2000};
    std::vector<window::PodInput> pods;
    if (with_pods) pods.push_back({"ns", "pod-1", clock_.Now(), seconds(10), {{"c", 10, 20}}});
    windows_.Publish(std::make_shared<const window::Window>(
        windows_.published() + 1, std::vector<window::NodeMetrics>{node}, std::move(pods)));
  }

  base::ManualClock clock_;
  std::atomic<base::UnixNanos> last_tick_start_{0};
  SyncedFlag nodes_;
  SyncedFlag pods_;
  window::Publication windows_;
  std::atomic<bool> shutting_down_{false};
  HealthChecks health_;
};

TEST_F(ServerHealthTest, ChecksAndTheirEndpoints) {
  EXPECT_EQ(Verbose("healthz"),
            "[+]ping ok\n[+]metric-collection-timely ok\nhealthz check passed\n");
  EXPECT_EQ(Verbose("livez"), "[+]ping ok\n[+]metric-collection-timely ok\nlivez check passed\n");
  EXPECT_EQ(Verbose("readyz"),
            "[+]ping ok\n[-]informer-sync failed: reason withheld\n"
            "[-]metric-storage-ready failed: reason withheld\n[+]shutdown ok\n"
            "readyz check failed\n");
}

TEST_F(ServerHealthTest, LivenessNeedsATickWithinOneAndAHalfResolutions) {
  // Before the first tick, the grace counts from when the checks were built.
  clock_.Advance(seconds(15));
  EXPECT_EQ(health_.Serve("/livez", Query(""))->status, 200u);
  clock_.Advance(seconds(1));
  EXPECT_EQ(health_.Serve("/livez", Query(""))->status, 500u);
  EXPECT_EQ(health_.Serve("/healthz", Query(""))->status, 500u);
  EXPECT_EQ(health_.Serve("/readyz/metric-collection-timely", Query(""))->status, 404u);

  last_tick_start_ = clock_.Now();
  EXPECT_EQ(health_.Serve("/livez", Query(""))->status, 200u);
  clock_.Advance(seconds(15));
  EXPECT_EQ(health_.Serve("/livez", Query(""))->status, 200u);
  clock_.Advance(seconds(1));
  EXPECT_EQ(health_.Serve("/livez/metric-collection-timely", Query(""))->status, 500u);
}

TEST_F(ServerHealthTest, ReadinessNeedsEveryCacheSyncedAndNodeAndPodMetrics) {
  nodes_.synced = true;
  EXPECT_EQ(health_.Serve("/readyz/informer-sync", Query(""))->status, 500u);
  pods_.synced = true;
  EXPECT_EQ(health_.Serve("/readyz/informer-sync", Query(""))->status, 200u);

  PublishWindow(/*with_pods=*/false);
  EXPECT_EQ(health_.Serve("/readyz/metric-storage-ready", Query(""))->status, 500u);
  PublishWindow(/*with_pods=*/true);
  EXPECT_EQ(health_.Serve("/readyz", Query(""))->status, 200u);
  EXPECT_EQ(health_.Serve("/readyz", Query(""))->body, "ok");
}

TEST_F(ServerHealthTest, ShutdownFailsReadinessOnly) {
  nodes_.synced = true;
  pods_.synced = true;
  PublishWindow(/*with_pods=*/true);
  ASSERT_EQ(health_.Serve("/readyz", Query(""))->status, 200u);
  shutting_down_ = true;
  EXPECT_EQ(Verbose("readyz"),
            "[+]ping ok\n[+]informer-sync ok\n[+]metric-storage-ready ok\n"
            "[-]shutdown failed: reason withheld\nreadyz check failed\n");
  EXPECT_EQ(health_.Serve("/livez", Query(""))->status, 200u);
  EXPECT_EQ(health_.Serve("/healthz", Query(""))->status, 200u);
}

}  // namespace
}  // namespace apiserver
