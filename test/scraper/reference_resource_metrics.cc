#include "test/scraper/reference_resource_metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <tuple>

namespace scraper_reference {
namespace {

using scraper::ContainerUsage;
using scraper::ResourceMetrics;
using scraper::ResourceUsage;

enum class Metric {
  kOther,
  kContainerCpu,
  kContainerMemory,
  kContainerStart,
  kContainerSwap,
  kNodeCpu,
  kNodeMemory,
  kNodeSwap,
  kScrapeError,
};

Metric Classify(std::string_view name) {
  // The kubelet prints about a dozen families; compare whole names only when the first letter
  // could match.
  switch (name.empty() ? '\0' : name[0]) {
    case 'c':
      if (name == "container_cpu_usage_seconds_total") return Metric::kContainerCpu;
      if (name == "container_memory_working_set_bytes") return Metric::kContainerMemory;
      if (name == "container_start_time_seconds") return Metric::kContainerStart;
      if (name == "container_swap_usage_bytes") return Metric::kContainerSwap;
      break;
    case 'n':
      if (name == "node_cpu_usage_seconds_total") return Metric::kNodeCpu;
      if (name == "node_memory_working_set_bytes") return Metric::kNodeMemory;
      if (name == "node_swap_usage_bytes") return Metric::kNodeSwap;
      break;
    case 'r':
      if (name == "resource_scrape_error") return Metric::kScrapeError;
      break;
    case 's':
      if (name == "scrape_error") return Metric::kScrapeError;
      break;
  }
  return Metric::kOther;
}

// Character classes, one table lookup per byte.
enum : uint8_t { kBlank = 1, kNameStart = 2, kDigit = 4, kColon = 8 };
constexpr auto kClass = [] {
  std::array<uint8_t, 256> t{};
  t[' '] = t['\t'] = kBlank;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = kNameStart;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = kNameStart;
  t['_'] = kNameStart;
  for (int c = '0'; c <= '9'; ++c) t[c] = kDigit;
  t[':'] = kColon;
  return t;
}();
inline uint8_t Class(char c) { return kClass[static_cast<unsigned char>(c)]; }
inline bool IsBlank(char c) { return Class(c) & kBlank; }

// A cursor over one line (without its '\n').
struct Line {
  const char* p;
  const char* end;

  void SkipBlanks() {
    while (p < end && IsBlank(*p)) ++p;
  }
  bool AtEnd() const { return p == end; }
  // Reads a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, with colons=false, a label name.
  std::string_view Name(bool colons) {
    const char* start = p;
    const uint8_t first = colons ? (kNameStart | kColon) : kNameStart;
    const uint8_t rest = first | kDigit;
    if (p < end && (Class(*p) & first)) {
      ++p;
      while (p < end && (Class(*p) & rest)) ++p;
    }
    return {start, static_cast<size_t>(p - start)};
  }
  std::string_view Token() {
    const char* start = p;
    while (p < end && !IsBlank(*p)) ++p;
    return {start, static_cast<size_t>(p - start)};
  }
};

// Clinger's fast path: a decimal with at most 19 significant digits whose mantissa fits in 53
// bits and whose power of ten is exact in a double (|e| <= 22) converts with one correctly
// rounded multiplication or division. Covers the kubelet's numbers ("4.710169",
// "1.253376e+07"); anything else returns false and goes to from_chars.
bool FastDecimal(const char* p, const char* end, double* out) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  uint64_t mantissa = 0;
  int digits = 0;
  int exponent = 0;
  bool any = false;
  for (; p < end && static_cast<unsigned>(*p - '0') <= 9; ++p, any = true) {
    if (mantissa == 0 && *p == '0') continue;  // leading zeros are not significant
    if (++digits > 19) return false;
    mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
  }
  if (p < end && *p == '.') {
    for (++p; p < end && static_cast<unsigned>(*p - '0') <= 9; ++p, any = true) {
      --exponent;
      if (mantissa == 0 && *p == '0') continue;
      if (++digits > 19) return false;
      mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
    }
  }
  if (!any) return false;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool negative = false;
    if (p < end && (*p == '+' || *p == '-')) negative = *p++ == '-';
    if (p == end) return false;
    int e = 0;
    for (; p < end && static_cast<unsigned>(*p - '0') <= 9; ++p) {
      if (e > 1000) return false;
      e = e * 10 + (*p - '0');
    }
    exponent += negative ? -e : e;
  }
  if (p != end || mantissa > (uint64_t{1} << 53) || exponent < -22 || exponent > 22) {
    return false;
  }
  double value = static_cast<double>(mantissa);
  *out = exponent < 0 ? value / kPow10[-exponent] : value * kPow10[exponent];
  return true;
}

bool ParseInt64(std::string_view s, int64_t* out) {
  size_t i = 0;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    i = 1;
  }
  if (i == s.size() || s.size() - i > 19) return false;
  uint64_t value = 0;
  for (; i < s.size(); ++i) {
    unsigned digit = static_cast<unsigned char>(s[i]) - '0';
    if (digit > 9) return false;
    value = value * 10 + digit;  // at most 19 digits: cannot wrap
  }
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + negative;
  if (value > limit) return false;
  *out = negative ? static_cast<int64_t>(0 - value) : static_cast<int64_t>(value);
  return true;
}

constexpr int64_t kNanosPerMilli = 1'000'000;

// Converts a sample timestamp in ms to ns; false when out of range (≤ 0 or overflow).
bool MillisToNanos(int64_t ms, base::UnixNanos* out) {
  if (ms <= 0 || ms > std::numeric_limits<int64_t>::max() / kNanosPerMilli) return false;
  *out = ms * kNanosPerMilli;
  return true;
}

bool SecondsToNanos(double seconds, uint64_t* out) {
  // 1.8e10 s of CPU is far beyond any real counter; reject what cannot be represented.
  if (!std::isfinite(seconds) || seconds < 0 || seconds >= 1.8e10) return false;
  *out = static_cast<uint64_t>(seconds * 1e9);
  return true;
}

bool ToBytes(double value, uint64_t* out) {
  if (!std::isfinite(value) || value < 0 || value >= 1.8e19) return false;
  *out = static_cast<uint64_t>(value);
  return true;
}

std::string LineError(int line, std::string_view what) {
  return "line " + std::to_string(line) + ": " + std::string(what);
}

class Parser {
 public:
  Parser(std::string_view text, base::UnixNanos scrape_time, ResourceMetrics* out)
      : text_(text), scrape_time_(scrape_time), out_(out) {}

  base::Status Run() {
    out_->Clear();
    const char* p = text_.data();
    const char* end = p + text_.size();
    while (p < end) {
      ++line_number_;
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      const char* line_end = nl ? nl : end;
      Line line{p, line_end};
      p = nl ? nl + 1 : end;
      line.SkipBlanks();
      if (line.AtEnd()) continue;
      base::Status s = *line.p == '#' ? Comment(line) : Sample(line);
      if (!s.ok()) return s;
    }
    Finish();
    return base::Status::Ok();
  }

 private:
  base::Status Fail(std::string_view what) {
    return base::Status::Error(LineError(line_number_, what));
  }

  base::Status Comment(Line line) {
    ++line.p;  // '#'
    line.SkipBlanks();
    std::string_view keyword = line.Token();
    bool is_type = keyword == "TYPE";
    if (!is_type && keyword != "HELP") return base::Status::Ok();  // a plain comment
    line.SkipBlanks();
    std::string_view name = line.Name(true);
    if (name.empty() || (!line.AtEnd() && !IsBlank(*line.p))) {
      return Fail(std::string(keyword) + ": invalid metric name");
    }
    if (!is_type) return base::Status::Ok();  // the doc string may hold anything
    line.SkipBlanks();
    std::string_view type = line.Token();
    line.SkipBlanks();
    if (!line.AtEnd()) return Fail("TYPE: unexpected text after the type");
    if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
        type != "untyped") {
      return Fail("TYPE: unknown type \"" + std::string(type) + "\" for " + std::string(name));
    }
    if (std::find(typed_.begin(), typed_.end(), name) != typed_.end()) {
      return Fail("second TYPE line for " + std::string(name));
    }
    if (std::find(sampled_.begin(), sampled_.end(), name) != sampled_.end()) {
      return Fail("TYPE line for " + std::string(name) + " after its samples");
    }
    typed_.push_back(name);
    return base::Status::Ok();
  }

  // Reads a quoted label value at line.p (just after '"'), decoding escapes.
  base::Status LabelValue(Line& line, std::string_view* value) {
    const char* start = line.p;
    const char* quote =
        static_cast<const char*>(std::memchr(start, '"', static_cast<size_t>(line.end - start)));
    if (quote != nullptr &&
        std::memchr(start, '\\', static_cast<size_t>(quote - start)) == nullptr) {
      *value = {start, static_cast<size_t>(quote - start)};
      line.p = quote + 1;
      return base::Status::Ok();
    }
    // Slow path: the value holds escapes.
    std::string decoded(start, line.p - start);
    while (line.p < line.end && *line.p != '"') {
      if (*line.p == '\\') {
        if (++line.p == line.end) break;
        switch (*line.p) {
          case '\\':
            decoded += '\\';
            break;
          case '"':
            decoded += '"';
            break;
          case 'n':
            decoded += '\n';
            break;
          default:
            return Fail("label value: invalid escape \\" + std::string(1, *line.p));
        }
        ++line.p;
      } else {
        decoded += *line.p++;
      }
    }
    if (line.p == line.end) return Fail("label value: missing closing quote");
    ++line.p;
    out_->decoded.push_back(std::move(decoded));
    *value = out_->decoded.back();
    return base::Status::Ok();
  }

  base::Status Sample(Line line) {
    std::string_view name = line.Name(true);
    if (name.empty()) return Fail("expected a metric name or '#'");
    Metric metric = Classify(name);
    if (name != last_sampled_) {
      last_sampled_ = name;
      hint_ = 0;
      if (std::find(sampled_.begin(), sampled_.end(), name) == sampled_.end()) {
        sampled_.push_back(name);
      }
    }
    std::string_view ns, pod, container;
    const char* after_name = line.p;
    line.SkipBlanks();
    if (line.AtEnd() || *line.p != '{') line.p = after_name;
    if (!line.AtEnd() && *line.p == '{') {
      ++line.p;
      seen_labels_.clear();
      for (;;) {
        line.SkipBlanks();
        if (line.AtEnd()) return Fail("labels: missing '}'");
        if (*line.p == '}') {
          ++line.p;
          break;
        }
        std::string_view label = line.Name(false);
        if (label.empty()) return Fail("labels: invalid label name");
        line.SkipBlanks();
        if (line.AtEnd() || *line.p != '=') {
          return Fail("labels: expected '=' after \"" + std::string(label) + "\"");
        }
        ++line.p;
        line.SkipBlanks();
        if (line.AtEnd() || *line.p != '"') {
          return Fail("labels: expected '\"' to open the value of \"" + std::string(label) + "\"");
        }
        ++line.p;
        std::string_view value;
        if (auto s = LabelValue(line, &value); !s.ok()) return s;
        if (std::find(seen_labels_.begin(), seen_labels_.end(), label) != seen_labels_.end()) {
          return Fail("labels: duplicate label \"" + std::string(label) + "\"");
        }
        seen_labels_.push_back(label);
        if (label == "namespace") {
          ns = value;
        } else if (label == "pod") {
          pod = value;
        } else if (label == "container") {
          container = value;
        }
        line.SkipBlanks();
        if (line.AtEnd()) return Fail("labels: missing '}'");
        if (*line.p == ',') {
          ++line.p;
        } else if (*line.p != '}') {
          return Fail("labels: expected ',' or '}' after the value of \"" + std::string(label) +
                      "\"");
        }
      }
    }
    if (line.AtEnd() || !IsBlank(*line.p)) return Fail("expected a space before the value");
    line.SkipBlanks();
    std::string_view value_text = line.Token();
    double value = 0;
    if (!ParsePrometheusFloat(value_text, &value)) {
      return Fail("invalid value \"" + std::string(value_text.substr(0, 40)) + "\"");
    }
    line.SkipBlanks();
    base::UnixNanos timestamp = scrape_time_;
    bool timestamp_ok = true;
    if (!line.AtEnd()) {
      std::string_view ts_text = line.Token();
      int64_t ms = 0;
      if (!ParseInt64(ts_text, &ms)) {
        return Fail("invalid timestamp \"" + std::string(ts_text.substr(0, 40)) + "\"");
      }
      timestamp_ok = MillisToNanos(ms, &timestamp);
      line.SkipBlanks();
      if (!line.AtEnd()) return Fail("unexpected text after the timestamp");
    }
    return Record(metric, name, ns, pod, container, value, timestamp, timestamp_ok);
  }

  base::Status Record(Metric metric, std::string_view name, std::string_view ns,
                      std::string_view pod, std::string_view container, double value,
                      base::UnixNanos timestamp, bool timestamp_ok) {
    switch (metric) {
      case Metric::kOther:
        return base::Status::Ok();
      case Metric::kScrapeError:
        if (value != 0) out_->scrape_error = true;
        return base::Status::Ok();
      case Metric::kNodeCpu:
        return SetCpu(&out_->node, value, timestamp, timestamp_ok);
      case Metric::kNodeMemory:
        return SetMemory(&out_->node, value, timestamp, timestamp_ok);
      case Metric::kNodeSwap:
        return SetSwap(&out_->node, value, timestamp_ok);
      default:
        break;
    }
    if (ns.empty() || pod.empty() || container.empty()) {
      return Fail(std::string(name) + ": needs non-empty namespace, pod and container labels");
    }
    ContainerUsage* c = Find(ns, pod, container);
    switch (metric) {
      case Metric::kContainerCpu:
        return SetCpu(c, value, timestamp, timestamp_ok);
      case Metric::kContainerMemory:
        return SetMemory(c, value, timestamp, timestamp_ok);
      case Metric::kContainerSwap:
        return SetSwap(c, value, timestamp_ok);
      case Metric::kContainerStart:
        if (c->start_time == 0) {
          if (std::isfinite(value) && value > 0 && value < 9.2e9) {
            c->start_time = static_cast<base::UnixNanos>(value * 1e9);
          } else {
            ++out_->ignored_samples;
          }
        }
        return base::Status::Ok();
      default:
        return base::Status::Ok();
    }
  }

  // The first sample of a series wins; a repeated series is ignored.
  base::Status SetCpu(ResourceUsage* u, double value, base::UnixNanos ts, bool ts_ok) {
    if (u->has_cpu) return base::Status::Ok();
    if (!ts_ok || !SecondsToNanos(value, &u->cpu_ns)) {
      ++out_->ignored_samples;
      return base::Status::Ok();
    }
    u->has_cpu = true;
    u->cpu_timestamp = ts;
    return base::Status::Ok();
  }
  base::Status SetMemory(ResourceUsage* u, double value, base::UnixNanos ts, bool ts_ok) {
    if (u->has_memory) return base::Status::Ok();
    if (!ts_ok || !ToBytes(value, &u->memory_bytes)) {
      ++out_->ignored_samples;
      return base::Status::Ok();
    }
    u->has_memory = true;
    u->memory_timestamp = ts;
    return base::Status::Ok();
  }
  base::Status SetSwap(ResourceUsage* u, double value, bool ts_ok) {
    if (u->has_swap) return base::Status::Ok();
    if (!ts_ok || !ToBytes(value, &u->swap_bytes)) {
      ++out_->ignored_samples;
      return base::Status::Ok();
    }
    u->has_swap = true;
    return base::Status::Ok();
  }

  static size_t Hash(std::string_view ns, std::string_view pod, std::string_view container) {
    std::hash<std::string_view> h;
    return (h(ns) * 31 + h(pod)) * 31 + h(container);
  }

  // Finds or adds the container; a small open-addressing table keeps this allocation-free once
  // the result has been used for a payload of the same size.
  ContainerUsage* Find(std::string_view ns, std::string_view pod, std::string_view container) {
    auto& index = out_->index;
    auto& containers = out_->containers;
    // Kubelets list the containers of every family in the same order: try the one after the
    // previous match before hashing.
    if (hint_ < containers.size()) {
      ContainerUsage& c = containers[hint_];
      if (c.container == container && c.pod == pod && c.namespace_ == ns) {
        ++hint_;
        return &c;
      }
    }
    if (containers.size() * 2 >= index.size()) Rehash(std::max<size_t>(64, index.size() * 2));
    size_t mask = index.size() - 1;
    for (size_t i = Hash(ns, pod, container) & mask;; i = (i + 1) & mask) {
      uint32_t slot = index[i];
      if (slot == 0) {
        containers.emplace_back();
        ContainerUsage& c = containers.back();
        c.namespace_ = ns;
        c.pod = pod;
        c.container = container;
        index[i] = static_cast<uint32_t>(containers.size());
        hint_ = containers.size();
        return &c;
      }
      ContainerUsage& c = containers[slot - 1];
      if (c.container == container && c.pod == pod && c.namespace_ == ns) {
        hint_ = slot;
        return &c;
      }
    }
  }

  void Rehash(size_t size) {
    auto& index = out_->index;
    index.assign(size, 0);
    size_t mask = size - 1;
    for (size_t n = 0; n < out_->containers.size(); ++n) {
      const ContainerUsage& c = out_->containers[n];
      size_t i = Hash(c.namespace_, c.pod, c.container) & mask;
      while (index[i] != 0) i = (i + 1) & mask;
      index[i] = static_cast<uint32_t>(n + 1);
    }
  }

  void Finish() {
    auto& containers = out_->containers;
    bool sorted = std::is_sorted(containers.begin(), containers.end(), Less);
    if (!sorted) std::sort(containers.begin(), containers.end(), Less);
    // The index refers to positions before sorting; it is rebuilt by the next parse.
    std::fill(out_->index.begin(), out_->index.end(), 0);
  }

  static bool Less(const ContainerUsage& a, const ContainerUsage& b) {
    return std::tie(a.namespace_, a.pod, a.container) < std::tie(b.namespace_, b.pod, b.container);
  }

  std::string_view text_;
  base::UnixNanos scrape_time_;
  ResourceMetrics* out_;
  int line_number_ = 0;
  std::string_view last_sampled_;
  size_t hint_ = 0;  // position in out_->containers expected to match the next container line
  std::vector<std::string_view> typed_;
  std::vector<std::string_view> sampled_;
  std::vector<std::string_view> seen_labels_;
};

}  // namespace

bool ParsePrometheusFloat(std::string_view s, double* out) {
  if (s.empty()) return false;
  bool negative = false;
  const char* p = s.data();
  const char* end = p + s.size();
  if (*p == '+' || *p == '-') {
    negative = *p == '-';
    ++p;
  }
  if (p == end || *p == '+' || *p == '-') return false;
  std::chars_format format = std::chars_format::general;
  if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    p += 2;
    format = std::chars_format::hex;
  }
  double value = 0;
  if (format == std::chars_format::general && FastDecimal(p, end, &value)) {
    *out = negative ? -value : value;
    return true;
  }
  auto [ptr, ec] = std::from_chars(p, end, value, format);
  if (ptr != end) return false;
  if (ec == std::errc::result_out_of_range) {
    // Go returns ±Inf or 0 with an error; Prometheus rejects the sample. So do we.
    return false;
  }
  if (ec != std::errc()) return false;
  *out = negative ? -value : value;
  return true;
}

base::Status ParseResourceMetrics(std::string_view text, base::UnixNanos scrape_time,
                                  ResourceMetrics* out) {
  return Parser(text, scrape_time, out).Run();
}

}  // namespace scraper_reference
