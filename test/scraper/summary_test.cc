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
  EXPECT_EQ(s.containers[0].pod, "w\xc3\xa9" "b\xf0\x9f\x98\x80");
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
