// The pieces of a --sink value that every sink kind shares: Heapster's
// `<kind>:<scheme>://host:port[/path]?key=value&...` syntax, its query decoding and booleans, and
// the masking of secrets in error messages. Each sink kind interprets the options itself
// (influx_sink.h, otlp_sink.h). Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace exporter {

struct SinkUrl {
  bool https = false;            // the scheme was https
  std::string host;              // empty: not given (the kind's default applies)
  std::optional<uint16_t> port;  // not given: the kind's default
  std::string path;              // "" or e.g. "/v1/metrics"; "/" is returned as ""
  std::vector<std::pair<std::string, std::string>> options;  // decoded query, in order
};

// Parses what follows "<kind>:" in a --sink value. Fails, with the reason only (the caller adds
// the redacted flag), on a scheme other than http/https, a bad host or port, a bad %-escape, or
// user:password@ in the URL (`credentials_hint` then says where they go instead).
base::Result<SinkUrl> ParseSinkUrl(std::string_view rest, std::string_view credentials_hint);

// `flag` with any user:password@ in the URL, and the values of the query keys in `secret_keys`,
// replaced by "xxxxx", for error messages.
std::string RedactedSinkFlag(std::string_view flag,
                             std::initializer_list<std::string_view> secret_keys);

// Go's strconv.ParseBool, which Heapster used for its boolean options.
bool ParseGoBool(std::string_view v, bool* out);

}  // namespace exporter
