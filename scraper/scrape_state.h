// Each node's scrape state as the server reports it on /debug/nodes (README, "Troubleshooting"):
// the last tick's outcome per node, the address used, and the failure's cause decoded into one
// of a few names a person or `cpp-metrics-server doctor` can act on.
//
// Pure functions of a TickReport; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "scraper/manager.h"

namespace scraper {

// Why a scrape failed, decoded from its error message (net/http_client.cc, kubelet_client_impl.cc
// and manager.cc write them).
enum class ScrapeCause {
  kNone,               // succeeded
  kNoAddress,          // the Node has no address of a preferred type (target: ...)
  kNoIpSan,            // the kubelet's certificate has no IP SAN for the address dialled
  kHostnameMismatch,   // the kubelet's certificate does not name the host dialled
  kUnknownAuthority,   // the kubelet's certificate is not signed by a trusted CA
  kUnauthorized,       // 401: the kubelet does not accept the server's token
  kForbidden,          // 403: the server's ServiceAccount may not get nodes/metrics
  kHttpStatus,         // another non-200 status
  kTimeout,            // connect, handshake or answer not within the deadline
  kRefused,            // connection refused: nothing listens on the kubelet port
  kUnreachable,        // no route to the address
  kMalformedResponse,  // the answer is not kubelet resource metrics (or exceeds a limit)
  kOther,
};

// The cause of a failed scrape's `error`; kNone when `error` is empty.
ScrapeCause ClassifyScrapeError(std::string_view error);
// A stable name for JSON and logs: "none", "no_address", "no_ip_san", "hostname_mismatch",
// "unknown_authority", "unauthorized", "forbidden", "http_status", "timeout", "refused",
// "unreachable", "malformed_response", "other".
const char* ScrapeCauseName(ScrapeCause cause);

// The cause of a failed /stats/summary read (--kubelet-summary-api) from its error: "not_found"
// for a 404 (the kubelet has no summary API), else ScrapeCauseName's names ("forbidden": the
// ServiceAccount may not get nodes/stats).
const char* SummaryCauseName(std::string_view error);

// At most this many nodes are listed (failures first, then by name); the counts cover all.
inline constexpr size_t kMaxListedNodes = 10000;
// Longer errors and addresses are cut (with "..." at the end).
inline constexpr size_t kMaxErrorBytes = 512;
inline constexpr size_t kMaxAddressBytes = 300;
// So one listed node takes at most ~1.2 KiB and the whole answer at most kMaxStateBytes; a healthy
// 10,000-node cluster's answer is about 2 MiB.
inline constexpr size_t kMaxStateBytes = 12u << 20;

struct ScrapeStateOptions {
  bool failed_only = false;  // list only the nodes whose last scrape failed
};

// The JSON of /debug/nodes:
//   {"tickStart": RFC 3339 or null, "tickDurationSeconds": s, "nodes": all nodes in the tick,
//    "succeeded": n, "failed": n, "listed": n, "truncated": bool,
//    "items": [{"name", "address" (the URL scraped, "" when none), "success": bool,
//               "lastAttempt": RFC 3339 or null, "durationSeconds": s,
//               "lastSuccess": RFC 3339 or null, "secondsSinceLastSuccess": s or null,
//               "error": "" on success, "cause": ScrapeCauseName,
//               only when the node's /stats/summary read failed (--kubelet-summary-api):
//               "summaryError", "summaryCause": SummaryCauseName}]}
// `report` may be null (no tick finished yet: no items). `now` is for secondsSinceLastSuccess.
std::string RenderScrapeState(const TickReport* report, base::UnixNanos now,
                              const ScrapeStateOptions& options = {});

}  // namespace scraper
