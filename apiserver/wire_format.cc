#include "apiserver/wire_format.h"

#include <charconv>
#include <ctime>

namespace apiserver {
namespace {

void AppendInt(std::string& out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// Suffixes for decimal exponents -9..18 in steps of 3 (apimachinery's quantitySuffixer).
const char* DecimalSuffix(int32_t exponent) {
  switch (exponent) {
    case -9:
      return "n";
    case -6:
      return "u";
    case -3:
      return "m";
    case 0:
      return "";
    case 3:
      return "k";
    case 6:
      return "M";
    case 9:
      return "G";
    case 12:
      return "T";
    case 15:
      return "P";
    case 18:
      return "E";
    default:
      return nullptr;
  }
}

}  // namespace

void AppendDecimalSI(std::string& out, int64_t mantissa, int32_t exponent) {
  if (mantissa == 0) {
    out.push_back('0');
    return;
  }
  // removeInt64Factors(mantissa, 10), then lower the exponent to a multiple of 3.
  bool negative = mantissa < 0;
  uint64_t m = negative ? 0 - static_cast<uint64_t>(mantissa) : static_cast<uint64_t>(mantissa);
  while (m >= 10 && m % 10 == 0) {
    m /= 10;
    ++exponent;
  }
  switch (((exponent % 3) + 3) % 3) {
    case 1:
      m *= 10;
      exponent -= 1;
      break;
    case 2:
      m *= 100;
      exponent -= 2;
      break;
    default:
      break;
  }
  if (negative) out.push_back('-');
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, m);
  (void)ec;
  out.append(buf, end);
  if (const char* suffix = DecimalSuffix(exponent)) {
    out.append(suffix);
  } else {  // DecimalExponent form for values beyond the SI suffixes
    out.push_back('e');
    AppendInt(out, exponent);
  }
}

void AppendBinarySI(std::string& out, int64_t value) {
  if (value > -1024 && value < 1024) {
    AppendDecimalSI(out, value, 0);
    return;
  }
  bool negative = value < 0;
  uint64_t m = negative ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  int times = 0;
  while (m >= 1024 && m % 1024 == 0) {
    m /= 1024;
    ++times;
  }
  static const char* const kSuffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  if (negative) out.push_back('-');
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, m);
  (void)ec;
  out.append(buf, end);
  out.append(kSuffixes[times]);
}

std::string FormatCpu(uint64_t nanocores) {
  std::string s;
  AppendDecimalSI(s, static_cast<int64_t>(nanocores), -9);
  return s;
}

std::string FormatMemory(uint64_t bytes) {
  std::string s;
  AppendBinarySI(s, static_cast<int64_t>(bytes));
  return s;
}

int64_t UnixSeconds(base::UnixNanos t) {
  int64_t s = t / 1'000'000'000;
  if (t % 1'000'000'000 < 0) --s;
  return s;
}

std::string FormatTime(base::UnixNanos t) {
  std::time_t secs = static_cast<std::time_t>(UnixSeconds(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

namespace {

// Bytes that end a run of bytes copied verbatim: control characters, '"', '\\', the HTML
// characters Go escapes, and every non-ASCII byte (validated one sequence at a time).
struct JsonSpecial {
  bool table[256];
  constexpr JsonSpecial() : table() {
    for (int c = 0; c < 256; ++c) {
      table[c] = c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80;
    }
  }
};
constexpr JsonSpecial kJsonSpecial;

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    size_t run = i;
    while (run < s.size() && !kJsonSpecial.table[static_cast<unsigned char>(s[run])]) ++run;
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      if (i == s.size()) break;
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        default:
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
      }
      ++i;
      continue;
    }
    // Validate one UTF-8 sequence; invalid bytes become U+FFFD as in Go.
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    bool valid = len > 0 && c < 0xf5 && i + len <= s.size();
    uint32_t cp = 0;
    if (valid) {
      cp = c & (0x7f >> len);
      for (size_t k = 1; k < len; ++k) {
        unsigned char cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xc0) != 0x80) {
          valid = false;
          break;
        }
        cp = (cp << 6) | (cc & 0x3f);
      }
      if (valid && ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))) {
        valid = false;
      }
    }
    if (!valid) {
      out.append("\\ufffd");
      ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      out.append(cp == 0x2028 ? "\\u2028" : "\\u2029");
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  out.push_back('"');
}

void AppendVarint(std::string& out, uint64_t v) {
  if (v < 0x80) {
    out.push_back(static_cast<char>(v));
    return;
  }
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void AppendBytesField(std::string& out, uint32_t field, std::string_view bytes) {
  AppendVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  AppendVarint(out, bytes.size());
  out.append(bytes);
}

void AppendVarintField(std::string& out, uint32_t field, uint64_t v) {
  AppendVarint(out, static_cast<uint64_t>(field) << 3);
  AppendVarint(out, v);
}

}  // namespace apiserver
