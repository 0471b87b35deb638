#include "exporter/heapster_schema.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

namespace exporter {
namespace {

using Tags = std::vector<std::pair<std::string, std::string>>;
using window::FsUsage;
using window::SummaryStats;

int64_t Millicores(uint64_t nanocores) { return static_cast<int64_t>(nanocores / 1'000'000); }

int64_t Bytes(uint64_t bytes) { return static_cast<int64_t>(bytes); }

// Appends the cpu and memory points of one object; `tags` must already be sorted by key.
void AddPair(std::vector<Point>& out, const Tags& tags, int64_t millicores, int64_t bytes,
             base::UnixNanos timestamp) {
  out.push_back(Point{std::string(kCpuUsageRate), tags, millicores, timestamp});
  out.push_back(Point{std::string(kMemoryWorkingSet), tags, bytes, timestamp});
}

void AddInt(std::vector<Point>& out, std::string_view metric, const Tags& tags, uint64_t value,
            base::UnixNanos timestamp) {
  out.push_back(Point{std::string(metric), tags, static_cast<int64_t>(value), timestamp});
}

void AddFloat(std::vector<Point>& out, std::string_view metric, const Tags& tags, double value,
              base::UnixNanos timestamp) {
  Point p{std::string(metric), tags, 0, timestamp};
  p.is_float = true;
  p.float_value = value;
  out.push_back(std::move(p));
}

Tags Sorted(Tags tags) {
  std::sort(tags.begin(), tags.end());
  return tags;
}

// Heapster's rate calculator for one counter of one object: per second, as a float; nullopt
// when `before` is missing, is not older, is of another start (a restart), or the counter
// decreased (a reset).
std::optional<double> Rate(const SummaryStats& now, const SummaryStats* before, uint16_t field,
                           uint64_t SummaryStats::*counter, uint16_t time_field,
                           base::UnixNanos SummaryStats::*time) {
  if (before == nullptr || !now.Has(field) || !before->Has(field) || !now.Has(time_field) ||
      !before->Has(time_field)) {
    return std::nullopt;
  }
  if (now.*time <= before->*time) return std::nullopt;
  if (now.Has(SummaryStats::kStartTime) != before->Has(SummaryStats::kStartTime) ||
      now.start_time != before->start_time) {
    return std::nullopt;
  }
  if (now.*counter < before->*counter) return std::nullopt;
  return 1e9 * static_cast<double>(now.*counter - before->*counter) /
         static_cast<double>(now.*time - before->*time);
}

// One cumulative value of the summary with its _rate form.
struct Cumulative {
  std::string_view name;
  std::string_view rate_name;
  uint16_t field;
  uint64_t SummaryStats::*counter;
};

constexpr Cumulative kPageFaults[] = {
    {kMemoryPageFaults, kMemoryPageFaultsRate, SummaryStats::kPageFaults,
     &SummaryStats::page_faults},
    {kMemoryMajorPageFaults, kMemoryMajorPageFaultsRate, SummaryStats::kMajorPageFaults,
     &SummaryStats::major_page_faults},
};

constexpr Cumulative kNetwork[] = {
    {kNetworkRx, kNetworkRxRate, SummaryStats::kRxBytes, &SummaryStats::rx_bytes},
    {kNetworkRxErrors, kNetworkRxErrorsRate, SummaryStats::kRxErrors, &SummaryStats::rx_errors},
    {kNetworkTx, kNetworkTxRate, SummaryStats::kTxBytes, &SummaryStats::tx_bytes},
    {kNetworkTxErrors, kNetworkTxErrorsRate, SummaryStats::kTxErrors, &SummaryStats::tx_errors},
};

void AddUptime(std::vector<Point>& out, const Tags& tags, const SummaryStats& s,
               base::UnixNanos timestamp) {
  if (!s.Has(SummaryStats::kStartTime) || timestamp < s.start_time) return;
  AddInt(out, kUptime, tags, static_cast<uint64_t>((timestamp - s.start_time) / 1'000'000),
         timestamp);
}

void AddCumulative(std::vector<Point>& out, const Tags& tags, const Cumulative& c,
                   const SummaryStats& s, const SummaryStats* before, uint16_t time_field,
                   base::UnixNanos SummaryStats::*time, base::UnixNanos timestamp) {
  if (!s.Has(c.field)) return;
  AddInt(out, c.name, tags, s.*c.counter, timestamp);
  if (auto rate = Rate(s, before, c.field, c.counter, time_field, time)) {
    AddFloat(out, c.rate_name, tags, *rate, timestamp);
  }
}

// memory/usage, memory/rss, page faults (node, container).
void AddMemory(std::vector<Point>& out, const Tags& tags, const SummaryStats& s,
               const SummaryStats* before, base::UnixNanos timestamp) {
  if (s.Has(SummaryStats::kMemoryUsage)) {
    AddInt(out, kMemoryUsage, tags, s.memory_usage_bytes, timestamp);
  }
  if (s.Has(SummaryStats::kMemoryRss)) AddInt(out, kMemoryRss, tags, s.memory_rss_bytes, timestamp);
  for (const Cumulative& c : kPageFaults) {
    AddCumulative(out, tags, c, s, before, SummaryStats::kMemoryTime, &SummaryStats::memory_time,
                  timestamp);
  }
}

// network/* (node, pod).
void AddNetwork(std::vector<Point>& out, const Tags& tags, const SummaryStats& s,
                const SummaryStats* before, base::UnixNanos timestamp) {
  for (const Cumulative& c : kNetwork) {
    AddCumulative(out, tags, c, s, before, SummaryStats::kNetworkTime, &SummaryStats::network_time,
                  timestamp);
  }
}

// filesystem/* of one filesystem, labelled resource_id.
void AddFs(std::vector<Point>& out, Tags tags, std::string_view resource_id, const FsUsage& fs,
           base::UnixNanos timestamp) {
  if (fs.has == 0) return;
  tags.emplace_back(std::string(kLabelResourceId), std::string(resource_id));
  tags = Sorted(std::move(tags));
  if (fs.has & FsUsage::kUsed) AddInt(out, kFilesystemUsage, tags, fs.used_bytes, timestamp);
  if (fs.has & FsUsage::kCapacity) {
    AddInt(out, kFilesystemLimit, tags, fs.capacity_bytes, timestamp);
  }
  if (fs.has & FsUsage::kAvailable) {
    AddInt(out, kFilesystemAvailable, tags, fs.available_bytes, timestamp);
  }
}

// A sum over containers of one value: present when any container had it.
struct Sum {
  bool any = false;
  uint64_t value = 0;
  void Add(uint64_t v) {
    any = true;
    value += v;
  }
};
struct FloatSum {
  bool any = false;
  double value = 0;
  void Add(double v) {
    any = true;
    value += v;
  }
};

// The previous window's summary of the same node / pod / container, or null.
const SummaryStats* PreviousNode(const window::Window* previous, std::string_view name) {
  if (previous == nullptr) return nullptr;
  const window::NodeMetrics* n = previous->FindNode(name);
  if (n == nullptr) return nullptr;
  return previous->node_summary(static_cast<size_t>(n - previous->nodes().data()));
}

const window::PodSummary* PreviousPod(const window::Window* previous, std::string_view ns,
                                      std::string_view name, const window::PodMetrics** pod) {
  *pod = nullptr;
  if (previous == nullptr) return nullptr;
  *pod = previous->FindPod(ns, name);
  if (*pod == nullptr) return nullptr;
  return previous->pod_summary(static_cast<size_t>(*pod - previous->pods().data()));
}

const SummaryStats* PreviousContainer(const window::PodMetrics* pod,
                                      const window::PodSummary* summary, std::string_view name) {
  if (pod == nullptr || summary == nullptr) return nullptr;
  auto it = std::lower_bound(
      pod->containers.begin(), pod->containers.end(), name,
      [](const window::ContainerMetrics& c, std::string_view n) { return c.name < n; });
  if (it == pod->containers.end() || it->name != name) return nullptr;
  const size_t i = static_cast<size_t>(it - pod->containers.begin());
  return i < summary->containers.size() ? &summary->containers[i] : nullptr;
}

// Requests and limits of one object (Heapster's cpu/request, cpu/limit, memory/request,
// memory/limit).
struct Requests {
  bool any = false;  // some pod contributed (for ns and node sums)
  int64_t cpu_request = 0;
  int64_t cpu_limit = 0;
  int64_t memory_request = 0;
  int64_t memory_limit = 0;
  void Add(const Requests& r) {
    any = true;
    cpu_request += r.cpu_request;
    cpu_limit += r.cpu_limit;
    memory_request += r.memory_request;
    memory_limit += r.memory_limit;
  }
};

Requests Of(const ContainerResources& c) {
  return {true, c.cpu_request_millicores, c.cpu_limit_millicores, c.memory_request_bytes,
          c.memory_limit_bytes};
}

Requests PodTotal(const PodResources& pod) {
  Requests total;
  total.any = true;
  for (const ContainerResources& c : pod.containers) total.Add(Of(c));
  return total;
}

void AddRequests(std::vector<Point>& out, const Tags& tags, const Requests& r,
                 base::UnixNanos timestamp) {
  out.push_back(Point{std::string(kCpuRequest), tags, r.cpu_request, timestamp});
  out.push_back(Point{std::string(kCpuLimit), tags, r.cpu_limit, timestamp});
  out.push_back(Point{std::string(kMemoryRequest), tags, r.memory_request, timestamp});
  out.push_back(Point{std::string(kMemoryLimit), tags, r.memory_limit, timestamp});
}

const PodResources* FindPodResources(const Resources* resources, std::string_view ns,
                                     std::string_view name) {
  if (resources == nullptr) return nullptr;
  const auto& pods = resources->pods;
  using Key = std::pair<std::string_view, std::string_view>;
  auto it = std::lower_bound(
      pods.begin(), pods.end(), Key(ns, name),
      [](const PodResources& p, const Key& key) { return Key(p.namespace_, p.name) < key; });
  return it != pods.end() && it->namespace_ == ns && it->name == name ? &*it : nullptr;
}

const ContainerResources* FindContainerResources(const PodResources* pod, std::string_view name) {
  if (pod == nullptr) return nullptr;
  auto it =
      std::lower_bound(pod->containers.begin(), pod->containers.end(), name,
                       [](const ContainerResources& c, std::string_view n) { return c.name < n; });
  return it != pod->containers.end() && it->name == name ? &*it : nullptr;
}

const NodeResources* FindNodeResources(const Resources* resources, const std::string& name) {
  if (resources == nullptr) return nullptr;
  const auto& nodes = resources->nodes;
  auto it =
      std::lower_bound(nodes.begin(), nodes.end(), name,
                       [](const NodeResources& n, const std::string& key) { return n.name < key; });
  return it != nodes.end() && it->name == name ? &*it : nullptr;
}

// Heapster's node autoscaling enricher for one node.
void AddNodeAutoscaling(std::vector<Point>& out, const Tags& tags, const NodeResources& node,
                        const Requests& requests, int64_t cpu_usage_millicores,
                        const SummaryStats* summary, base::UnixNanos timestamp) {
  AddFloat(out, kCpuNodeCapacity, tags, static_cast<double>(node.cpu_capacity_millicores),
           timestamp);
  AddFloat(out, kCpuNodeAllocatable, tags, static_cast<double>(node.cpu_allocatable_millicores),
           timestamp);
  if (node.cpu_allocatable_millicores != 0) {
    const double allocatable = static_cast<double>(node.cpu_allocatable_millicores);
    AddFloat(out, kCpuNodeReservation, tags,
             static_cast<double>(requests.cpu_request) / allocatable, timestamp);
    AddFloat(out, kCpuNodeUtilization, tags,
             static_cast<double>(cpu_usage_millicores) / allocatable, timestamp);
  }
  AddFloat(out, kMemoryNodeCapacity, tags, static_cast<double>(node.memory_capacity_bytes),
           timestamp);
  AddFloat(out, kMemoryNodeAllocatable, tags, static_cast<double>(node.memory_allocatable_bytes),
           timestamp);
  if (node.memory_allocatable_bytes != 0) {
    const double allocatable = static_cast<double>(node.memory_allocatable_bytes);
    AddFloat(out, kMemoryNodeReservation, tags,
             static_cast<double>(requests.memory_request) / allocatable, timestamp);
    if (summary != nullptr && summary->Has(SummaryStats::kMemoryUsage)) {
      AddFloat(out, kMemoryNodeUtilization, tags,
               static_cast<double>(summary->memory_usage_bytes) / allocatable, timestamp);
    }
  }
}

}  // namespace

std::vector<Point> HeapsterPoints(const window::Window& w) { return HeapsterPoints(w, nullptr); }

std::vector<Point> HeapsterPoints(const window::Window& w, const window::Window* previous) {
  return HeapsterPoints(w, previous, nullptr);
}

std::vector<Point> HeapsterPoints(const window::Window& w, const window::Window* previous,
                                  const Resources* resources) {
  std::vector<Point> out;
  size_t containers = 0;
  for (const auto& pod : w.pods()) containers += pod.containers.size();
  const bool with_summary = w.has_summary();
  out.reserve((with_summary ? 12 : 2) * (w.nodes().size() + w.pods().size() + containers) + 64);

  base::UnixNanos cluster_time = 0;
  int64_t cluster_cpu = 0;
  int64_t cluster_memory = 0;
  Sum cluster_usage;
  Requests cluster_requests;

  // The node aggregator's sums: requests and limits of the window's pods, by spec.nodeName.
  std::map<std::string_view, Requests> node_requests;
  if (resources != nullptr) {
    for (const window::PodMetrics& pod : w.pods()) {
      const PodResources* r = FindPodResources(resources, pod.namespace_, pod.name);
      if (r != nullptr && !r->node.empty()) node_requests[r->node].Add(PodTotal(*r));
    }
  }

  const auto& nodes = w.nodes();
  for (size_t n = 0; n < nodes.size(); ++n) {
    const window::NodeMetrics& node = nodes[n];
    const Tags tags = Sorted({{std::string(kLabelNodename), node.name},
                              {std::string(kLabelType), std::string(kTypeNode)}});
    AddPair(out, tags, Millicores(node.cpu_nanocores), Bytes(node.memory_bytes), node.timestamp);
    if (const SummaryStats* s = w.node_summary(n)) {
      const SummaryStats* before = PreviousNode(previous, node.name);
      AddUptime(out, tags, *s, node.timestamp);
      AddMemory(out, tags, *s, before, node.timestamp);
      AddNetwork(out, tags, *s, before, node.timestamp);
      AddFs(out, tags, kResourceRootFs, s->fs[SummaryStats::kRootFs], node.timestamp);
    }
    if (resources != nullptr) {
      auto it = node_requests.find(node.name);
      const Requests requests = it != node_requests.end() ? it->second : Requests();
      AddRequests(out, tags, requests, node.timestamp);
      if (const NodeResources* r = FindNodeResources(resources, node.name)) {
        AddNodeAutoscaling(out, tags, *r, requests, Millicores(node.cpu_nanocores),
                           w.node_summary(n), node.timestamp);
      }
    }
    cluster_time = std::max(cluster_time, node.timestamp);
  }

  // pods() is sorted by namespace, then name: each namespace is a contiguous run.
  const auto& pods = w.pods();
  for (size_t i = 0; i < pods.size();) {
    const std::string ns = pods[i].namespace_.str();
    base::UnixNanos ns_time = 0;
    int64_t ns_cpu = 0;
    int64_t ns_memory = 0;
    Sum ns_usage;
    Requests ns_requests;
    for (; i < pods.size() && pods[i].namespace_ == ns; ++i) {
      const window::PodMetrics& pod = pods[i];
      const window::PodSummary* summary = w.pod_summary(i);
      const window::PodMetrics* before_pod = nullptr;
      const window::PodSummary* before =
          summary != nullptr ? PreviousPod(previous, ns, pod.name, &before_pod) : nullptr;
      const PodResources* pod_resources = FindPodResources(resources, ns, pod.name);
      int64_t pod_cpu = 0;
      int64_t pod_memory = 0;
      Sum usage, rss, faults, major_faults;
      FloatSum faults_rate, major_faults_rate;
      for (size_t k = 0; k < pod.containers.size(); ++k) {
        const window::ContainerMetrics& c = pod.containers[k];
        int64_t cpu = Millicores(c.cpu_nanocores);
        int64_t memory = Bytes(c.memory_bytes);
        pod_cpu += cpu;
        pod_memory += memory;
        const Tags tags = Sorted({{std::string(kLabelContainerName), c.name.str()},
                                  {std::string(kLabelNamespaceName), ns},
                                  {std::string(kLabelPodName), pod.name.str()},
                                  {std::string(kLabelType), std::string(kTypeContainer)}});
        AddPair(out, tags, cpu, memory, pod.timestamp);
        const ContainerResources* container_resources =
            FindContainerResources(pod_resources, c.name);
        if (summary == nullptr || k >= summary->containers.size()) {
          if (container_resources != nullptr) {
            AddRequests(out, tags, Of(*container_resources), pod.timestamp);
          }
          continue;
        }
        const SummaryStats& s = summary->containers[k];
        const SummaryStats* s_before = PreviousContainer(before_pod, before, c.name);
        AddUptime(out, tags, s, pod.timestamp);
        AddMemory(out, tags, s, s_before, pod.timestamp);
        AddFs(out, tags, kResourceRootFs, s.fs[SummaryStats::kRootFs], pod.timestamp);
        AddFs(out, tags, kResourceLogs, s.fs[SummaryStats::kLogs], pod.timestamp);
        if (s.Has(SummaryStats::kMemoryUsage)) usage.Add(s.memory_usage_bytes);
        if (s.Has(SummaryStats::kMemoryRss)) rss.Add(s.memory_rss_bytes);
        if (s.Has(SummaryStats::kPageFaults)) faults.Add(s.page_faults);
        if (s.Has(SummaryStats::kMajorPageFaults)) major_faults.Add(s.major_page_faults);
        for (int f = 0; f < 2; ++f) {
          const Cumulative& cum = kPageFaults[f];
          if (auto rate = Rate(s, s_before, cum.field, cum.counter, SummaryStats::kMemoryTime,
                               &SummaryStats::memory_time)) {
            (f == 0 ? faults_rate : major_faults_rate).Add(*rate);
          }
        }
        if (container_resources != nullptr) {
          AddRequests(out, tags, Of(*container_resources), pod.timestamp);
        }
      }
      const Tags pod_tags = Sorted({{std::string(kLabelNamespaceName), ns},
                                    {std::string(kLabelPodName), pod.name.str()},
                                    {std::string(kLabelType), std::string(kTypePod)}});
      AddPair(out, pod_tags, pod_cpu, pod_memory, pod.timestamp);
      if (summary != nullptr) {
        AddUptime(out, pod_tags, summary->pod, pod.timestamp);
        if (usage.any) AddInt(out, kMemoryUsage, pod_tags, usage.value, pod.timestamp);
        if (rss.any) AddInt(out, kMemoryRss, pod_tags, rss.value, pod.timestamp);
        if (faults.any) AddInt(out, kMemoryPageFaults, pod_tags, faults.value, pod.timestamp);
        if (faults_rate.any) {
          AddFloat(out, kMemoryPageFaultsRate, pod_tags, faults_rate.value, pod.timestamp);
        }
        if (major_faults.any) {
          AddInt(out, kMemoryMajorPageFaults, pod_tags, major_faults.value, pod.timestamp);
        }
        if (major_faults_rate.any) {
          AddFloat(out, kMemoryMajorPageFaultsRate, pod_tags, major_faults_rate.value,
                   pod.timestamp);
        }
        AddNetwork(out, pod_tags, summary->pod, before != nullptr ? &before->pod : nullptr,
                   pod.timestamp);
        if (usage.any) ns_usage.Add(usage.value);
      }
      if (pod_resources != nullptr) {
        const Requests total = PodTotal(*pod_resources);
        AddRequests(out, pod_tags, total, pod.timestamp);
        ns_requests.Add(total);
      }
      ns_cpu += pod_cpu;
      ns_memory += pod_memory;
      ns_time = std::max(ns_time, pod.timestamp);
    }
    const Tags ns_tags = Sorted({{std::string(kLabelNamespaceName), ns},
                                 {std::string(kLabelType), std::string(kTypeNamespace)}});
    AddPair(out, ns_tags, ns_cpu, ns_memory, ns_time);
    if (ns_usage.any) {
      AddInt(out, kMemoryUsage, ns_tags, ns_usage.value, ns_time);
      cluster_usage.Add(ns_usage.value);
    }
    if (ns_requests.any) {
      AddRequests(out, ns_tags, ns_requests, ns_time);
      cluster_requests.Add(ns_requests);
    }
    cluster_cpu += ns_cpu;
    cluster_memory += ns_memory;
    cluster_time = std::max(cluster_time, ns_time);
  }

  const Tags cluster_tags = {{std::string(kLabelType), std::string(kTypeCluster)}};
  AddPair(out, cluster_tags, cluster_cpu, cluster_memory, cluster_time);
  if (cluster_usage.any) AddInt(out, kMemoryUsage, cluster_tags, cluster_usage.value, cluster_time);
  if (resources != nullptr) AddRequests(out, cluster_tags, cluster_requests, cluster_time);
  return out;
}

}  // namespace exporter
