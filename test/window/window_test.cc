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

}  // namespace
}  // namespace window
