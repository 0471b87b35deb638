#include "window/window.h"

#include <gtest/gtest.h>

namespace window {
namespace {

PodMetrics Pod(std::string ns, std::string name) {
  PodMetrics p;
  p.namespace_ = std::move(ns);
  p.name = std::move(name);
  p.containers.push_back({"c", 1, 1});
  return p;
}

TEST(Window, SortsAndFinds) {
  std::vector<NodeMetrics> nodes(3);
  nodes[0].name = "n2";
  nodes[1].name = "n1";
  nodes[2].name = "n3";
  Window w(7, std::move(nodes),
           {Pod("kube-system", "b"), Pod("default", "z"), Pod("default", "a"), Pod("x", "a")});
  EXPECT_EQ(w.generation(), 7u);
  EXPECT_EQ(w.nodes().front().name, "n1");
  ASSERT_NE(w.FindNode("n2"), nullptr);
  EXPECT_EQ(w.FindNode("n2")->name, "n2");
  EXPECT_EQ(w.FindNode("n0"), nullptr);
  EXPECT_EQ(w.FindNode("n4"), nullptr);
  EXPECT_EQ(w.pods()[0].name, "a");
  EXPECT_EQ(w.pods()[1].name, "z");
  ASSERT_NE(w.FindPod("default", "z"), nullptr);
  EXPECT_EQ(w.FindPod("default", "b"), nullptr);
  EXPECT_EQ(w.FindPod("kube-system", "a"), nullptr);
  auto [first, last] = w.PodsInNamespace("default");
  ASSERT_EQ(last - first, 2);
  EXPECT_EQ(first->name, "a");
  auto [f2, l2] = w.PodsInNamespace("nope");
  EXPECT_EQ(f2, l2);
}

TEST(Window, SummariesFollowTheirObjectsWhenSorting) {
  std::vector<NodeMetrics> nodes(2);
  nodes[0].name = "n2";
  nodes[1].name = "n1";
  std::vector<SummaryStats> node_summaries(2);
  node_summaries[0].rx_bytes = 2;
  node_summaries[1].rx_bytes = 1;
  std::vector<PodSummary> pod_summaries(2);
  pod_summaries[0].pod.tx_bytes = 20;
  pod_summaries[0].containers.resize(1);
  pod_summaries[1].pod.tx_bytes = 10;
  pod_summaries[1].containers.resize(1);
  Window w(1, std::move(nodes), {Pod("default", "z"), Pod("default", "a")},
           std::move(node_summaries), std::move(pod_summaries));
  EXPECT_TRUE(w.has_summary());
  ASSERT_NE(w.node_summary(0), nullptr);
  EXPECT_EQ(w.nodes()[0].name, "n1");
  EXPECT_EQ(w.node_summary(0)->rx_bytes, 1u);
  EXPECT_EQ(w.node_summary(1)->rx_bytes, 2u);
  EXPECT_EQ(w.node_summary(2), nullptr);
  EXPECT_EQ(w.pods()[0].name, "a");
  EXPECT_EQ(w.pod_summary(0)->pod.tx_bytes, 10u);
  EXPECT_EQ(w.pod_summary(1)->pod.tx_bytes, 20u);

  // Without (or with mismatched) summaries there are none.
  Window plain(2, {}, {Pod("default", "a")});
  EXPECT_FALSE(plain.has_summary());
  EXPECT_EQ(plain.pod_summary(0), nullptr);
  Window mismatched(3, {}, {Pod("default", "a")}, {}, std::vector<PodSummary>(2));
  EXPECT_EQ(mismatched.pod_summary(0), nullptr);
}

// What --kubelet-summary-api costs the window: the per-object structs are unchanged without it,
// and with it each node, pod and container carries one SummaryStats beside its metrics.
TEST(Window, SummaryCostIsOnlyPaidWithTheSummary) {
  EXPECT_LE(sizeof(NodeMetrics), 96u);
  EXPECT_LE(sizeof(ContainerMetrics), 80u);
  EXPECT_LE(sizeof(SummaryStats), 176u);
  RecordProperty("sizeof_NodeMetrics", static_cast<int>(sizeof(NodeMetrics)));
  RecordProperty("sizeof_ContainerMetrics", static_cast<int>(sizeof(ContainerMetrics)));
  RecordProperty("sizeof_PodMetrics", static_cast<int>(sizeof(PodMetrics)));
  RecordProperty("sizeof_SummaryStats", static_cast<int>(sizeof(SummaryStats)));
  RecordProperty("sizeof_PodSummary", static_cast<int>(sizeof(PodSummary)));
}

}  // namespace
}  // namespace window
