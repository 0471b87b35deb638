#include "kube/decode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kube {
namespace {

using ::testing::HasSubstr;

constexpr char kNode[] = R"({
  "kind":"Node","apiVersion":"v1",
  "metadata":{"name":"node-1","uid":"u-1","resourceVersion":"42",
    "labels":{"kubernetes.io/hostname":"node-1","zone":"a","bad":7},
    "annotations":{"metrics.k8s.io/resource-metrics-path":"/metrics/nodes/node-1/metrics/resource",
                   "node.alpha.kubernetes.io/ttl":"0"}},
  "spec":{"podCIDR":"10.0.0.0/24"},
  "status":{"addresses":[{"type":"InternalIP","address":"10.0.0.5"},{"type":"Hostname","address":"node-1"},
                         {"type":"ExternalIP","address":""}],
            "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},
            "allocatable":{"cpu":"3800m","memory":"16318012Ki","pods":"110"},
            "capacity":{"cpu":"4","memory":"16420412Ki","pods":"110"},
            "conditions":[{"type":"Ready","status":"True"}]}})";

TEST(DecodeTest, NodeKeepsWhatTheServerNeeds) {
  auto n = DecodeNode(kNode);
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(n->name, "node-1");
  EXPECT_EQ(n->labels.size(), 2u);  // the non-string label is ignored
  EXPECT_EQ(n->labels.at("zone"), "a");
  ASSERT_EQ(n->annotations.size(), 1u);  // only metrics.k8s.io/ annotations are kept
  EXPECT_EQ(n->annotations.at("metrics.k8s.io/resource-metrics-path"),
            "/metrics/nodes/node-1/metrics/resource");
  ASSERT_EQ(n->addresses.size(), 2u);
  EXPECT_EQ(n->addresses[0].type, "InternalIP");
  EXPECT_EQ(n->addresses[0].address, "10.0.0.5");
  EXPECT_EQ(n->addresses[1].type, "Hostname");
  EXPECT_EQ(n->kubelet_port, 10250);
  EXPECT_EQ(n->allocatable_cpu_millicores, 3800);
  EXPECT_EQ(n->allocatable_memory_bytes, 16318012LL * 1024);
  EXPECT_EQ(n->capacity_cpu_millicores, 4000);
  EXPECT_EQ(n->capacity_memory_bytes, 16420412LL * 1024);
}

TEST(DecodeTest, NodeMinimalAndInvalid) {
  auto n = DecodeNode(R"({"metadata":{"name":"x"}})");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->kubelet_port, 0);
  EXPECT_TRUE(n->addresses.empty());
  EXPECT_FALSE(DecodeNode(R"({"metadata":{}})").ok());
  EXPECT_FALSE(DecodeNode("[]").ok());
  EXPECT_FALSE(DecodeNode("{").ok());
  EXPECT_FALSE(DecodeNode("").ok());
  // Wrong types are tolerated where Kubernetes would never send them, never thrown.
  auto odd = DecodeNode(
      R"({"metadata":{"name":"x","labels":[1]},"status":{"addresses":{"a":1},"daemonEndpoints":{"kubeletEndpoint":{"Port":"x"}},"allocatable":{"cpu":5}}})");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->labels.empty());
  EXPECT_EQ(odd->kubelet_port, 0);
  // A negative quantity means nothing for allocatable or capacity: unknown (0), as for pods'
  // requests and limits.
  auto negative = DecodeNode(
      R"({"metadata":{"name":"x"},"status":{"allocatable":{"cpu":"-1","memory":"-2Ki"},"capacity":{"cpu":"-3m","memory":"-1"}}})");
  ASSERT_TRUE(negative.ok());
  EXPECT_EQ(negative->allocatable_cpu_millicores, 0);
  EXPECT_EQ(negative->allocatable_memory_bytes, 0);
  EXPECT_EQ(negative->capacity_cpu_millicores, 0);
  EXPECT_EQ(negative->capacity_memory_bytes, 0);
}

TEST(DecodeTest, PodMetadataList) {
  auto page = DecodePodMetadataList(R"({
    "kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1",
    "metadata":{"resourceVersion":"100","continue":"abc"},
    "items":[
      {"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",
       "metadata":{"name":"web-0","namespace":"default","uid":"p1","labels":{"app":"web"}}},
      {"metadata":{"name":"db-0","namespace":"prod","uid":"p2"}}]})");
  ASSERT_TRUE(page.ok()) << page.error();
  EXPECT_EQ(page->resource_version, "100");
  EXPECT_EQ(page->continue_token, "abc");
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].namespace_, "default");
  EXPECT_EQ(page->items[0].name, "web-0");
  EXPECT_EQ(page->items[0].labels.at("app"), "web");
  EXPECT_TRUE(page->items[1].labels.empty());

  auto empty = DecodePodMetadataList(R"({"metadata":{"resourceVersion":"7"},"items":null})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->items.empty());
  auto bad_item = DecodePodMetadataList(R"({"items":[{"metadata":{"name":"x"}}]})");
  ASSERT_FALSE(bad_item.ok());
  EXPECT_THAT(bad_item.error(), HasSubstr("items[0]"));
  EXPECT_FALSE(DecodePodMetadataList(R"({"items":{}})").ok());
}

TEST(DecodeTest, WatchEvents) {
  auto added = DecodePodWatchEvent(
      R"({"type":"ADDED","object":{"metadata":{"name":"a","namespace":"n","resourceVersion":"5"}}})");
  ASSERT_TRUE(added.ok()) << added.error();
  EXPECT_EQ(added->type, WatchEventType::kAdded);
  EXPECT_EQ(added->resource_version, "5");
  EXPECT_EQ(added->object.name, "a");

  auto modified =
      DecodeNodeWatchEvent(R"({"type":"MODIFIED","object":{"metadata":{"name":"n1"}}})");
  ASSERT_TRUE(modified.ok());
  EXPECT_EQ(modified->type, WatchEventType::kModified);

  auto deleted = DecodePodWatchEvent(
      R"({"type":"DELETED","object":{"metadata":{"name":"a","namespace":"n","resourceVersion":"6"}}})");
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->type, WatchEventType::kDeleted);

  auto bookmark = DecodePodWatchEvent(
      R"({"type":"BOOKMARK","object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"12746","annotations":{"k8s.io/initial-events-end":"true"}}}})");
  ASSERT_TRUE(bookmark.ok()) << bookmark.error();
  EXPECT_EQ(bookmark->type, WatchEventType::kBookmark);
  EXPECT_EQ(bookmark->resource_version, "12746");

  auto gone = DecodePodWatchEvent(
      R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}})j");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->type, WatchEventType::kError);
  EXPECT_EQ(gone->error_code, 410);
  EXPECT_EQ(gone->error_message, "too old resource version: 1 (5)");

  EXPECT_FALSE(DecodePodWatchEvent(R"({"type":"WHAT","object":{}})").ok());
  EXPECT_FALSE(DecodePodWatchEvent(R"({"type":"ADDED"})").ok());
  EXPECT_FALSE(DecodePodWatchEvent(R"({"type":"ADDED","object":{"metadata":{}}})").ok());
  EXPECT_FALSE(DecodePodWatchEvent(R"({"type":"BOOKMARK","object":{"metadata":{}}})").ok());
  EXPECT_FALSE(DecodePodWatchEvent(R"({"type":"ADDED","object":)").ok());
}

TEST(DecodeTest, Quantities) {
  struct Case {
    const char* text;
    bool milli;
    int64_t want;
  };
  const Case cases[] = {
      {"4", true, 4000},
      {"3800m", true, 3800},
      {"0.5", true, 500},
      {"100n", true, 1},
      {"250u", true, 1},
      {"1k", false, 1000},
      {"16318012Ki", false, 16318012LL * 1024},
      {"1Gi", false, 1LL << 30},
      {"1G", false, 1000000000},
      {"1e3", false, 1000},
      {"1.5Mi", false, 1572864},
      {"2E", false, 2000000000000000000LL},
      {"12e-1", false, 2},
      {"+3", false, 3},
      {"-2", false, -2},
  };
  for (const Case& c : cases) {
    auto q = ParseQuantity(c.text, c.milli);
    ASSERT_TRUE(q.ok()) << c.text << ": " << q.error();
    EXPECT_EQ(*q, c.want) << c.text;
  }
  for (const char* bad : {"", "m", "1x", "1.2.3", "Ki", "1e", "1e1234", "9Ei", "."}) {
    EXPECT_FALSE(ParseQuantity(bad, false).ok()) << bad;
  }
}

TEST(DecodeTest, PodResourcesKeepsNodeNameAndContainersRequestsAndLimits) {
  auto p = DecodePodResources(R"({"kind":"Pod","apiVersion":"v1",
    "metadata":{"name":"web","namespace":"default","uid":"u","labels":{"app":"web"}},
    "spec":{"nodeName":"node-1","containers":[
      {"name":"side","image":"x","resources":{"limits":{"memory":"64Mi"}}},
      {"name":"app","resources":{"requests":{"cpu":"250m","memory":"100M"},
                                 "limits":{"cpu":"1","memory":"1Gi"}}},
      {"name":"bad","resources":{"requests":{"cpu":"lots","memory":7},"limits":{"cpu":"-1"}}},
      {"image":"nameless"}],
      "initContainers":[{"name":"init","resources":{"requests":{"cpu":"2"}}}]},
    "status":{"phase":"Running"}})");
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->namespace_, "default");
  EXPECT_EQ(p->name, "web");
  EXPECT_EQ(p->node_name, "node-1");
  ASSERT_EQ(p->containers.size(), 3u);  // sorted by name; the nameless one dropped
  EXPECT_EQ(p->containers[0].name, "app");
  EXPECT_EQ(p->containers[0].cpu_request_millicores, 250);
  EXPECT_EQ(p->containers[0].cpu_limit_millicores, 1000);
  EXPECT_EQ(p->containers[0].memory_request_bytes, 100'000'000);
  EXPECT_EQ(p->containers[0].memory_limit_bytes, 1LL << 30);
  EXPECT_EQ(p->containers[1].name, "bad");  // unparsable quantities count as unset
  EXPECT_EQ(p->containers[1].cpu_request_millicores, 0);
  EXPECT_EQ(p->containers[1].memory_request_bytes, 0);
  EXPECT_EQ(p->containers[1].cpu_limit_millicores, 0);  // negative: unset
  EXPECT_EQ(p->containers[2].name, "side");
  EXPECT_EQ(p->containers[2].cpu_request_millicores, 0);
  EXPECT_EQ(p->containers[2].memory_limit_bytes, 64LL << 20);

  auto bare = DecodePodResources(R"({"metadata":{"name":"p","namespace":"n"}})");
  ASSERT_TRUE(bare.ok()) << bare.error();
  EXPECT_EQ(bare->node_name, "");
  EXPECT_TRUE(bare->containers.empty());
  EXPECT_FALSE(DecodePodResources(R"({"metadata":{"name":"p"}})").ok());
  EXPECT_FALSE(DecodePodResources("[").ok());

  auto list = DecodePodResourcesList(R"({"metadata":{"resourceVersion":"9"},"items":[
    {"metadata":{"name":"a","namespace":"n"},"spec":{"nodeName":"x","containers":[{"name":"c"}]}}]})");
  ASSERT_TRUE(list.ok()) << list.error();
  EXPECT_EQ(list->resource_version, "9");
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0].containers.size(), 1u);
  auto event = DecodePodResourcesWatchEvent(
      R"({"type":"MODIFIED","object":{"metadata":{"name":"a","namespace":"n","resourceVersion":"10"},"spec":{}}})");
  ASSERT_TRUE(event.ok()) << event.error();
  EXPECT_EQ(event->type, WatchEventType::kModified);
  EXPECT_EQ(event->object.name, "a");
  EXPECT_EQ(event->resource_version, "10");
}

TEST(LineSplitterTest, SplitsAcrossArbitraryChunks) {
  const std::string stream = "{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":3}\n{\"partial\"";
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    LineSplitter splitter(64);
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      auto s = splitter.Feed(std::string_view(stream).substr(i, chunk), [&](std::string_view l) {
        lines.emplace_back(l);
        return base::Status::Ok();
      });
      ASSERT_TRUE(s.ok()) << s.message();
    }
    ASSERT_EQ(lines.size(), 3u) << chunk;
    EXPECT_EQ(lines[0], "{\"a\":1}");
    EXPECT_EQ(lines[1], "{\"b\":2}\r");  // JSON parsers accept the trailing \r as whitespace
    EXPECT_EQ(lines[2], "{\"c\":3}");
    EXPECT_EQ(splitter.buffered(), std::string("{\"partial\"").size());
  }
}

TEST(LineSplitterTest, EnforcesLimitAndStopsOnError) {
  LineSplitter splitter(8);
  auto ok = [](std::string_view) { return base::Status::Ok(); };
  EXPECT_TRUE(splitter.Feed("12345678\n", ok).ok());  // exactly the limit
  auto s = splitter.Feed("12345", ok);
  ASSERT_TRUE(s.ok());
  s = splitter.Feed("6789", ok);  // 9 bytes without a newline
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("larger than 8 bytes"));
  EXPECT_EQ(splitter.buffered(), 0u);
  EXPECT_FALSE(splitter.Feed("x\n", ok).ok());  // poisoned

  LineSplitter failing(100);
  int calls = 0;
  auto s2 = failing.Feed("a\nb\nc\n", [&](std::string_view l) {
    ++calls;
    return l == "b" ? base::Status::Error("bad b") : base::Status::Ok();
  });
  EXPECT_EQ(s2.message(), "bad b");
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace kube
