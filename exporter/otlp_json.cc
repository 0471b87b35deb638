#include "exporter/otlp_json.h"

#include <charconv>
#include <cmath>
#include <string_view>
#include <unordered_map>

namespace exporter {
namespace {

// JSON string literal, escaped as RFC 8259 requires.
void AppendString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void AppendStringAttribute(std::string& out, std::string_view key, std::string_view value) {
  out += "{\"key\":";
  AppendString(out, key);
  out += ",\"value\":{\"stringValue\":";
  AppendString(out, value);
  out += "}}";
}

template <typename T>
void AppendNumber(std::string& out, T value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, ec == std::errc() ? end : buf);
}

// The protobuf JSON mapping of a double: a number, or the strings it defines for the others.
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    AppendNumber(out, v);
  }
}

void AppendDataPoint(std::string& out, const Point& p) {
  out += "{\"attributes\":[";
  bool first = true;
  for (const auto& [key, value] : p.tags) {
    if (!first) out.push_back(',');
    first = false;
    AppendStringAttribute(out, key, value);
  }
  out += "],\"timeUnixNano\":\"";
  AppendNumber(out, p.timestamp);
  if (p.is_float) {
    out += "\",\"asDouble\":";
    AppendDouble(out, p.float_value);
  } else {
    out += "\",\"asInt\":\"";
    AppendNumber(out, p.value);
    out.push_back('"');
  }
  out.push_back('}');
}

}  // namespace

std::string_view OtlpUnit(std::string_view metric) {
  static const std::unordered_map<std::string_view, std::string_view> kUnits = {
      {"cpu/usage_rate", "{millicore}"},
      {"cpu/request", "{millicore}"},
      {"cpu/limit", "{millicore}"},
      {"cpu/node_capacity", "{millicore}"},
      {"cpu/node_allocatable", "{millicore}"},
      {"cpu/node_utilization", "1"},
      {"cpu/node_reservation", "1"},
      {"cpu/usage", "ns"},
      {"memory/node_utilization", "1"},
      {"memory/node_reservation", "1"},
      {"memory/page_faults", "{fault}"},
      {"memory/major_page_faults", "{fault}"},
      {"memory/page_faults_rate", "{fault}/s"},
      {"memory/major_page_faults_rate", "{fault}/s"},
      {"network/rx", "By"},
      {"network/tx", "By"},
      {"network/rx_rate", "By/s"},
      {"network/tx_rate", "By/s"},
      {"network/rx_errors", "{error}"},
      {"network/tx_errors", "{error}"},
      {"network/rx_errors_rate", "{error}/s"},
      {"network/tx_errors_rate", "{error}/s"},
      {"filesystem/inodes", "{inode}"},
      {"filesystem/inodes_free", "{inode}"},
      {"uptime", "ms"},
  };
  if (auto it = kUnits.find(metric); it != kUnits.end()) return it->second;
  // The rest of memory/* and filesystem/* are bytes (working_set, usage, rss, cache, limit,
  // request, node_capacity, node_allocatable; filesystem usage, limit, available).
  if (metric.starts_with("memory/") || metric.starts_with("filesystem/")) return "By";
  return "";
}

std::size_t AppendOtlpJson(const std::vector<Point>& points, std::string& out) {
  // Metric names in first-appearance order, each with its points.
  std::vector<std::string_view> names;
  std::unordered_map<std::string_view, std::vector<const Point*>> by_name;
  std::size_t count = 0;
  for (const Point& p : points) {
    if (p.timestamp == 0) continue;
    auto [it, inserted] = by_name.try_emplace(p.metric);
    if (inserted) names.push_back(p.metric);
    it->second.push_back(&p);
    ++count;
  }
  out += "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[";
  AppendStringAttribute(out, "service.name", "cpp-metrics-server");
  out += "]},\"scopeMetrics\":[{\"scope\":{\"name\":\"cpp-metrics-server/heapster\"},\"metrics\":[";
  bool first_metric = true;
  for (std::string_view name : names) {
    if (!first_metric) out.push_back(',');
    first_metric = false;
    out += "{\"name\":";
    AppendString(out, name);
    out += ",\"unit\":";
    AppendString(out, OtlpUnit(name));
    out += ",\"gauge\":{\"dataPoints\":[";
    bool first_point = true;
    for (const Point* p : by_name[name]) {
      if (!first_point) out.push_back(',');
      first_point = false;
      AppendDataPoint(out, *p);
    }
    out += "]}}";
  }
  out += "]}]}]}";
  return count;
}

}  // namespace exporter
