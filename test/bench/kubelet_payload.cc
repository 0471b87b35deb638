#include "test/bench/kubelet_payload.h"

#include <cstdio>
#include <vector>

namespace bench {
namespace {

struct Series {
  std::string labels;  // {container="...",namespace="...",pod="..."}
  double cpu_per_ms;
  double memory;
  double start;
};

void Append(std::string& out, const char* fmt, auto... args) {
  char buf[512];
  int n = std::snprintf(buf, sizeof buf, fmt, args...);
  out.append(buf, n);
}

}  // namespace

std::string KubeletPayload(int pods, int containers, int64_t sample_ms, uint32_t seed) {
  static const char* kNamespaces[] = {"default", "kube-system", "monitoring", "payments-prod"};
  static const char* kContainers[] = {"app", "istio-proxy", "log-shipper", "metrics-exporter"};
  std::vector<Series> series;
  std::vector<std::string> pod_labels;
  uint32_t r = seed * 2654435761u + 12345u;
  auto next = [&r] { return (r = r * 1664525u + 1013904223u) >> 8; };
  for (int p = 0; p < pods; ++p) {
    char pod[160];
    std::snprintf(pod, sizeof pod, "namespace=\"%s\",pod=\"deployment-%03d-7d9f8c6b5d-%05u\"",
                  kNamespaces[p % 4], p, next() % 100000);
    pod_labels.push_back(pod);
    for (int c = 0; c < containers; ++c) {
      Series s;
      s.labels = std::string("{container=\"") + kContainers[c % 4] + "\"," + pod + "}";
      s.cpu_per_ms = (next() % 2000) / 1e6;  // up to 2 cores
      s.memory = 1e6 * (10 + next() % 500);
      s.start = 1.7e9 - (next() % 86400);
      series.push_back(std::move(s));
    }
  }
  const double t = static_cast<double>(sample_ms);
  std::string out;
  out.reserve(series.size() * 520 + pods * 260 + 2048);
  out +=
      "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the "
      "container in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n";
  for (const auto& s : series) {
    Append(out, "container_cpu_usage_seconds_total%s %.6f %lld\n", s.labels.c_str(),
           s.cpu_per_ms * t / 1000.0, static_cast<long long>(sample_ms));
  }
  out +=
      "# HELP container_memory_working_set_bytes [STABLE] Current working set of the container "
      "in bytes\n# TYPE container_memory_working_set_bytes gauge\n";
  for (const auto& s : series) {
    Append(out, "container_memory_working_set_bytes%s %.7g %lld\n", s.labels.c_str(), s.memory,
           static_cast<long long>(sample_ms));
  }
  out +=
      "# HELP container_start_time_seconds [STABLE] Start time of the container since unix "
      "epoch in seconds\n# TYPE container_start_time_seconds gauge\n";
  for (const auto& s : series) {
    Append(out, "container_start_time_seconds%s %.16e\n", s.labels.c_str(), s.start);
  }
  out +=
      "# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in "
      "bytes. Reported only on non-windows systems\n# TYPE container_swap_usage_bytes gauge\n";
  for (const auto& s : series) {
    Append(out, "container_swap_usage_bytes%s 0 %lld\n", s.labels.c_str(),
           static_cast<long long>(sample_ms));
  }
  out +=
      "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in "
      "core-seconds\n# TYPE node_cpu_usage_seconds_total counter\n";
  Append(out, "node_cpu_usage_seconds_total %.5f %lld\n", t / 1000.0 * 1.5,
         static_cast<long long>(sample_ms));
  out +=
      "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n"
      "# TYPE node_memory_working_set_bytes gauge\n";
  Append(out, "node_memory_working_set_bytes %.9e %lld\n", 1.616273408e+09,
         static_cast<long long>(sample_ms));
  out +=
      "# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in "
      "core-seconds\n# TYPE pod_cpu_usage_seconds_total counter\n";
  for (size_t p = 0; p < pod_labels.size(); ++p) {
    Append(out, "pod_cpu_usage_seconds_total{%s} %.6f %lld\n", pod_labels[p].c_str(),
           t / 1e6 * static_cast<double>(p % 7), static_cast<long long>(sample_ms));
  }
  out +=
      "# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes\n"
      "# TYPE pod_memory_working_set_bytes gauge\n";
  for (const auto& labels : pod_labels) {
    Append(out, "pod_memory_working_set_bytes{%s} 1.2627968e+07 %lld\n", labels.c_str(),
           static_cast<long long>(sample_ms));
  }
  out +=
      "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container "
      "metrics, 0 otherwise\n# TYPE resource_scrape_error gauge\nresource_scrape_error 0\n";
  return out;
}

}  // namespace bench
