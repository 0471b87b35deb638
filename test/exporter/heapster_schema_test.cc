#include "exporter/heapster_schema.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace exporter {
namespace {

using window::ContainerMetrics;
using window::NodeMetrics;
using window::PodMetrics;

PodMetrics Pod(std::string ns, std::string name, base::UnixNanos ts,
               std::vector<ContainerMetrics> containers) {
  PodMetrics p;
  p.namespace_ = std::move(ns);
  p.name = std::move(name);
  p.timestamp = ts;
  p.window = std::chrono::seconds(15);
  p.containers = std::move(containers);
  return p;
}

NodeMetrics Node(std::string name, base::UnixNanos ts, uint64_t nanocores, uint64_t bytes) {
  NodeMetrics n;
  n.name = std::move(name);
  n.timestamp = ts;
  n.window = std::chrono::seconds(15);
  n.cpu_nanocores = nanocores;
  n.memory_bytes = bytes;
  return n;
}

// "metric{k=v,k=v}" -> point, for lookups that read like Heapster's series.
std::map<std::string, Point> ByKey(const std::vector<Point>& points) {
  std::map<std::string, Point> out;
  for (const Point& p : points) {
    std::string key = p.metric + "{";
    for (const auto& [k, v] : p.tags) key += k + "=" + v + ",";
    key += "}";
    EXPECT_TRUE(out.emplace(key, p).second) << "duplicate series " << key;
  }
  return out;
}

TEST(HeapsterPoints, EmptyWindowGivesOnlyTheClusterAtZero) {
  window::Window w(0, {}, {});
  auto points = HeapsterPoints(w);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].metric, "cpu/usage_rate");
  EXPECT_EQ(points[1].metric, "memory/working_set");
  for (const auto& p : points) {
    EXPECT_EQ(p.value, 0);
    EXPECT_EQ(p.timestamp, 0);
    ASSERT_EQ(p.tags.size(), 1u);
    EXPECT_EQ(p.tags[0], (std::pair<std::string, std::string>{"type", "cluster"}));
  }
}

TEST(HeapsterPoints, UnitsLabelsAndAggregates) {
  const base::UnixNanos t0 = 1'700'000'000'000'000'000;
  window::Window w(3, {Node("n1", t0 + 5, 1'500'999'999, 4'000'000'000)},
                   {Pod("default", "web", t0 + 1,
                        {{"app", 250'400'000, 100'000'000}, {"sidecar", 10'999'999, 20'000'000}}),
                    Pod("default", "db", t0 + 3, {{"pg", 1'000'000'000, 500'000'000}}),
                    Pod("kube-system", "dns", t0 + 2, {{"coredns", 5'000'000, 30'000'000}})});
  auto points = HeapsterPoints(w);
  // 1 node + 4 containers + 3 pods + 2 namespaces + cluster, two metrics each.
  ASSERT_EQ(points.size(), 2u * 11);
  auto by = ByKey(points);

  // Node: its own kubelet figures, nanocores truncated to millicores.
  auto& node_cpu = by.at("cpu/usage_rate{nodename=n1,type=node,}");
  EXPECT_EQ(node_cpu.value, 1500);
  EXPECT_EQ(node_cpu.timestamp, t0 + 5);
  EXPECT_EQ(by.at("memory/working_set{nodename=n1,type=node,}").value, 4'000'000'000);

  // Containers: truncated per container, with the pod's timestamp.
  auto& app = by.at(
      "cpu/usage_rate{container_name=app,namespace_name=default,pod_name=web,type=pod_container,}");
  EXPECT_EQ(app.value, 250);
  EXPECT_EQ(app.timestamp, t0 + 1);
  EXPECT_EQ(by.at("cpu/usage_rate{container_name=sidecar,namespace_name=default,pod_name=web,"
                  "type=pod_container,}")
                .value,
            10);
  EXPECT_EQ(by.at("memory/working_set{container_name=sidecar,namespace_name=default,pod_name=web,"
                  "type=pod_container,}")
                .value,
            20'000'000);

  // Pod = sum of its containers' stored values.
  EXPECT_EQ(by.at("cpu/usage_rate{namespace_name=default,pod_name=web,type=pod,}").value, 260);
  EXPECT_EQ(by.at("memory/working_set{namespace_name=default,pod_name=web,type=pod,}").value,
            120'000'000);
  EXPECT_EQ(by.at("cpu/usage_rate{namespace_name=default,pod_name=db,type=pod,}").timestamp,
            t0 + 3);

  // Namespace = sum of its pods, newest pod timestamp.
  auto& ns_cpu = by.at("cpu/usage_rate{namespace_name=default,type=ns,}");
  EXPECT_EQ(ns_cpu.value, 1260);
  EXPECT_EQ(ns_cpu.timestamp, t0 + 3);
  EXPECT_EQ(by.at("memory/working_set{namespace_name=default,type=ns,}").value, 620'000'000);
  EXPECT_EQ(by.at("cpu/usage_rate{namespace_name=kube-system,type=ns,}").value, 5);

  // Cluster = sum of namespaces (not of nodes), newest timestamp of all.
  auto& cluster_cpu = by.at("cpu/usage_rate{type=cluster,}");
  EXPECT_EQ(cluster_cpu.value, 1265);
  EXPECT_EQ(cluster_cpu.timestamp, t0 + 5);
  EXPECT_EQ(by.at("memory/working_set{type=cluster,}").value, 650'000'000);
}

TEST(HeapsterPoints, StableOrderAndSortedTags) {
  window::Window w(1, {Node("b", 1, 0, 0), Node("a", 1, 0, 0)},
                   {Pod("y", "p", 1, {{"c", 0, 0}}), Pod("x", "p", 1, {{"c", 0, 0}})});
  auto points = HeapsterPoints(w);
  std::vector<std::string> types;
  for (size_t i = 0; i < points.size(); i += 2) {
    EXPECT_EQ(points[i].metric, "cpu/usage_rate");
    EXPECT_EQ(points[i + 1].metric, "memory/working_set");
    EXPECT_EQ(points[i].tags, points[i + 1].tags);
    EXPECT_TRUE(std::is_sorted(points[i].tags.begin(), points[i].tags.end()));
    for (const auto& [k, v] : points[i].tags)
      if (k == "type") types.push_back(v);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"node", "node", "pod_container", "pod", "ns",
                                             "pod_container", "pod", "ns", "cluster"}));
  EXPECT_EQ(points[0].tags[0].second, "a");  // nodes by name
  EXPECT_EQ(points[4].tags[1].second, "x");  // namespaces by name
}

}  // namespace
}  // namespace exporter
