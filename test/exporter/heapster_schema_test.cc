#include "exporter/heapster_schema.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace exporter {
namespace {

using window::ContainerInput;
using window::NodeMetrics;
using window::PodInput;

PodInput Pod(std::string ns, std::string name, base::UnixNanos ts,
             std::vector<ContainerInput> containers) {
  PodInput p;
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

// A window with the summary: node n1 and pod default/web with containers app and side.
struct SummaryWindow {
  static constexpr base::UnixNanos kStart = 1'700'000'000'000'000'000;
  static window::SummaryStats Memory(base::UnixNanos t, uint64_t usage, uint64_t rss,
                                     uint64_t faults, uint64_t major) {
    window::SummaryStats s;
    s.has = window::SummaryStats::kStartTime | window::SummaryStats::kMemoryTime |
            window::SummaryStats::kMemoryUsage | window::SummaryStats::kMemoryRss |
            window::SummaryStats::kPageFaults | window::SummaryStats::kMajorPageFaults;
    s.start_time = kStart;
    s.memory_time = t;
    s.memory_usage_bytes = usage;
    s.memory_rss_bytes = rss;
    s.page_faults = faults;
    s.major_page_faults = major;
    return s;
  }
  static void Network(window::SummaryStats* s, base::UnixNanos t, uint64_t rx, uint64_t tx) {
    s->has |= window::SummaryStats::kNetworkTime | window::SummaryStats::kRxBytes |
              window::SummaryStats::kRxErrors | window::SummaryStats::kTxBytes |
              window::SummaryStats::kTxErrors;
    s->network_time = t;
    s->rx_bytes = rx;
    s->rx_errors = rx / 100;
    s->tx_bytes = tx;
    s->tx_errors = 0;
  }
  // Sample time t (ns), counters scaled by `k`.
  static window::Window Make(uint64_t generation, base::UnixNanos t, uint64_t k,
                             base::UnixNanos node_start_shift = 0) {
    window::SummaryStats node = Memory(t, 8000, 6000, 1000 * k, 10 * k);
    node.start_time += node_start_shift;
    Network(&node, t, 100'000 * k, 50'000 * k);
    node.fs[window::SummaryStats::kRootFs] = {
        window::FsUsage::kUsed | window::FsUsage::kCapacity | window::FsUsage::kAvailable, 70, 100,
        30};
    window::PodSummary pod;
    pod.pod.has = window::SummaryStats::kStartTime;
    pod.pod.start_time = kStart + 1'000'000'000;
    Network(&pod.pod, t, 1000 * k, 2000 * k);
    pod.containers.push_back(Memory(t, 400, 300, 100 * k, 1 * k));
    pod.containers.push_back(Memory(t, 40, 30, 10 * k, 0));
    pod.containers[0].fs[window::SummaryStats::kRootFs] = {window::FsUsage::kUsed, 5, 0, 0};
    pod.containers[0].fs[window::SummaryStats::kLogs] = {
        window::FsUsage::kUsed | window::FsUsage::kCapacity, 6, 60, 0};
    std::vector<window::SummaryStats> nodes{node};
    std::vector<window::PodSummary> pods{pod};
    return window::Window(generation, {Node("n1", t, 0, 0)},
                          {Pod("default", "web", t, {{"app", 0, 0}, {"side", 0, 0}})},
                          std::move(nodes), std::move(pods));
  }
};

TEST(HeapsterPoints, SummaryNamesUnitsAndLabels) {
  const base::UnixNanos t = SummaryWindow::kStart + 3'600'000'000'000;  // an hour after start
  window::Window w = SummaryWindow::Make(1, t, 1);
  auto by = ByKey(HeapsterPoints(w));

  // Node: uptime in ms, memory, network, its filesystem "/".
  EXPECT_EQ(by.at("uptime{nodename=n1,type=node,}").value, 3'600'000);
  EXPECT_EQ(by.at("memory/usage{nodename=n1,type=node,}").value, 8000);
  EXPECT_EQ(by.at("memory/rss{nodename=n1,type=node,}").value, 6000);
  EXPECT_EQ(by.at("memory/page_faults{nodename=n1,type=node,}").value, 1000);
  EXPECT_EQ(by.at("memory/major_page_faults{nodename=n1,type=node,}").value, 10);
  EXPECT_EQ(by.at("network/rx{nodename=n1,type=node,}").value, 100'000);
  EXPECT_EQ(by.at("network/rx_errors{nodename=n1,type=node,}").value, 1000);
  EXPECT_EQ(by.at("network/tx{nodename=n1,type=node,}").value, 50'000);
  EXPECT_EQ(by.at("network/tx_errors{nodename=n1,type=node,}").value, 0);
  EXPECT_EQ(by.at("filesystem/usage{nodename=n1,resource_id=/,type=node,}").value, 70);
  EXPECT_EQ(by.at("filesystem/limit{nodename=n1,resource_id=/,type=node,}").value, 100);
  EXPECT_EQ(by.at("filesystem/available{nodename=n1,resource_id=/,type=node,}").value, 30);
  EXPECT_EQ(by.at("uptime{nodename=n1,type=node,}").timestamp, t);

  // Containers: their own uptime, memory and filesystems ("/" rootfs, "logs"); no network.
  const std::string app = "{container_name=app,namespace_name=default,pod_name=web,";
  EXPECT_EQ(by.at("uptime" + app + "type=pod_container,}").value, 3'600'000);
  EXPECT_EQ(by.at("memory/usage" + app + "type=pod_container,}").value, 400);
  EXPECT_EQ(by.at("memory/rss" + app + "type=pod_container,}").value, 300);
  EXPECT_EQ(by.at("memory/page_faults" + app + "type=pod_container,}").value, 100);
  EXPECT_EQ(by.at("memory/major_page_faults" + app + "type=pod_container,}").value, 1);
  EXPECT_EQ(by.at("filesystem/usage" + app + "resource_id=/,type=pod_container,}").value, 5);
  EXPECT_EQ(by.at("filesystem/usage" + app + "resource_id=logs,type=pod_container,}").value, 6);
  EXPECT_EQ(by.at("filesystem/limit" + app + "resource_id=logs,type=pod_container,}").value, 60);
  EXPECT_EQ(by.count("filesystem/limit" + app + "resource_id=/,type=pod_container,}"), 0u);
  EXPECT_EQ(by.count("network/rx" + app + "type=pod_container,}"), 0u);

  // Pod: its own uptime and network, memory summed over its containers.
  const std::string pod = "{namespace_name=default,pod_name=web,type=pod,}";
  EXPECT_EQ(by.at("uptime" + pod).value, 3'599'000);
  EXPECT_EQ(by.at("network/rx" + pod).value, 1000);
  EXPECT_EQ(by.at("network/tx" + pod).value, 2000);
  EXPECT_EQ(by.at("memory/usage" + pod).value, 440);
  EXPECT_EQ(by.at("memory/rss" + pod).value, 330);
  EXPECT_EQ(by.at("memory/page_faults" + pod).value, 110);
  EXPECT_EQ(by.at("memory/major_page_faults" + pod).value, 1);

  // Namespace and cluster: memory/usage summed (Heapster's aggregated names).
  EXPECT_EQ(by.at("memory/usage{namespace_name=default,type=ns,}").value, 440);
  EXPECT_EQ(by.at("memory/usage{type=cluster,}").value, 440);
  EXPECT_EQ(by.count("memory/rss{type=cluster,}"), 0u);

  // Without a previous window there are no rates; every value is an integer.
  for (const auto& [key, p] : by) {
    if (p.metric != "cpu/usage_rate") {
      EXPECT_EQ(key.find("_rate{"), std::string::npos) << key;
    }
    EXPECT_FALSE(p.is_float) << key;
  }
}

TEST(HeapsterPoints, SummaryRatesFromThePreviousWindow) {
  const base::UnixNanos t0 = SummaryWindow::kStart + 100'000'000'000;
  const base::UnixNanos t1 = t0 + 10'000'000'000;  // 10 s later
  window::Window before = SummaryWindow::Make(1, t0, 1);
  window::Window now = SummaryWindow::Make(2, t1, 3);
  auto by = ByKey(HeapsterPoints(now, &before));
  auto rate = [&](const std::string& key) {
    const Point& p = by.at(key);
    EXPECT_TRUE(p.is_float) << key;
    EXPECT_EQ(p.timestamp, t1) << key;
    return p.float_value;
  };
  const std::string node = "{nodename=n1,type=node,}";
  EXPECT_DOUBLE_EQ(rate("memory/page_faults_rate" + node), 200.0);  // (3000-1000)/10
  EXPECT_DOUBLE_EQ(rate("memory/major_page_faults_rate" + node), 2.0);
  EXPECT_DOUBLE_EQ(rate("network/rx_rate" + node), 20'000.0);
  EXPECT_DOUBLE_EQ(rate("network/rx_errors_rate" + node), 200.0);
  EXPECT_DOUBLE_EQ(rate("network/tx_rate" + node), 10'000.0);
  EXPECT_DOUBLE_EQ(rate("network/tx_errors_rate" + node), 0.0);
  const std::string app = "{container_name=app,namespace_name=default,pod_name=web,";
  EXPECT_DOUBLE_EQ(rate("memory/page_faults_rate" + app + "type=pod_container,}"), 20.0);
  EXPECT_DOUBLE_EQ(rate("memory/major_page_faults_rate" + app + "type=pod_container,}"), 0.2);
  const std::string pod = "{namespace_name=default,pod_name=web,type=pod,}";
  EXPECT_DOUBLE_EQ(rate("memory/page_faults_rate" + pod), 22.0);  // 20 + 2
  EXPECT_DOUBLE_EQ(rate("memory/major_page_faults_rate" + pod), 0.2);
  EXPECT_DOUBLE_EQ(rate("network/rx_rate" + pod), 200.0);
  EXPECT_DOUBLE_EQ(rate("network/tx_rate" + pod), 400.0);
  // The cumulative values themselves stay integers.
  EXPECT_FALSE(by.at("network/rx" + pod).is_float);
  EXPECT_EQ(by.at("network/rx" + pod).value, 3000);

  // No rate when the counter went down (a reset), when the sample is not newer, or when the
  // object restarted.
  auto no_rates = [](const std::vector<Point>& points) {
    for (const Point& p : points) {
      if (p.metric.find("_rate") != std::string::npos && p.metric != "cpu/usage_rate") return false;
    }
    return true;
  };
  EXPECT_TRUE(no_rates(HeapsterPoints(before, &now)));     // counters decreased, time went back
  EXPECT_TRUE(no_rates(HeapsterPoints(before, &before)));  // same sample time
  window::Window restarted = SummaryWindow::Make(3, t1, 3, /*node_start_shift=*/1);
  auto by_restarted = ByKey(HeapsterPoints(restarted, &before));
  EXPECT_EQ(by_restarted.count("network/rx_rate" + node), 0u);
  EXPECT_EQ(by_restarted.count("network/rx_rate" + pod), 1u);
}

TEST(HeapsterPoints, WithoutTheSummaryOnlyCpuAndWorkingSet) {
  window::Window w(1, {Node("n1", 1, 0, 0)}, {Pod("default", "web", 1, {{"app", 0, 0}})});
  for (const Point& p : HeapsterPoints(w, &w)) {
    EXPECT_TRUE(p.metric == "cpu/usage_rate" || p.metric == "memory/working_set") << p.metric;
  }
}

TEST(HeapsterPoints, RequestsLimitsAndNodeAutoscaling) {
  const base::UnixNanos t = 1'700'000'000'000'000'000;
  // n1 runs default/web (app, side) and kube-system/dns; default/db runs on n2, which is not
  // in the window; default/ghost has no resources entry.
  window::Window w(
      1, {Node("n1", t, 1'500'000'000, 1'000)},
      {Pod("default", "db", t + 1, {{"pg", 0, 0}}), Pod("default", "ghost", t + 2, {{"c", 0, 0}}),
       Pod("default", "web", t + 3, {{"app", 0, 0}, {"side", 0, 0}}),
       Pod("kube-system", "dns", t + 4, {{"coredns", 0, 0}})});
  Resources r;
  r.pods.push_back({"default", "db", "n2", {{"pg", 1000, 2000, 1 << 30, 2 << 30}}});
  // web's spec also lists "other", which has no metrics: it counts in the pod's sums.
  r.pods.push_back({"default",
                    "web",
                    "n1",
                    {{"app", 250, 500, 100'000'000, 200'000'000},
                     {"other", 5, 0, 0, 0},
                     {"side", 0, 0, 0, 50'000'000}}});
  r.pods.push_back({"kube-system", "dns", "n1", {{"coredns", 100, 0, 70'000'000, 170'000'000}}});
  r.nodes.push_back({"n1", 4000, 3000, 8'000'000'000, 4'000'000'000});
  auto by = ByKey(HeapsterPoints(w, nullptr, &r));

  const std::string app = "{container_name=app,namespace_name=default,pod_name=web,";
  EXPECT_EQ(by.at("cpu/request" + app + "type=pod_container,}").value, 250);
  EXPECT_EQ(by.at("cpu/limit" + app + "type=pod_container,}").value, 500);
  EXPECT_EQ(by.at("memory/request" + app + "type=pod_container,}").value, 100'000'000);
  EXPECT_EQ(by.at("memory/limit" + app + "type=pod_container,}").value, 200'000'000);
  EXPECT_EQ(by.at("cpu/request" + app + "type=pod_container,}").timestamp, t + 3);
  EXPECT_FALSE(by.at("cpu/request" + app + "type=pod_container,}").is_float);
  // Unset is 0, as Heapster's enricher reads a missing quantity.
  EXPECT_EQ(by.at("cpu/request{container_name=side,namespace_name=default,pod_name=web,"
                  "type=pod_container,}")
                .value,
            0);
  EXPECT_EQ(by.count("cpu/request{container_name=c,namespace_name=default,pod_name=ghost,"
                     "type=pod_container,}"),
            0u);

  const std::string web = "{namespace_name=default,pod_name=web,type=pod,}";
  EXPECT_EQ(by.at("cpu/request" + web).value, 255);  // app + other + side
  EXPECT_EQ(by.at("memory/limit" + web).value, 250'000'000);
  EXPECT_EQ(by.count("cpu/request{namespace_name=default,pod_name=ghost,type=pod,}"), 0u);

  EXPECT_EQ(by.at("cpu/request{namespace_name=default,type=ns,}").value, 1255);  // db + web
  EXPECT_EQ(by.at("memory/request{namespace_name=kube-system,type=ns,}").value, 70'000'000);
  EXPECT_EQ(by.at("cpu/request{type=cluster,}").value, 1355);
  EXPECT_EQ(by.at("cpu/limit{type=cluster,}").value, 2500);

  // The node: sums over the window's pods scheduled on it (web + dns).
  const std::string n1 = "{nodename=n1,type=node,}";
  EXPECT_EQ(by.at("cpu/request" + n1).value, 355);
  EXPECT_EQ(by.at("memory/request" + n1).value, 170'000'000);
  EXPECT_EQ(by.at("memory/limit" + n1).value, 420'000'000);
  auto f = [&](const std::string& key) {
    const Point& p = by.at(key);
    EXPECT_TRUE(p.is_float) << key;
    return p.float_value;
  };
  EXPECT_DOUBLE_EQ(f("cpu/node_capacity" + n1), 4000.0);
  EXPECT_DOUBLE_EQ(f("cpu/node_allocatable" + n1), 3000.0);
  EXPECT_DOUBLE_EQ(f("memory/node_capacity" + n1), 8e9);
  EXPECT_DOUBLE_EQ(f("memory/node_allocatable" + n1), 4e9);
  EXPECT_DOUBLE_EQ(f("cpu/node_reservation" + n1), 355.0 / 3000);
  EXPECT_DOUBLE_EQ(f("cpu/node_utilization" + n1), 1500.0 / 3000);
  EXPECT_DOUBLE_EQ(f("memory/node_reservation" + n1), 170e6 / 4e9);
  // memory/node_utilization is memory/usage ÷ allocatable: only with the summary.
  EXPECT_EQ(by.count("memory/node_utilization" + n1), 0u);

  // Without resources: none of these names.
  for (const Point& p : HeapsterPoints(w, nullptr, nullptr)) {
    EXPECT_EQ(p.metric.find("request"), std::string::npos) << p.metric;
    EXPECT_EQ(p.metric.find("node_"), std::string::npos) << p.metric;
  }
}

TEST(HeapsterPoints, NodeUtilizationWithTheSummaryAndUnknownAllocatable) {
  const base::UnixNanos t = SummaryWindow::kStart + 3'600'000'000'000;
  window::Window w = SummaryWindow::Make(1, t, 1);  // node memory/usage 8000
  Resources r;
  r.nodes.push_back({"n1", 2000, 0, 32'000, 16'000});
  auto by = ByKey(HeapsterPoints(w, nullptr, &r));
  const std::string n1 = "{nodename=n1,type=node,}";
  EXPECT_DOUBLE_EQ(by.at("memory/node_utilization" + n1).float_value, 0.5);
  EXPECT_DOUBLE_EQ(by.at("memory/node_reservation" + n1).float_value, 0.0);
  // Allocatable cpu unknown (0): capacity and allocatable are written, the ratios are not.
  EXPECT_DOUBLE_EQ(by.at("cpu/node_allocatable" + n1).float_value, 0.0);
  EXPECT_EQ(by.count("cpu/node_utilization" + n1), 0u);
  EXPECT_EQ(by.count("cpu/node_reservation" + n1), 0u);
  // No pod has resources: the node's and the cluster's sums are 0, no namespace sum.
  EXPECT_EQ(by.at("cpu/request" + n1).value, 0);
  EXPECT_EQ(by.at("cpu/request{type=cluster,}").value, 0);
  EXPECT_EQ(by.count("cpu/request{namespace_name=default,type=ns,}"), 0u);
}

}  // namespace
}  // namespace exporter
