// The real server while the kube-apiserver misbehaves: watches closed (cleanly and by
// aborting the connection), 410 Gone, a restart onto another resourceVersion history, and
// readiness at start-up and when every kubelet fails. The server must keep serving its window
// (bounded staleness), be not ready only when it has nothing to serve (never synced, no data)
// and pick up cluster changes once the apiserver is back.
//
// Readiness, as metrics-server defines it: /readyz is 200 once the node and pod informers have
// synced once and the window holds node and pod metrics, and 503 while shutting down. An
// apiserver outage after that does not make the server unready (it keeps serving its window);
// kubelets all failing for longer than --kubelet-failure-retention-ticks does (nothing to serve).
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "test/system/system_harness.h"

namespace system_test {
namespace {

using namespace std::chrono_literals;

constexpr double kStalenessBound = 12;  // 2 x 5 s resolution + 2 s, as in kubelet_faults_test
constexpr double kPickUpBound =
    25;  // a new node: re-watch or relist (backoff <= 5 s) + two scrapes

std::string Fmt(const char* fmt, auto... args) {
  char buf[640];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

std::vector<std::string> Nodes(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(Fmt("node-%02d", i));
  return out;
}

void ExpectServedThroughout(const ServingStats& st) {
  EXPECT_EQ(st.failed, 0) << st.first_error;
  EXPECT_EQ(st.incomplete, 0);
  EXPECT_EQ(st.not_ready, 0);
  EXPECT_LE(st.max_staleness, kStalenessBound);
}

// Repeats `fault` every 3 s for 24 s while polling, then checks that a node added afterwards is
// picked up (the informers are watching again).
void RunWatchFault(const std::string& name, const std::function<void(System&, int)>& fault) {
  System sys;
  sys.AddKubelets(5);
  ASSERT_TRUE(sys.Start());
  auto& api = sys.apiserver();
  const int watches_before = api.watch_requests("nodes") + api.watch_requests("pods");
  const int lists_before = api.list_requests("nodes") + api.list_requests("pods");
  int injected = 0;
  ServingStats st = Observe(sys, Nodes(5), 24s, 500ms, [&](double t) {
    if (t >= 3.0 * (injected + 1)) fault(sys, injected++);
  });
  ExpectServedThroughout(st);
  sys.AddKubelet("late-node");
  const double picked = SecondsUntilServed(sys, "late-node", true, 40s);
  EXPECT_GE(picked, 0) << "a node added after the faults was never served";
  EXPECT_LE(picked, kPickUpBound);
  const int watches = api.watch_requests("nodes") + api.watch_requests("pods") - watches_before;
  const int lists = api.list_requests("nodes") + api.list_requests("pods") - lists_before;
  Figure("apiserver_" + name,
         Fmt("%d injections in 24 s: %s (bound %.0f s); %d re-watches, %d relists; a node "
             "added afterwards served after %.1f s (resolution 5 s)",
             injected, st.Summary().c_str(), kStalenessBound, watches, lists, picked));
}

TEST(ApiserverFaults, WatchesClosed) {
  RunWatchFault("watches_closed", [](System& sys, int i) {
    if (i % 2 == 0) {
      sys.apiserver().EndWatches();  // clean end (terminating chunk)
    } else {
      sys.apiserver().AbortWatches();  // connection closed mid-stream
    }
  });
}

TEST(ApiserverFaults, WatchesGone410) {
  RunWatchFault("watches_gone_410", [](System& sys, int) {
    sys.apiserver().CompactHistory();
    sys.apiserver().SendGoneToWatches();
  });
}

// etcd restored from a backup: the apiserver comes back with a lower resourceVersion. Watches
// from the informers' (now too large) resourceVersion get 504 "Too large resource version";
// the informers must relist, or they would never see another change.
TEST(ApiserverFaults, RestartWithAnotherResourceVersionHistory) {
  System sys;
  sys.AddKubelets(5);
  ASSERT_TRUE(sys.Start());
  auto& api = sys.apiserver();
  const uint64_t before = api.resource_version();
  api.RestartWithHistoryFrom(5);
  sys.AddKubelet("after-restart");
  api.DeleteNode("node-04");
  const double added = SecondsUntilServed(sys, "after-restart", true, 60s);
  const double removed = SecondsUntilServed(sys, "node-04", false, 30s);
  EXPECT_GE(added, 0) << "node added after the restart never served";
  EXPECT_LE(added, kPickUpBound);
  EXPECT_GE(removed, 0) << "node deleted after the restart still served";
  ServingStats st = Observe(sys, Nodes(4), 6s);
  ExpectServedThroughout(st);
  Figure(
      "apiserver_restart_new_rv_history",
      Fmt("resourceVersion %llu -> 5: node added after the restart served after %.1f s, "
          "node deleted after the restart gone %.1f s after it; then %s",
          static_cast<unsigned long long>(before), added, added + removed, st.Summary().c_str()));
}

TEST(ApiserverFaults, ReadyOnlyWithDataAndSyncedCaches) {
  System sys;
  sys.AddKubelets(3);
  sys.apiserver().SetUnavailable(true);
  ASSERT_TRUE(sys.Start({}, /*wait_ready=*/false));
  // Never synced: not ready, and nothing served.
  ServingStats down = Observe(sys, {}, 8s);
  EXPECT_EQ(down.not_ready, down.polls);
  sys.apiserver().SetUnavailable(false);
  const auto up = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = sys.Get("/readyz", {});
        return r.ok() && r->status == 200;
      },
      60s, 100ms));
  const double to_ready = SecondsSince(up);

  // Every kubelet failing: ready while the retained window lasts, then not ready.
  for (const auto& n : sys.node_names()) sys.kubelet(n).Set(KubeletMode::kReset);
  const auto broke = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = sys.Get("/readyz", {});
        return r.ok() && r->status != 200;
      },
      40s, 100ms));
  const double to_unready = SecondsSince(broke);
  for (const auto& n : sys.node_names()) sys.kubelet(n).Set(KubeletMode::kHealthy);
  const auto healed = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = sys.Get("/readyz", {});
        return r.ok() && r->status == 200;
      },
      40s, 100ms));
  const double to_ready_again = SecondsSince(healed);
  Figure("readyz",
         Fmt("apiserver down at start: not ready at %d/%d polls over 8 s; ready %.1f s after it "
             "came up; every kubelet failing: not ready after %.1f s (retention 2 ticks); ready "
             "again %.1f s after they healed (resolution 5 s)",
             down.not_ready, down.polls, to_ready, to_unready, to_ready_again));
}

}  // namespace
}  // namespace system_test
