#include "exporter/sink_flag.h"

#include <charconv>

namespace exporter {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query-string decoding: %XX and '+' for space.
base::Result<std::string> Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return base::MakeError("bad %-escape");
      int hi = HexDigit(s[i + 1]), lo = HexDigit(s[i + 2]);
      if (hi < 0 || lo < 0) return base::MakeError("bad %-escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string RedactedSinkFlag(std::string_view flag,
                             std::initializer_list<std::string_view> secret_keys) {
  std::string out(flag);
  if (size_t scheme = out.find("://"); scheme != std::string::npos) {
    size_t authority = scheme + 3;
    size_t at = out.find('@', authority);
    if (at != std::string::npos && at < out.find_first_of("/?", authority)) {
      out.replace(authority, at - authority, "xxxxx");
    }
  }
  for (std::string_view key : secret_keys) {
    const std::string needle = std::string(key) + "=";
    for (size_t pos = 0; (pos = out.find(needle, pos)) != std::string::npos;) {
      if (pos != 0 && out[pos - 1] != '?' && out[pos - 1] != '&') {
        pos += needle.size();
        continue;
      }
      size_t end = out.find('&', pos);
      size_t value = pos + needle.size();
      out.replace(value, (end == std::string::npos ? out.size() : end) - value, "xxxxx");
      pos = value;
    }
  }
  return out;
}

bool ParseGoBool(std::string_view v, bool* out) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"})
    if (v == t) return *out = true, true;
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"})
    if (v == f) return *out = false, true;
  return false;
}

base::Result<SinkUrl> ParseSinkUrl(std::string_view rest, std::string_view credentials_hint) {
  SinkUrl url;
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    url.https = true;
  } else if (rest.find("://") != std::string_view::npos) {
    return base::MakeError("the URL's scheme must be http or https");
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    url.path = std::string(rest.substr(slash));
    if (url.path == "/") url.path.clear();
    rest = rest.substr(0, slash);
  }
  if (rest.find('@') != std::string_view::npos) {
    return base::MakeError(std::string(credentials_hint));
  }
  if (!rest.empty()) {
    std::string_view host = rest;
    std::string_view port;
    if (host.front() == '[') {
      size_t close = host.find(']');
      if (close == std::string_view::npos) return base::MakeError("unclosed '[' in the host");
      if (close + 1 < host.size()) {
        if (host[close + 1] != ':') return base::MakeError("bad host:port");
        port = host.substr(close + 2);
      }
      host = host.substr(1, close - 1);
    } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (host.empty()) return base::MakeError("empty host");
    url.host = std::string(host);
    if (!port.empty()) {
      unsigned value = 0;
      auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
      if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
        return base::MakeError("bad port \"" + std::string(port) + "\"");
      }
      url.port = static_cast<uint16_t>(value);
    }
  }
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    auto value = Unescape(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value.ok())
      return base::MakeError("option \"" + std::string(key) + "\": " + value.error());
    url.options.emplace_back(std::string(key), std::move(value).value());
  }
  return url;
}

}  // namespace exporter
