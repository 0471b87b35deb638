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
  std::string s;
  AppendTime(s, t);
  return s;
}

void AppendTime(std::string& out, base::UnixNanos t) {
  // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil, inverted): exact for
  // the proleptic Gregorian calendar, as Go's time package formats it.
  const int64_t secs = UnixSeconds(t);
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) {  // outside RFC 3339's four-digit years: as strftime does
    std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    out.append(buf, std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm));
    return;
  }
  char buf[20];
  auto put2 = [&buf](int at, int64_t v) {
    buf[at] = static_cast<char>('0' + v / 10);
    buf[at + 1] = static_cast<char>('0' + v % 10);
  };
  put2(0, year / 100);
  put2(2, year % 100);
  buf[4] = '-';
  put2(5, month);
  buf[7] = '-';
  put2(8, day);
  buf[10] = 'T';
  put2(11, rem / 3600);
  buf[13] = ':';
  put2(14, rem / 60 % 60);
  buf[16] = ':';
  put2(17, rem % 60);
  buf[19] = 'Z';
  out.append(buf, sizeof buf);
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

size_t JsonStringSize(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && !kJsonSpecial.table[static_cast<unsigned char>(s[i])]) ++i;
  if (i == s.size()) return s.size() + 2;  // nothing to escape: the usual case
  std::string escaped;
  AppendJsonString(escaped, s.substr(i));
  return i + escaped.size();
}

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

size_t BeginField(std::string& out, uint32_t field) {
  AppendVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  out.push_back('\0');
  return out.size();
}

void EndField(std::string& out, size_t start) {
  const size_t length = out.size() - start;
  if (length < 128) {
    out[start - 1] = static_cast<char>(length);
    return;
  }
  std::string prefix;
  AppendVarint(prefix, length);
  out.replace(start - 1, 1, prefix);
}

std::string WrapProtobuf(std::string_view api_version, std::string_view kind,
                         std::string_view raw) {
  std::string type_meta;
  AppendBytesField(type_meta, 1, api_version);
  AppendBytesField(type_meta, 2, kind);
  std::string out;
  out.reserve(raw.size() + type_meta.size() + 24);
  out.append(kProtobufMagic);
  AppendBytesField(out, 1, type_meta);
  AppendBytesField(out, 2, raw);
  AppendBytesField(out, 3, "");
  AppendBytesField(out, 4, "");
  return out;
}

}  // namespace apiserver
