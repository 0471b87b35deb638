#include "exporter/heapster_schema.h"

#include <algorithm>

namespace exporter {
namespace {

using Tags = std::vector<std::pair<std::string, std::string>>;

int64_t Millicores(uint64_t nanocores) { return static_cast<int64_t>(nanocores / 1'000'000); }

int64_t Bytes(uint64_t bytes) { return static_cast<int64_t>(bytes); }

// Appends the cpu and memory points of one object; `tags` must already be sorted by key.
void AddPair(std::vector<Point>& out, const Tags& tags, int64_t millicores, int64_t bytes,
             base::UnixNanos timestamp) {
  out.push_back(Point{std::string(kCpuUsageRate), tags, millicores, timestamp});
  out.push_back(Point{std::string(kMemoryWorkingSet), tags, bytes, timestamp});
}

Tags Sorted(Tags tags) {
  std::sort(tags.begin(), tags.end());
  return tags;
}

}  // namespace

std::vector<Point> HeapsterPoints(const window::Window& w) {
  std::vector<Point> out;
  size_t containers = 0;
  for (const auto& pod : w.pods()) containers += pod.containers.size();
  out.reserve(2 * (w.nodes().size() + w.pods().size() + containers) + 64);

  base::UnixNanos cluster_time = 0;
  int64_t cluster_cpu = 0;
  int64_t cluster_memory = 0;

  for (const auto& node : w.nodes()) {
    AddPair(out,
            Sorted({{std::string(kLabelNodename), node.name},
                    {std::string(kLabelType), std::string(kTypeNode)}}),
            Millicores(node.cpu_nanocores), Bytes(node.memory_bytes), node.timestamp);
    cluster_time = std::max(cluster_time, node.timestamp);
  }

  // pods() is sorted by namespace, then name: each namespace is a contiguous run.
  const auto& pods = w.pods();
  for (size_t i = 0; i < pods.size();) {
    const std::string& ns = pods[i].namespace_;
    base::UnixNanos ns_time = 0;
    int64_t ns_cpu = 0;
    int64_t ns_memory = 0;
    for (; i < pods.size() && pods[i].namespace_ == ns; ++i) {
      const window::PodMetrics& pod = pods[i];
      int64_t pod_cpu = 0;
      int64_t pod_memory = 0;
      for (const auto& c : pod.containers) {
        int64_t cpu = Millicores(c.cpu_nanocores);
        int64_t memory = Bytes(c.memory_bytes);
        pod_cpu += cpu;
        pod_memory += memory;
        AddPair(out,
                Sorted({{std::string(kLabelContainerName), c.name},
                        {std::string(kLabelNamespaceName), ns},
                        {std::string(kLabelPodName), pod.name},
                        {std::string(kLabelType), std::string(kTypeContainer)}}),
                cpu, memory, pod.timestamp);
      }
      AddPair(out,
              Sorted({{std::string(kLabelNamespaceName), ns},
                      {std::string(kLabelPodName), pod.name},
                      {std::string(kLabelType), std::string(kTypePod)}}),
              pod_cpu, pod_memory, pod.timestamp);
      ns_cpu += pod_cpu;
      ns_memory += pod_memory;
      ns_time = std::max(ns_time, pod.timestamp);
    }
    AddPair(out,
            Sorted({{std::string(kLabelNamespaceName), ns},
                    {std::string(kLabelType), std::string(kTypeNamespace)}}),
            ns_cpu, ns_memory, ns_time);
    cluster_cpu += ns_cpu;
    cluster_memory += ns_memory;
    cluster_time = std::max(cluster_time, ns_time);
  }

  AddPair(out, {{std::string(kLabelType), std::string(kTypeCluster)}}, cluster_cpu, cluster_memory,
          cluster_time);
  return out;
}

}  // namespace exporter
