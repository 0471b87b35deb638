#include "scraper/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <tuple>

namespace scraper {
namespace {

using std::chrono::seconds;
using window::NodeMetrics;
using window::PodMetrics;
using window::Window;

constexpr base::UnixNanos kT0 = 1'700'000'000'000'000'000;
constexpr int64_t kSec = 1'000'000'000;

base::UnixNanos At(double s) { return kT0 + static_cast<int64_t>(s * 1e9); }

struct C {
  std::string ns = "default";
  std::string pod = "web";
  std::string name = "app";
  double ts = 0;   // seconds after kT0
  double cpu = 0;  // core-seconds
  uint64_t memory = 100;
  double start = -1000;  // seconds after kT0; NaN = not reported
  bool has_cpu = true;
  bool has_memory = true;
  int64_t swap = -1;  // bytes; -1 = not reported
};

// Builds a parse result; keeps the strings alive in `owned`.
struct Batch {
  std::vector<C> owned;
  ResourceMetrics metrics;

  Batch(double node_ts, double node_cpu, uint64_t node_mem, std::vector<C> containers)
      : owned(std::move(containers)) {
    if (node_ts >= 0) {
      metrics.node.has_cpu = metrics.node.has_memory = true;
      metrics.node.cpu_timestamp = metrics.node.memory_timestamp = At(node_ts);
      metrics.node.cpu_ns = static_cast<uint64_t>(node_cpu * 1e9);
      metrics.node.memory_bytes = node_mem;
    }
    for (const C& c : owned) {
      ContainerUsage u;
      u.namespace_ = c.ns;
      u.pod = c.pod;
      u.container = c.name;
      u.has_cpu = c.has_cpu;
      u.has_memory = c.has_memory;
      u.cpu_timestamp = u.memory_timestamp = At(c.ts);
      u.cpu_ns = static_cast<uint64_t>(c.cpu * 1e9);
      u.memory_bytes = c.memory;
      u.has_swap = c.swap >= 0;
      u.swap_bytes = c.swap >= 0 ? static_cast<uint64_t>(c.swap) : 0;
      u.start_time = std::isnan(c.start) ? 0 : At(c.start);
      metrics.containers.push_back(u);
    }
    std::sort(metrics.containers.begin(), metrics.containers.end(),
              [](const ContainerUsage& a, const ContainerUsage& b) {
                return std::tie(a.namespace_, a.pod, a.container) <
                       std::tie(b.namespace_, b.pod, b.container);
              });
  }
};

class StoreTest : public ::testing::Test {
 protected:
  explicit StoreTest(int retention = 2) : store_(StoreSettings{seconds(15), retention}, windows_) {}

  // One tick: every (node, batch) pair succeeds; names in `failed` fail.
  std::shared_ptr<const Window> Tick(std::vector<std::pair<std::string, const Batch*>> ok,
                                     std::vector<std::string> failed = {}) {
    Store::Tick& tick = store_.BeginTick();
    for (auto& [node, batch] : ok) tick.Success(node, batch->metrics);
    for (auto& node : failed) tick.Failure(node);
    store_.Publish();
    return windows_.Current();
  }

  window::Publication windows_;
  Store store_;
};

TEST_F(StoreTest, EmptyBeforeFirstTick) {
  auto w = windows_.Current();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->generation(), 0u);
  EXPECT_TRUE(w->nodes().empty());
}

TEST_F(StoreTest, RateFromTwoScrapes) {
  // metrics-server's pod_test: 1 core-second at t+120s, 6 at t+125s -> 1 core over 5s.
  Batch first(120, 100, 1000, {{.ts = 120, .cpu = 1}});
  Batch second(125, 110, 2000, {{.ts = 125, .cpu = 6, .memory = 555}});
  auto w = Tick({{"n1", &first}});
  EXPECT_TRUE(w->nodes().empty());  // one point is not a rate
  EXPECT_TRUE(w->pods().empty());
  w = Tick({{"n1", &second}});
  EXPECT_EQ(w->generation(), 2u);
  const NodeMetrics* n = w->FindNode("n1");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->cpu_nanocores, 2'000'000'000u);
  EXPECT_EQ(n->memory_bytes, 2000u);
  EXPECT_EQ(n->timestamp, At(125));
  EXPECT_EQ(n->window, seconds(5));
  const PodMetrics* p = w->FindPod("default", "web");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->containers.size(), 1u);
  EXPECT_EQ(p->containers[0].cpu_nanocores, 1'000'000'000u);
  EXPECT_EQ(p->containers[0].memory_bytes, 555u);
  EXPECT_EQ(p->timestamp, At(125));
  EXPECT_EQ(p->window, seconds(5));
}

TEST_F(StoreTest, FreshContainerServedAfterOneScrape) {
  // metrics-server's restart example: started t+15s, sampled t+25s -> window 10s, 0.5 core.
  Batch b(-1, 0, 0, {{.ts = 25, .cpu = 5, .start = 15}});
  auto w = Tick({{"n1", &b}});
  const PodMetrics* p = w->FindPod("default", "web");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->window, seconds(10));
  EXPECT_EQ(p->containers[0].cpu_nanocores, 500'000'000u);
  EXPECT_EQ(w->FindNode("n1"), nullptr);  // node lines absent
}

TEST_F(StoreTest, VeryYoungContainerWaitsForSecondScrape) {
  Batch b1(-1, 0, 0, {{.ts = 20, .cpu = 0.5, .start = 15}});  // 5s old: below 10s
  Batch b2(-1, 0, 0, {{.ts = 35, .cpu = 2, .start = 15}});    // 20s old: older than resolution
  EXPECT_EQ(Tick({{"n1", &b1}})->FindPod("default", "web"), nullptr);
  auto w = Tick({{"n1", &b2}});
  const PodMetrics* p = w->FindPod("default", "web");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->window, seconds(15));
  EXPECT_EQ(p->containers[0].cpu_nanocores, 100'000'000u);
}

TEST_F(StoreTest, RestartDetectedByStartTime) {
  Batch b1(-1, 0, 0, {{.ts = 100, .cpu = 50, .start = 0}});
  Batch b2(-1, 0, 0, {{.ts = 115, .cpu = 60, .start = 0}});
  // Restarted at t+112 (younger than 10s at t+130 -> no fresh point), counter from 0.
  Batch b3(-1, 0, 0, {{.ts = 118, .cpu = 0.5, .start = 112}});
  Batch b4(-1, 0, 0, {{.ts = 133, .cpu = 2, .start = 112}});
  Tick({{"n1", &b1}});
  ASSERT_NE(Tick({{"n1", &b2}})->FindPod("default", "web"), nullptr);
  EXPECT_EQ(Tick({{"n1", &b3}})->FindPod("default", "web"), nullptr);
  auto w = Tick({{"n1", &b4}});
  const PodMetrics* p = w->FindPod("default", "web");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->window, seconds(15));
  EXPECT_EQ(p->containers[0].cpu_nanocores, 100'000'000u);
}

TEST_F(StoreTest, StartTimeThatMovesBeforeTheLastSampleIsNotARestart) {
  // kwok reports container_start_time_seconds as the pod's age, so it changes on every scrape
  // while staying far before the sample time. That is no restart: the rate must be served.
  Batch b1(-1, 0, 0, {{.ts = 100, .cpu = 2, .start = -5000}});
  Batch b2(-1, 0, 0, {{.ts = 115, .cpu = 5, .start = -4985}});
  Tick({{"n1", &b1}});
  auto w = Tick({{"n1", &b2}});
  const PodMetrics* p = w->FindPod("default", "web");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->window, seconds(15));
  EXPECT_EQ(p->containers[0].cpu_nanocores, 200'000'000u);
}

TEST_F(StoreTest, RestartServedAtOnceWhenFreshRuleApplies) {
  Batch b1(-1, 0, 0, {{.ts = 100, .cpu = 50, .start = 0}});
  Batch b2(-1, 0, 0, {{.ts = 130, .cpu = 6, .start = 118}});  // restarted 12s ago
  Tick({{"n1", &b1}});
  auto w = Tick({{"n1", &b2}});
  const PodMetrics* p = w->FindPod("default", "web");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->window, seconds(12));
  EXPECT_EQ(p->containers[0].cpu_nanocores, 500'000'000u);
}

TEST_F(StoreTest, CounterDecreaseWithoutRestartHidesPodForOneTick) {
  Batch b1(100, 10, 1, {{.ts = 100, .cpu = 50}});
  Batch b2(115, 20, 1, {{.ts = 115, .cpu = 60}});
  Batch b3(130, 5, 1, {{.ts = 130, .cpu = 40}});  // both counters went down
  Batch b4(145, 20, 1, {{.ts = 145, .cpu = 43}});
  Tick({{"n1", &b1}});
  auto w = Tick({{"n1", &b2}});
  ASSERT_NE(w->FindPod("default", "web"), nullptr);
  ASSERT_NE(w->FindNode("n1"), nullptr);
  w = Tick({{"n1", &b3}});
  EXPECT_EQ(w->FindPod("default", "web"), nullptr);  // never a bogus huge rate
  EXPECT_EQ(w->FindNode("n1"), nullptr);
  w = Tick({{"n1", &b4}});
  ASSERT_NE(w->FindPod("default", "web"), nullptr);
  EXPECT_EQ(w->FindPod("default", "web")->containers[0].cpu_nanocores, 200'000'000u);
  EXPECT_EQ(w->FindNode("n1")->cpu_nanocores, 1'000'000'000u);
}

TEST_F(StoreTest, IdenticalRepeatedSampleKeepsWindow) {
  Batch b1(100, 10, 1, {{.ts = 100, .cpu = 10}});
  Batch b2(115, 25, 1, {{.ts = 115, .cpu = 13}});
  Tick({{"n1", &b1}});
  auto w2 = Tick({{"n1", &b2}});
  auto w3 = Tick({{"n1", &b2}});  // the kubelet returned its cached sample again
  const PodMetrics* p = w3->FindPod("default", "web");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->window, seconds(15));
  EXPECT_EQ(p->containers[0].cpu_nanocores, 200'000'000u);
  EXPECT_EQ(w3->FindNode("n1")->cpu_nanocores, w2->FindNode("n1")->cpu_nanocores);
  EXPECT_EQ(w3->FindNode("n1")->window, seconds(15));
}

TEST_F(StoreTest, OutOfOrderSample) {
  Batch b1(100, 10, 1, {});
  Batch b2(115, 25, 1, {});
  Batch older(110, 20, 1, {});  // between prev and last
  Batch oldest(90, 5, 1, {});   // before prev
  Tick({{"n1", &b1}});
  Tick({{"n1", &b2}});
  auto w = Tick({{"n1", &older}});
  const NodeMetrics* n = w->FindNode("n1");
  ASSERT_NE(n, nullptr);  // last = the older sample, prev kept since it is older still
  EXPECT_EQ(n->timestamp, At(110));
  EXPECT_EQ(n->window, seconds(10));
  EXPECT_EQ(n->cpu_nanocores, 1'000'000'000u);
  EXPECT_EQ(Tick({{"n1", &oldest}})->FindNode("n1"), nullptr);
}

TEST_F(StoreTest, SeveralContainersSortedAndPodTimeFromEarliest) {
  Batch b1(-1, 0, 0, {{.name = "z", .ts = 100, .cpu = 1}, {.name = "a", .ts = 101, .cpu = 1}});
  Batch b2(-1, 0, 0, {{.name = "z", .ts = 115, .cpu = 4}, {.name = "a", .ts = 111, .cpu = 2}});
  Tick({{"n1", &b1}});
  auto w = Tick({{"n1", &b2}});
  const PodMetrics* p = w->FindPod("default", "web");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->containers.size(), 2u);
  EXPECT_EQ(p->containers[0].name, "a");
  EXPECT_EQ(p->containers[0].cpu_nanocores, 100'000'000u);
  EXPECT_EQ(p->containers[1].name, "z");
  EXPECT_EQ(p->containers[1].cpu_nanocores, 200'000'000u);
  EXPECT_EQ(p->timestamp, At(111));
  EXPECT_EQ(p->window, seconds(10));
}

TEST_F(StoreTest, ContainerSetChangesKeepTheOthersHistory) {
  Batch b1(-1, 0, 0, {{.name = "a", .ts = 100, .cpu = 1}, {.name = "b", .ts = 100, .cpu = 1}});
  // b went away, c appeared (too young for the fresh rule): a keeps its history.
  Batch b2(-1, 0, 0,
           {{.name = "a", .ts = 115, .cpu = 4}, {.name = "c", .ts = 115, .cpu = 1, .start = 112}});
  Batch b3(
      -1, 0, 0,
      {{.name = "a", .ts = 130, .cpu = 7}, {.name = "c", .ts = 130, .cpu = 2.5, .start = 112}});
  Tick({{"n1", &b1}});
  auto w = Tick({{"n1", &b2}});
  EXPECT_EQ(w->FindPod("default", "web"), nullptr);  // c has a single point
  w = Tick({{"n1", &b3}});
  const PodMetrics* p = w->FindPod("default", "web");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->containers.size(), 2u);
  EXPECT_EQ(p->containers[0].name, "a");
  EXPECT_EQ(p->containers[0].cpu_nanocores, 200'000'000u);
  EXPECT_EQ(p->containers[1].name, "c");
  EXPECT_EQ(p->containers[1].cpu_nanocores, 100'000'000u);
  EXPECT_EQ(store_.Stats().containers, 2u);
}

TEST_F(StoreTest, WindowsShareTheirNamesWithTheStoreAndAmongANodesPods) {
  // Two pods of one namespace with the same container names; a third pod comes in the second
  // tick (the node's state is rebuilt), a fourth in another namespace in the third.
  std::vector<C> first = {{.pod = "web-1", .name = "app", .ts = 100, .cpu = 1},
                          {.pod = "web-1", .name = "sidecar", .ts = 100, .cpu = 1},
                          {.pod = "web-2", .name = "app", .ts = 100, .cpu = 1},
                          {.pod = "web-2", .name = "sidecar", .ts = 100, .cpu = 1}};
  std::vector<C> second = first;
  for (C& c : second) c.ts = 115, c.cpu = 2;
  second.push_back({.pod = "web-3", .name = "app", .ts = 115, .cpu = 1, .start = 104});
  second.push_back({.pod = "web-3", .name = "sidecar", .ts = 115, .cpu = 1, .start = 104});
  std::vector<C> third = second;
  for (C& c : third) c.ts = 130, c.cpu = 3;
  third.push_back({.ns = "other", .pod = "db", .name = "app", .ts = 130, .cpu = 1, .start = 119});
  Batch b1(-1, 0, 0, first), b2(-1, 0, 0, second), b3(-1, 0, 0, third);
  Tick({{"n1", &b1}});
  auto w2 = Tick({{"n1", &b2}});
  auto w3 = Tick({{"n1", &b3}});
  ASSERT_EQ(w2->pods().size(), 3u);
  ASSERT_EQ(w3->pods().size(), 4u);

  const PodMetrics* web1 = w3->FindPod("default", "web-1");
  const PodMetrics* web3 = w3->FindPod("default", "web-3");
  const PodMetrics* db = w3->FindPod("other", "db");
  ASSERT_TRUE(web1 != nullptr && web3 != nullptr && db != nullptr);
  // Each window's names are the store's: the same buffers from one window to the next.
  for (size_t i = 0; i < w2->pods().size(); ++i) {
    const PodMetrics& before = w2->pods()[i];
    const PodMetrics* after = w3->FindPod(before.namespace_, before.name);
    ASSERT_NE(after, nullptr) << before.name;
    EXPECT_TRUE(after->name.SharesBufferWith(before.name)) << before.name;
    EXPECT_TRUE(after->namespace_.SharesBufferWith(before.namespace_)) << before.name;
    for (size_t k = 0; k < before.containers.size(); ++k) {
      EXPECT_TRUE(after->containers[k].name.SharesBufferWith(before.containers[k].name))
          << before.name << " " << before.containers[k].name;
    }
  }
  // A pod that came later takes the namespace and container names its node already had.
  EXPECT_TRUE(web3->namespace_.SharesBufferWith(web1->namespace_));
  EXPECT_TRUE(web3->containers[0].name.SharesBufferWith(web1->containers[0].name));
  EXPECT_TRUE(web3->containers[1].name.SharesBufferWith(web1->containers[1].name));
  EXPECT_TRUE(db->containers[0].name.SharesBufferWith(web1->containers[0].name));
  EXPECT_EQ(db->namespace_, "other");
  EXPECT_FALSE(db->namespace_.SharesBufferWith(web1->namespace_));
  EXPECT_FALSE(web3->name.SharesBufferWith(web1->name));
  EXPECT_EQ(web3->containers[1].name, "sidecar");
}

// With StoreSettings::pod_names (the server's pod cache), the store and its windows hold the
// names the settings give instead of copies of the kubelet's; a pod the source does not know yet
// keeps its own copy until a later scrape of its node finds it there.
TEST(StorePodNamesTest, PodsTakeTheirNamesFromTheSourceOnceItHasThem) {
  std::map<std::pair<std::string, std::string>, SharedPodNames> known;
  int lookups = 0;
  auto add = [&](std::string ns, std::string name) {
    known[{ns, name}] = {base::SharedString(ns), base::SharedString(name)};
  };
  add("default", "web-1");
  StoreSettings settings{seconds(15), 2};
  settings.pod_names = [&](std::string_view ns, std::string_view name) {
    ++lookups;
    auto it = known.find({std::string(ns), std::string(name)});
    return it == known.end() ? SharedPodNames{} : it->second;
  };
  window::Publication windows;
  Store store(settings, windows);
  auto tick = [&](const Batch& b) {
    store.BeginTick().Success("n1", b.metrics);
    store.Publish();
    return windows.Current();
  };
  std::vector<C> cs = {{.pod = "web-1", .name = "app", .ts = 100, .cpu = 1},
                       {.pod = "web-2", .name = "app", .ts = 100, .cpu = 1}};
  Batch b1(-1, 0, 0, cs);
  for (C& c : cs) c.ts = 115, c.cpu = 2;
  Batch b2(-1, 0, 0, cs);
  for (C& c : cs) c.ts = 130, c.cpu = 3;
  Batch b3(-1, 0, 0, cs);
  for (C& c : cs) c.ts = 145, c.cpu = 4;
  Batch b4(-1, 0, 0, cs);

  tick(b1);
  EXPECT_EQ(lookups, 2);
  auto w = tick(b2);
  EXPECT_EQ(lookups, 4);  // web-2 unknown: the node's pods are looked up again
  const PodMetrics* web1 = w->FindPod("default", "web-1");
  const PodMetrics* web2 = w->FindPod("default", "web-2");
  ASSERT_TRUE(web1 != nullptr && web2 != nullptr);
  const SharedPodNames& names1 = known[{"default", "web-1"}];
  EXPECT_TRUE(web1->name.SharesBufferWith(names1.name));
  EXPECT_TRUE(web1->namespace_.SharesBufferWith(names1.namespace_));
  EXPECT_EQ(web2->name, "web-2");  // its own copy, served all the same

  add("default", "web-2");
  w = tick(b3);
  EXPECT_EQ(lookups, 6);
  const SharedPodNames& names2 = known[{"default", "web-2"}];
  ASSERT_NE(w->FindPod("default", "web-2"), nullptr);
  EXPECT_TRUE(w->FindPod("default", "web-2")->name.SharesBufferWith(names2.name));
  EXPECT_TRUE(w->FindPod("default", "web-2")->namespace_.SharesBufferWith(names2.namespace_));
  // Every name shared: no more lookups while the node's pods stay the same.
  w = tick(b4);
  EXPECT_EQ(lookups, 6);
  EXPECT_TRUE(w->FindPod("default", "web-1")->name.SharesBufferWith(names1.name));
  EXPECT_EQ(w->pods().size(), 2u);

  // A pod the source never has: its node's pods are looked up at four scrapes, then no more
  // until they change. The pod is served as any other.
  cs.push_back({.pod = "web-9", .name = "app", .ts = 160, .cpu = 1, .start = 150});
  for (C& c : cs) c.ts = 160, c.cpu = 5;
  lookups = 0;
  for (int i = 0; i < 6; ++i) {
    for (C& c : cs) c.ts += 15, c.cpu += 1;
    Batch b(-1, 0, 0, cs);
    w = tick(b);
  }
  EXPECT_EQ(lookups, 4 * 3);
  ASSERT_NE(w->FindPod("default", "web-9"), nullptr);
  EXPECT_TRUE(w->FindPod("default", "web-1")->name.SharesBufferWith(names1.name));
}

TEST_F(StoreTest, ZeroUsageIsServedButMissingLineHidesPod) {
  Batch b1(-1, 0, 0,
           {{.pod = "idle", .name = "a", .ts = 100, .cpu = 0, .memory = 0},
            {.pod = "idle", .name = "b", .ts = 100, .cpu = 3},
            {.pod = "partial", .name = "a", .ts = 100, .cpu = 3},
            {.pod = "partial", .name = "b", .ts = 100, .cpu = 3, .has_memory = false}});
  Batch b2(-1, 0, 0,
           {{.pod = "idle", .name = "a", .ts = 115, .cpu = 0, .memory = 0},
            {.pod = "idle", .name = "b", .ts = 115, .cpu = 4.5},
            {.pod = "partial", .name = "a", .ts = 115, .cpu = 4.5},
            {.pod = "partial", .name = "b", .ts = 115, .cpu = 4.5, .has_memory = false}});
  Tick({{"n1", &b1}});
  auto w = Tick({{"n1", &b2}});
  const PodMetrics* idle = w->FindPod("default", "idle");
  ASSERT_NE(idle, nullptr);  // metrics-server drops this pod
  EXPECT_EQ(idle->containers[0].cpu_nanocores, 0u);
  EXPECT_EQ(idle->containers[0].memory_bytes, 0u);
  EXPECT_EQ(idle->containers[1].cpu_nanocores, 100'000'000u);
  EXPECT_EQ(w->FindPod("default", "partial"), nullptr);
}

TEST_F(StoreTest, SwapServedFromTheNewerPointOnlyWhereReported) {
  Batch b1(100, 10, 1,
           {{.pod = "p", .name = "a", .ts = 100, .cpu = 1, .swap = 4096},
            {.pod = "p", .name = "b", .ts = 100, .cpu = 1, .swap = 0},
            {.pod = "p", .name = "c", .ts = 100, .cpu = 1}});
  b1.metrics.node.has_swap = true;
  b1.metrics.node.swap_bytes = 1 << 20;
  // Same layout (updated in place), new values; the node stops reporting swap.
  Batch b2(115, 25, 7,
           {{.pod = "p", .name = "a", .ts = 115, .cpu = 2, .swap = 8192},
            {.pod = "p", .name = "b", .ts = 115, .cpu = 2, .swap = 0},
            {.pod = "p", .name = "c", .ts = 115, .cpu = 2}});
  // A new container (the pod is rebuilt) and a fresh one served after one scrape.
  Batch b3(130, 40, 7,
           {{.pod = "p", .name = "a", .ts = 130, .cpu = 3, .swap = 16384},
            {.pod = "p", .name = "b", .ts = 130, .cpu = 3},
            {.pod = "p", .name = "c", .ts = 130, .cpu = 3, .swap = 12},
            {.pod = "p", .name = "d", .ts = 130, .cpu = 3, .start = 118, .swap = 34}});
  b2.metrics.node.has_swap = false;
  b3.metrics.node.has_swap = true;
  b3.metrics.node.swap_bytes = 0;
  Tick({{"n1", &b1}});
  auto w = Tick({{"n1", &b2}});
  ASSERT_NE(w->FindNode("n1"), nullptr);
  EXPECT_FALSE(w->FindNode("n1")->has_swap);
  const PodMetrics* p = w->FindPod("default", "p");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->containers.size(), 3u);
  EXPECT_TRUE(p->extras_of(0).has_swap);
  EXPECT_EQ(p->extras_of(0).swap_bytes, 8192u);
  EXPECT_TRUE(p->extras_of(1).has_swap);
  EXPECT_EQ(p->extras_of(1).swap_bytes, 0u);
  EXPECT_FALSE(p->extras_of(2).has_swap);

  w = Tick({{"n1", &b3}});
  ASSERT_NE(w->FindNode("n1"), nullptr);
  EXPECT_TRUE(w->FindNode("n1")->has_swap);
  EXPECT_EQ(w->FindNode("n1")->swap_bytes, 0u);
  p = w->FindPod("default", "p");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->containers.size(), 4u);
  EXPECT_EQ(p->extras_of(0).swap_bytes, 16384u);
  EXPECT_FALSE(p->extras_of(1).has_swap);
  EXPECT_TRUE(p->extras_of(2).has_swap);
  EXPECT_EQ(p->extras_of(2).swap_bytes, 12u);
  EXPECT_TRUE(p->extras_of(3).has_swap);
  EXPECT_EQ(p->extras_of(3).swap_bytes, 34u);
}

TEST_F(StoreTest, SummaryAddsEphemeralStorageToNodeAndNamedContainers) {
  Batch b1(100, 10, 1,
           {{.pod = "p", .name = "a", .ts = 100, .cpu = 1},
            {.pod = "p", .name = "b", .ts = 100, .cpu = 1},
            {.pod = "q", .name = "a", .ts = 100, .cpu = 1}});
  Batch b2(115, 25, 7,
           {{.pod = "p", .name = "a", .ts = 115, .cpu = 2},
            {.pod = "p", .name = "b", .ts = 115, .cpu = 2},
            {.pod = "q", .name = "a", .ts = 115, .cpu = 2}});
  SummaryStorage summary;
  summary.has_node_fs = true;
  summary.node_fs_used_bytes = 5000;
  auto add = [&](std::string pod, std::string name, bool rootfs, uint64_t bytes) {
    ContainerStorage c;
    c.namespace_ = "default";
    c.pod = std::move(pod);
    c.container = std::move(name);
    c.has_rootfs = rootfs;
    c.rootfs_bytes = bytes;
    c.has_logs = true;
    c.logs_bytes = 1;
    summary.containers.push_back(c);
  };
  add("gone", "x", true, 9);  // a pod the resource metrics do not list: ignored
  add("p", "a", true, 100);
  add("p", "zz", true, 9);                            // unknown container: ignored
  add("q", "a", false, 0);                            // logs only
  summary.containers[1].stats.memory_rss_bytes = 77;  // p/a
  summary.containers[1].stats.has = window::SummaryStats::kMemoryRss;
  summary.node.has = window::SummaryStats::kRxBytes;
  summary.node.rx_bytes = 55;
  summary.pods.push_back({"default", "q", {}});
  summary.pods.back().stats.has = window::SummaryStats::kTxBytes;
  summary.pods.back().stats.tx_bytes = 66;
  store_.BeginTick().Success("n1", b1.metrics, &summary);
  store_.Publish();
  auto w = windows_.Current();
  EXPECT_EQ(w->FindNode("n1"), nullptr);  // one point: no window yet
  // In place (same layout), then the summary missing for a tick: no ephemeral storage.
  store_.BeginTick().Success("n1", b2.metrics, &summary);
  store_.Publish();
  w = windows_.Current();
  ASSERT_NE(w->FindNode("n1"), nullptr);
  EXPECT_TRUE(w->FindNode("n1")->has_ephemeral_storage);
  EXPECT_EQ(w->FindNode("n1")->ephemeral_storage_bytes, 5000u);
  const PodMetrics* p = w->FindPod("default", "p");
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->extras_of(0).has_ephemeral_storage);
  EXPECT_EQ(p->extras_of(0).ephemeral_storage_bytes, 101u);
  EXPECT_FALSE(p->extras_of(1).has_ephemeral_storage);
  const PodMetrics* q = w->FindPod("default", "q");
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(q->extras_of(0).has_ephemeral_storage);
  EXPECT_EQ(q->extras_of(0).ephemeral_storage_bytes, 1u);
  // The window carries the summary's statistics beside the node, pods and containers.
  ASSERT_TRUE(w->has_summary());
  ASSERT_NE(w->node_summary(0), nullptr);
  EXPECT_EQ(w->node_summary(0)->rx_bytes, 55u);
  const size_t pi = static_cast<size_t>(p - w->pods().data());
  const size_t qi = static_cast<size_t>(q - w->pods().data());
  ASSERT_EQ(w->pod_summary(pi)->containers.size(), 2u);
  EXPECT_EQ(w->pod_summary(pi)->containers[0].memory_rss_bytes, 77u);
  EXPECT_TRUE(w->pod_summary(pi)->containers[0].Has(window::SummaryStats::kMemoryRss));
  EXPECT_EQ(w->pod_summary(pi)->containers[1].has, 0);  // not in the summary
  EXPECT_EQ(w->pod_summary(pi)->pod.has, 0);
  EXPECT_EQ(w->pod_summary(qi)->pod.tx_bytes, 66u);

  Batch b3(130, 40, 7,
           {{.pod = "p", .name = "a", .ts = 130, .cpu = 3},
            {.pod = "p", .name = "b", .ts = 130, .cpu = 3},
            {.pod = "q", .name = "a", .ts = 130, .cpu = 3}});
  w = Tick({{"n1", &b3}});
  ASSERT_NE(w->FindNode("n1"), nullptr);
  EXPECT_FALSE(w->FindNode("n1")->has_ephemeral_storage);
  ASSERT_NE(w->FindPod("default", "p"), nullptr);
  EXPECT_FALSE(w->FindPod("default", "p")->extras_of(0).has_ephemeral_storage);
  // No node sent a summary this tick: the window has none (as without --kubelet-summary-api).
  EXPECT_FALSE(w->has_summary());
  EXPECT_EQ(w->node_summary(0), nullptr);
}

TEST_F(StoreTest, FailedScrapeKeepsHistoryForBoundedTicks) {
  Batch b1(100, 10, 1, {{.ts = 100, .cpu = 10}});
  Batch b2(115, 25, 7, {{.ts = 115, .cpu = 13}});
  Batch b5(160, 70, 8, {{.ts = 160, .cpu = 22}});
  Tick({{"n1", &b1}});
  auto good = Tick({{"n1", &b2}});
  for (int i = 0; i < 2; ++i) {
    auto w = Tick({}, {"n1"});
    const NodeMetrics* n = w->FindNode("n1");
    ASSERT_NE(n, nullptr) << "failure " << i;
    EXPECT_EQ(n->timestamp, At(115));  // stale data shows its age
    EXPECT_EQ(n->memory_bytes, 7u);
    ASSERT_NE(w->FindPod("default", "web"), nullptr);
    EXPECT_EQ(store_.Stats().retained_nodes, 1u);
  }
  // Success after two failures: the window spans the gap.
  auto w = Tick({{"n1", &b5}});
  ASSERT_NE(w->FindNode("n1"), nullptr);
  EXPECT_EQ(w->FindNode("n1")->window, seconds(45));
  EXPECT_EQ(w->FindNode("n1")->cpu_nanocores, 1'000'000'000u);
  EXPECT_EQ(w->FindPod("default", "web")->containers[0].cpu_nanocores, 200'000'000u);
  // Three failures in a row: gone.
  Tick({}, {"n1"});
  Tick({}, {"n1"});
  w = Tick({}, {"n1"});
  EXPECT_EQ(w->FindNode("n1"), nullptr);
  EXPECT_EQ(w->FindPod("default", "web"), nullptr);
  EXPECT_EQ(store_.Stats().nodes, 0u);
}

class StoreNoRetentionTest : public StoreTest {
 protected:
  StoreNoRetentionTest() : StoreTest(0) {}
};

// A node kept as it is (the start-up tick leaves its second sample to the next tick): its one
// point stays, no failure is counted, and the next scrape gives the rate; after a rate, it keeps
// serving it. Retention is not used up: with none at all, the node is still kept.
TEST_F(StoreNoRetentionTest, KeptNodeKeepsItsPointsWithoutCountingAFailure) {
  Batch b1(100, 10, 1, {{.ts = 100, .cpu = 10}});
  Batch b2(115, 25, 7, {{.ts = 115, .cpu = 13}});
  Batch other(100, 1, 1, {});
  Tick({{"n1", &b1}, {"n2", &other}});
  Store::Tick& tick = store_.BeginTick();
  tick.Keep("n1");
  tick.Keep("n1");     // reported twice: the first report counts
  tick.Failure("n1");  // as does a failure after it
  tick.Keep("gone");   // never seen: nothing to keep
  store_.Publish();
  EXPECT_EQ(store_.Stats().nodes, 1u);  // n2, neither scraped nor kept, is forgotten
  EXPECT_EQ(store_.Stats().retained_nodes, 0u);
  EXPECT_TRUE(windows_.Current()->nodes().empty());
  auto w = Tick({{"n1", &b2}});
  ASSERT_NE(w->FindNode("n1"), nullptr);
  EXPECT_EQ(w->FindNode("n1")->window, seconds(15));
  EXPECT_EQ(w->FindNode("n1")->cpu_nanocores, 1'000'000'000u);
  store_.BeginTick().Keep("n1");
  store_.Publish();
  w = windows_.Current();
  ASSERT_NE(w->FindNode("n1"), nullptr);
  EXPECT_EQ(w->FindNode("n1")->timestamp, At(115));
  ASSERT_NE(w->FindPod("default", "web"), nullptr);
}


TEST_F(StoreNoRetentionTest, FirstFailureDropsNodeLikeMetricsServer) {
  Batch b1(100, 10, 1, {{.ts = 100, .cpu = 10}});
  Batch b2(115, 25, 1, {{.ts = 115, .cpu = 13}});
  Tick({{"n1", &b1}});
  ASSERT_NE(Tick({{"n1", &b2}})->FindNode("n1"), nullptr);
  auto w = Tick({}, {"n1"});
  EXPECT_EQ(w->FindNode("n1"), nullptr);
  EXPECT_EQ(w->FindPod("default", "web"), nullptr);
}

TEST_F(StoreTest, DeletedNodesAndPodsLeaveNoTrace) {
  Batch a1(100, 10, 1, {{.pod = "p1", .ts = 100, .cpu = 1}, {.pod = "p2", .ts = 100, .cpu = 1}});
  Batch a2(115, 25, 1, {{.pod = "p1", .ts = 115, .cpu = 2}});  // p2 deleted
  Batch b1(100, 10, 1, {{.ns = "other", .ts = 100, .cpu = 1}});
  Tick({{"a", &a1}, {"b", &b1}});
  EXPECT_EQ(store_.Stats().nodes, 2u);
  EXPECT_EQ(store_.Stats().containers, 3u);
  auto w = Tick({{"a", &a2}});  // node b deleted: not even reported as failed
  EXPECT_EQ(store_.Stats().nodes, 1u);
  EXPECT_EQ(store_.Stats().containers, 1u);
  EXPECT_NE(w->FindPod("default", "p1"), nullptr);
  EXPECT_EQ(w->FindPod("default", "p2"), nullptr);
  EXPECT_EQ(w->FindNode("b"), nullptr);
  // A deleted node that comes back starts from scratch.
  EXPECT_EQ(Tick({{"a", &a2}, {"b", &b1}})->FindNode("b"), nullptr);
}

TEST_F(StoreTest, PodReportedByTwoNodesIsServedOnce) {
  Batch a1(-1, 0, 0, {{.ts = 100, .cpu = 1}});
  Batch a2(-1, 0, 0, {{.ts = 115, .cpu = 2}});
  Tick({{"a", &a1}, {"b", &a1}});
  auto w = Tick({{"a", &a2}, {"b", &a2}});
  EXPECT_EQ(w->pods().size(), 1u);
  EXPECT_EQ(store_.Stats().servable_pods, 1u);
}

// Pods come, go, move between nodes, change containers and are now and then reported by two
// nodes; nodes come and go. Every window must list each pod once, sorted, from the first node (by
// name) whose report of it is complete, i.e. names only containers that node also reported one
// tick before: what a reference model computes here from the reports alone. The store keeps its
// pod order across ticks and only re-sorts what changed, which this checks against.
TEST_F(StoreTest, WindowMatchesAReferenceModelUnderChurn) {
  constexpr int kNodes = 6;
  constexpr int kPods = 40;
  std::mt19937 rng(20261205);
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  auto node_name = [](int n) { return "node-" + std::to_string(n); };
  auto pod_ns = [](int p) { return "ns-" + std::to_string(p % 3); };
  auto pod_name = [](int p) { return "pod-" + std::to_string(p); };
  // reports[n][p] = containers node n reported of pod p (0 = none, 1 = app, 2 = app and sidecar),
  // or -1 when the node was not in the tick at all.
  using Reports = std::vector<std::vector<int>>;
  std::vector<int> home(kPods), width(kPods);
  for (int p = 0; p < kPods; ++p) {
    home[p] = pick(kNodes);
    width[p] = 1 + pick(2);
  }
  Reports before(kNodes, std::vector<int>(kPods, -1));
  int served_total = 0;
  int duplicates_total = 0;
  for (int t = 1; t <= 60; ++t) {
    Reports now(kNodes, std::vector<int>(kPods, 0));
    std::vector<bool> present(kNodes);
    for (int n = 0; n < kNodes; ++n) present[n] = chance(0.85);
    for (int p = 0; p < kPods; ++p) {
      if (chance(0.1)) home[p] = pick(kNodes);
      if (chance(0.1)) width[p] = 1 + pick(2);
      now[home[p]][p] = width[p];
      if (chance(0.08)) now[pick(kNodes)][p] = 1 + pick(2);
    }
    std::vector<std::unique_ptr<Batch>> batches;
    std::vector<std::pair<std::string, const Batch*>> ok;
    for (int n = 0; n < kNodes; ++n) {
      if (!present[n]) {
        std::fill(now[n].begin(), now[n].end(), -1);
        continue;
      }
      std::vector<C> containers;
      // Each node's own CPU rate, (n + 1) millicores per container, tells which node was served.
      const double cpu = t * 15.0 * 0.001 * (n + 1);
      for (int p = 0; p < kPods; ++p) {
        for (int c = 0; c < now[n][p]; ++c) {
          containers.push_back({.ns = pod_ns(p), .pod = pod_name(p),
                                .name = c == 0 ? "app" : "sidecar", .ts = t * 15.0, .cpu = cpu});
        }
      }
      batches.push_back(std::make_unique<Batch>(-1, 0, 0, std::move(containers)));
      ok.emplace_back(node_name(n), batches.back().get());
    }
    std::shuffle(ok.begin(), ok.end(), rng);  // completions arrive in any order
    auto w = Tick(ok);

    struct Expected {
      std::string ns, name;
      int node, width;
    };
    std::vector<Expected> expected;
    for (int p = 0; p < kPods; ++p) {
      int reporters = 0;
      for (int n = 0; n < kNodes; ++n) reporters += now[n][p] > 0;
      duplicates_total += reporters > 1;
      for (int n = 0; n < kNodes; ++n) {
        if (now[n][p] > 0 && before[n][p] >= now[n][p]) {
          expected.push_back({pod_ns(p), pod_name(p), n, now[n][p]});
          break;
        }
      }
    }
    std::sort(expected.begin(), expected.end(), [](const Expected& a, const Expected& b) {
      return std::tie(a.ns, a.name) < std::tie(b.ns, b.name);
    });
    ASSERT_EQ(w->pods().size(), expected.size()) << "tick " << t;
    for (size_t i = 0; i < expected.size(); ++i) {
      const PodMetrics& got = w->pods()[i];
      const Expected& want = expected[i];
      ASSERT_EQ(got.namespace_, want.ns) << "tick " << t << " #" << i;
      ASSERT_EQ(got.name, want.name) << "tick " << t << " #" << i;
      ASSERT_EQ(got.containers.size(), static_cast<size_t>(want.width)) << got.name;
      for (const auto& c : got.containers) {
        EXPECT_NEAR(static_cast<double>(c.cpu_nanocores), (want.node + 1) * 1e6, 2)
            << "tick " << t << " " << got.name << " served from the wrong node";
      }
    }
    EXPECT_EQ(store_.Stats().servable_pods, expected.size());
    served_total += static_cast<int>(expected.size());
    before = std::move(now);
  }
  // The run exercised what it is about.
  EXPECT_GT(served_total, 60 * kPods / 2);
  EXPECT_GT(duplicates_total, 20);
}

// A tick begun again before the open one was published: what the open one collected becomes
// the state, the other nodes keep theirs.
TEST_F(StoreTest, TickBegunAgainKeepsWhatTheOpenOneCollected) {
  Batch a1(-1, 0, 0, {{.pod = "pa", .ts = 100, .cpu = 1}});
  Batch b1(-1, 0, 0, {{.pod = "pb", .ts = 100, .cpu = 1}});
  Batch a2(-1, 0, 0, {{.pod = "pa", .ts = 115, .cpu = 2}, {.pod = "pc", .ts = 115, .cpu = 1}});
  Batch a3(-1, 0, 0, {{.pod = "pa", .ts = 130, .cpu = 2.5}, {.pod = "pc", .ts = 130, .cpu = 2}});
  Batch b3(-1, 0, 0, {{.pod = "pb", .ts = 130, .cpu = 4}});
  Tick({{"a", &a1}, {"b", &b1}});
  store_.BeginTick().Success("a", a2.metrics);  // rebuilt: pc is new
  auto w = Tick({{"a", &a3}, {"b", &b3}});
  ASSERT_EQ(w->pods().size(), 3u);
  EXPECT_EQ(w->pods()[0].name, "pa");
  EXPECT_EQ(w->pods()[0].containers[0].cpu_nanocores, 33'333'333u);  // 0.5 s over 15 s
  EXPECT_EQ(w->pods()[1].name, "pb");
  EXPECT_EQ(w->pods()[1].containers[0].cpu_nanocores, 100'000'000u);  // 3 s over 30 s
  EXPECT_EQ(w->pods()[2].name, "pc");
  EXPECT_EQ(w->pods()[2].containers[0].cpu_nanocores, 66'666'666u);  // 1 s over 15 s
}

TEST(CpuNanocores, LargeCountersDoNotOverflow) {
  // 10^6 core-seconds over 1000 s: 1000 cores.
  EXPECT_EQ(CpuNanocores(1'000'000ull * kSec, seconds(1000)), 1000ull * kSec);
  EXPECT_EQ(CpuNanocores(1, seconds(0)), 0u);
  EXPECT_EQ(CpuNanocores(999'999'999, seconds(1)), 999'999'999u);
  EXPECT_EQ(CpuNanocores(1, seconds(3)), 0u);  // truncated
}

}  // namespace
}  // namespace scraper
