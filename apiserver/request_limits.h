// The limits every request head is parsed under, apart from the server that applies them
// (server.h) and the parser helpers that enforce them (http_parser.h). Plain values.
#pragma once

#include <cstddef>
#include <cstdint>

namespace apiserver {

struct RequestLimits {
  // Request line and headers together, and the most a connection's read buffer holds. Requests
  // to a metrics API carry small heads (a bearer token of 1-4 KiB, or the front proxy's
  // X-Remote-* headers: one line per group); 32 KiB leaves room for a user in several hundred
  // groups and is nginx's default total (4 x 8 KiB), against Go's 1 MiB.
  uint32_t header_limit_bytes = 32 * 1024;
};

// The longest request target served (path and query, bytes). The longest real ones are pod
// lists with label selectors of a few hundred bytes; 8 KiB is Apache's and nginx's default
// request-line limit. A longer target gets 414 before authentication or authorization see it.
inline constexpr std::size_t kMaxTargetBytes = 8 * 1024;

}  // namespace apiserver
