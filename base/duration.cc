#include "base/duration.h"

#include <cstdint>
#include <limits>

namespace base {
namespace {

struct Unit {
  std::string_view name;
  int64_t nanos;
};
constexpr Unit kUnits[] = {{"ns", 1},
                           {"us", 1'000},
                           {"\xC2\xB5s", 1'000},  // U+00B5 micro sign
                           {"\xCE\xBCs", 1'000},  // U+03BC Greek mu
                           {"ms", 1'000'000},
                           {"s", 1'000'000'000},
                           {"m", 60'000'000'000},
                           {"h", 3'600'000'000'000}};

// Appends the fraction digits of v (which has `prec` decimals) without trailing zeros.
std::string FormatFraction(uint64_t v, int prec) {
  std::string digits(prec, '0');
  for (int i = prec - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return digits.empty() ? "" : "." + digits;
}

}  // namespace

Result<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  const std::string original(text);
  auto bad = [&](std::string_view why) {
    return MakeError("invalid duration \"" + original + "\": " + std::string(why));
  };
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return bad("empty");
  long double total = 0;
  while (!text.empty()) {
    size_t i = 0;
    long double value = 0;
    bool digits = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i] - '0');
      ++i;
      digits = true;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        value += (text[i] - '0') * scale;
        scale /= 10;
        ++i;
        digits = true;
      }
    }
    if (!digits) return bad("expected a number");
    text.remove_prefix(i);
    size_t j = 0;
    while (j < text.size() && !(text[j] >= '0' && text[j] <= '9') && text[j] != '.') ++j;
    std::string_view unit = text.substr(0, j);
    if (unit.empty()) return bad("missing unit");
    const Unit* found = nullptr;
    for (const Unit& u : kUnits) {
      if (u.name == unit) found = &u;
    }
    if (!found) return bad("unknown unit \"" + std::string(unit) + "\"");
    total += value * found->nanos;
    text.remove_prefix(j);
  }
  if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
    return bad("overflow");
  }
  auto ns = static_cast<int64_t>(total + 0.5L);
  return std::chrono::nanoseconds(negative ? -ns : ns);
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  int64_t n = d.count();
  if (n == 0) return "0s";
  const bool negative = n < 0;
  uint64_t u = negative ? -static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  std::string out;
  if (u < 1'000'000'000ULL) {
    // Sub-second: ns, µs or ms with a fraction.
    if (u < 1'000ULL) {
      out = std::to_string(u) + "ns";
    } else if (u < 1'000'000ULL) {
      out = std::to_string(u / 1'000) + FormatFraction(u % 1'000, 3) + "\xC2\xB5s";
    } else {
      out = std::to_string(u / 1'000'000) + FormatFraction(u % 1'000'000, 6) + "ms";
    }
  } else {
    uint64_t secs = u / 1'000'000'000ULL;
    out = std::to_string(secs % 60) + FormatFraction(u % 1'000'000'000ULL, 9) + "s";
    uint64_t mins = secs / 60;
    if (mins > 0) {
      out = std::to_string(mins % 60) + "m" + out;
      uint64_t hours = mins / 60;
      if (hours > 0) out = std::to_string(hours) + "h" + out;
    }
  }
  return negative ? "-" + out : out;
}

}  // namespace base
