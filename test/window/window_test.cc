#include "window/window.h"

#include <gtest/gtest.h>

namespace window {
namespace {

PodInput Pod(std::string ns, std::string name) {
  PodInput p;
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

// The builder the store uses: pods view their containers in the window's one array, sorted
// pods stay as given, and a pod's containers follow it when pods are sorted.
TEST(Window, BuilderPodsViewTheirOwnContainers) {
  Window::Builder b(4, false, 1, 3, 4);
  NodeMetrics n;
  n.name = "n1";
  b.AddNode(n);
  b.AddPod("default", "z", 100, std::chrono::seconds(15));
  b.AddContainer("a", 1, 10);
  b.AddContainer("b", 2, 20);
  b.AddPod("default", "a", 90, std::chrono::seconds(14));
  b.AddContainer("only", 3, 30);
  b.AddPod("kube-system", "x", 80, std::chrono::seconds(13));
  b.AddContainer("c", 4, 40, {.swap_bytes = 7, .has_swap = true});
  auto w = std::move(b).Build();
  EXPECT_EQ(w->generation(), 4u);
  ASSERT_EQ(w->pods().size(), 3u);
  const PodMetrics& a = w->pods()[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.timestamp, 90);
  ASSERT_EQ(a.containers.size(), 1u);
  EXPECT_EQ(a.containers[0].name, "only");
  EXPECT_EQ(a.containers[0].memory_bytes, 30u);
  const PodMetrics* z = w->FindPod("default", "z");
  ASSERT_NE(z, nullptr);
  ASSERT_EQ(z->containers.size(), 2u);
  EXPECT_EQ(z->containers[1].name, "b");
  EXPECT_EQ(z->containers[1].cpu_nanocores, 2u);
  // One array for all: the pods' views are adjacent in the order they were added.
  EXPECT_EQ(z->containers.data() + 2, a.containers.data());
  // Swap is kept in place, "not reported" apart from 0; no container had ephemeral storage.
  EXPECT_FALSE(z->extras_of(0).has_swap);
  const PodMetrics* x = w->FindPod("kube-system", "x");
  ASSERT_NE(x, nullptr);
  EXPECT_TRUE(x->extras_of(0).has_swap);
  EXPECT_EQ(x->extras_of(0).swap_bytes, 7u);
  EXPECT_EQ(x->ephemeral_storage, nullptr);
  EXPECT_FALSE(x->extras_of(0).has_ephemeral_storage);
  EXPECT_FALSE(w->has_summary());
}

TEST(Window, EphemeralStorageIsKeptOnlyWhenAContainerHasIt) {
  Window::Builder b(1, false, 0, 2, 3);
  b.AddPod("default", "p", 100, std::chrono::seconds(15));
  b.AddContainer("a", 1, 10);
  b.AddContainer("b", 1, 10,
                 {.swap_bytes = 0,
                  .ephemeral_storage_bytes = 0,
                  .has_swap = true,
                  .has_ephemeral_storage = true});
  b.AddPod("default", "q", 100, std::chrono::seconds(15));
  b.AddContainer("c", 1, 10, {.ephemeral_storage_bytes = 4096, .has_ephemeral_storage = true});
  auto w = std::move(b).Build();
  const PodMetrics* p = w->FindPod("default", "p");
  ASSERT_NE(p, nullptr);
  ASSERT_NE(p->ephemeral_storage, nullptr);
  EXPECT_FALSE(p->extras_of(0).has_ephemeral_storage);  // added before any had it
  EXPECT_FALSE(p->extras_of(0).has_swap);
  EXPECT_TRUE(p->extras_of(1).has_ephemeral_storage);
  EXPECT_EQ(p->extras_of(1).ephemeral_storage_bytes, 0u);
  EXPECT_TRUE(p->extras_of(1).has_swap);
  EXPECT_EQ(p->extras_of(1).swap_bytes, 0u);
  EXPECT_EQ(w->FindPod("default", "q")->extras_of(0).ephemeral_storage_bytes, 4096u);

  // The same through the constructor tests use.
  PodInput in = Pod("default", "r");
  in.containers.push_back({.name = "d", .has_ephemeral_storage = true});
  in.containers[1].ephemeral_storage_bytes = 5;
  Window w2(2, {}, {in});
  ASSERT_EQ(w2.pods().size(), 1u);
  EXPECT_FALSE(w2.pods()[0].extras_of(0).has_ephemeral_storage);
  EXPECT_EQ(w2.pods()[0].extras_of(1).ephemeral_storage_bytes, 5u);
}

TEST(Window, BuilderGivesPodsWithoutASummaryAnEmptyOnePerContainer) {
  Window::Builder b(1, true, 1, 2, 3);
  NodeMetrics n;
  n.name = "n1";
  b.AddNode(n);
  PodSummary s;
  s.pod.tx_bytes = 9;
  s.containers.resize(1);
  b.AddPod("default", "b", 100, std::chrono::seconds(15), &s);
  b.AddContainer("c", 1, 1);
  b.AddPod("default", "a", 100, std::chrono::seconds(15));
  b.AddContainer("c", 1, 1);
  b.AddContainer("d", 1, 1);
  auto w = std::move(b).Build();
  ASSERT_TRUE(w->has_summary());
  ASSERT_NE(w->node_summary(0), nullptr);
  EXPECT_EQ(w->node_summary(0)->has, 0);
  ASSERT_EQ(w->pods()[0].name, "a");  // sorted, with its summary
  EXPECT_EQ(w->pod_summary(0)->containers.size(), 2u);
  EXPECT_EQ(w->pod_summary(1)->pod.tx_bytes, 9u);
  EXPECT_EQ(w->pods()[0].containers.size(), 2u);
  EXPECT_EQ(w->pods()[1].containers[0].name, "c");
}

// What --kubelet-summary-api costs the window: the per-object structs are unchanged without it,
// and with it each node, pod and container carries one SummaryStats beside its metrics.
TEST(Window, SummaryCostIsOnlyPaidWithTheSummary) {
  EXPECT_LE(sizeof(NodeMetrics), 96u);
  EXPECT_LE(sizeof(ContainerMetrics), 32u);
  EXPECT_LE(sizeof(PodMetrics), 56u);
  EXPECT_LE(sizeof(SummaryStats), 176u);
  RecordProperty("sizeof_NodeMetrics", static_cast<int>(sizeof(NodeMetrics)));
  RecordProperty("sizeof_ContainerMetrics", static_cast<int>(sizeof(ContainerMetrics)));
  RecordProperty("sizeof_PodMetrics", static_cast<int>(sizeof(PodMetrics)));
  RecordProperty("sizeof_SummaryStats", static_cast<int>(sizeof(SummaryStats)));
  RecordProperty("sizeof_PodSummary", static_cast<int>(sizeof(PodSummary)));
}

}  // namespace
}  // namespace window
