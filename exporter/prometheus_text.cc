#include "exporter/prometheus_text.h"

#include <charconv>
#include <cmath>
#include <unordered_map>
#include <utility>
#include <vector>

namespace exporter {
namespace {

// HELP text per Heapster name: what it is and its unit (docs/storage-schema.md of Heapster).
// A name not listed (a custom/* metric, or one added later) gets a generic line.
std::string_view KnownHelp(std::string_view metric) {
  static const std::unordered_map<std::string_view, std::string_view> kHelp = {
      {"cpu/usage", "Cumulative CPU usage on all cores, in nanoseconds (Heapster cpu/usage)."},
      {"cpu/usage_rate", "CPU usage on all cores, in millicores (Heapster cpu/usage_rate)."},
      {"cpu/request", "CPU request, in millicores (Heapster cpu/request)."},
      {"cpu/limit", "CPU hard limit, in millicores (Heapster cpu/limit)."},
      {"cpu/node_capacity", "CPU capacity of a node, in millicores (Heapster cpu/node_capacity)."},
      {"cpu/node_allocatable",
       "CPU allocatable of a node, in millicores (Heapster cpu/node_allocatable)."},
      {"cpu/node_reservation",
       "Share of a node's allocatable CPU reserved by requests, a ratio (Heapster "
       "cpu/node_reservation)."},
      {"cpu/node_utilization",
       "Share of a node's allocatable CPU in use, a ratio (Heapster cpu/node_utilization)."},
      {"memory/usage", "Total memory usage, in bytes (Heapster memory/usage)."},
      {"memory/working_set", "Working set memory, in bytes (Heapster memory/working_set)."},
      {"memory/rss", "RSS memory, in bytes (Heapster memory/rss)."},
      {"memory/cache", "Cache memory, in bytes (Heapster memory/cache)."},
      {"memory/request", "Memory request, in bytes (Heapster memory/request)."},
      {"memory/limit", "Memory hard limit, in bytes (Heapster memory/limit)."},
      {"memory/page_faults", "Cumulative page faults (Heapster memory/page_faults)."},
      {"memory/page_faults_rate", "Page faults per second (Heapster memory/page_faults_rate)."},
      {"memory/major_page_faults",
       "Cumulative major page faults (Heapster memory/major_page_faults)."},
      {"memory/major_page_faults_rate",
       "Major page faults per second (Heapster memory/major_page_faults_rate)."},
      {"memory/node_capacity",
       "Memory capacity of a node, in bytes (Heapster memory/node_capacity)."},
      {"memory/node_allocatable",
       "Memory allocatable of a node, in bytes (Heapster memory/node_allocatable)."},
      {"memory/node_reservation",
       "Share of a node's allocatable memory reserved by requests, a ratio (Heapster "
       "memory/node_reservation)."},
      {"memory/node_utilization",
       "Share of a node's allocatable memory in use, a ratio (Heapster "
       "memory/node_utilization)."},
      {"filesystem/usage", "Filesystem bytes used (Heapster filesystem/usage)."},
      {"filesystem/limit", "Filesystem size, in bytes (Heapster filesystem/limit)."},
      {"filesystem/available", "Filesystem bytes available (Heapster filesystem/available)."},
      {"filesystem/inodes", "Filesystem inodes (Heapster filesystem/inodes)."},
      {"filesystem/inodes_free", "Filesystem free inodes (Heapster filesystem/inodes_free)."},
      {"network/rx", "Cumulative bytes received (Heapster network/rx)."},
      {"network/tx", "Cumulative bytes sent (Heapster network/tx)."},
      {"network/rx_errors", "Cumulative receive errors (Heapster network/rx_errors)."},
      {"network/tx_errors", "Cumulative send errors (Heapster network/tx_errors)."},
      {"network/rx_rate", "Bytes received per second (Heapster network/rx_rate)."},
      {"network/tx_rate", "Bytes sent per second (Heapster network/tx_rate)."},
      {"network/rx_errors_rate", "Receive errors per second (Heapster network/rx_errors_rate)."},
      {"network/tx_errors_rate", "Send errors per second (Heapster network/tx_errors_rate)."},
      {"uptime", "Milliseconds since the container started (Heapster uptime)."},
  };
  auto it = kHelp.find(metric);
  return it == kHelp.end() ? std::string_view() : it->second;
}

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (!first && c >= '0' && c <= '9');
}

void AppendLabelName(std::string& out, std::string_view key) {
  if (key.empty()) {
    out += '_';
    return;
  }
  for (size_t i = 0; i < key.size(); ++i) out += IsNameChar(key[i], i == 0) ? key[i] : '_';
}

// Label values escape '\\', '"' and newline; HELP text escapes '\\' and newline.
void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void AppendValue(std::string& out, const Point& p) {
  char buf[64];
  if (!p.is_float) {
    auto r = std::to_chars(buf, buf + sizeof(buf), p.value);
    out.append(buf, r.ptr);
  } else if (std::isnan(p.float_value)) {
    out += "NaN";
  } else if (std::isinf(p.float_value)) {
    out += p.float_value > 0 ? "+Inf" : "-Inf";
  } else {
    auto r = std::to_chars(buf, buf + sizeof(buf), p.float_value);  // shortest round-trip form
    out.append(buf, r.ptr);
  }
}

void AppendSample(std::string& out, std::string_view name, const Point& p) {
  out += name;
  if (!p.tags.empty()) {
    out += '{';
    bool first = true;
    for (const auto& [key, value] : p.tags) {
      if (!first) out += ',';
      first = false;
      AppendLabelName(out, key);
      out += "=\"";
      AppendEscaped(out, value, /*quote=*/true);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  AppendValue(out, p);
  out += ' ';
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), p.timestamp / 1'000'000);  // ns -> ms
  out.append(buf, r.ptr);
  out += '\n';
}

}  // namespace

std::string PrometheusName(std::string_view heapster_metric) {
  std::string name = "heapster_";
  for (char c : heapster_metric) name += IsNameChar(c, false) ? c : '_';
  return name;
}

std::string PrometheusText(std::span<const Point> points) {
  // Families in order of first appearance, each with the indexes of its points: the format
  // wants each family's samples together, the points come per object.
  std::vector<std::pair<std::string_view, std::vector<size_t>>> families;
  std::unordered_map<std::string_view, size_t> family_of;
  for (size_t i = 0; i < points.size(); ++i) {
    if (points[i].timestamp <= 0) continue;
    auto [it, added] = family_of.try_emplace(points[i].metric, families.size());
    if (added) families.emplace_back(points[i].metric, std::vector<size_t>());
    families[it->second].second.push_back(i);
  }
  std::string out;
  out.reserve(points.size() * 128);
  for (const auto& [metric, indexes] : families) {
    const std::string name = PrometheusName(metric);
    out += "# HELP ";
    out += name;
    out += ' ';
    if (std::string_view help = KnownHelp(metric); !help.empty()) {
      out += help;
    } else {
      out += "Heapster metric ";
      AppendEscaped(out, metric, /*quote=*/false);
      out += '.';
    }
    out += "\n# TYPE ";
    out += name;
    out += " gauge\n";
    for (size_t i : indexes) AppendSample(out, name, points[i]);
  }
  return out;
}

std::shared_ptr<const std::string> HeapsterExposition::Get(
    std::shared_ptr<const window::Window> window, const ResourcesSource& resources) const {
  base::MutexLock lock(mu_);
  if (text_ != nullptr && window_.lock() == window) return text_;
  // The _rate forms of the summary's counters need the window before: the last one encoded,
  // kept only while it holds a summary and only if it is older than `window`.
  const window::Window* previous = nullptr;
  if (previous_ != nullptr && previous_->generation() < window->generation()) {
    previous = previous_.get();
  }
  const std::shared_ptr<const Resources> pod_resources = resources ? resources() : nullptr;
  auto text = std::make_shared<const std::string>(
      PrometheusText(HeapsterPoints(*window, previous, pod_resources.get())));
  if (text_ == nullptr || window->generation() >= generation_) {
    generation_ = window->generation();
    window_ = window;
    text_ = text;
    previous_ = window->has_summary() ? window : nullptr;
  }
  return text;
}

}  // namespace exporter
