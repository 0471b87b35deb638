// The kube-apiserver down (every request reset, watches aborted) for CMS_OUTAGE_SECONDS of real
// time (CTest: 600 s; default 20 s when run by hand). Meanwhile the cluster changes (a node is
// added, one deleted, history compacted). The server must keep serving its window with bounded
// staleness and stay ready throughout (it has synced once and has data: see
// apiserver_faults_test.cc for the readiness rule), and pick up the changes once the apiserver is
// back; the time that takes is measured. Clients use system:masters certificates, which need no
// SubjectAccessReview: with the apiserver down, any other user gets 403 once the authorization
// cache entry expires (k8s.io/apiserver behaves the same; the aggregator lives in the
// kube-apiserver, so no request arrives through it during an outage anyway).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "test/system/system_harness.h"

namespace system_test {
namespace {

using namespace std::chrono_literals;

TEST(ApiserverOutage, ServesWindowAndRecovers) {
  const char* env = std::getenv("CMS_OUTAGE_SECONDS");
  const int seconds = env != nullptr ? std::atoi(env) : 20;
  ASSERT_GT(seconds, 0);
  const auto wall_start = std::chrono::steady_clock::now();

  System sys;
  sys.AddKubelets(5);
  ASSERT_TRUE(sys.Start());
  const std::vector<std::string> kept = {"node-00", "node-01", "node-02", "node-03"};
  auto& api = sys.apiserver();

  api.SetUnavailable(true);
  bool changed = false;
  ServingStats st = Observe(sys, kept, std::chrono::seconds(seconds), 1000ms, [&](double t) {
    if (!changed && t >= seconds / 2.0) {
      sys.AddKubelet("born-during-outage");
      api.DeleteNode("node-04");
      api.CompactHistory();
      changed = true;
    }
  });
  const std::size_t log_lines_during = sys.LogLines("informer ").size();
  api.SetUnavailable(false);
  const auto back = std::chrono::steady_clock::now();

  const bool watching = WaitFor(
      [&] { return api.open_watches("nodes") > 0 && api.open_watches("pods") > 0; }, 120s, 50ms);
  const double to_watch = SecondsSince(back);
  const double to_added = SecondsUntilServed(sys, "born-during-outage", true, 120s);
  const double added_at = SecondsSince(back);
  const double to_removed = SecondsUntilServed(sys, "node-04", false, 60s);
  const double removed_at = to_removed < 0 ? -1 : SecondsSince(back);

  EXPECT_EQ(st.failed, 0) << st.first_error;
  EXPECT_EQ(st.incomplete, 0);
  EXPECT_EQ(st.not_ready, 0);
  // Two resolutions and a bit: the window stays the last one scraped (kubelets keep answering);
  // measured 6.7-7.3 s in six runs beside a clang build, three of them with two CPU burners too.
  EXPECT_LE(st.max_staleness, 12.0);
  EXPECT_TRUE(watching);
  EXPECT_GE(to_added, 0);
  EXPECT_GE(to_removed, 0);

  // Promptness is a property of the informers' retry schedule, so that is what is asserted: every
  // retry the server logged waited at most one resolution (the backoff is capped at half of it,
  // plus up to 100 % jitter), so once the apiserver is back the informers are listing and
  // watching again after at most one more wait.
  const std::vector<std::string> retries = sys.LogLines("; retrying in ");
  EXPECT_FALSE(retries.empty()) << "no informer retry logged during the outage";
  long max_delay_ms = 0;
  for (const std::string& line : retries) {
    const auto at = line.find("; retrying in ");
    const long ms = std::strtol(line.c_str() + at + std::strlen("; retrying in "), nullptr, 10);
    EXPECT_GT(ms, 0) << line;
    max_delay_ms = std::max(max_delay_ms, ms);
  }
  EXPECT_LE(max_delay_ms, 5000) << "a retry waited longer than one resolution (5 s)";
  // The wall-clock figures are printed below. Their bounds only catch a recovery that hangs:
  // one wait (<= 5 s) plus round trips measured 4.9-6.8 s in the six loaded runs above and
  // 8.4 s in a CI run beside the real-cluster suite, so 30 s is ~3.5x the worst seen; a new node
  // then needs two scrapes (up to three resolutions; measured 8-9 s after watching).
  EXPECT_LE(to_watch, 30.0);
  EXPECT_LE(added_at - to_watch, 3 * 5.0 + 15.0);

  char buf[768];
  std::snprintf(buf, sizeof buf,
                "apiserver down %d s: %s; %zu informer log lines during it, longest retry wait "
                "%ld ms; back: watching again after %.1f s, node added during the outage served "
                "after %.1f s, node deleted during it dropped after %.1f s (resolution 5 s); "
                "wall time %.0f s",
                seconds, st.Summary().c_str(), log_lines_during, max_delay_ms, to_watch, added_at,
                removed_at, SecondsSince(wall_start));
  Figure("apiserver_outage_" + std::to_string(seconds) + "s", buf);
}

}  // namespace
}  // namespace system_test
