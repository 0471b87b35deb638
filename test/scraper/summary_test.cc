#include "scraper/summary.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test/testing/summary_payload.h"

namespace scraper {
namespace {

using ::testing::HasSubstr;

// Trimmed from a kubelet v1.36 /stats/summary: the fields the parser keeps among ones it skips.
constexpr char kSmall[] = R"({
  "node": {
    "nodeName": "node-1",
    "systemContainers": [{"name": "kubelet", "memory": {"usedBytes": 999}}],
    "fs": {"time": "2025-01-09T13:45:39Z", "availableBytes": 10, "usedBytes": 4096},
    "runtime": {"imageFs": {"usedBytes": 7}}
  },
  "pods": [
    {
      "podRef": {"name": "web", "namespace": "default", "uid": "u1"},
      "containers": [
        {"name": "b", "rootfs": {"usedBytes": 100}, "logs": {"usedBytes": 20}},
        {"name": "a", "rootfs": {"usedBytes": 5}},
        {"name": "c", "memory": {"workingSetBytes": 1}}
      ],
      "volume": [{"name": "v", "usedBytes": 12288}],
      "ephemeral-storage": {"usedBytes": 12413}
    },
    {
      "containers": [{"name": "x", "rootfs": {"usedBytes": 1}}],
      "podRef": {"namespace": "kube-system", "name": "dns"}
    }
  ]
})";

SummaryStorage MustParse(std::string_view text) {
  SummaryStorage out;
  base::Status s = ParseSummary(text, &out);
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

std::string ParseError(std::string_view text) {
  SummaryStorage out;
  base::Status s = ParseSummary(text, &out);
  EXPECT_FALSE(s.ok()) << "parsed: " << text;
  return s.message();
}

TEST(Summary, KeepsNodeFsAndContainerRootfsAndLogs) {
  SummaryStorage s = MustParse(kSmall);
  EXPECT_TRUE(s.has_node_fs);
  EXPECT_EQ(s.node_fs_used_bytes, 4096u);
  ASSERT_EQ(s.containers.size(), 4u);
  // Sorted by (namespace, pod, container); podRef after containers is fine.
  EXPECT_EQ(s.containers[0].namespace_, "default");
  EXPECT_EQ(s.containers[0].pod, "web");
  EXPECT_EQ(s.containers[0].container, "a");
  EXPECT_EQ(s.containers[0].ephemeral_storage_bytes(), 5u);  // no logs: counts as 0
  EXPECT_EQ(s.containers[1].container, "b");
  EXPECT_EQ(s.containers[1].ephemeral_storage_bytes(), 120u);
  EXPECT_EQ(s.containers[2].container, "c");
  EXPECT_FALSE(s.containers[2].has_ephemeral_storage());
  EXPECT_EQ(s.containers[3].namespace_, "kube-system");
  EXPECT_EQ(s.containers[3].pod, "dns");
  EXPECT_EQ(s.containers[3].ephemeral_storage_bytes(), 1u);
  EXPECT_EQ(s.ignored, 0);
}

TEST(Summary, RealisticPayloadOf30PodsOf2Containers) {
  std::string body = testing_support::SummaryPayload(30, 2, 1736430339000);
  SummaryStorage s = MustParse(body);
  EXPECT_EQ(s.node_fs_used_bytes, testing_support::SummaryNodeFsBytes());
  ASSERT_EQ(s.containers.size(), 60u);
  for (const ContainerStorage& c : s.containers) {
    // app-<p>-...: recover p to check the values.
    int p = std::stoi(c.pod.substr(4));
    int k = c.container == "app" ? 0 : 1;
    EXPECT_EQ(c.ephemeral_storage_bytes(),
              testing_support::SummaryRootfsBytes(p, k) + testing_support::SummaryLogsBytes(p, k))
        << c.pod << "/" << c.container;
  }
  // Reuse: a second parse into the same result gives the same result.
  SummaryStorage again = s;
  ASSERT_TRUE(ParseSummary(body, &again).ok());
  EXPECT_EQ(again.containers.size(), 60u);
}

TEST(Summary, EscapesAreDecodedInNamesAndKeys) {
  SummaryStorage s = MustParse(
      R"({"p\u006fds": [{"podRef": {"name": "w\u00e9b\ud83d\ude00", "namespace": "d\"q\\"},)"
      R"( "containers": [{"name": "a\/b", "rootfs": {"usedBytes": 7}}]}]})");
  ASSERT_EQ(s.containers.size(), 1u);
  EXPECT_EQ(s.containers[0].pod,
            "w\xc3\xa9"
            "b\xf0\x9f\x98\x80");
  EXPECT_EQ(s.containers[0].namespace_, "d\"q\\");
  EXPECT_EQ(s.containers[0].container, "a/b");
  EXPECT_EQ(s.containers[0].rootfs_bytes, 7u);
}

TEST(Summary, EmptyAndMinimalSummaries) {
  SummaryStorage s = MustParse(R"({"node": {"nodeName": "n"}, "pods": []})");
  EXPECT_FALSE(s.has_node_fs);
  EXPECT_TRUE(s.containers.empty());
  s = MustParse("{}");
  EXPECT_FALSE(s.has_node_fs);
  s = MustParse(R"({"node": null, "pods": null})");
  EXPECT_TRUE(s.containers.empty());
}

TEST(Summary, BadValuesAndIncompleteEntriesAreDroppedAndCounted) {
  SummaryStorage s = MustParse(R"({
    "node": {"fs": {"usedBytes": -1}},
    "pods": [
      {"podRef": {"name": "p", "namespace": "n"},
       "containers": [{"rootfs": {"usedBytes": 1}},
                      {"name": "a", "rootfs": {"usedBytes": 1.5}, "logs": {"usedBytes": 2}}]},
      {"podRef": {"name": "nameless-namespace"}, "containers": [{"name": "b"}]}
    ]})");
  EXPECT_FALSE(s.has_node_fs);
  ASSERT_EQ(s.containers.size(), 1u);
  EXPECT_FALSE(s.containers[0].has_rootfs);
  EXPECT_EQ(s.containers[0].ephemeral_storage_bytes(), 2u);
  EXPECT_EQ(s.ignored, 4);  // node fs, nameless container, fractional rootfs, pod without namespace
}

TEST(Summary, RepeatedContainerKeepsTheFirst) {
  SummaryStorage s = MustParse(R"({"pods": [{"podRef": {"name": "p", "namespace": "n"},
    "containers": [{"name": "a", "logs": {"usedBytes": 1}}, {"name": "a", "logs": {"usedBytes": 2}}]}]})");
  ASSERT_EQ(s.containers.size(), 1u);
  EXPECT_EQ(s.containers[0].logs_bytes, 1u);
}

TEST(Summary, SaturatingSum) {
  ContainerStorage c;
  c.has_rootfs = c.has_logs = true;
  c.rootfs_bytes = UINT64_MAX - 1;
  c.logs_bytes = 5;
  EXPECT_EQ(c.ephemeral_storage_bytes(), UINT64_MAX);
}

TEST(Summary, MalformedJsonIsAClearError) {
  EXPECT_EQ(ParseError(""), "summary: byte 1: empty body");
  EXPECT_EQ(ParseError(R"({"node": {"fs": {"usedBytes": 1})"),
            "summary: byte 33: unexpected end of the body");
  EXPECT_EQ(ParseError(R"({"pods": [}])"), "summary: byte 11: invalid value");
  EXPECT_EQ(ParseError("404 page not found\n"), "summary: the summary is not an object");
  EXPECT_EQ(ParseError("<html>"), "summary: the summary is not an object");
  EXPECT_EQ(ParseError(R"({"a": 1} trailing)"),
            "summary: byte 10: unexpected text after the summary");
  EXPECT_EQ(ParseError(R"({"a": 01})"), "summary: byte 8: expected ',' or '}' in an object");
  EXPECT_EQ(ParseError(R"({"a": 1.})"), "summary: byte 9: invalid number");
  EXPECT_EQ(ParseError(R"({"a": tru})"), "summary: byte 7: invalid literal");
  EXPECT_EQ(ParseError("{\"a\": \"x\ty\"}"), "summary: byte 9: control character in a string");
  EXPECT_EQ(ParseError(R"({"a": "\x"})"), "summary: byte 9: invalid escape in a string");
  EXPECT_EQ(ParseError(R"({"a": "\ud800"})"),
            "summary: byte 14: high surrogate without its low surrogate");
  EXPECT_EQ(ParseError(R"({"a" 1})"), "summary: byte 6: expected ':' after a member name");
  EXPECT_EQ(ParseError(R"({"a": [1 2]})"), "summary: byte 10: expected ',' or ']' in an array");
  EXPECT_EQ(ParseError(R"({"a": 1,})"), "summary: byte 9: expected a member name");
  EXPECT_EQ(ParseError(std::string(600, '[') + "]"), "summary: the summary is not an object");
  EXPECT_EQ(ParseError("{\"a\": " + std::string(600, '[') + std::string(600, ']') + "}"),
            "summary: byte 518: nested deeper than 512");
}

// The fields behind Heapster's summary-source metrics, from a kubelet-shaped summary.
constexpr char kHeapsterFields[] = R"({
  "node": {
    "nodeName": "node-1",
    "startTime": "2026-12-04T19:00:00Z",
    "cpu": {"time": "2026-12-04T20:00:00Z", "usageCoreNanoSeconds": 5},
    "memory": {"time": "2026-12-04T20:00:01Z", "usageBytes": 1000, "workingSetBytes": 900,
               "rssBytes": 700, "pageFaults": 50, "majorPageFaults": 2},
    "network": {"time": "2026-12-04T20:00:02.5Z", "name": "eth0", "rxBytes": 11, "rxErrors": 1,
                "txBytes": 22, "txErrors": 3,
                "interfaces": [{"name": "eth1", "rxBytes": 999}]},
    "fs": {"availableBytes": 30, "capacityBytes": 100, "usedBytes": 70, "inodes": 9}
  },
  "pods": [
    {
      "podRef": {"name": "web", "namespace": "default"},
      "startTime": "2026-12-04T19:30:00+01:00",
      "network": {"time": "2026-12-04T20:00:03Z", "rxBytes": 5, "txBytes": 6},
      "containers": [
        {"name": "app", "startTime": "2026-12-04T19:45:00.000000001Z",
         "memory": {"time": "2026-12-04T20:00:04Z", "usageBytes": 40, "rssBytes": 30,
                    "pageFaults": 7, "majorPageFaults": 0},
         "rootfs": {"usedBytes": 1, "capacityBytes": 2, "availableBytes": 3},
         "logs": {"usedBytes": 4, "capacityBytes": 5}}
      ],
      "volume": [{"name": "v", "usedBytes": 12288, "capacityBytes": 1}]
    }
  ]
})";

TEST(Summary, KeepsHeapsterFieldsOfNodePodsAndContainers) {
  using S = window::SummaryStats;
  SummaryStorage s = MustParse(kHeapsterFields);
  EXPECT_EQ(s.ignored, 0);
  const S& n = s.node;
  int64_t t = 0;
  ASSERT_TRUE(ParseRfc3339("2026-12-04T19:00:00Z", &t));
  EXPECT_TRUE(n.Has(S::kStartTime));
  EXPECT_EQ(n.start_time, t);
  EXPECT_EQ(n.memory_time, t + 3601'000'000'000);
  EXPECT_EQ(n.memory_usage_bytes, 1000u);
  EXPECT_EQ(n.memory_rss_bytes, 700u);
  EXPECT_EQ(n.page_faults, 50u);
  EXPECT_EQ(n.major_page_faults, 2u);
  EXPECT_EQ(n.network_time, t + 3602'500'000'000);
  EXPECT_EQ(n.rx_bytes, 11u);  // the default interface, not interfaces[]
  EXPECT_EQ(n.rx_errors, 1u);
  EXPECT_EQ(n.tx_bytes, 22u);
  EXPECT_EQ(n.tx_errors, 3u);
  const window::FsUsage& fs = n.fs[S::kRootFs];
  EXPECT_EQ(fs.has,
            window::FsUsage::kUsed | window::FsUsage::kCapacity | window::FsUsage::kAvailable);
  EXPECT_EQ(fs.used_bytes, 70u);
  EXPECT_EQ(fs.capacity_bytes, 100u);
  EXPECT_EQ(fs.available_bytes, 30u);
  EXPECT_EQ(n.fs[S::kLogs].has, 0);
  EXPECT_TRUE(s.has_node_fs);
  EXPECT_EQ(s.node_fs_used_bytes, 70u);

  ASSERT_EQ(s.pods.size(), 1u);
  const PodStorage* pod = s.FindPod("default", "web");
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ(pod->stats.start_time, t - 1800'000'000'000);  // +01:00
  EXPECT_EQ(pod->stats.rx_bytes, 5u);
  EXPECT_EQ(pod->stats.tx_bytes, 6u);
  EXPECT_FALSE(pod->stats.Has(S::kRxErrors));
  EXPECT_FALSE(pod->stats.Has(S::kMemoryUsage));
  EXPECT_EQ(s.FindPod("default", "nope"), nullptr);

  const ContainerStorage* c = s.FindContainer("default", "web", "app");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->stats.start_time, t + 2700'000'000'001);
  EXPECT_EQ(c->stats.memory_usage_bytes, 40u);
  EXPECT_EQ(c->stats.memory_rss_bytes, 30u);
  EXPECT_EQ(c->stats.page_faults, 7u);
  EXPECT_TRUE(c->stats.Has(S::kMajorPageFaults));
  EXPECT_EQ(c->stats.major_page_faults, 0u);
  EXPECT_FALSE(c->stats.Has(S::kRxBytes));
  EXPECT_EQ(c->stats.fs[S::kRootFs].used_bytes, 1u);
  EXPECT_EQ(c->stats.fs[S::kRootFs].capacity_bytes, 2u);
  EXPECT_EQ(c->stats.fs[S::kRootFs].available_bytes, 3u);
  EXPECT_EQ(c->stats.fs[S::kLogs].has, window::FsUsage::kUsed | window::FsUsage::kCapacity);
  EXPECT_EQ(c->stats.fs[S::kLogs].used_bytes, 4u);
  EXPECT_EQ(c->ephemeral_storage_bytes(), 5u);
  EXPECT_EQ(s.FindContainer("default", "web", "nope"), nullptr);
}

TEST(Summary, BadHeapsterValuesAreDroppedAndCounted) {
  SummaryStorage s = MustParse(R"({"node": {"startTime": "yesterday",
      "memory": {"time": "2026-12-04", "usageBytes": -1, "rssBytes": 1.5, "pageFaults": 3},
      "network": {"rxBytes": 1e3}}})");
  EXPECT_EQ(s.ignored, 5);
  EXPECT_EQ(s.node.has, window::SummaryStats::kPageFaults);
  EXPECT_EQ(s.node.page_faults, 3u);
}

TEST(Summary, Rfc3339) {
  int64_t t = 0;
  ASSERT_TRUE(ParseRfc3339("1970-01-01T00:00:00Z", &t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(ParseRfc3339("2000-03-01T00:00:01.5Z", &t));
  EXPECT_EQ(t, 951868801'500'000'000);
  ASSERT_TRUE(ParseRfc3339("2000-03-01T01:00:01.5+01:00", &t));
  EXPECT_EQ(t, 951868801'500'000'000);
  ASSERT_TRUE(ParseRfc3339("1969-12-31T23:59:59-00:00", &t));
  EXPECT_EQ(t, -1'000'000'000);
  ASSERT_TRUE(ParseRfc3339("2026-12-04T20:11:07.1234567891Z", &t));
  EXPECT_EQ(t % 1'000'000'000, 123456789);
  for (const char* bad : {"", "2026-12-04", "2026-12-04T20:11:07", "2026-13-04T20:11:07Z",
                          "2026-12-04T24:00:00Z", "2026-12-04T20:11:07.Z", "2026-12-04T20:11:07Zx",
                          "2026-12-04T20:11:07+0100", "2026-12-04 20:11:07Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &t)) << bad;
  }
}

TEST(Summary, WrongTypesOfKnownFieldsAreErrors) {
  EXPECT_EQ(ParseError("[]"), "summary: the summary is not an object");
  EXPECT_EQ(ParseError("\"x\""), "summary: the summary is not an object");
  EXPECT_EQ(ParseError(R"({"pods": {}})"), "summary: pods is not an array");
  EXPECT_EQ(ParseError(R"({"node": []})"), "summary: node is not an object");
  EXPECT_EQ(ParseError(R"({"pods": [{"containers": {}}]})"),
            "summary: pods[].containers is not an array");
  EXPECT_EQ(ParseError(R"({"pods": [{"podRef": []}]})"), "summary: pods[].podRef is not an object");
}

}  // namespace
}  // namespace scraper
