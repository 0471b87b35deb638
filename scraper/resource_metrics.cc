#include "scraper/resource_metrics.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace scraper {
namespace {

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

// The first of '"', '\\' or '\n' in [p, end), or end: where a label value stops on the fast
// path. Eight bytes at a time: a byte of `w` equal to c becomes zero in w ^ (c * 0x01...01), and
// (x - 0x01...01) & ~x & 0x80...80 flags zero bytes exactly up to the first one (a borrow can only
// mark bytes above a real zero), so the lowest flag of the three masks is the first match.
inline const char* FindValueEnd(const char* p, const char* end) {
#if defined(__SSE2__)
  // Sixteen bytes at a time where SSE2 is there (every x86-64).
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i newline = _mm_set1_epi8('\n');
  for (; end - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hits =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmpeq_epi8(v, newline));
    if (int mask = _mm_movemask_epi8(hits); mask != 0) {
      return p + std::countr_zero(static_cast<unsigned>(mask));
    }
  }
#endif
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t kOnes = 0x0101010101010101ull;
    constexpr uint64_t kHighs = 0x8080808080808080ull;
    auto zero_bytes = [](uint64_t x) { return (x - kOnes) & ~x & kHighs; };
    for (; end - p >= 8; p += 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      uint64_t found = zero_bytes(w ^ (kOnes * '"')) | zero_bytes(w ^ (kOnes * '\\')) |
                       zero_bytes(w ^ (kOnes * '\n'));
      if (found != 0) return p + std::countr_zero(found) / 8;
    }
  }
  while (p < end && *p != '"' && *p != '\\' && *p != '\n') ++p;
  return p;
}

// a == b for the short strings of a sample line (names, label values), without a call to memcmp:
// eight bytes at a time, the last load overlapping the one before.
[[gnu::always_inline]] inline bool Equal(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  auto load8 = [](const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  auto load4 = [](const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  };
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (load8(x + i) != load8(y + i)) return false;
    }
    return load8(x + n - 8) == load8(y + n - 8);
  }
  if (n >= 4) return load4(x) == load4(y) && load4(x + n - 4) == load4(y + n - 4);
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return false;
  }
  return true;
}

// a.compare(b) for short strings (<0, 0, >0, bytes compared as unsigned char), without a call to
// memcmp: eight bytes at a time, loaded most significant byte first.
inline int Compare(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  if constexpr (std::endian::native == std::endian::little) {
    for (; i + 8 <= n; i += 8) {
      uint64_t x, y;
      std::memcpy(&x, a.data() + i, 8);
      std::memcpy(&y, b.data() + i, 8);
      if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
    }
  }
  for (; i < n; ++i) {
    if (a[i] != b[i])
      return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]) ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

// A hash of a short string, eight bytes at a time (any hash is correct; this one is cheap).
inline uint64_t HashBytes(std::string_view s, uint64_t h) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  const char* p = s.data();
  size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  h = (h ^ tail ^ (s.size() << 56)) * kMul;
  return h ^ (h >> 32);
}

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

// Reads the decimal digits at p into *value (value * 10^n + digits), eight at a time while eight
// are there (the SWAR conversion of fast_float and simdjson). Wraps beyond 19 digits: callers
// reject those by the count, p's advance.
inline void ReadDigits(const char*& p, const char* end, uint64_t* value) {
  uint64_t v = *value;
  if constexpr (std::endian::native == std::endian::little) {
    static constexpr uint64_t kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
    constexpr uint64_t kZeros = 0x3030303030303030ull;  // "00000000"
    // The value of eight digit characters, the first the most significant.
    auto eight_digits = [](uint64_t w) {
      w -= kZeros;
      w = (w * 10) + (w >> 8);  // pairs of digits
      w = (((w & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
           (((w >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >>
          32;
      return static_cast<uint32_t>(w);
    };
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      // The high bit of each byte of w + 0x46 or w - 0x30 that is not a digit. A carry or borrow
      // only moves up from a byte that is not a digit, so the lowest flag is exact.
      const uint64_t not_digits =
          ((w + 0x4646464646464646ull) | (w - kZeros)) & 0x8080808080808080ull;
      if (not_digits == 0) {
        v = v * 100000000 + eight_digits(w);
        p += 8;
        continue;
      }
      const int digits = std::countr_zero(not_digits) / 8;
      if (digits > 0) {
        // Keep the digits as the last ones of eight, the bytes before them '0'.
        w = (w << (64 - 8 * digits)) | (kZeros >> (8 * digits));
        v = v * kPow10[digits] + eight_digits(w);
        p += digits;
      }
      *value = v;
      return;
    }
  }
  for (; p < end && static_cast<unsigned>(*p - '0') <= 9; ++p) {
    v = v * 10 + static_cast<unsigned>(*p - '0');
  }
  *value = v;
}

// Clinger's fast path: a decimal with at most 19 significant digits whose mantissa fits in 53
// bits and whose power of ten is exact in a double (|e| <= 22) converts with one correctly
// rounded multiplication or division. Covers the kubelet's numbers ("4.710169",
// "1.253376e+07"). Reads an unsigned decimal at p ([digits][.digits][(e|E)[+-]digits]) and
// returns where it stops, or nullptr when there is none or it is not of that kind (then the
// caller goes to from_chars).
const char* ScanDecimal(const char* p, const char* end, double* out) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  uint64_t mantissa = 0;
  const char* start = p;
  while (p < end && *p == '0') ++p;  // leading zeros are not significant
  const char* significant = p;
  ReadDigits(p, end, &mantissa);
  ptrdiff_t digits = p - significant;
  bool any = p != start;
  int64_t exponent = 0;
  if (p < end && *p == '.') {
    const char* fraction = ++p;
    if (mantissa == 0) {
      while (p < end && *p == '0') ++p;
    }
    significant = p;
    ReadDigits(p, end, &mantissa);
    digits += p - significant;
    exponent = -(p - fraction);
    any = any || p != fraction;
  }
  if (!any || digits > 19) return nullptr;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool negative = false;
    if (p < end && (*p == '+' || *p == '-')) negative = *p++ == '-';
    const char* e_start = p;
    int e = 0;
    for (; p < end && static_cast<unsigned>(*p - '0') <= 9; ++p) {
      if (e > 1000) return nullptr;
      e = e * 10 + (*p - '0');
    }
    if (p == e_start) return nullptr;
    exponent += negative ? -e : e;
  }
  if (mantissa > (uint64_t{1} << 53) || exponent < -22 || exponent > 22) return nullptr;
  double value = static_cast<double>(mantissa);
  *out = exponent < 0 ? value / kPow10[-exponent] : value * kPow10[exponent];
  return p;
}

bool FastDecimal(const char* p, const char* end, double* out) {
  return ScanDecimal(p, end, out) == end;
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

std::string LineError(const char* unit, int line, std::string_view what) {
  return std::string(unit) + " " + std::to_string(line) + ": " + std::string(what);
}

// The protobuf wire format (protobuf.dev/programming-guides/encoding), as much of it as the
// delimited MetricFamily exposition needs. Every read is checked against the end of its buffer.
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Reads a base-128 varint of at most ten bytes; false when it runs past `end` or is longer.
inline bool ReadVarint(const char*& p, const char* end, uint64_t* out) {
  if (p < end && static_cast<uint8_t>(*p) < 0x80) {  // tags and short lengths: one byte
    *out = static_cast<uint8_t>(*p++);
    return true;
  }
  uint64_t value = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(*p++);
    if (shift == 63 && byte > 1) return false;  // more than 64 bits
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *out = value;
      return true;
    }
  }
  return false;
}

// One field of a message: its number, wire type and, for kLengthDelimited, its bytes; for
// kVarint and kFixed64 its value. Reading fails on a malformed tag or value, on a length beyond
// the message, and on the group wire types (3, 4), which MetricFamily does not use.
struct Field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t value = 0;      // kVarint, kFixed64 (the raw bits), kFixed32
  std::string_view bytes;  // kLengthDelimited
};

// Reads the field at p into *field and advances p past it; on failure returns what went wrong.
[[gnu::always_inline]] inline const char* ReadField(const char*& p, const char* end, Field* field) {
  uint64_t tag;
  if (!ReadVarint(p, end, &tag)) return "malformed tag varint";
  if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff) return "invalid field number";
  field->number = static_cast<uint32_t>(tag >> 3);
  field->wire_type = static_cast<uint32_t>(tag & 7);
  switch (field->wire_type) {
    case kVarint:
      if (!ReadVarint(p, end, &field->value)) return "malformed varint";
      return nullptr;
    case kFixed64:
      if (end - p < 8) return "fixed64 beyond the message";
      std::memcpy(&field->value, p, 8);
      if constexpr (std::endian::native == std::endian::big) {
        field->value = __builtin_bswap64(field->value);
      }
      p += 8;
      return nullptr;
    case kLengthDelimited: {
      uint64_t length;
      if (!ReadVarint(p, end, &length)) return "malformed length varint";
      if (length > static_cast<uint64_t>(end - p)) return "length beyond the message";
      field->bytes = {p, static_cast<size_t>(length)};
      p += length;
      return nullptr;
    }
    case kFixed32: {
      if (end - p < 4) return "fixed32 beyond the message";
      uint32_t v;
      std::memcpy(&v, p, 4);
      if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
      field->value = v;
      p += 4;
      return nullptr;
    }
    default:
      return "unsupported wire type";
  }
}

// MetricFamily and the messages inside it (prometheus/client_model io/prometheus/client/
// metrics.proto): the field numbers read here.
enum : uint32_t {
  kFamilyName = 1,       // string
  kFamilyMetric = 4,     // repeated Metric
  kMetricLabel = 1,      // repeated LabelPair
  kMetricGauge = 2,      // Gauge
  kMetricCounter = 3,    // Counter
  kMetricUntyped = 5,    // Untyped
  kMetricTimestamp = 6,  // int64 timestamp_ms
  kLabelName = 1,        // string
  kLabelValue = 2,       // string
  kValue = 1,            // double value of Gauge, Counter and Untyped
};

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
      if (*p != '#') {
        bool rejected = false;
        const char* next = FastSample(p, end, &rejected);
        if (rejected) return std::move(error_);
        if (next != nullptr) {
          p = next;
          continue;
        }
      }
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

  // The delimited protobuf exposition: each MetricFamily message preceded by its length as a
  // varint. Errors name the family by its position, from 1.
  base::Status RunDelimited() {
    out_->Clear();
    unit_ = "family";
    const char* p = text_.data();
    const char* end = p + text_.size();
    while (p < end) {
      ++line_number_;
      uint64_t length;
      if (!ReadVarint(p, end, &length)) return Fail("malformed length prefix");
      if (length > static_cast<uint64_t>(end - p)) {
        return Fail("length " + std::to_string(length) + " beyond the body (" +
                    std::to_string(end - p) + " bytes left)");
      }
      base::Status s = Family({p, static_cast<size_t>(length)});
      if (!s.ok()) return s;
      p += length;
    }
    Finish();
    return base::Status::Ok();
  }

 private:
  base::Status Fail(std::string_view what) {
    return base::Status::Error(LineError(unit_, line_number_, what));
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
    predicted_ = false;  // FastSample's guess for this line, if any, is not used
    std::string_view name = line.Name(true);
    if (name.empty()) return Fail("expected a metric name or '#'");
    Metric metric = NoteSampled(name);
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
    if (!Record(metric, name, ns, pod, container, value, timestamp, timestamp_ok)) {
      return std::move(error_);
    }
    return base::Status::Ok();
  }

  // Records that `name` has samples and returns its metric. Calling it again for the same line
  // changes nothing, so the general path may repeat what the fast path did.
  Metric NoteSampled(std::string_view name) {
    if (name != last_sampled_) {
      last_sampled_ = name;
      last_metric_ = Classify(name);
      hint_ = 0;
      if (std::find(sampled_.begin(), sampled_.end(), name) == sampled_.end()) {
        sampled_.push_back(name);
      }
    }
    return last_metric_;
  }

  // The fast path for a sample line as kubelets print it:
  //   name{label="value",...} value[ timestamp]
  // with single spaces, no escapes and nothing else on the line. Returns the start of the next
  // line, having recorded the sample (or set `rejected` when Record rejects it). Returns nullptr
  // for anything else, before changing any state but NoteSampled's, and the general path then
  // parses the line from its start and reports its errors: so both accept, record and reject
  // exactly the same lines. Scanning does not look for the line's end first: every token stops at
  // '\n'.
  const char* FastSample(const char* p, const char* end, bool* rejected) {
    constexpr uint8_t kNameRest = kNameStart | kColon | kDigit;
    std::string_view name;
    Metric metric;
    // Most lines continue the previous line's family. A longer name that starts with it is
    // declined below: what follows a name here must be '{' or ' ', not a name character.
    const size_t n = last_sampled_.size();
    if (n != 0 && static_cast<size_t>(end - p) > n && Equal({p, n}, last_sampled_)) {
      name = {p, n};
      metric = last_metric_;
      p += n;
    } else {
      const char* start = p;
      if (!(Class(*p) & (kNameStart | kColon))) return nullptr;
      for (++p; p < end && (Class(*p) & kNameRest); ++p) {
      }
      name = {start, static_cast<size_t>(p - start)};
      metric = NoteSampled(name);
    }
    if (p == end) return nullptr;

    std::string_view ns, pod, container;
    predicted_ = false;
    if (*p == '{') {
      ++p;
      seen_labels_.clear();  // labels other than the three below
      unsigned seen = 0;     // bit per label among container, namespace, pod
      if (const char* q = Predicted(metric, p, end)) {
        const ContainerUsage& c = out_->containers[hint_];
        container = c.container, ns = c.namespace_, pod = c.pod;
        seen = 7;
        predicted_ = true;
        p = q;
        if (*p == ',') ++p;
      }
      for (;;) {
        if (p == end) return nullptr;
        std::string_view* known = nullptr;
        unsigned bit = 0;
        if (*p == '}') {
          ++p;
          break;
        } else if (*p == 'c' && end - p >= 11 && std::memcmp(p, "container=\"", 11) == 0) {
          known = &container, bit = 1, p += 11;
        } else if (*p == 'n' && end - p >= 11 && std::memcmp(p, "namespace=\"", 11) == 0) {
          known = &ns, bit = 2, p += 11;
        } else if (*p == 'p' && end - p >= 5 && std::memcmp(p, "pod=\"", 5) == 0) {
          known = &pod, bit = 4, p += 5;
        } else {
          // Another label: the name is not one of the three, since '="' follows it.
          const char* start = p;
          if (!(Class(*p) & kNameStart)) return nullptr;
          for (++p; p < end && (Class(*p) & (kNameStart | kDigit)); ++p) {
          }
          std::string_view label(start, static_cast<size_t>(p - start));
          if (end - p < 2 || p[0] != '=' || p[1] != '"') return nullptr;
          p += 2;
          if (std::find(seen_labels_.begin(), seen_labels_.end(), label) != seen_labels_.end()) {
            return nullptr;
          }
          seen_labels_.push_back(label);
        }
        const char* quote = FindValueEnd(p, end);
        if (quote == end || *quote != '"') return nullptr;  // an escape, or no closing quote
        if (known != nullptr) {
          if (seen & bit) return nullptr;
          seen |= bit;
          *known = {p, static_cast<size_t>(quote - p)};
        }
        p = quote + 1;
        if (p == end) return nullptr;
        if (*p == ',') {
          ++p;
        } else if (*p != '}') {
          return nullptr;
        }
      }
    }

    if (p == end || *p != ' ') return nullptr;
    const char* value_start = ++p;
    double value = 0;
    const char* value_end = ScanDecimal(p, end, &value);
    if (value_end != nullptr &&
        (value_end == end || *value_end == ' ' || *value_end == '\n' || *value_end == '\t')) {
      p = value_end;
    } else {  // signs, NaN, Inf, hex, long mantissas: what FastDecimal leaves to from_chars
      while (p < end && *p != ' ' && *p != '\n' && *p != '\t') ++p;
      if (p == value_start ||
          !ParsePrometheusFloat({value_start, static_cast<size_t>(p - value_start)}, &value)) {
        return nullptr;
      }
    }
    base::UnixNanos timestamp = scrape_time_;
    bool timestamp_ok = true;
    if (p < end && *p == ' ') {
      const char* ts_start = ++p;
      uint64_t ms = 0;
      ReadDigits(p, end, &ms);
      // Up to 18 digits cannot exceed int64; longer or signed ones go to ParseInt64.
      if (p == ts_start || p - ts_start > 18 || (p < end && *p != '\n')) return nullptr;
      timestamp_ok = MillisToNanos(static_cast<int64_t>(ms), &timestamp);
    }
    if (p < end) {
      if (*p != '\n') return nullptr;
      ++p;
    }
    *rejected = !Record(metric, name, ns, pod, container, value, timestamp, timestamp_ok);
    return p;
  }

  // Where the labels at p end (at the ',' or '}' after them) when they begin with exactly the
  // labels of the container expected next, out_->containers[hint_]: `container="...",
  // namespace="...",pod="..."`, as kubelets print them, every family listing the containers
  // in the same order. Comparing with the expected values replaces scanning each value for its
  // end. Only for values read from this text (those from ResourceMetrics::decoded had escapes,
  // which the text does not hold as they are); such values hold no '"', '\\' or '\n', so a match
  // reads the same labels as the scan would. nullptr otherwise (then the labels are scanned).
  const char* Predicted(Metric metric, const char* p, const char* end) const {
    if (metric != Metric::kContainerCpu && metric != Metric::kContainerMemory &&
        metric != Metric::kContainerStart && metric != Metric::kContainerSwap) {
      return nullptr;
    }
    const auto& containers = out_->containers;
    if (hint_ >= containers.size()) return nullptr;
    const ContainerUsage& c = containers[hint_];
    // Until a value has been decoded, every value is a view into the text.
    auto from_text = [this](std::string_view v) {  // std::less: the pointers may be unrelated
      const std::less<const char*> less;
      return !less(v.data(), text_.data()) &&
             !less(text_.data() + text_.size(), v.data() + v.size());
    };
    if (!out_->decoded.empty() &&
        (!from_text(c.container) || !from_text(c.namespace_) || !from_text(c.pod))) {
      return nullptr;
    }
    // `container="C",namespace="N",pod="P"` and the byte after it.
    constexpr std::string_view kContainer = "container=\"";
    constexpr std::string_view kNamespace = "\",namespace=\"";
    constexpr std::string_view kPod = "\",pod=\"";
    const size_t length = kContainer.size() + c.container.size() + kNamespace.size() +
                          c.namespace_.size() + kPod.size() + c.pod.size() + 2;
    if (static_cast<size_t>(end - p) < length) return nullptr;
    auto match = [&p](std::string_view expected) {
      if (!Equal({p, expected.size()}, expected)) return false;
      p += expected.size();
      return true;
    };
    if (!match(kContainer) || !match(c.container) || !match(kNamespace) || !match(c.namespace_) ||
        !match(kPod) || !match(c.pod) || *p++ != '"') {
      return nullptr;
    }
    return *p == ',' || *p == '}' ? p : nullptr;
  }

  // One MetricFamily message. Its fields may come in any order: the name is found first, and
  // the metrics of a family the window does not need are skipped unread.
  base::Status Family(std::string_view message) {
    std::string_view name;
    bool named = false;
    const char* end = message.data() + message.size();
    for (const char* p = message.data(); p < end;) {
      Field field;
      if (const char* error = ReadField(p, end, &field)) return Fail(error);
      if (field.number == kFamilyName) {
        if (field.wire_type != kLengthDelimited) return Fail("name: wrong wire type");
        name = field.bytes;
        named = true;
      } else if (field.number == kFamilyMetric && field.wire_type != kLengthDelimited) {
        return Fail("metric: wrong wire type");
      }
    }
    if (!named || name.empty()) return Fail("family without a name");
    if (std::find(typed_.begin(), typed_.end(), name) != typed_.end()) {
      return Fail("second family named " + std::string(name.substr(0, 200)));
    }
    typed_.push_back(name);
    const Metric metric = Classify(name);
    if (metric == Metric::kOther) return base::Status::Ok();
    hint_ = 0;
    for (const char* p = message.data(); p < end;) {
      Field field;
      (void)ReadField(p, end, &field);  // read once above without error
      if (field.number != kFamilyMetric) continue;
      if (!MetricMessage(metric, name, field.bytes)) return std::move(error_);
    }
    return base::Status::Ok();
  }

  // One Metric of a family the window needs. A metric without a gauge, counter or untyped value
  // (a summary or histogram under a known name) has no sample to record. False with the error in
  // error_ when the message is malformed or Record rejects the sample.
  bool MetricMessage(Metric metric, std::string_view name, std::string_view message) {
    std::string_view ns, pod, container;
    double value = 0;
    bool has_value = false;
    int64_t timestamp_ms = 0;
    bool has_timestamp = false;
    seen_labels_.clear();  // labels other than the three below
    unsigned seen = 0;     // bit per label among namespace, pod, container
    const char* end = message.data() + message.size();
    for (const char* p = message.data(); p < end;) {
      Field field;
      if (const char* error = ReadField(p, end, &field)) {
        return Reject(std::string("metric: ") + error);
      }
      switch (field.number) {
        case kMetricLabel: {
          if (field.wire_type != kLengthDelimited) return Reject("label: wrong wire type");
          std::string_view label, label_value;
          const char* q = field.bytes.data();
          const char* q_end = q + field.bytes.size();
          while (q < q_end) {
            Field f;
            if (const char* error = ReadField(q, q_end, &f)) {
              return Reject(std::string("label: ") + error);
            }
            if (f.number != kLabelName && f.number != kLabelValue) continue;
            if (f.wire_type != kLengthDelimited) return Reject("label: wrong wire type");
            (f.number == kLabelName ? label : label_value) = f.bytes;
          }
          // The three labels the window needs are checked for repeats with a bit each; only
          // others go through the list of labels seen.
          std::string_view* known = nullptr;
          unsigned bit = 0;
          if (Equal(label, "namespace")) {
            known = &ns, bit = 1;
          } else if (Equal(label, "pod")) {
            known = &pod, bit = 2;
          } else if (Equal(label, "container")) {
            known = &container, bit = 4;
          }
          if (known != nullptr ? (seen & bit) != 0
                               : std::find(seen_labels_.begin(), seen_labels_.end(), label) !=
                                     seen_labels_.end()) {
            return Reject("labels: duplicate label \"" + std::string(label.substr(0, 200)) + "\"");
          }
          if (known != nullptr) {
            seen |= bit;
            *known = label_value;
          } else {
            seen_labels_.push_back(label);
          }
          break;
        }
        case kMetricGauge:
        case kMetricCounter:
        case kMetricUntyped: {
          if (field.wire_type != kLengthDelimited) return Reject("value: wrong wire type");
          // A present message without its value field holds the default, 0.
          value = 0;
          has_value = true;
          const char* q = field.bytes.data();
          const char* q_end = q + field.bytes.size();
          while (q < q_end) {
            Field f;
            if (const char* error = ReadField(q, q_end, &f)) {
              return Reject(std::string("value: ") + error);
            }
            if (f.number != kValue) continue;  // e.g. a counter's exemplar
            if (f.wire_type != kFixed64) return Reject("value: wrong wire type");
            value = std::bit_cast<double>(f.value);
          }
          break;
        }
        case kMetricTimestamp:
          if (field.wire_type != kVarint) return Reject("timestamp: wrong wire type");
          timestamp_ms = static_cast<int64_t>(field.value);
          has_timestamp = true;
          break;
        default:
          break;  // a summary, a histogram or a field this version does not know
      }
    }
    if (!has_value) return true;
    base::UnixNanos timestamp = scrape_time_;
    bool timestamp_ok = true;
    if (has_timestamp) timestamp_ok = MillisToNanos(timestamp_ms, &timestamp);
    return Record(metric, name, ns, pod, container, value, timestamp, timestamp_ok);
  }

  // Fail for the readers that return a bool: keeps the error in error_.
  bool Reject(std::string_view what) {
    error_ = Fail(what);
    return false;
  }

  // Records one sample; false when it is rejected, with the error in error_. Not a Status: this
  // runs for every sample line, and returning one costs more than the rest of this function.
  bool Record(Metric metric, std::string_view name, std::string_view ns, std::string_view pod,
              std::string_view container, double value, base::UnixNanos timestamp,
              bool timestamp_ok) {
    switch (metric) {
      case Metric::kOther:
        return true;
      case Metric::kScrapeError:
        if (value != 0) out_->scrape_error = true;
        return true;
      case Metric::kNodeCpu:
        SetCpu(&out_->node, value, timestamp, timestamp_ok);
        return true;
      case Metric::kNodeMemory:
        SetMemory(&out_->node, value, timestamp, timestamp_ok);
        return true;
      case Metric::kNodeSwap:
        SetSwap(&out_->node, value, timestamp_ok);
        return true;
      default:
        break;
    }
    if (ns.empty() || pod.empty() || container.empty()) {
      return Reject(std::string(name) + ": needs non-empty namespace, pod and container labels");
    }
    ContainerUsage* c = Find(ns, pod, container);
    switch (metric) {
      case Metric::kContainerCpu:
        SetCpu(c, value, timestamp, timestamp_ok);
        break;
      case Metric::kContainerMemory:
        SetMemory(c, value, timestamp, timestamp_ok);
        break;
      case Metric::kContainerSwap:
        SetSwap(c, value, timestamp_ok);
        break;
      case Metric::kContainerStart:
        if (c->start_time == 0) {
          if (std::isfinite(value) && value > 0 && value < 9.2e9) {
            c->start_time = static_cast<base::UnixNanos>(value * 1e9);
          } else {
            ++out_->ignored_samples;
          }
        }
        break;
      default:
        break;
    }
    return true;
  }

  // The first sample of a series wins; a repeated series is ignored.
  void SetCpu(ResourceUsage* u, double value, base::UnixNanos ts, bool ts_ok) {
    if (u->has_cpu) return;
    if (!ts_ok || !SecondsToNanos(value, &u->cpu_ns)) {
      ++out_->ignored_samples;
      return;
    }
    u->has_cpu = true;
    u->cpu_timestamp = ts;
  }
  void SetMemory(ResourceUsage* u, double value, base::UnixNanos ts, bool ts_ok) {
    if (u->has_memory) return;
    if (!ts_ok || !ToBytes(value, &u->memory_bytes)) {
      ++out_->ignored_samples;
      return;
    }
    u->has_memory = true;
    u->memory_timestamp = ts;
  }
  // Swap is a gauge served as reported with the newer point; its own sample time is not kept.
  void SetSwap(ResourceUsage* u, double value, bool ts_ok) {
    if (u->has_swap) return;
    if (!ts_ok || !ToBytes(value, &u->swap_bytes)) {
      ++out_->ignored_samples;
      return;
    }
    u->has_swap = true;
  }

  // A new container at the end of out_->containers, copied from an empty one: GCC clears a
  // struct of this size, whether value- or default-initialized, with a `rep stos` that took a
  // sixth of Record's time, and copies it with vector moves.
  ContainerUsage* Append(std::string_view ns, std::string_view pod, std::string_view container) {
    static constexpr ContainerUsage kEmpty{};
    ContainerUsage& c = out_->containers.emplace_back(kEmpty);
    c.namespace_ = ns;
    c.pod = pod;
    c.container = container;
    return &c;
  }

  static size_t Hash(std::string_view ns, std::string_view pod, std::string_view container) {
    return HashBytes(container, HashBytes(pod, HashBytes(ns, 0)));
  }

  // Finds or adds the container, allocation-free once the result has been used for a payload of
  // the same size. Kubelets list the containers of every family in the same order, sorted by
  // (container, namespace, pod): the one after the previous match is tried first; while the
  // containers have been added in that order, one that sorts after the last cannot be there yet
  // and is appended without a lookup; otherwise a small open-addressing table, built on first
  // need, finds it.
  ContainerUsage* Find(std::string_view ns, std::string_view pod, std::string_view container) {
    auto& index = out_->index;
    auto& containers = out_->containers;
    if (hint_ < containers.size()) {
      ContainerUsage& c = containers[hint_];
      if (std::exchange(predicted_, false) ||
          (Equal(c.container, container) && Equal(c.pod, pod) && Equal(c.namespace_, ns))) {
        ++hint_;
        return &c;
      }
    }
    if (in_kubelet_order_) {
      if (containers.empty() || KubeletOrderLess(containers.back(), ns, pod, container)) {
        hint_ = containers.size() + 1;
        return Append(ns, pod, container);
      }
      in_kubelet_order_ = false;
      size_t size = std::max<size_t>(64, index.size());
      while (containers.size() * 2 >= size) size *= 2;
      Rehash(size);
    }
    if (containers.size() * 2 >= index.size()) Rehash(std::max<size_t>(64, index.size() * 2));
    size_t mask = index.size() - 1;
    for (size_t i = Hash(ns, pod, container) & mask;; i = (i + 1) & mask) {
      uint32_t slot = index[i];
      if (slot == 0) {
        index[i] = static_cast<uint32_t>(containers.size() + 1);
        hint_ = containers.size() + 1;
        return Append(ns, pod, container);
      }
      ContainerUsage& c = containers[slot - 1];
      if (Equal(c.container, container) && Equal(c.pod, pod) && Equal(c.namespace_, ns)) {
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
    SortContainers();
    // The index refers to positions before sorting; it is rebuilt by the next parse.
    if (!in_kubelet_order_) std::fill(out_->index.begin(), out_->index.end(), 0);
  }

  // Sorts out_->containers by (namespace, pod, container). They come in the kubelet's order,
  // (container, namespace, pod): that is one ascending run per container name when pods share
  // their container names, as with sidecars, or a few runs in a small payload. Up to kMaxRuns
  // runs are merged pairwise through merge_buffer (n log2(runs) comparisons); more go to
  // std::sort.
  void SortContainers() {
    auto& containers = out_->containers;
    const size_t n = containers.size();
    constexpr size_t kMaxRuns = 16;
    std::array<size_t, kMaxRuns + 1> bounds;  // run r is [bounds[r], bounds[r + 1])
    size_t runs = 1;
    bounds[0] = 0;
    for (size_t i = 1; i < n; ++i) {
      if (!Less(containers[i], containers[i - 1])) continue;
      if (runs == kMaxRuns) {
        std::sort(containers.begin(), containers.end(), Less);
        return;
      }
      bounds[runs++] = i;
    }
    if (runs == 1) return;
    bounds[runs] = n;
    auto& buffer = out_->merge_buffer;
    buffer.resize(n);
    ContainerUsage* from = containers.data();
    ContainerUsage* to = buffer.data();
    while (runs > 1) {
      size_t merged = 0;
      for (size_t r = 0; r < runs; r += 2) {
        const size_t begin = bounds[r];
        const size_t middle = bounds[std::min(r + 1, runs)];
        const size_t end = bounds[std::min(r + 2, runs)];
        std::merge(from + begin, from + middle, from + middle, from + end, to + begin, Less);
        bounds[merged++] = begin;  // merged <= r / 2: no bound still to be read is overwritten
      }
      bounds[merged] = n;
      runs = merged;
      std::swap(from, to);
    }
    if (from != containers.data()) containers.swap(buffer);
  }

  static bool Less(const ContainerUsage& a, const ContainerUsage& b) {
    if (int c = Compare(a.namespace_, b.namespace_); c != 0) return c < 0;
    if (int c = Compare(a.pod, b.pod); c != 0) return c < 0;
    return Compare(a.container, b.container) < 0;
  }

  static bool KubeletOrderLess(const ContainerUsage& a, std::string_view ns, std::string_view pod,
                               std::string_view container) {
    if (int c = Compare(a.container, container); c != 0) return c < 0;
    if (int c = Compare(a.namespace_, ns); c != 0) return c < 0;
    return Compare(a.pod, pod) < 0;
  }

  std::string_view text_;
  base::UnixNanos scrape_time_;
  ResourceMetrics* out_;
  const char* unit_ = "line";  // what line_number_ counts: "line" or "family"
  int line_number_ = 0;
  std::string_view last_sampled_;
  Metric last_metric_ = Metric::kOther;  // Classify(last_sampled_)
  size_t hint_ = 0;  // position in out_->containers expected to match the next container line
  // The fast path matched the current line's labels with out_->containers[hint_] (Predicted).
  bool predicted_ = false;
  // out_->containers were appended in kubelet order and out_->index is not in use yet.
  bool in_kubelet_order_ = true;
  std::vector<std::string_view> typed_;
  std::vector<std::string_view> sampled_;
  std::vector<std::string_view> seen_labels_;
  base::Status error_;  // why Record rejected a sample
};

}  // namespace

void ResourceMetrics::Clear() {
  node = ResourceUsage();
  containers.clear();
  scrape_error = false;
  ignored_samples = 0;
  decoded.clear();
  std::fill(index.begin(), index.end(), 0);
}

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

base::Status ParseResourceMetricsProtobuf(std::string_view body, base::UnixNanos scrape_time,
                                          ResourceMetrics* out) {
  return Parser(body, scrape_time, out).RunDelimited();
}

base::Result<ExpositionFormat> ExpositionFormatOf(std::string_view content_type) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  auto lower_equal = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == y;
           });
  };
  size_t semicolon = content_type.find(';');
  if (!lower_equal(trim(content_type.substr(0, semicolon)), "application/vnd.google.protobuf")) {
    return ExpositionFormat::kText;
  }
  std::string_view proto, encoding;
  while (semicolon != std::string_view::npos) {
    content_type.remove_prefix(semicolon + 1);
    semicolon = content_type.find(';');
    std::string_view param = trim(content_type.substr(0, semicolon));
    size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = trim(param.substr(0, eq));
    std::string_view value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (lower_equal(key, "proto")) proto = value;
    if (lower_equal(key, "encoding")) encoding = value;
  }
  if (proto == "io.prometheus.client.MetricFamily" && encoding == "delimited") {
    return ExpositionFormat::kProtobufDelimited;
  }
  return base::MakeError("unsupported protobuf exposition: proto=\"" +
                         std::string(proto.substr(0, 100)) + "\" encoding=\"" +
                         std::string(encoding.substr(0, 100)) + "\"");
}

}  // namespace scraper
