#include "cmd/pod_resources.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace cmd {
namespace {

kube::PodResources Pod(std::string ns, std::string name, std::string node) {
  kube::PodResources p;
  p.namespace_ = std::move(ns);
  p.name = std::move(name);
  p.node_name = std::move(node);
  p.containers = {{"app", 500, 1000, 64 << 20, 128 << 20}, {"side", 50, 0, 0, 0}};
  return p;
}

kube::Node Node(std::string name, int64_t cpu, int64_t memory) {
  kube::Node n;
  n.name = std::move(name);
  n.capacity_cpu_millicores = cpu + 100;
  n.allocatable_cpu_millicores = cpu;
  n.capacity_memory_bytes = memory + 1024;
  n.allocatable_memory_bytes = memory;
  return n;
}

// The caches' pods and nodes become exporter::Resources field by field, in the order
// HeapsterPoints requires (pods by namespace then name, nodes by name).
TEST(PodResourcesTest, ToResourcesKeepsEveryFieldSorted) {
  kube::PodResourcesCache pods;
  pods.Replace({Pod("b", "p1", "n2"), Pod("a", "p2", "n1"), Pod("a", "p10", "")});
  kube::NodeCache nodes;
  nodes.Replace({Node("n2", 2000, 1 << 30), Node("n1", 4000, 2LL << 30)});
  exporter::Resources r = ToResources(pods, nodes);
  ASSERT_EQ(r.pods.size(), 3u);
  EXPECT_EQ(r.pods[0].namespace_ + "/" + r.pods[0].name, "a/p10");
  EXPECT_EQ(r.pods[1].namespace_ + "/" + r.pods[1].name, "a/p2");
  EXPECT_EQ(r.pods[2].namespace_ + "/" + r.pods[2].name, "b/p1");
  EXPECT_EQ(r.pods[0].node, "");
  EXPECT_EQ(r.pods[2].node, "n2");
  ASSERT_EQ(r.pods[2].containers.size(), 2u);
  const exporter::ContainerResources& app = r.pods[2].containers[0];
  EXPECT_EQ(app.name, "app");
  EXPECT_EQ(app.cpu_request_millicores, 500);
  EXPECT_EQ(app.cpu_limit_millicores, 1000);
  EXPECT_EQ(app.memory_request_bytes, 64 << 20);
  EXPECT_EQ(app.memory_limit_bytes, 128 << 20);
  EXPECT_EQ(r.pods[2].containers[1].cpu_request_millicores, 50);
  ASSERT_EQ(r.nodes.size(), 2u);
  EXPECT_EQ(r.nodes[0].name, "n1");
  EXPECT_EQ(r.nodes[0].cpu_allocatable_millicores, 4000);
  EXPECT_EQ(r.nodes[0].cpu_capacity_millicores, 4100);
  EXPECT_EQ(r.nodes[0].memory_allocatable_bytes, 2LL << 30);
  EXPECT_EQ(r.nodes[0].memory_capacity_bytes, (2LL << 30) + 1024);
}

// No snapshot before the pod cache has synced (no requests rather than zeros); afterwards one
// snapshot per change of either cache, shared by every consumer in between.
TEST(PodResourcesTest, SnapshotsAreRebuiltOnlyWhenACacheChanged) {
  kube::PodResourcesCache pods;
  kube::NodeCache nodes;
  ResourcesSnapshots snapshots(pods, nodes);
  EXPECT_EQ(snapshots.Current(), nullptr);
  pods.Replace({Pod("a", "p1", "n1")});
  auto first = snapshots.Current();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(snapshots.Current(), first);
  EXPECT_EQ(snapshots.builds(), 1u);

  pods.Upsert(Pod("a", "p2", "n1"));
  auto second = snapshots.Current();
  EXPECT_NE(second, first);
  EXPECT_EQ(second->pods.size(), 2u);
  EXPECT_EQ(first->pods.size(), 1u);  // a consumer's snapshot never changes under it
  nodes.Upsert(Node("n1", 1000, 1 << 30));
  auto third = snapshots.Current();
  ASSERT_EQ(third->nodes.size(), 1u);
  pods.Remove("a", "p1");
  pods.Remove("a", "missing");  // no change
  auto fourth = snapshots.Current();
  ASSERT_EQ(fourth->pods.size(), 1u);
  EXPECT_EQ(fourth->pods[0].name, "p2");
  EXPECT_EQ(snapshots.builds(), 4u);
  EXPECT_EQ(pods.Size(), 1u);
}

}  // namespace
}  // namespace cmd
