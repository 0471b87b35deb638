#include "test/testing/kubelet_payload.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace testing_support {
namespace {

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// One series line: `<family>{<labels>} <value> <timestamp>\n`; the timestamp text is shared.
void Line(std::string_view family, std::string_view labels, double value,
          std::string_view timestamp, std::string* out) {
  out->append(family);
  out->append(labels);
  out->push_back(' ');
  AppendGoFloat(value, out);
  out->append(timestamp);
}

void ContainerLabels(std::string_view container, std::string_view ns, std::string_view pod,
                     std::string* out) {
  out->append("{container=\"");
  out->append(container);
  out->append("\",namespace=\"");
  out->append(ns);
  out->append("\",pod=\"");
  out->append(pod);
  out->append("\"}");
}

}  // namespace

void AppendGoFloat(double v, std::string* out) {
  if (v == 0) {
    out->push_back('0');
    return;
  }
  char buf[48];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const char* e = std::find(buf, r.ptr, 'e');
  int exp = std::atoi(e + 1);
  if (exp < -4 || exp >= 6) {
    out->append(buf, r.ptr);
    return;
  }
  r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  out->append(buf, r.ptr);
}

void KubeletPayloadBuilder::Clear() {
  pods_.clear();
  containers_.clear();
  node_cpu_ = node_memory_ = 0;
}

void KubeletPayloadBuilder::AddPod(std::string_view ns, std::string_view name) {
  pods_.push_back({ns, name});
}

void KubeletPayloadBuilder::AddContainer(std::string_view name, double cpu_seconds,
                                         double memory_bytes, double start_seconds) {
  Pod& pod = pods_.back();
  pod.cpu += cpu_seconds;
  pod.memory += memory_bytes;
  containers_.push_back({name, pods_.size() - 1, cpu_seconds, memory_bytes, start_seconds});
}

void KubeletPayloadBuilder::SetNode(double cpu_seconds, double memory_bytes) {
  node_cpu_ = cpu_seconds;
  node_memory_ = memory_bytes;
}

std::size_t KubeletPayloadBuilder::EstimatedSize() const {
  return containers_.size() * 560 + pods_.size() * 220 + 2400;
}

void KubeletPayloadBuilder::AppendTo(int64_t sample_ms, std::string* out) {
  // The Prometheus registry sorts a family's series by their label values in label order:
  // container, namespace, pod.
  order_.resize(containers_.size());
  for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  std::sort(order_.begin(), order_.end(), [this](std::size_t a, std::size_t b) {
    const Container& x = containers_[a];
    const Container& y = containers_[b];
    if (x.name != y.name) return x.name < y.name;
    const Pod& p = pods_[x.pod];
    const Pod& q = pods_[y.pod];
    if (p.ns != q.ns) return p.ns < q.ns;
    return p.name < q.name;
  });
  pod_order_.resize(pods_.size());
  for (std::size_t i = 0; i < pod_order_.size(); ++i) pod_order_[i] = i;
  std::sort(pod_order_.begin(), pod_order_.end(), [this](std::size_t a, std::size_t b) {
    if (pods_[a].ns != pods_[b].ns) return pods_[a].ns < pods_[b].ns;
    return pods_[a].name < pods_[b].name;
  });

  std::string ts = " ";
  AppendInt(sample_ms, &ts);
  ts.push_back('\n');
  std::string labels;
  auto each_container = [&](std::string_view family, auto value, bool stamped) {
    for (std::size_t i : order_) {
      const Container& c = containers_[i];
      labels.clear();
      ContainerLabels(c.name, pods_[c.pod].ns, pods_[c.pod].name, &labels);
      Line(family, labels, value(c), stamped ? std::string_view(ts) : "\n", out);
    }
  };
  auto each_pod = [&](std::string_view family, auto value) {
    for (std::size_t i : pod_order_) {
      const Pod& p = pods_[i];
      labels.assign("{namespace=\"");
      labels.append(p.ns);
      labels.append("\",pod=\"");
      labels.append(p.name);
      labels.append("\"}");
      Line(family, labels, value(p), ts, out);
    }
  };

  out->append(
      "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the "
      "container in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n");
  each_container(
      "container_cpu_usage_seconds_total", [](const Container& c) { return c.cpu; }, true);
  out->append(
      "# HELP container_memory_working_set_bytes [STABLE] Current working set of the container "
      "in bytes\n# TYPE container_memory_working_set_bytes gauge\n");
  each_container(
      "container_memory_working_set_bytes", [](const Container& c) { return c.memory; }, true);
  out->append(
      "# HELP container_start_time_seconds [STABLE] Start time of the container since unix "
      "epoch in seconds\n# TYPE container_start_time_seconds gauge\n");
  each_container(
      "container_start_time_seconds", [](const Container& c) { return c.start; }, false);
  out->append(
      "# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in "
      "bytes. Reported only on non-windows systems\n# TYPE container_swap_usage_bytes gauge\n");
  each_container(
      "container_swap_usage_bytes", [](const Container&) { return 0.0; }, true);
  out->append(
      "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in "
      "core-seconds\n# TYPE node_cpu_usage_seconds_total counter\n");
  Line("node_cpu_usage_seconds_total", "", node_cpu_, ts, out);
  out->append(
      "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n"
      "# TYPE node_memory_working_set_bytes gauge\n");
  Line("node_memory_working_set_bytes", "", node_memory_, ts, out);
  out->append(
      "# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported "
      "only on non-windows systems\n# TYPE node_swap_usage_bytes gauge\n");
  Line("node_swap_usage_bytes", "", 0, ts, out);
  out->append(
      "# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in "
      "core-seconds\n# TYPE pod_cpu_usage_seconds_total counter\n");
  each_pod("pod_cpu_usage_seconds_total", [](const Pod& p) { return p.cpu; });
  out->append(
      "# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes\n"
      "# TYPE pod_memory_working_set_bytes gauge\n");
  each_pod("pod_memory_working_set_bytes", [](const Pod& p) { return p.memory; });
  out->append(
      "# HELP pod_swap_usage_bytes [ALPHA] Current amount of the pod swap usage in bytes. "
      "Reported only on non-windows systems\n# TYPE pod_swap_usage_bytes gauge\n");
  each_pod("pod_swap_usage_bytes", [](const Pod&) { return 0.0; });
  out->append(
      "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container "
      "metrics, 0 otherwise\n# TYPE resource_scrape_error gauge\nresource_scrape_error 0\n");
}

std::string KubeletPayload(int pods, int containers, int64_t sample_ms, uint32_t seed) {
  static const char* kNamespaces[] = {"default", "kube-system", "monitoring", "payments-prod"};
  static const char* kContainers[] = {"app", "istio-proxy", "log-shipper", "metrics-exporter"};
  uint32_t r = seed * 2654435761u + 12345u;
  auto next = [&r] { return (r = r * 1664525u + 1013904223u) >> 8; };
  std::vector<std::string> names;
  names.reserve(pods);
  for (int p = 0; p < pods; ++p) {
    char pod[64];
    std::snprintf(pod, sizeof pod, "deployment-%03d-7d9f8c6b5d-%05u", p, next() % 100000);
    names.emplace_back(pod);
  }
  const double t = static_cast<double>(sample_ms) / 1000.0;
  KubeletPayloadBuilder builder;
  double node_memory = 0;
  for (int p = 0; p < pods; ++p) {
    builder.AddPod(kNamespaces[p % 4], names[p]);
    for (int c = 0; c < containers; ++c) {
      double cores = (next() % 2000) / 1e3;  // up to 2 cores
      double memory = 1e6 * (10 + next() % 500);
      double start = 1.7e9 - (next() % 86400);
      builder.AddContainer(kContainers[c % 4], cores * (t - 1.69e9), memory, start);
      node_memory += memory;
    }
  }
  builder.SetNode(1.5 * (t - 1.69e9), node_memory + 1e9);
  std::string out;
  out.reserve(builder.EstimatedSize());
  builder.AppendTo(sample_ms, &out);
  return out;
}

}  // namespace testing_support
