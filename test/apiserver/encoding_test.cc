#include "apiserver/encoding.h"
#include "apiserver/wire_format.h"
#include "kube/cache.h"
#include "kube/objects.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "test/apiserver/proto_reader.h"

namespace apiserver {
namespace {

using testing::ProtoBytes;
using testing::ProtoRepeated;
using testing::ProtoVarint;

constexpr base::UnixNanos kNow = 1736430364'500'000'000LL;     // 2025-01-09T13:46:04.5Z
constexpr base::UnixNanos kSample = 1736430339'000'000'000LL;  // 2025-01-09T13:45:39Z

std::shared_ptr<const window::Window> EmptyWindow(uint64_t generation) {
  return std::make_shared<const window::Window>(generation, std::vector<window::NodeMetrics>{},
                                                std::vector<window::PodInput>{});
}

std::shared_ptr<const window::Window> SampleWindow() {
  window::NodeMetrics node{"node-1", kSample, std::chrono::milliseconds(15001), 164843745,
                           1616273408};
  window::PodInput pod;
  pod.namespace_ = "default";
  pod.name = "example-pod-with-ephemeral-storage";
  pod.timestamp = kSample;
  pod.window = std::chrono::milliseconds(17913);
  pod.containers = {{"example-container", 0, 4620 * 1024}};
  return std::make_shared<window::Window>(7, std::vector<window::NodeMetrics>{node},
                                          std::vector<window::PodInput>{pod});
}

struct Fixture {
  std::shared_ptr<const window::Window> window = SampleWindow();
  EncodedWindow encoded{window};
  kube::Labels node_labels = {{"kubernetes.io/os", "linux"}, {"kubernetes.io/hostname", "node-1"}};
  ListEntry NodeEntry() const {
    const auto* n = &window->nodes()[0];
    return ListEntry{{"node-1", "", &node_labels, {}}, &encoded.node(n), n, nullptr};
  }
  ListEntry PodEntry() const {
    const auto* p = &window->pods()[0];
    return ListEntry{{p->name, p->namespace_, nullptr, {}}, &encoded.pod(p), nullptr, p};
  }
};

// The envelope: magic, runtime.Unknown{typeMeta{apiVersion=1, kind=2}, raw=2}.
void ExpectEnvelope(const std::string& body, const std::string& api_version,
                    const std::string& kind, std::string* raw) {
  ASSERT_GE(body.size(), 4u);
  ASSERT_EQ(body.substr(0, 4), std::string("k8s\0", 4));
  std::string unknown = body.substr(4);
  std::string type_meta = ProtoBytes(unknown, 1);
  EXPECT_EQ(ProtoBytes(type_meta, 1), api_version);
  EXPECT_EQ(ProtoBytes(type_meta, 2), kind);
  *raw = ProtoBytes(unknown, 2);
}

TEST(EncodedWindowCacheTest, OneEncodingPerWindowAndTheNewestKept) {
  EncodedWindowCache cache;
  std::shared_ptr<const window::Window> w7 = SampleWindow();  // generation 7
  std::shared_ptr<const window::Window> w8 = EmptyWindow(8);
  std::shared_ptr<const EncodedWindow> first = cache.Get(w7);
  EXPECT_EQ(&first->window(), w7.get());
  EXPECT_EQ(cache.Get(w7), first) << "the same window must not be encoded twice";
  std::shared_ptr<const EncodedWindow> newer = cache.Get(w8);
  EXPECT_EQ(&newer->window(), w8.get());
  EXPECT_EQ(cache.Get(w8), newer);
  // An older window is encoded for its caller but does not replace the newest.
  std::shared_ptr<const EncodedWindow> older = cache.Get(w7);
  EXPECT_EQ(&older->window(), w7.get());
  EXPECT_NE(older, first);
  EXPECT_EQ(cache.Get(w8), newer);
}

TEST(EncodedWindowCacheTest, ReadyServesThePreviousEncodingWhileTheCurrentIsAnnounced) {
  EncodedWindowCache cache;
  std::shared_ptr<const window::Window> w7 = SampleWindow();  // generation 7
  std::shared_ptr<const window::Window> w8 = EmptyWindow(8);
  // Nothing encoded yet: Ready encodes nothing itself.
  EXPECT_EQ(cache.Ready(w7), nullptr);
  std::shared_ptr<const EncodedWindow> first = cache.Get(w7);
  EXPECT_EQ(cache.Ready(w7), first);
  // Not announced: a newer window has no encodings ready.
  EXPECT_EQ(cache.Ready(w8), nullptr);

  EncodedWindowCache announced;
  std::shared_ptr<const EncodedWindow> seven = announced.Get(w7);
  ASSERT_EQ(announced.Ready(w7), seven);
  announced.Announce(8);
  // Announced and not yet encoded: the request gets generation 7's encodings, without waiting.
  EXPECT_EQ(&announced.Ready(w8)->window(), w7.get());
  // Once encoded (by the server, after publishing), requests get it.
  std::shared_ptr<const EncodedWindow> eight = announced.Get(w8);
  EXPECT_EQ(announced.Ready(w8), eight);
}

TEST(EncodedWindowCacheTest, EncodeWhileUsedAnnouncesThenEncodesOffThePublisher) {
  EncodedWindowCache cache;
  window::Publication windows;
  std::shared_ptr<const window::Window> w7 = SampleWindow();  // generation 7
  windows.Publish(w7);
  std::shared_ptr<const EncodedWindow> seven = cache.Get(windows.Current());  // a use
  EXPECT_TRUE(cache.used());
  std::vector<std::function<void()>> posted;
  int after = 0;
  window::Publication::Subscription subscription = cache.EncodeWhileUsed(
      windows, [&](std::function<void()> work) { posted.push_back(std::move(work)); },
      [&] { ++after; });
  std::shared_ptr<const window::Window> w8 = EmptyWindow(8);
  windows.Publish(w8);
  ASSERT_EQ(posted.size(), 1u) << "the encoding is handed to `run`, not done by the publisher";
  EXPECT_FALSE(cache.used()) << "each window starts unused";
  EXPECT_EQ(cache.Ready(windows.Current()), seven) << "announced: requests keep generation 7";
  EXPECT_EQ(after, 0);
  posted[0]();
  EXPECT_EQ(&cache.Ready(windows.Current())->window(), w8.get());
  EXPECT_FALSE(cache.used()) << "encoding ahead of requests is not a use";
  EXPECT_EQ(after, 1);
}

TEST(EncodedWindowCacheTest, EncodeWhileUsedDropsTheEncodingsOfAWindowNobodyUsed) {
  EncodedWindowCache cache;
  window::Publication windows;
  windows.Publish(SampleWindow());  // generation 7
  std::vector<std::function<void()>> posted;
  int after = 0;
  window::Publication::Subscription subscription = cache.EncodeWhileUsed(
      windows, [&](std::function<void()> work) { posted.push_back(std::move(work)); },
      [&] { ++after; });
  std::weak_ptr<const EncodedWindow> seven = cache.Get(windows.Current());
  // Used during generation 7: generation 8 is encoded ahead of requests.
  windows.Publish(EmptyWindow(8));
  ASSERT_EQ(posted.size(), 1u);
  posted[0]();
  EXPECT_TRUE(seven.expired()) << "replaced by generation 8's";
  std::weak_ptr<const EncodedWindow> eight = cache.Ready(windows.Current());
  ASSERT_FALSE(eight.expired());
  // Nothing used generation 8's: generation 9 is not encoded and generation 8's are dropped.
  windows.Publish(EmptyWindow(9));
  ASSERT_EQ(posted.size(), 2u);
  EXPECT_EQ(cache.Ready(windows.Current()), nullptr) << "not announced";
  EXPECT_FALSE(eight.expired()) << "dropped off the publisher's thread";
  posted[1]();
  EXPECT_TRUE(eight.expired());
  EXPECT_EQ(cache.Ready(windows.Current()), nullptr);
  EXPECT_EQ(EncodedWindow::Blocks().spare(), 0u) << "no spare blocks kept without encodings";
  EXPECT_EQ(after, 2);
  // A request that needs them encodes the current window; the next one is encoded ahead again.
  std::shared_ptr<const EncodedWindow> nine = cache.Get(windows.Current());
  EXPECT_EQ(&nine->window(), windows.Current().get());
  windows.Publish(EmptyWindow(10));
  ASSERT_EQ(posted.size(), 3u);
  EXPECT_EQ(cache.Ready(windows.Current()), nine) << "announced";
  posted[2]();
  EXPECT_EQ(&cache.Ready(windows.Current())->window(), windows.Current().get());
}

// The encodings a response makes for itself are the shared ones' bytes, in its format.
TEST(EncodedItemsTest, SameBytesAsTheWindowsEncodingsInTheResponsesFormat) {
  Fixture f;
  const std::vector<ListEntry> shared = {f.NodeEntry(), f.PodEntry()};
  for (Format format : {Format::kJson, Format::kProtobuf, Format::kTable}) {
    SCOPED_TRACE(static_cast<int>(format));
    std::vector<ListEntry> entries = shared;
    for (ListEntry& e : entries) e.item = nullptr;
    EncodedItems own(entries, format);
    EncodedItems moved = std::move(own);  // the items stay where they are
    size_t bytes = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      ASSERT_NE(entries[i].item, nullptr);
      EXPECT_NE(entries[i].item, shared[i].item);
      if (format == Format::kProtobuf) {
        EXPECT_EQ(entries[i].item->proto_tail(), shared[i].item->proto_tail());
        EXPECT_TRUE(entries[i].item->json_tail().empty());
        bytes += shared[i].item->proto_size;
      } else {
        EXPECT_EQ(entries[i].item->json_tail(), shared[i].item->json_tail());
        EXPECT_TRUE(entries[i].item->proto_tail().empty());
        bytes += shared[i].item->json_size;
      }
    }
    EXPECT_EQ(moved.bytes(), bytes);
  }
}

TEST(EncodedWindowCacheTest, ReadyNeverWaitsForAnAnnouncedWindow) {
  // A window large enough that encoding it takes a while.
  std::vector<window::PodInput> pods;
  for (int i = 0; i < 200000; ++i) {
    window::PodInput p;
    p.namespace_ = "ns-" + std::to_string(i % 100);
    p.name = "pod-" + std::to_string(i);
    p.containers = {{"app", 1000, 2000}};
    pods.push_back(std::move(p));
  }
  auto big = std::make_shared<const window::Window>(9, std::vector<window::NodeMetrics>{},
                                                    std::move(pods));
  EncodedWindowCache cache;
  std::shared_ptr<const window::Window> w7 = SampleWindow();
  std::shared_ptr<const EncodedWindow> seven = cache.Get(w7);
  cache.Announce(9);
  std::shared_ptr<const EncodedWindow> nine;
  std::atomic<bool> encoded{false};
  std::thread encoder([&] {
    nine = cache.Get(big);
    encoded = true;
  });
  // While the server's encoder works, every answer is generation 7's (without waiting for the
  // encoder: Ready does not take the encoding lock); after, it is the
  // encoder's own result. Never a second encoding of generation 9.
  std::vector<std::shared_ptr<const EncodedWindow>> answers;
  while (!encoded.load() && answers.size() < 100000) answers.push_back(cache.Ready(big));
  encoder.join();
  answers.push_back(cache.Ready(big));
  for (const auto& a : answers) EXPECT_TRUE(a == seven || a == nine);
  EXPECT_EQ(answers.back(), nine);
}

// The items' bytes live in blocks the EncodedWindow owns: many items fill several blocks, an item
// larger than a block gets one of its own, and each item reads back exactly what encoding it
// alone gives (compared with a window of that pod alone).
TEST(EncodedWindowTest, ItemsAcrossBlocksAndOneLargerThanABlock) {
  std::vector<window::PodInput> pods;
  for (int i = 0; i < 5000; ++i) {
    window::PodInput pod;
    pod.namespace_ = "ns";
    pod.name = "pod-" + std::to_string(i);
    pod.timestamp = kSample + i * 1'000'000'000LL;
    pod.window = std::chrono::milliseconds(15000 + i);
    pod.containers = {{"app", static_cast<uint64_t>(i) * 1000, static_cast<uint64_t>(i) << 20}};
    if (i == 2500) {  // ~300 KiB of JSON: more than a block
      pod.containers.clear();
      for (int c = 0; c < 6000; ++c) pod.containers.push_back({"c" + std::to_string(c), 1, 2});
    }
    pods.push_back(std::move(pod));
  }
  auto window = std::make_shared<const window::Window>(1, std::vector<window::NodeMetrics>{},
                                                       std::vector<window::PodInput>(pods));
  EncodedWindow encoded(window);
  // The window sorts its pods by namespace and name.
  std::map<std::string, const window::PodMetrics*> by_name;
  for (const auto& p : window->pods()) by_name[p.name.str()] = &p;
  ASSERT_EQ(by_name.size(), pods.size());
  EXPECT_GT(encoded.pod(by_name["pod-2500"]).json_tail().size(), size_t{256} * 1024);
  for (size_t i = 0; i < pods.size(); i += (i < 2490 || i > 2510) ? 499 : 1) {
    auto alone = std::make_shared<const window::Window>(2, std::vector<window::NodeMetrics>{},
                                                        std::vector<window::PodInput>{pods[i]});
    EncodedWindow one(alone);
    const auto& got = encoded.pod(by_name[pods[i].name.str()]);
    const auto& want = one.pod(&alone->pods()[0]);
    EXPECT_EQ(got.json_tail(), want.json_tail()) << i;
    EXPECT_EQ(got.proto_tail(), want.proto_tail()) << i;
    EXPECT_NE(got.json_tail().find("\"containers\":[{\"name\":"), std::string_view::npos) << i;
  }
  // The pod stored last keeps its bytes after everything else was stored.
  const window::PodMetrics& last = window->pods().back();
  const std::string memory = "\"memory\":\"" + last.name.str().substr(4) + "Mi\"";
  EXPECT_NE(encoded.pod(&last).json_tail().find(memory), std::string_view::npos)
      << memory << " in " << encoded.pod(&last).json_tail();
}

// Pods for the heads tests: `usage` varies the tails' sizes between windows.
std::vector<window::PodInput> HeadsPods(uint64_t usage) {
  std::vector<window::PodInput> pods;
  for (const char* name : {"a-plain", "b-escaped", "c-many-labels", "d-uncached", "e-updated"}) {
    window::PodInput pod;
    pod.namespace_ = "team";
    pod.name = name;
    pod.timestamp = kSample;
    pod.window = std::chrono::milliseconds(15000);
    pod.containers = {{"app", usage, usage << 20}, {"sidecar", usage * 3, 1 << 20}};
    pods.push_back(std::move(pod));
  }
  return pods;
}

void FillHeadsCache(kube::PodCache& cache) {
  std::vector<kube::Pod> pods;
  auto add = [&](std::string name, kube::Labels labels) {
    kube::Pod& pod = pods.emplace_back();
    pod.namespace_ = "team";
    pod.name = std::move(name);
    pod.labels = std::move(labels);
  };
  add("a-plain", {{"app", "web"}, {"pod-template-hash", "7d9f8c6b5"}});
  add("b-escaped", {{"note", "say \"hi\" <b>&</b>"}});
  kube::Labels many;
  for (int i = 0; i < 40; ++i) many.Set("label-" + std::to_string(i), std::string(50, 'v'));
  add("c-many-labels", many);
  add("e-updated", {{"version", "1"}});
  add("f-no-metrics", {{"app", "web"}});
  cache.Replace(std::move(pods));
}

// The entries a list of every pod of `window` has, as MetricsApi::SelectPods makes them.
std::vector<ListEntry> HeadsEntries(const kube::PodCache& cache, const EncodedWindow& encoded) {
  std::vector<ListEntry> entries;
  for (const auto& pod : encoded.window().pods()) {
    std::shared_ptr<const kube::Pod> cached = cache.Get(pod.namespace_, pod.name);
    if (cached == nullptr) continue;
    ListEntry& e = entries.emplace_back();
    e.meta = {cached->name, cached->namespace_, &cached->labels,
              {},           cached->plain,      cached->revision};
    e.pod = &pod;
    e.item = &encoded.pod(&pod);
  }
  return entries;
}

// A list written from the items' heads is the list written from their metadata, byte for byte,
// at any time: for unchanged pods, for pods whose labels changed since (their heads are of an
// older revision and not used), and with heads in one format only.
TEST(EncodedWindowTest, ListsFromHeadsAreTheListsFromMetadata) {
  kube::PodCache cache;
  FillHeadsCache(cache);
  auto first =
      std::make_shared<const window::Window>(1, std::vector<window::NodeMetrics>{}, HeadsPods(5));
  EncodedWindow plain(first);
  EncodedWindow heads(first, {&cache, true, true});
  size_t with_heads = 0;
  for (const auto& pod : first->pods()) {
    EXPECT_EQ(plain.pod(&pod).revision, 0u);
    EXPECT_EQ(plain.pod(&pod).json_tail(), heads.pod(&pod).json_tail()) << pod.name.view();
    EXPECT_EQ(plain.pod(&pod).proto_tail(), heads.pod(&pod).proto_tail()) << pod.name.view();
    if (heads.pod(&pod).revision != 0) {
      ++with_heads;
      EXPECT_EQ(heads.pod(&pod).json_item().substr(0, 21), R"({"metadata":{"name":")");
    }
  }
  EXPECT_EQ(with_heads, 4u) << "every cached pod of the window; d-uncached has none";

  auto expect_same_lists = [&](const EncodedWindow& from_heads, const EncodedWindow& reference,
                               base::UnixNanos now, const std::string& what) {
    std::vector<ListEntry> a = HeadsEntries(cache, from_heads);
    std::vector<ListEntry> b = HeadsEntries(cache, reference);
    ASSERT_EQ(a.size(), 4u) << what;
    for (Format format : {Format::kJson, Format::kProtobuf}) {
      EXPECT_EQ(EncodeList(format, Kind::kPod, "metrics.k8s.io/v1beta1", a, now, "12"),
                EncodeList(format, Kind::kPod, "metrics.k8s.io/v1beta1", b, now, "12"))
          << what << (format == Format::kJson ? " JSON" : " protobuf");
      // One item alone, as a list of a few objects is written.
      EXPECT_EQ(EncodeList(format, Kind::kPod, "metrics.k8s.io/v1", {a[2]}, now),
                EncodeList(format, Kind::kPod, "metrics.k8s.io/v1", {b[2]}, now))
          << what;
    }
  };
  expect_same_lists(heads, plain, kNow, "heads written");
  expect_same_lists(heads, plain, kNow + 86'400'000'000'000LL * 400, "a year later");
  const std::string json_list = EncodeList(Format::kJson, Kind::kPod, "metrics.k8s.io/v1beta1",
                                           HeadsEntries(cache, heads), kNow, "12");
  EXPECT_NE(json_list.find(R"("creationTimestamp":"2025-01-09T13:46:04Z","labels":{"app":"web")"),
            std::string::npos)
      << json_list;
  EXPECT_NE(json_list.find(R"("note":"say \"hi\" \u003cb\u003e\u0026\u003c/b\u003e")"),
            std::string::npos)
      << json_list;

  // A label changes: that pod is written from its new metadata.
  kube::Pod updated;
  updated.namespace_ = "team";
  updated.name = "e-updated";
  updated.labels = {{"version", "2"}};
  cache.Upsert(updated);
  expect_same_lists(heads, plain, kNow, "after an update");
  EXPECT_NE(EncodeList(Format::kJson, Kind::kPod, "metrics.k8s.io/v1beta1",
                       HeadsEntries(cache, heads), kNow)
                .find(R"("labels":{"version":"2"})"),
            std::string::npos);

  // Heads in one format only: lists in the other are written from the metadata.
  EncodedWindow json_only(first, {&cache, true, false});
  expect_same_lists(json_only, plain, kNow, "JSON heads only");
  for (const auto& pod : first->pods()) {
    if (json_only.pod(&pod).revision == 0) continue;
    EXPECT_NE(json_only.pod(&pod).json_head, 0u);
    EXPECT_EQ(json_only.pod(&pod).proto_head, 0u);
    EXPECT_EQ(json_only.pod(&pod).proto_tail(), plain.pod(&pod).proto_tail());
  }
}

// Encodings made for a request have no heads (the first list after a pause does not wait for
// them); those that follow the windows have them in the formats large lists were served in since
// the window before.
TEST(EncodedWindowCacheTest, HeadsOnlyInTheEncodingsThatFollowTheWindows) {
  kube::PodCache pods;
  FillHeadsCache(pods);
  EncodedWindowCache cache(&pods);
  window::Publication windows;
  windows.Publish(
      std::make_shared<const window::Window>(1, std::vector<window::NodeMetrics>{}, HeadsPods(5)));
  std::shared_ptr<const EncodedWindow> asked = cache.Get(windows.Current());
  for (const auto& pod : asked->window().pods()) EXPECT_EQ(asked->pod(&pod).revision, 0u);
  cache.NoteList(Format::kJson);
  window::Publication::Subscription subscription =
      cache.EncodeWhileUsed(windows, [](std::function<void()> work) { work(); }, {});
  auto publish = [&](uint64_t generation) {
    windows.Publish(std::make_shared<const window::Window>(
        generation, std::vector<window::NodeMetrics>{}, HeadsPods(generation)));
    std::shared_ptr<const EncodedWindow> followed = cache.Ready(windows.Current());
    EXPECT_NE(followed, nullptr);
    EXPECT_EQ(followed->window().generation(), generation);
    return followed;
  };
  std::shared_ptr<const EncodedWindow> json = publish(2);
  size_t with_heads = 0;
  for (const auto& pod : json->window().pods()) {
    const EncodedWindow::Item& item = json->pod(&pod);
    if (item.revision == 0) continue;
    ++with_heads;
    EXPECT_NE(item.json_head, 0u);
    EXPECT_EQ(item.proto_head, 0u) << "no protobuf list was served";
  }
  EXPECT_EQ(with_heads, 4u);
  cache.NoteUse();  // a list of a few pods from the encodings: followed, without heads
  std::shared_ptr<const EncodedWindow> none = publish(3);
  for (const auto& pod : none->window().pods()) EXPECT_EQ(none->pod(&pod).revision, 0u);
  cache.NoteUse();
  cache.NoteList(Format::kProtobuf);
  std::shared_ptr<const EncodedWindow> proto = publish(4);
  for (const auto& pod : proto->window().pods()) {
    if (proto->pod(&pod).revision != 0) EXPECT_NE(proto->pod(&pod).proto_head, 0u);
    EXPECT_EQ(proto->pod(&pod).json_head, 0u);
  }
}

TEST(EncodingTest, NodeMetricsJsonMatchesReferenceShape) {
  Fixture f;
  EXPECT_EQ(EncodeObject(Format::kJson, Kind::kNode, "metrics.k8s.io/v1beta1", f.NodeEntry(), kNow),
            R"({"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1",)"
            R"("metadata":{"name":"node-1","creationTimestamp":"2025-01-09T13:46:04Z",)"
            R"("labels":{"kubernetes.io/hostname":"node-1","kubernetes.io/os":"linux"}},)"
            R"("timestamp":"2025-01-09T13:45:39Z","window":"15.001s",)"
            R"("usage":{"cpu":"164843745n","memory":"1578392Ki"}})"
            "\n");
}

TEST(EncodingTest, PodMetricsJsonMatchesReferenceShape) {
  Fixture f;
  EXPECT_EQ(EncodeObject(Format::kJson, Kind::kPod, "metrics.k8s.io/v1beta1", f.PodEntry(), kNow),
            R"({"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1beta1",)"
            R"("metadata":{"name":"example-pod-with-ephemeral-storage","namespace":"default",)"
            R"("creationTimestamp":"2025-01-09T13:46:04Z"},)"
            R"("timestamp":"2025-01-09T13:45:39Z","window":"17.913s",)"
            R"("containers":[{"name":"example-container","usage":{"cpu":"0","memory":"4620Ki"}}]})"
            "\n");
}

TEST(EncodingTest, ListsOmitItemTypeMetaAndUseEmptyListMeta) {
  Fixture f;
  EXPECT_EQ(
      EncodeList(Format::kJson, Kind::kPod, "metrics.k8s.io/v1", {f.PodEntry()}, kNow),
      R"({"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1","metadata":{},"items":[)"
      R"({"metadata":{"name":"example-pod-with-ephemeral-storage","namespace":"default",)"
      R"("creationTimestamp":"2025-01-09T13:46:04Z"},)"
      R"("timestamp":"2025-01-09T13:45:39Z","window":"17.913s",)"
      R"("containers":[{"name":"example-container","usage":{"cpu":"0","memory":"4620Ki"}}]}]})"
      "\n");
  EXPECT_EQ(
      EncodeList(Format::kJson, Kind::kNode, "metrics.k8s.io/v1beta1", {}, kNow),
      R"({"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[]})"
      "\n");
}

TEST(EncodingTest, ListsCarryTheirResourceVersion) {
  Fixture f;
  EXPECT_EQ(EncodeList(Format::kJson, Kind::kNode, "metrics.k8s.io/v1beta1", {}, kNow, "42"),
            R"({"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1",)"
            R"("metadata":{"resourceVersion":"42"},"items":[]})"
            "\n");
  const std::string table =
      EncodeTable(Kind::kPod, "metrics.k8s.io/v1beta1", "v1", "Metadata", {}, kNow, "42");
  EXPECT_EQ(
      table.substr(0, 82),
      R"({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"42"},)");
  // Protobuf: ListMeta{resourceVersion (2)}, the items unchanged.
  std::string body = EncodeList(Format::kProtobuf, Kind::kPod, "metrics.k8s.io/v1beta1",
                                {f.PodEntry()}, kNow, "42");
  std::string raw;
  ExpectEnvelope(body, "metrics.k8s.io/v1beta1", "PodMetricsList", &raw);
  EXPECT_EQ(ProtoBytes(ProtoBytes(raw, 1), 2), "42");
  auto items = ProtoRepeated(raw, 2);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(ProtoBytes(ProtoBytes(items[0], 1), 1), "example-pod-with-ephemeral-storage");
}

TEST(ListEncoderTest, PiecesPutTogetherAreTheWholeList) {
  std::vector<window::PodInput> pods;
  for (int i = 0; i < 200; ++i) {
    window::PodInput pod;
    pod.namespace_ = "ns-" + std::to_string(i % 3);
    pod.name = "pod-" + std::to_string(i) + std::string(static_cast<size_t>(i % 40), 'x');
    pod.timestamp = kSample;
    pod.window = std::chrono::milliseconds(15000 + i);
    pod.containers = {{"app", static_cast<uint64_t>(i) * 1000, static_cast<uint64_t>(i) << 20},
                      {"sidecar", 5, 7}};
    pods.push_back(std::move(pod));
  }
  auto window = std::make_shared<const window::Window>(3, std::vector<window::NodeMetrics>{},
                                                       std::move(pods));
  EncodedWindow encoded(window);
  std::vector<kube::Labels> labels(window->pods().size());
  std::vector<ListEntry> entries;
  for (size_t i = 0; i < window->pods().size(); ++i) {
    const window::PodMetrics* p = &window->pods()[i];
    if (i % 2 == 0) labels[i] = {{"app", "a" + std::to_string(i)}, {"tier", "web"}};
    // Escaped in JSON, so its size is not its length.
    if (i % 10 == 4) labels[i].Set("note", "a<b & \"c\" \\ \u00e9 \xff \u2028 \x01");
    entries.push_back({{p->name, p->namespace_, i % 4 == 3 ? nullptr : &labels[i], {}},
                       &encoded.pod(p),
                       nullptr,
                       p});
  }
  for (Format format : {Format::kJson, Format::kProtobuf}) {
    for (std::string rv : {"", "9"}) {
      const std::string whole =
          EncodeList(format, Kind::kPod, "metrics.k8s.io/v1beta1", entries, kNow, rv);
      for (size_t bytes : {size_t{1}, size_t{100}, size_t{4096}, size_t{1} << 20}) {
        SCOPED_TRACE(::testing::Message() << (format == Format::kJson ? "json" : "protobuf")
                                          << " rv=" << rv << " pieces of " << bytes);
        ListEncoder encoder(format, Kind::kPod, "metrics.k8s.io/v1beta1", entries, kNow, rv);
        EXPECT_EQ(encoder.size(), whole.size());
        std::string joined;
        size_t count = 0;
        for (bool done = false; !done; ++count) {
          ASSERT_FALSE(encoder.done());
          std::string piece;
          done = encoder.Next(piece, bytes);
          if (!done) EXPECT_GE(piece.size(), bytes);
          joined += piece;
          ASSERT_LT(count, 1000u);
        }
        EXPECT_TRUE(encoder.done());
        EXPECT_EQ(joined, whole);
        // One piece per item at most (whole items), and at least the head, the items and the
        // tail for pieces of one byte.
        if (bytes == 1) EXPECT_EQ(count, entries.size() + 1);
        if (bytes == size_t{1} << 20) EXPECT_EQ(count, 1u);
      }
      if (format == Format::kJson) {
        auto parsed = nlohmann::json::parse(whole);
        ASSERT_EQ(parsed["items"].size(), entries.size());
        EXPECT_EQ(parsed["items"][199]["metadata"]["name"], entries[199].meta.name);
        EXPECT_EQ(parsed["items"][0]["metadata"]["labels"]["app"], "a0");
      } else {
        std::string raw;
        ExpectEnvelope(whole, "metrics.k8s.io/v1beta1", "PodMetricsList", &raw);
        auto items = ProtoRepeated(raw, 2);
        ASSERT_EQ(items.size(), entries.size());
        EXPECT_EQ(ProtoBytes(ProtoBytes(items[199], 1), 1), entries[199].meta.name);
      }
    }
  }
}

// Items whose strings are known to need no escaping (ItemMeta::plain, from kube::Pod::plain)
// are copied without being scanned: the same bytes and size as escaping them would give.
TEST(ListEncoderTest, PlainItemsAreWrittenAsEscapingWouldWriteThem) {
  std::vector<window::PodInput> pods;
  for (int i = 0; i < 50; ++i) {
    window::PodInput pod;
    pod.namespace_ = "team-" + std::to_string(i % 4);
    pod.name = "web-7d9f8c6b5-" + std::to_string(i) + std::string(static_cast<size_t>(i), 'q');
    pod.timestamp = kSample;
    pod.window = std::chrono::milliseconds(15000);
    pod.containers = {{"app", 1000, 2 << 20}};
    pods.push_back(std::move(pod));
  }
  auto window = std::make_shared<const window::Window>(3, std::vector<window::NodeMetrics>{},
                                                       std::move(pods));
  EncodedWindow encoded(window);
  const kube::Labels labels = {{"app.kubernetes.io/name", "web"},
                               {"pod-template-hash", "7d9f8c6b5"},
                               {"empty", ""},
                               {"x.io/a_b-c", "A.b-C_9 ~"}};
  std::vector<ListEntry> escaped;
  std::vector<ListEntry> plain;
  for (const auto& p : window->pods()) {
    escaped.push_back({{p.name, p.namespace_, &labels, {}}, &encoded.pod(&p), nullptr, &p});
    plain.push_back(escaped.back());
    plain.back().meta.plain = true;
  }
  const std::string want =
      EncodeList(Format::kJson, Kind::kPod, "metrics.k8s.io/v1beta1", escaped, kNow, "9");
  ListEncoder encoder(Format::kJson, Kind::kPod, "metrics.k8s.io/v1beta1", plain, kNow, "9");
  EXPECT_EQ(encoder.size(), want.size());
  std::string got;
  encoder.Next(got, std::numeric_limits<size_t>::max());
  EXPECT_EQ(got, want);
  EXPECT_EQ(EncodeObject(Format::kJson, Kind::kPod, "metrics.k8s.io/v1beta1", plain[7], kNow),
            EncodeObject(Format::kJson, Kind::kPod, "metrics.k8s.io/v1beta1", escaped[7], kNow));
  // What the pod cache calls plain (kube::IsPlainText, kept apart from the JSON writer's own
  // table) is a subset of what AppendJsonString copies verbatim: for every byte value.
  for (int c = 0; c < 256; ++c) {
    const std::string s(1, static_cast<char>(c));
    if (!kube::IsPlainText(s)) continue;
    std::string out;
    AppendJsonString(out, s);
    EXPECT_EQ(out, "\"" + s + "\"") << "byte " << c;
  }
}

TEST(EncodingTest, WatchEventsAreNewlineDelimitedWatchEvents) {
  Fixture f;
  ListEntry e = f.PodEntry();
  e.meta.resource_version = "9";
  std::string out;
  AppendWatchEventJson(out, "MODIFIED", Kind::kPod, "metrics.k8s.io/v1", e, FormatTime(kNow));
  EXPECT_EQ(out,
            R"({"type":"MODIFIED","object":{"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1",)"
            R"("metadata":{"name":"example-pod-with-ephemeral-storage","namespace":"default",)"
            R"("resourceVersion":"9","creationTimestamp":"2025-01-09T13:46:04Z"},)"
            R"("timestamp":"2025-01-09T13:45:39Z","window":"17.913s",)"
            R"("containers":[{"name":"example-container","usage":{"cpu":"0","memory":"4620Ki"}}]}})"
            "\n");
  EXPECT_EQ(
      EncodeBookmarkJson(Kind::kNode, "metrics.k8s.io/v1beta1", "12", false),
      R"({"type":"BOOKMARK","object":{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1",)"
      R"("metadata":{"resourceVersion":"12","creationTimestamp":null},)"
      R"("timestamp":null,"window":"0s","usage":null}})"
      "\n");
  EXPECT_EQ(EncodeBookmarkJson(Kind::kPod, "metrics.k8s.io/v1", "3", true),
            R"({"type":"BOOKMARK","object":{"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1",)"
            R"("metadata":{"resourceVersion":"3","creationTimestamp":null,)"
            R"("annotations":{"k8s.io/initial-events-end":"true"}},)"
            R"("timestamp":null,"window":"0s","containers":null}})"
            "\n");
  EXPECT_EQ(EncodeErrorEventJson("{\"kind\":\"Status\"}\n"),
            "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\"}}\n");
  // Protobuf metadata carries resourceVersion as ObjectMeta field 6.
  std::string raw;
  ExpectEnvelope(EncodeObject(Format::kProtobuf, Kind::kPod, "metrics.k8s.io/v1", e, kNow),
                 "metrics.k8s.io/v1", "PodMetrics", &raw);
  EXPECT_EQ(ProtoBytes(ProtoBytes(raw, 1), 6), "9");
  EXPECT_EQ(ProtoBytes(ProtoBytes(raw, 1), 3), "default");
}

TEST(EncodingTest, ProtobufWatchEventsAreLengthPrefixedRawWatchEvents) {
  Fixture f;
  ListEntry e = f.NodeEntry();
  e.meta.resource_version = "5";
  std::string out;
  AppendWatchEventProto(out, "ADDED", Kind::kNode, "metrics.k8s.io/v1beta1", e, kNow);
  ASSERT_GE(out.size(), 4u);
  const auto* b = reinterpret_cast<const unsigned char*>(out.data());
  EXPECT_EQ((size_t{b[0]} << 24) | (size_t{b[1]} << 16) | (size_t{b[2]} << 8) | b[3],
            out.size() - 4);
  const std::string event = out.substr(4);  // no "k8s\0" envelope around the event itself
  EXPECT_EQ(ProtoBytes(event, 1), "ADDED");
  const std::string raw = ProtoBytes(ProtoBytes(event, 2), 1);
  EXPECT_EQ(raw, EncodeObject(Format::kProtobuf, Kind::kNode, "metrics.k8s.io/v1beta1", e, kNow));
  std::string object;
  ExpectEnvelope(raw, "metrics.k8s.io/v1beta1", "NodeMetrics", &object);
  EXPECT_EQ(ProtoBytes(ProtoBytes(object, 1), 6), "5");

  const std::string bookmark =
      EncodeBookmarkProto(Kind::kPod, "metrics.k8s.io/v1", "8", true).substr(4);
  EXPECT_EQ(ProtoBytes(bookmark, 1), "BOOKMARK");
  ExpectEnvelope(ProtoBytes(ProtoBytes(bookmark, 2), 1), "metrics.k8s.io/v1", "PodMetrics",
                 &object);
  const std::string meta = ProtoBytes(object, 1);
  EXPECT_EQ(ProtoBytes(meta, 6), "8");
  EXPECT_EQ(ProtoBytes(ProtoBytes(meta, 12), 1), "k8s.io/initial-events-end");
  EXPECT_EQ(ProtoBytes(ProtoBytes(meta, 12), 2), "true");

  const std::string error = EncodeErrorEventProto("k8s-status").substr(4);
  EXPECT_EQ(ProtoBytes(error, 1), "ERROR");
  EXPECT_EQ(ProtoBytes(ProtoBytes(error, 2), 1), "k8s-status");
}

TEST(EncodingTest, DiscoveryAdvertisesWatchWhenServed) {
  EXPECT_EQ(
      EncodeApiResourceList("v1", true),
      R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1","resources":[)"
      R"({"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list","watch"]},)"
      R"({"name":"pods","singularName":"","namespaced":true,"kind":"PodMetrics","verbs":["get","list","watch"]}]})"
      "\n");
}

TEST(EncodingTest, DiscoveryDocumentsMatchReference) {
  EXPECT_EQ(
      EncodeApiResourceList("v1beta1"),
      R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1beta1","resources":[)"
      R"({"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list"]},)"
      R"({"name":"pods","singularName":"","namespaced":true,"kind":"PodMetrics","verbs":["get","list"]}]})"
      "\n");
  EXPECT_EQ(EncodeApiGroup({"v1beta1"}),
            R"({"kind":"APIGroup","apiVersion":"v1","name":"metrics.k8s.io",)"
            R"("versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}],)"
            R"("preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}})"
            "\n");
  EXPECT_EQ(EncodeApiGroupList({"v1beta1"}),
            R"({"kind":"APIGroupList","apiVersion":"v1","groups":[)"
            R"({"name":"metrics.k8s.io",)"
            R"("versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}],)"
            R"("preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}}]})"
            "\n");
  EXPECT_NE(EncodeApiGroupList({"v1", "v1beta1"})
                .find(R"("preferredVersion":{"groupVersion":"metrics.k8s.io/v1","version":"v1"})"),
            std::string::npos);
}

TEST(EncodingTest, TableMatchesReferenceShape) {
  Fixture f;
  f.node_labels.clear();
  EXPECT_EQ(
      EncodeTable(Kind::kNode, "metrics.k8s.io/v1beta1", "v1", "Metadata", {f.NodeEntry()}, kNow),
      R"({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},)"
      R"("columnDefinitions":[)"
      R"({"name":"Name","type":"string","format":"name","description":"Name of the resource","priority":0},)"
      R"({"name":"cpu","type":"string","format":"quantity","description":"","priority":0},)"
      R"({"name":"memory","type":"string","format":"quantity","description":"","priority":0},)"
      R"({"name":"Window","type":"string","format":"duration","description":"","priority":0}],)"
      R"("rows":[{"cells":["node-1","164843745n","1578392Ki","15.001s"],)"
      R"("object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",)"
      R"("metadata":{"name":"node-1","creationTimestamp":"2025-01-09T13:46:04Z"}}}]})"
      "\n");
  EXPECT_EQ(
      EncodeTable(Kind::kPod, "metrics.k8s.io/v1beta1", "v1", "Metadata", {}, kNow),
      R"({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},"columnDefinitions":[],"rows":[]})"
      "\n");
  std::string none =
      EncodeTable(Kind::kPod, "metrics.k8s.io/v1beta1", "v1beta1", "None", {f.PodEntry()}, kNow);
  EXPECT_EQ(none.find("\"object\""), std::string::npos);
  EXPECT_NE(none.find(R"("cells":["example-pod-with-ephemeral-storage","0","4620Ki","17.913s"])"),
            std::string::npos);
  std::string full =
      EncodeTable(Kind::kPod, "metrics.k8s.io/v1beta1", "v1", "Object", {f.PodEntry()}, kNow);
  EXPECT_NE(full.find(R"("object":{"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1beta1")"),
            std::string::npos);
}

// A Table watch's event: a Table of one row whose resourceVersion is the object's, with a
// placeholder for the column definitions that the first event of a watch replaces.
TEST(EncodingTest, TableWatchEventIsATableOfOneRow) {
  Fixture f;
  f.node_labels.clear();
  ListEntry e = f.NodeEntry();
  e.meta.resource_version = "7";
  std::string out;
  AppendTableWatchEventJson(out, "ADDED", Kind::kNode, "metrics.k8s.io/v1beta1", "v1", "Metadata",
                            e, FormatTime(kNow));
  EXPECT_EQ(out, R"({"type":"ADDED","object":{"kind":"Table","apiVersion":"meta.k8s.io/v1",)"
                 R"("metadata":{"resourceVersion":"7"},"columnDefinitions":null,)"
                 R"("rows":[{"cells":["node-1","164843745n","1578392Ki","15.001s"],)"
                 R"("object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",)"
                 R"("metadata":{"name":"node-1","resourceVersion":"7",)"
                 R"("creationTimestamp":"2025-01-09T13:46:04Z"}}}]}})"
                 "\n");
  // With the definitions in place of the placeholder, the Table's head is the list Table's.
  const size_t at = out.find(kTableWatchNoColumns);
  ASSERT_NE(at, std::string::npos);
  const std::string first = out.substr(0, at) + std::string(TableColumnDefinitionsJson()) +
                            out.substr(at + kTableWatchNoColumns.size());
  const std::string list =
      EncodeTable(Kind::kNode, "metrics.k8s.io/v1beta1", "v1", "Metadata", {e}, kNow, "7");
  const size_t rows = list.find(",\"rows\"");
  ASSERT_NE(rows, std::string::npos);
  EXPECT_NE(first.find(list.substr(0, rows)), std::string::npos);
  EXPECT_TRUE(nlohmann::json::accept(first.substr(0, first.size() - 1)));
}

TEST(EncodingTest, PodListProtobufDecodesFieldByField) {
  Fixture f;
  std::string body =
      EncodeList(Format::kProtobuf, Kind::kPod, "metrics.k8s.io/v1beta1", {f.PodEntry()}, kNow);
  // Prefix bytes from the wire contract.
  EXPECT_EQ(body.substr(0, 8), std::string("k8s\0\x0a\x28\x0a\x16", 8));
  std::string raw;
  ExpectEnvelope(body, "metrics.k8s.io/v1beta1", "PodMetricsList", &raw);
  auto items = ProtoRepeated(raw, 2);
  ASSERT_EQ(items.size(), 1u);
  const std::string& pod = items[0];
  std::string meta = ProtoBytes(pod, 1);
  EXPECT_EQ(ProtoBytes(meta, 1), "example-pod-with-ephemeral-storage");
  EXPECT_EQ(ProtoBytes(meta, 3), "default");
  EXPECT_EQ(ProtoVarint(ProtoBytes(meta, 8), 1), 1736430364u);
  EXPECT_EQ(ProtoVarint(ProtoBytes(pod, 2), 1), 1736430339u);
  EXPECT_EQ(ProtoVarint(ProtoBytes(pod, 3), 1), 17913000000u);
  auto containers = ProtoRepeated(pod, 4);
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_EQ(ProtoBytes(containers[0], 1), "example-container");
  auto usage = ProtoRepeated(containers[0], 2);
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(ProtoBytes(usage[0], 1), "cpu");
  EXPECT_EQ(ProtoBytes(ProtoBytes(usage[0], 2), 1), "0");
  EXPECT_EQ(ProtoBytes(usage[1], 1), "memory");
  EXPECT_EQ(ProtoBytes(ProtoBytes(usage[1], 2), 1), "4620Ki");
}

TEST(EncodingTest, NodeProtobufCarriesLabelsAndUsage) {
  Fixture f;
  std::string body =
      EncodeObject(Format::kProtobuf, Kind::kNode, "metrics.k8s.io/v1", f.NodeEntry(), kNow);
  std::string raw;
  ExpectEnvelope(body, "metrics.k8s.io/v1", "NodeMetrics", &raw);
  std::string meta = ProtoBytes(raw, 1);
  EXPECT_EQ(ProtoBytes(meta, 1), "node-1");
  auto labels = ProtoRepeated(meta, 11);
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(ProtoBytes(labels[0], 1), "kubernetes.io/hostname");
  EXPECT_EQ(ProtoBytes(labels[0], 2), "node-1");
  auto usage = ProtoRepeated(raw, 4);
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(ProtoBytes(ProtoBytes(usage[0], 2), 1), "164843745n");
  EXPECT_EQ(ProtoBytes(ProtoBytes(usage[1], 2), 1), "1578392Ki");
  EXPECT_EQ(ProtoVarint(ProtoBytes(raw, 3), 1), 15001000000u);
}

// `swap` joins `usage` only where the kubelet reported it (kubectl top --show-swap reads it),
// after memory as Go writes the map's sorted keys, in JSON and protobuf alike.
TEST(EncodingTest, SwapOnlyWhereReported) {
  window::NodeMetrics node{"node-1", kSample, std::chrono::seconds(15), 1000, 1 << 20,
                           true,     3u << 20};
  window::NodeMetrics no_swap{"node-2", kSample, std::chrono::seconds(15), 1000, 1 << 20};
  window::PodInput pod;
  pod.namespace_ = "default";
  pod.name = "p";
  pod.timestamp = kSample;
  pod.window = std::chrono::seconds(15);
  pod.containers = {
      {.name = "a", .cpu_nanocores = 5, .memory_bytes = 4096, .swap_bytes = 0, .has_swap = true},
      {.name = "b", .cpu_nanocores = 5, .memory_bytes = 4096},
      {.name = "c",
       .cpu_nanocores = 5,
       .memory_bytes = 4096,
       .swap_bytes = 5000,
       .has_swap = true}};
  auto w = std::make_shared<window::Window>(1, std::vector<window::NodeMetrics>{node, no_swap},
                                            std::vector<window::PodInput>{pod});
  EncodedWindow encoded(w);
  const auto* n1 = &w->nodes()[0];
  const auto* n2 = &w->nodes()[1];
  const auto* p = &w->pods()[0];
  ListEntry e1{{"node-1", "", nullptr, ""}, &encoded.node(n1), n1, nullptr};
  ListEntry e2{{"node-2", "", nullptr, ""}, &encoded.node(n2), n2, nullptr};
  ListEntry ep{{"p", "default", nullptr, ""}, &encoded.pod(p), nullptr, p};
  for (std::string_view version : {"metrics.k8s.io/v1beta1", "metrics.k8s.io/v1"}) {
    std::string json = EncodeObject(Format::kJson, Kind::kNode, version, e1, kNow);
    EXPECT_NE(json.find(R"("usage":{"cpu":"1u","memory":"1Mi","swap":"3Mi"}})"), std::string::npos)
        << json;
    json = EncodeObject(Format::kJson, Kind::kNode, version, e2, kNow);
    EXPECT_NE(json.find(R"("usage":{"cpu":"1u","memory":"1Mi"}})"), std::string::npos) << json;
    json = EncodeObject(Format::kJson, Kind::kPod, version, ep, kNow);
    EXPECT_NE(
        json.find(R"("containers":[{"name":"a","usage":{"cpu":"5n","memory":"4Ki","swap":"0"}},)"
                  R"({"name":"b","usage":{"cpu":"5n","memory":"4Ki"}},)"
                  R"({"name":"c","usage":{"cpu":"5n","memory":"4Ki","swap":"5000"}}]})"),
        std::string::npos)
        << json;

    std::string raw;
    ExpectEnvelope(EncodeObject(Format::kProtobuf, Kind::kNode, version, e1, kNow),
                   std::string(version), "NodeMetrics", &raw);
    auto usage = ProtoRepeated(raw, 4);
    ASSERT_EQ(usage.size(), 3u);
    EXPECT_EQ(ProtoBytes(usage[2], 1), "swap");
    EXPECT_EQ(ProtoBytes(ProtoBytes(usage[2], 2), 1), "3Mi");
    ExpectEnvelope(EncodeObject(Format::kProtobuf, Kind::kNode, version, e2, kNow),
                   std::string(version), "NodeMetrics", &raw);
    EXPECT_EQ(ProtoRepeated(raw, 4).size(), 2u);
    ExpectEnvelope(EncodeList(Format::kProtobuf, Kind::kPod, version, {ep}, kNow),
                   std::string(version), "PodMetricsList", &raw);
    auto items = ProtoRepeated(raw, 2);
    ASSERT_EQ(items.size(), 1u);
    auto containers = ProtoRepeated(items[0], 4);
    ASSERT_EQ(containers.size(), 3u);
    auto a = ProtoRepeated(containers[0], 2);
    ASSERT_EQ(a.size(), 3u);
    EXPECT_EQ(ProtoBytes(a[2], 1), "swap");
    EXPECT_EQ(ProtoBytes(ProtoBytes(a[2], 2), 1), "0");
    EXPECT_EQ(ProtoRepeated(containers[1], 2).size(), 2u);
    auto c = ProtoRepeated(containers[2], 2);
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(ProtoBytes(ProtoBytes(c[2], 2), 1), "5000");
  }
}

// `ephemeral-storage` (--kubelet-summary-api) sorts between cpu and memory, as Go writes the map.
TEST(EncodingTest, EphemeralStorageOnlyWhereReported) {
  window::NodeMetrics node{"node-1", kSample,    std::chrono::seconds(15), 1000, 1 << 20, true, 0,
                           true,     20ull << 30};
  window::PodInput pod;
  pod.namespace_ = "default";
  pod.name = "p";
  pod.timestamp = kSample;
  pod.window = std::chrono::seconds(15);
  pod.containers = {{.name = "a",
                     .cpu_nanocores = 5,
                     .memory_bytes = 4096,
                     .ephemeral_storage_bytes = 49152,
                     .has_ephemeral_storage = true},
                    {.name = "b", .cpu_nanocores = 5, .memory_bytes = 4096}};
  auto w = std::make_shared<window::Window>(1, std::vector<window::NodeMetrics>{node},
                                            std::vector<window::PodInput>{pod});
  EncodedWindow encoded(w);
  const auto* n = &w->nodes()[0];
  const auto* p = &w->pods()[0];
  ListEntry en{{"node-1", "", nullptr, ""}, &encoded.node(n), n, nullptr};
  ListEntry ep{{"p", "default", nullptr, ""}, &encoded.pod(p), nullptr, p};
  std::string json = EncodeObject(Format::kJson, Kind::kNode, "metrics.k8s.io/v1", en, kNow);
  EXPECT_NE(
      json.find(R"("usage":{"cpu":"1u","ephemeral-storage":"20Gi","memory":"1Mi","swap":"0"}})"),
      std::string::npos)
      << json;
  json = EncodeObject(Format::kJson, Kind::kPod, "metrics.k8s.io/v1beta1", ep, kNow);
  EXPECT_NE(
      json.find(R"({"name":"a","usage":{"cpu":"5n","ephemeral-storage":"48Ki","memory":"4Ki"}},)"
                R"({"name":"b","usage":{"cpu":"5n","memory":"4Ki"}})"),
      std::string::npos)
      << json;
  std::string raw;
  ExpectEnvelope(EncodeObject(Format::kProtobuf, Kind::kNode, "metrics.k8s.io/v1", en, kNow),
                 "metrics.k8s.io/v1", "NodeMetrics", &raw);
  auto usage = ProtoRepeated(raw, 4);
  ASSERT_EQ(usage.size(), 4u);
  EXPECT_EQ(ProtoBytes(usage[1], 1), "ephemeral-storage");
  EXPECT_EQ(ProtoBytes(ProtoBytes(usage[1], 2), 1), "20Gi");
  EXPECT_EQ(ProtoBytes(usage[2], 1), "memory");
  ExpectEnvelope(EncodeObject(Format::kProtobuf, Kind::kPod, "metrics.k8s.io/v1beta1", ep, kNow),
                 "metrics.k8s.io/v1beta1", "PodMetrics", &raw);
  auto containers = ProtoRepeated(raw, 4);
  ASSERT_EQ(containers.size(), 2u);
  auto a = ProtoRepeated(containers[0], 2);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(ProtoBytes(a[1], 1), "ephemeral-storage");
  EXPECT_EQ(ProtoBytes(ProtoBytes(a[1], 2), 1), "48Ki");
  EXPECT_EQ(ProtoRepeated(containers[1], 2).size(), 2u);
}

TEST(EncodingTest, TypeMetaLengthsMatchReference) {
  Fixture f;
  EXPECT_EQ(EncodeList(Format::kProtobuf, Kind::kNode, "metrics.k8s.io/v1beta1", {}, kNow)[5],
            '\x29');
  EXPECT_EQ(EncodeObject(Format::kProtobuf, Kind::kNode, "metrics.k8s.io/v1beta1", f.NodeEntry(),
                         kNow)[5],
            '\x25');
  EXPECT_EQ(
      EncodeObject(Format::kProtobuf, Kind::kPod, "metrics.k8s.io/v1beta1", f.PodEntry(), kNow)[5],
      '\x24');
}

}  // namespace
}  // namespace apiserver
