#include "exporter/line_protocol.h"

#include <charconv>
#include <string_view>

namespace exporter {
namespace {

// `specials` are escaped with a backslash; a newline or carriage return becomes an escaped space.
void AppendEscaped(std::string_view s, std::string_view specials, std::string& out) {
  for (char ch : s) {
    if (ch == '\n' || ch == '\r') ch = ' ';
    if (specials.find(ch) != std::string_view::npos) out.push_back('\\');
    out.push_back(ch);
  }
}

void AppendInt(int64_t v, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;  // 24 characters hold any int64_t
  out.append(buf, end);
}

// Shortest form that reads back to the same double (line protocol floats have no suffix).
void AppendDouble(double v, std::string& out) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;  // 32 characters hold any double's shortest form
  out.append(buf, end);
}

constexpr std::string_view kMeasurementSpecials = ", ";
constexpr std::string_view kTagSpecials = ",= ";

}  // namespace

void AppendLineProtocol(std::span<const Point> points, const LineProtocolOptions& options,
                        std::string& out) {
  for (const Point& p : points) {
    std::string_view measurement = p.metric;
    std::string_view field = "value";
    if (options.with_fields) {
      if (size_t slash = measurement.find('/'); slash != std::string_view::npos) {
        field = measurement.substr(slash + 1);
        measurement = measurement.substr(0, slash);
      }
    }
    AppendEscaped(measurement, kMeasurementSpecials, out);
    for (const auto& [key, value] : p.tags) {
      if (key.empty() || value.empty()) continue;  // InfluxDB rejects empty tag keys and values
      out.push_back(',');
      AppendEscaped(key, kTagSpecials, out);
      out.push_back('=');
      AppendEscaped(value, kTagSpecials, out);
    }
    out.push_back(' ');
    AppendEscaped(field, kTagSpecials, out);  // field keys escape the same set as tag keys
    out.push_back('=');
    if (p.is_float) {
      AppendDouble(p.float_value, out);
    } else {
      AppendInt(p.value, out);
      out.push_back('i');
    }
    out.push_back(' ');
    AppendInt(p.timestamp, out);
    out.push_back('\n');
  }
}

}  // namespace exporter
