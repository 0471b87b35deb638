#include "test/testing/exposition_protobuf.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace testing_support {
namespace {

enum : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };
// MetricType of metrics.proto.
enum : uint64_t { kCounter = 0, kGauge = 1, kUntyped = 3 };

struct Series {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  bool has_timestamp = false;
  int64_t timestamp_ms = 0;
};

struct Family {
  std::string name;
  bool has_help = false;
  std::string help;
  uint64_t type = kUntyped;
  std::vector<Series> series;
};

// Decodes the escapes of a HELP text (\\ and \n) or, with quote, of a label value (also \").
std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char c = s[++i];
      out.push_back(c == 'n' ? '\n' : c);
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

Family* FamilyNamed(std::vector<Family>& families, std::string_view name) {
  for (Family& f : families) {
    if (f.name == name) return &f;
  }
  families.emplace_back().name = std::string(name);
  return &families.back();
}

bool ParseSample(std::string_view line, std::vector<Family>& families) {
  size_t name_end = line.find_first_of("{ ");
  if (name_end == std::string_view::npos) return false;
  Series series;
  size_t p = name_end;
  if (line[p] == '{') {
    ++p;
    while (p < line.size() && line[p] != '}') {
      size_t eq = line.find("=\"", p);
      if (eq == std::string_view::npos) return false;
      std::string name(line.substr(p, eq - p));
      size_t v = eq + 2, e = v;
      while (e < line.size() && line[e] != '"') e += line[e] == '\\' ? 2 : 1;
      if (e >= line.size()) return false;
      series.labels.emplace_back(name, Unescape(line.substr(v, e - v)));
      p = e + 1;
      if (p < line.size() && line[p] == ',') ++p;
    }
    if (p >= line.size()) return false;
    ++p;  // '}'
  }
  if (p >= line.size() || line[p] != ' ') return false;
  std::string rest(line.substr(p + 1));
  char* end = nullptr;
  series.value = std::strtod(rest.c_str(), &end);
  if (end == rest.c_str()) return false;
  if (*end == ' ') {
    char* ts_end = nullptr;
    series.timestamp_ms = std::strtoll(end + 1, &ts_end, 10);
    if (ts_end == end + 1 || *ts_end != '\0') return false;
    series.has_timestamp = true;
  } else if (*end != '\0') {
    return false;
  }
  FamilyNamed(families, line.substr(0, name_end))->series.push_back(std::move(series));
  return true;
}

bool ParseComment(std::string_view line, std::vector<Family>& families) {
  line.remove_prefix(1);
  while (!line.empty() && line[0] == ' ') line.remove_prefix(1);
  bool help = line.substr(0, 5) == "HELP ";
  bool type = line.substr(0, 5) == "TYPE ";
  if (!help && !type) return true;
  line.remove_prefix(5);
  size_t space = line.find(' ');
  std::string_view name = line.substr(0, space);
  std::string_view rest = space == std::string_view::npos ? "" : line.substr(space + 1);
  Family* f = FamilyNamed(families, name);
  if (help) {
    f->has_help = true;
    f->help = Unescape(rest);
  } else if (rest == "counter") {
    f->type = kCounter;
  } else if (rest == "gauge") {
    f->type = kGauge;
  } else if (rest != "untyped") {
    return false;
  }
  return true;
}

}  // namespace

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void AppendTag(uint32_t field, uint32_t wire_type, std::string* out) {
  AppendVarint((static_cast<uint64_t>(field) << 3) | wire_type, out);
}

void AppendLengthDelimited(uint32_t field, std::string_view bytes, std::string* out) {
  AppendTag(field, kLengthDelimited, out);
  AppendVarint(bytes.size(), out);
  out->append(bytes);
}

void AppendDouble(uint32_t field, double value, std::string* out) {
  AppendTag(field, kFixed64, out);
  uint64_t bits;
  std::memcpy(&bits, &value, 8);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
}

bool AppendAsDelimitedProtobuf(std::string_view text, std::string* out) {
  std::vector<Family> families;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) continue;
    if (!(line[0] == '#' ? ParseComment(line, families) : ParseSample(line, families))) {
      return false;
    }
  }
  // As prometheus.Registry.Gather: by name; a family without series is left out.
  std::stable_sort(families.begin(), families.end(),
                   [](const Family& a, const Family& b) { return a.name < b.name; });
  std::string family, metric, part;
  for (const Family& f : families) {
    if (f.series.empty()) continue;
    family.clear();
    AppendLengthDelimited(1, f.name, &family);
    if (f.has_help) AppendLengthDelimited(2, f.help, &family);
    AppendTag(3, kVarint, &family);
    AppendVarint(f.type, &family);
    for (const Series& s : f.series) {
      metric.clear();
      for (const auto& [name, value] : s.labels) {
        part.clear();
        AppendLengthDelimited(1, name, &part);
        AppendLengthDelimited(2, value, &part);
        AppendLengthDelimited(1, part, &metric);
      }
      part.clear();
      AppendDouble(1, s.value, &part);
      // Metric.gauge = 2, counter = 3, untyped = 5.
      AppendLengthDelimited(f.type == kGauge ? 2 : f.type == kCounter ? 3 : 5, part, &metric);
      if (s.has_timestamp) {
        AppendTag(6, kVarint, &metric);
        AppendVarint(static_cast<uint64_t>(s.timestamp_ms), &metric);
      }
      AppendLengthDelimited(4, metric, &family);
    }
    AppendVarint(family.size(), out);
    out->append(family);
  }
  return true;
}

}  // namespace testing_support
