#include "scraper/scrape_state.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <vector>

namespace scraper {
namespace {

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

bool ContainsAny(std::string_view s, std::initializer_list<std::string_view> parts) {
  return std::any_of(parts.begin(), parts.end(),
                     [s](std::string_view p) { return Contains(s, p); });
}

// Cuts `s` to `limit` bytes at a UTF-8 character boundary, marking the cut.
std::string Cut(std::string_view s, size_t limit) {
  if (s.size() <= limit) return std::string(s);
  size_t end = limit - 3;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end)) + "...";
}

nlohmann::json Time(base::UnixNanos t) {
  if (t == 0) return nullptr;
  std::time_t seconds = static_cast<std::time_t>(t / 1000000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

ScrapeCause ClassifyScrapeError(std::string_view e) {
  if (e.empty()) return ScrapeCause::kNone;
  if (e.substr(0, 8) == "target: ") return ScrapeCause::kNoAddress;
  if (Contains(e, "status: \"401")) return ScrapeCause::kUnauthorized;
  if (Contains(e, "status: \"403")) return ScrapeCause::kForbidden;
  if (Contains(e, "request failed, status: ")) return ScrapeCause::kHttpStatus;
  if (ContainsAny(e, {"IP address mismatch", "doesn't contain any IP SANs"})) {
    return ScrapeCause::kNoIpSan;
  }
  // OpenSSL 3 spells X509_V_ERR_HOSTNAME_MISMATCH "hostname mismatch", 1.1 "Hostname mismatch".
  if (ContainsAny(e, {"hostname mismatch", "Hostname mismatch", "certificate is valid for"})) {
    return ScrapeCause::kHostnameMismatch;
  }
  if (ContainsAny(e, {"unable to get local issuer certificate", "unable to get issuer certificate",
                      "self-signed certificate", "self signed certificate",
                      "certificate signature failure", "signed by unknown authority"})) {
    return ScrapeCause::kUnknownAuthority;
  }
  if (Contains(e, "Connection refused")) return ScrapeCause::kRefused;
  if (ContainsAny(e, {"No route to host", "Network is unreachable", "Host is unreachable"})) {
    return ScrapeCause::kUnreachable;
  }
  if (ContainsAny(e, {"timed out", "idle timeout", "tick deadline", "deadline passed"})) {
    return ScrapeCause::kTimeout;
  }
  if (ContainsAny(e, {"parse: ", "malformed response", "connection closed", "body exceeds limit",
                      "response header exceeds", "chunk header or trailer exceeds"})) {
    return ScrapeCause::kMalformedResponse;
  }
  return ScrapeCause::kOther;
}

const char* SummaryCauseName(std::string_view error) {
  if (error.find("status: \"404 ") != std::string_view::npos) return "not_found";
  return ScrapeCauseName(ClassifyScrapeError(error));
}

const char* ScrapeCauseName(ScrapeCause cause) {
  switch (cause) {
    case ScrapeCause::kNone:
      return "none";
    case ScrapeCause::kNoAddress:
      return "no_address";
    case ScrapeCause::kNoIpSan:
      return "no_ip_san";
    case ScrapeCause::kHostnameMismatch:
      return "hostname_mismatch";
    case ScrapeCause::kUnknownAuthority:
      return "unknown_authority";
    case ScrapeCause::kUnauthorized:
      return "unauthorized";
    case ScrapeCause::kForbidden:
      return "forbidden";
    case ScrapeCause::kHttpStatus:
      return "http_status";
    case ScrapeCause::kTimeout:
      return "timeout";
    case ScrapeCause::kRefused:
      return "refused";
    case ScrapeCause::kUnreachable:
      return "unreachable";
    case ScrapeCause::kMalformedResponse:
      return "malformed_response";
    case ScrapeCause::kOther:
      return "other";
  }
  return "other";
}

std::string RenderScrapeState(const TickReport* report, base::UnixNanos now,
                              const ScrapeStateOptions& options) {
  nlohmann::json out = nlohmann::json::object();
  out["tickStart"] = report ? Time(report->start) : nullptr;
  out["tickDurationSeconds"] = report ? Seconds(report->duration) : 0.0;
  out["nodes"] = report ? report->nodes.size() : 0;
  out["succeeded"] = report ? report->succeeded : 0;
  out["failed"] = report ? report->failed : 0;
  nlohmann::json items = nlohmann::json::array();
  bool truncated = false;
  if (report != nullptr) {
    // Failures first (they are what a reader looks for), each group by name (as the report is).
    std::vector<const NodeOutcome*> listed;
    for (const auto& n : report->nodes) {
      if (!n.success) listed.push_back(&n);
    }
    if (!options.failed_only) {
      for (const auto& n : report->nodes) {
        if (n.success) listed.push_back(&n);
      }
    }
    if (listed.size() > kMaxListedNodes) {
      listed.resize(kMaxListedNodes);
      truncated = true;
    }
    for (const NodeOutcome* n : listed) {
      nlohmann::json item;
      item["name"] = Cut(n->node, 253);
      item["address"] = Cut(n->url, kMaxAddressBytes);
      item["success"] = n->success;
      item["lastAttempt"] = Time(n->started);
      item["durationSeconds"] = Seconds(n->duration);
      item["lastSuccess"] = Time(n->last_success);
      item["secondsSinceLastSuccess"] = n->last_success == 0
                                            ? nlohmann::json(nullptr)
                                            : nlohmann::json((now - n->last_success) / 1000000000);
      item["error"] = Cut(n->error, kMaxErrorBytes);
      item["cause"] =
          ScrapeCauseName(n->success ? ScrapeCause::kNone : ClassifyScrapeError(n->error));
      if (!n->summary_error.empty()) {
        item["summaryError"] = Cut(n->summary_error, kMaxErrorBytes);
        item["summaryCause"] = SummaryCauseName(n->summary_error);
      }
      items.push_back(std::move(item));
    }
  }
  out["listed"] = items.size();
  out["truncated"] = truncated;
  out["items"] = std::move(items);
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace scraper
