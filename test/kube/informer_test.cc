// Informers against the fake kube-apiserver (real TLS on a local port). Retry waits go through a
// scheduler that advances a ManualClock instead of sleeping, so outages of many minutes run in
// milliseconds.
#include "kube/informer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "kube/client.h"
#include "kube/config.h"
#include "test/kube/fake_apiserver_test.h"
#include "test/testing/temp_dir.h"
#include "test/testing/wait.h"

namespace kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using testing_support::WaitFor;

std::vector<std::string> PodKeys(const PodCache& cache) {
  std::vector<std::string> out;
  for (const auto& p : cache.List("")) out.push_back(p->namespace_.str() + "/" + p->name.str());
  return out;
}

class InformerTest : public fake::FakeApiserverTest {
 protected:
  ~InformerTest() override {
    pods_informer_.reset();
    nodes_informer_.reset();
    StopIo();
  }

  InformerOptions Options() {
    InformerOptions o;
    o.page_size = 10;
    o.list_timeout = milliseconds(5000);
    o.max_event_bytes = 4096;
    return o;
  }

  void StartPods(InformerOptions o) {
    pods_informer_ = NewPodInformer(*client_, pods_, clock_, o, &scheduler_, [] { return 0.5; });
    pods_informer_->Start();
    ASSERT_TRUE(WaitFor([&] { return pods_informer_->HasSynced(); }))
        << pods_informer_->Stats().last_error;
  }

  // The pods the fake holds, as the cache should mirror them.
  std::vector<std::string> Expected(std::initializer_list<std::string> keys) {
    std::vector<std::string> v(keys);
    std::sort(v.begin(), v.end());
    return v;
  }

  bool Converged(const std::vector<std::string>& want) {
    return WaitFor([&] { return PodKeys(pods_) == want; });
  }

  PodCache pods_;
  NodeCache nodes_;
  std::unique_ptr<Informer> pods_informer_;
  std::unique_ptr<Informer> nodes_informer_;
};

TEST_F(InformerTest, ListsInPagesAsMetadataThenFollowsTheWatch) {
  for (int i = 0; i < 25; ++i) {
    fake_.UpsertPod("ns-" + std::to_string(i % 3), "p" + std::to_string(i),
                    {{"app", i % 2 ? "web" : "db"}});
  }
  StartPods(Options());
  EXPECT_EQ(pods_.Size(), 25u);
  EXPECT_EQ(fake_.list_requests("pods"), 3);  // 10 + 10 + 5
  auto targets = fake_.targets();
  EXPECT_THAT(targets[0], HasSubstr("limit=10"));
  EXPECT_THAT(targets[0], HasSubstr("fieldSelector=status.phase%3DRunning"));
  EXPECT_THAT(targets[1], HasSubstr("continue="));
  auto first = fake_.server().requests().front();
  EXPECT_EQ(first.Header("Accept"),
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json");
  EXPECT_EQ(first.Header("Authorization"),
            std::string("Bearer ") + fake::FakeKubeApiserver::kToken);

  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  auto watch_target = fake_.targets().back();
  EXPECT_THAT(watch_target, HasSubstr("watch=true"));
  EXPECT_THAT(watch_target, HasSubstr("allowWatchBookmarks=true"));
  EXPECT_THAT(watch_target,
              HasSubstr("resourceVersion=" + std::to_string(fake_.resource_version())));

  fake_.UpsertPod("ns-0", "new", {{"app", "web"}});
  fake_.UpsertPod("ns-1", "p1", {{"app", "changed"}});
  fake_.DeletePod("ns-2", "p2");
  ASSERT_TRUE(WaitFor([&] {
    auto changed = pods_.Get("ns-1", "p1");
    return pods_.Get("ns-0", "new") && !pods_.Get("ns-2", "p2") && changed &&
           changed->labels.at("app") == "changed";
  }));
  EXPECT_EQ(pods_.Size(), 25u);
  EXPECT_EQ(pods_.List("ns-0", LabelSelector::Parse("app=web").value()).size(), 5u);
  EXPECT_EQ(fake_.list_requests("pods"), 3);  // no re-list
  auto stats = pods_informer_->Stats();
  EXPECT_EQ(stats.lists, 1u);
  EXPECT_EQ(stats.list_pages, 3u);
  EXPECT_EQ(stats.events, 3u);
  EXPECT_EQ(stats.resource_version, std::to_string(fake_.resource_version()));
}

TEST_F(InformerTest, NodesKeepAddressesPortAndAllocatable) {
  fake_.UpsertNode("node-b", {{"zone", "b"}}, 10250);
  fake_.UpsertNode("node-a", {{"zone", "a"}}, 12345);
  nodes_informer_ = NewNodeInformer(*client_, nodes_, clock_, Options(), &scheduler_);
  nodes_informer_->Start();
  ASSERT_TRUE(WaitFor([&] { return nodes_informer_->HasSynced(); }));
  auto list = nodes_.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]->name, "node-a");
  EXPECT_EQ(list[0]->kubelet_port, 12345);
  ASSERT_EQ(list[0]->addresses.size(), 2u);
  EXPECT_EQ(list[0]->addresses[0].address, "127.0.0.1");
  EXPECT_EQ(list[0]->allocatable_cpu_millicores, 4000);
  EXPECT_EQ(list[0]->allocatable_memory_bytes, 8LL << 30);
  fake_.DeleteNode("node-b");
  fake_.UpsertNode("node-c", {{"zone", "c"}});
  ASSERT_TRUE(WaitFor([&] { return !nodes_.Get("node-b") && nodes_.Get("node-c"); }));
  EXPECT_EQ(nodes_.List(LabelSelector::Parse("zone in (a,c)").value()).size(), 2u);
}

// --heapster-pod-resources: full pods (not PartialObjectMetadata), Running only, narrowed to
// node and the containers' requests and limits; then the watch keeps the cache in step.
TEST_F(InformerTest, PodResourcesListFullPodsThenFollowTheWatch) {
  auto pod = [](const std::string& ns, const std::string& name, const std::string& node) {
    return nlohmann::json{{"metadata", {{"namespace", ns}, {"name", name}, {"uid", "u-" + name}}},
                          {"spec",
                           {{"nodeName", node},
                            {"containers",
                             {{{"name", "side"}, {"resources", {{"requests", {{"cpu", "50m"}}}}}},
                              {{"name", "app"},
                               {"resources",
                                {{"requests", {{"cpu", "0.5"}, {"memory", "64Mi"}}},
                                 {"limits", {{"cpu", "1"}, {"memory", "1G"}}}}}}}}}},
                          {"status", {{"phase", "Running"}}}};
  };
  std::vector<nlohmann::json> pods;
  for (int i = 0; i < 15; ++i) {
    pods.push_back(pod("ns-" + std::to_string(i % 2), "p" + std::to_string(i), "node-a"));
  }
  fake_.BulkAdd("pods", std::move(pods));
  PodResourcesCache cache;
  auto informer =
      NewPodResourcesInformer(*client_, cache, clock_, Options(), &scheduler_, [] { return 0.5; });
  informer->Start();
  ASSERT_TRUE(WaitFor([&] { return informer->HasSynced(); })) << informer->Stats().last_error;
  EXPECT_EQ(cache.Size(), 15u);
  EXPECT_EQ(fake_.list_requests("pods"), 2);  // 10 + 5
  auto first = fake_.server().requests().front();
  EXPECT_EQ(first.Header("Accept"), "application/json");
  EXPECT_THAT(fake_.targets()[0], HasSubstr("fieldSelector=status.phase%3DRunning"));
  std::vector<std::string> keys;
  cache.ForEach([&](const PodResources& p) {
    keys.push_back(p.namespace_ + "/" + p.name);
    EXPECT_EQ(p.node_name, "node-a");
    ASSERT_EQ(p.containers.size(), 2u);
    EXPECT_EQ(p.containers[0].name, "app");  // sorted by name
    EXPECT_EQ(p.containers[0].cpu_request_millicores, 500);
    EXPECT_EQ(p.containers[0].cpu_limit_millicores, 1000);
    EXPECT_EQ(p.containers[0].memory_request_bytes, 64 << 20);
    EXPECT_EQ(p.containers[0].memory_limit_bytes, 1'000'000'000);
    EXPECT_EQ(p.containers[1].cpu_request_millicores, 50);
    EXPECT_EQ(p.containers[1].memory_limit_bytes, 0);  // unset
  });
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));

  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  const uint64_t generation = cache.Generation();
  fake_.DeletePod("ns-0", "p0");
  fake_.UpsertPod("ns-1", "new");  // one container "c" without resources: zeros
  ASSERT_TRUE(WaitFor([&] { return cache.Size() == 15u && cache.Generation() >= generation + 2; }));
  bool has_new = false, has_p0 = false;
  cache.ForEach([&](const PodResources& p) {
    has_new =
        has_new || (p.name == "new" && p.node_name == "node-1" && p.containers.size() == 1 &&
                    p.containers[0].name == "c" && p.containers[0].cpu_request_millicores == 0);
    has_p0 = has_p0 || p.name == "p0";
  });
  EXPECT_TRUE(has_new);
  EXPECT_FALSE(has_p0);
  informer.reset();
}

TEST_F(InformerTest, CleanCloseRewatchesFromLastResourceVersionWithoutRelisting) {
  fake_.UpsertPod("a", "1");
  StartPods(Options());
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  fake_.UpsertPod("a", "2");
  ASSERT_TRUE(WaitFor([&] { return pods_.Get("a", "2") != nullptr; }));
  const uint64_t rv_before_close = fake_.resource_version();
  clock_.Advance(seconds(5));  // the watch lived long enough not to count as "very short"
  fake_.EndWatches();
  ASSERT_TRUE(WaitFor([&] { return fake_.watch_requests("pods") == 2; }));
  EXPECT_THAT(fake_.targets().back(),
              HasSubstr("resourceVersion=" + std::to_string(rv_before_close)));
  fake_.UpsertPod("a", "3");
  fake_.DeletePod("a", "1");
  EXPECT_TRUE(Converged(Expected({"a/2", "a/3"})));
  EXPECT_EQ(fake_.list_requests("pods"), 1);
  EXPECT_TRUE(scheduler_.delays().size() <= 1u);  // only the initial start
}

TEST_F(InformerTest, AbortedWatchBacksOffThenResumes) {
  fake_.UpsertPod("a", "1");
  StartPods(Options());
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  fake_.AbortWatches();
  fake_.UpsertPod("a", "2");  // happens while no watch is open: replayed from history
  EXPECT_TRUE(Converged(Expected({"a/1", "a/2"})));
  EXPECT_EQ(fake_.list_requests("pods"), 1);
  EXPECT_GE(pods_informer_->Stats().failures, 1u);
  auto delays = scheduler_.delays();
  ASSERT_GE(delays.size(), 2u);
  EXPECT_EQ(delays[1], milliseconds(1200));  // 800 ms + 50 % jitter
}

TEST_F(InformerTest, GoneDuringWatchRelists) {
  fake_.UpsertPod("a", "1");
  fake_.UpsertPod("a", "2");
  StartPods(Options());
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  fake_.SendGoneToWatches();
  ASSERT_TRUE(WaitFor([&] { return fake_.list_requests("pods") == 2; }));
  EXPECT_EQ(pods_informer_->Stats().relists_gone, 1u);
  // Changes missed while the history is gone are picked up by the next list. The server is
  // down while they happen, so no watch can see them live whatever the threads' timing.
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  fake_.SetUnavailable(true);
  fake_.DeletePod("a", "1");
  fake_.UpsertPod("b", "9");
  fake_.CompactHistory();
  fake_.SetUnavailable(false);
  EXPECT_TRUE(Converged(Expected({"a/2", "b/9"})));
  EXPECT_GE(pods_informer_->Stats().relists_gone, 2u);
  EXPECT_GE(fake_.list_requests("pods"), 3);
  EXPECT_THAT(pods_informer_->Stats().last_error, HasSubstr("too old resource version"));
}

TEST_F(InformerTest, BookmarkOnlyStreamAdvancesResourceVersion) {
  fake_.UpsertPod("a", "1");
  StartPods(Options());
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  fake_.UpsertNode("unrelated");  // moves the global resourceVersion, nothing for pods
  fake_.UpsertNode("unrelated-2");
  const std::string bookmark_rv = std::to_string(fake_.resource_version());
  fake_.SendBookmarks();
  fake_.SendBookmarks();
  ASSERT_TRUE(WaitFor([&] { return pods_informer_->Stats().bookmarks == 2; }));
  EXPECT_EQ(pods_informer_->Stats().events, 0u);
  clock_.Advance(seconds(5));
  fake_.EndWatches();
  ASSERT_TRUE(WaitFor([&] { return fake_.watch_requests("pods") == 2; }));
  EXPECT_THAT(fake_.targets().back(), HasSubstr("resourceVersion=" + bookmark_rv));
  EXPECT_EQ(PodKeys(pods_), Expected({"a/1"}));
}

TEST_F(InformerTest, VeryShortEmptyWatchesBackOff) {
  StartPods(Options());
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  for (int i = 0; i < 3; ++i) {
    fake_.EndWatches();  // immediately, without events, with no virtual time passing
    ASSERT_TRUE(WaitFor([&] { return fake_.watch_requests("pods") == i + 2; }));
    ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  }
  EXPECT_GE(scheduler_.delays().size(), 4u);  // start + three waits
  EXPECT_THAT(pods_informer_->Stats().last_error, HasSubstr("very short watch"));
}

TEST_F(InformerTest, OversizedAndMalformedEventsRelist) {
  fake_.UpsertPod("a", "1");
  StartPods(Options());
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  fake_.PushRawToWatches(std::string(10000, 'x'));  // larger than max_event_bytes, no newline
  ASSERT_TRUE(WaitFor([&] { return fake_.list_requests("pods") == 2; }));
  EXPECT_THAT(pods_informer_->Stats().last_error, HasSubstr("larger than 4096 bytes"));
  // (The fake keeps dead streams in its list; wait for the new watch request instead.)
  ASSERT_TRUE(WaitFor([&] { return fake_.watch_requests("pods") == 2; }));
  fake_.PushRawToWatches("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":1}}}\n");
  ASSERT_TRUE(WaitFor([&] { return fake_.list_requests("pods") == 3; }));
  ASSERT_TRUE(WaitFor([&] { return fake_.watch_requests("pods") == 3; }));
  fake_.PushRawToWatches("not json at all\n");
  ASSERT_TRUE(WaitFor([&] { return fake_.list_requests("pods") == 4; }));
  EXPECT_EQ(pods_informer_->Stats().decode_errors, 3u);
  fake_.UpsertPod("a", "2");
  EXPECT_TRUE(Converged(Expected({"a/1", "a/2"})));
}

TEST_F(InformerTest, CorruptListsAndFailedWatchesAreRetried) {
  fake_.UpsertPod("a", "1");
  fake_.CorruptNextLists(2);
  fake_.FailNextWatches(1, 500);
  StartPods(Options());
  EXPECT_EQ(pods_.Size(), 1u);
  EXPECT_EQ(fake_.list_requests("pods"), 3);
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  EXPECT_EQ(fake_.list_requests("pods"), 3);  // a 500 on watch re-watches, no re-list
  EXPECT_EQ(fake_.watch_requests("pods"), 2);
  fake_.FailNextWatches(1, 403);
  clock_.Advance(seconds(5));
  fake_.EndWatches();
  ASSERT_TRUE(WaitFor([&] { return fake_.list_requests("pods") == 4; }));  // 403 re-lists
  EXPECT_THAT(pods_informer_->Stats().last_error, HasSubstr("403 injected watch failure"));
  fake_.UpsertPod("a", "2");
  EXPECT_TRUE(Converged(Expected({"a/1", "a/2"})));
}

// An apiserver restored onto another (lower) resourceVersion history answers a watch from the
// informer's resourceVersion with 504 "Too large resource version" for as long as it takes;
// retrying the watch would never converge, so the informer must relist (as client-go does).
TEST_F(InformerTest, TooLargeResourceVersionOnWatchRelists) {
  fake_.UpsertPod("a", "1");
  fake_.UpsertPod("a", "2");
  StartPods(Options());
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  const int lists = fake_.list_requests("pods");
  fake_.RestartWithHistoryFrom(5);
  fake_.DeletePod("a", "1");
  fake_.UpsertPod("a", "3");
  EXPECT_TRUE(Converged(Expected({"a/2", "a/3"}))) << pods_informer_->Stats().last_error;
  EXPECT_GT(fake_.list_requests("pods"), lists);
  EXPECT_THAT(pods_informer_->Stats().last_error, HasSubstr("Too large resource version"));
}

TEST_F(InformerTest, TenMinuteOutageConvergesWithCappedBackoff) {
  for (int i = 0; i < 30; ++i) fake_.UpsertPod("ns", "p" + std::to_string(i));
  StartPods(Options());
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  const std::size_t delays_before = scheduler_.delays().size();
  const auto total_before = scheduler_.total();

  fake_.SetUnavailable(true);
  // The cluster changes while the informer cannot see it, and history is lost meanwhile.
  for (int i = 0; i < 10; ++i) fake_.DeletePod("ns", "p" + std::to_string(i));
  fake_.UpsertPod("ns", "during-outage");
  fake_.CompactHistory();
  ASSERT_TRUE(WaitFor([&] { return scheduler_.total() - total_before >= std::chrono::minutes(10); },
                      milliseconds(60000)));
  EXPECT_TRUE(pods_informer_->HasSynced());  // the cache keeps serving what it had
  EXPECT_EQ(pods_.Size(), 30u);
  fake_.SetUnavailable(false);

  std::vector<std::string> want;
  for (int i = 10; i < 30; ++i) want.push_back("ns/p" + std::to_string(i));
  want.push_back("ns/during-outage");
  std::sort(want.begin(), want.end());
  EXPECT_TRUE(Converged(want));

  auto delays = scheduler_.delays();
  ASSERT_GT(delays.size(), delays_before + 10);
  for (std::size_t i = delays_before; i < delays.size(); ++i) {
    EXPECT_GE(delays[i], milliseconds(800));
    EXPECT_LE(delays[i], milliseconds(45000));  // 30 s cap + 50 % jitter
  }
  // Once capped, retries are evenly spaced: at most 10 min / 45 s + the ramp-up.
  EXPECT_LE(delays.size() - delays_before, 30u);
  EXPECT_GE(pods_informer_->Stats().failures, 10u);
  // The relist after the lost history is counted once its items are in the cache, which the test
  // saw converge: wait for the count rather than read it at once.
  EXPECT_TRUE(WaitFor([&] { return pods_informer_->Stats().lists >= 2u; }))
      << pods_informer_->Stats().lists;
}

TEST_F(InformerTest, LabelSelectorIsSentToTheServer) {
  InformerOptions o = Options();
  o.label_selector = "tier in (a,b),!canary";
  nodes_informer_ = NewNodeInformer(*client_, nodes_, clock_, o, &scheduler_);
  nodes_informer_->Start();
  ASSERT_TRUE(WaitFor([&] { return nodes_informer_->HasSynced(); }));
  EXPECT_THAT(fake_.targets().front(),
              HasSubstr("labelSelector=tier%20in%20%28a%2Cb%29%2C%21canary"));
}

TEST_F(InformerTest, StopEndsTheLoop) {
  StartPods(Options());
  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("pods") == 1; }));
  pods_informer_->Stop();
  pods_informer_->Stop();  // idempotent
  int watches = fake_.watch_requests("pods");
  fake_.UpsertPod("x", "after-stop");
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(pods_.Get("x", "after-stop"), nullptr);
  EXPECT_EQ(fake_.watch_requests("pods"), watches);
  EXPECT_TRUE(pods_informer_->HasSynced());
}

TEST_F(InformerTest, KubeconfigEndToEndAndServerVerification) {
  fake_.UpsertNode("n1");
  testing_support::TempDir dir;
  auto write = [&](const std::string& name, const std::string& ca_file) {
    return dir.Write(name,
                     "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                     "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                     "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:" +
                         std::to_string(fake_.server().port()) + "', certificate-authority: '" +
                         ca_file +
                         "'}}]\n"
                         "users: [{name: u, user: {token: " +
                         fake::FakeKubeApiserver::kToken + "}}]\n");
  };
  auto config = LoadKubeconfig(write("good", fake_.pki().ca_file()));
  ASSERT_TRUE(config.ok()) << config.error();
  auto client = ApiClient::Create(io_.io, *config);
  ASSERT_TRUE(client.ok()) << client.error();
  NodeCache nodes;
  auto informer = NewNodeInformer(**client, nodes, clock_, Options(), &scheduler_);
  informer->Start();
  ASSERT_TRUE(WaitFor([&] { return informer->HasSynced(); })) << informer->Stats().last_error;
  EXPECT_NE(nodes.Get("n1"), nullptr);
  informer.reset();

  // A CA that did not sign the server's certificate: the informer keeps failing, never syncs.
  testing_support::TestPki other("other-ca");
  auto bad_config = LoadKubeconfig(write("bad", other.ca_file()));
  ASSERT_TRUE(bad_config.ok()) << bad_config.error();
  auto bad_client = ApiClient::Create(io_.io, *bad_config);
  ASSERT_TRUE(bad_client.ok());
  NodeCache unverified;
  auto bad = NewNodeInformer(**bad_client, unverified, clock_, Options(), &scheduler_);
  bad->Start();
  ASSERT_TRUE(WaitFor([&] { return bad->Stats().failures >= 2; }));
  EXPECT_FALSE(bad->HasSynced());
  EXPECT_THAT(bad->Stats().last_error, HasSubstr("certificate verify failed"));
  bad.reset();
}

}  // namespace
}  // namespace kube
