#include "scraper/scrape_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "base/metrics.h"
#include "scraper/self_metrics.h"

namespace scraper {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr base::UnixNanos kSecond = 1000000000;
constexpr base::UnixNanos kT0 = 1700000000 * kSecond;  // 2023-11-14T22:13:20Z

// The messages below are the ones the kubelet client, the HTTP client and the manager write
// (net/http_client.cc, scraper/kubelet_client_impl.cc, scraper/manager.cc).
TEST(ScrapeStateTest, ClassifiesTheErrorsTheScraperWrites) {
  struct Case {
    const char* error;
    ScrapeCause cause;
  };
  const Case cases[] = {
      {"", ScrapeCause::kNone},
      {"target: node has no address of type InternalIP, ExternalIP, Hostname",
       ScrapeCause::kNoAddress},
      {"10.0.0.5:10250: handshake: certificate verify failed (IP address mismatch)",
       ScrapeCause::kNoIpSan},
      {"node-1:10250: handshake: certificate verify failed (Hostname mismatch)",
       ScrapeCause::kHostnameMismatch},
      // As the server wrote them on a real cluster, with OpenSSL 3 (test/cluster/check-doctor.sh:
      // a kubelet certificate with a DNS SAN only), and for a DNS name the certificate lacks.
      {"127.0.0.3:23549: handshake: certificate verify failed (SSL routines) (IP address "
       "mismatch)",
       ScrapeCause::kNoIpSan},
      {"kubelet.internal:10250: handshake: certificate verify failed (SSL routines) (hostname "
       "mismatch)",
       ScrapeCause::kHostnameMismatch},
      {"10.0.0.5:10250: handshake: certificate verify failed (unable to get local issuer "
       "certificate)",
       ScrapeCause::kUnknownAuthority},
      {"10.0.0.5:10250: handshake: certificate verify failed (self-signed certificate)",
       ScrapeCause::kUnknownAuthority},
      {"request failed, status: \"401 Unauthorized\"", ScrapeCause::kUnauthorized},
      {"request failed, status: \"403 Forbidden\"", ScrapeCause::kForbidden},
      {"request failed, status: \"500 Internal Server Error\"", ScrapeCause::kHttpStatus},
      {"10.0.0.5:10250: connect: timed out", ScrapeCause::kTimeout},
      {"no answer by the tick deadline", ScrapeCause::kTimeout},
      {"not started before the tick deadline (64 scrapes in flight)", ScrapeCause::kTimeout},
      {"127.0.0.1:1: connect: Connection refused", ScrapeCause::kRefused},
      {"10.9.9.9:10250: connect: No route to host", ScrapeCause::kUnreachable},
      {"parse: line 3: expected a metric name", ScrapeCause::kMalformedResponse},
      {"10.0.0.5:10250: read: malformed response (bad version)", ScrapeCause::kMalformedResponse},
      {"10.0.0.5:10250: read: body exceeds limit of 1048576 bytes",
       ScrapeCause::kMalformedResponse},
      {"kubelet reported resource_scrape_error 1", ScrapeCause::kOther},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ScrapeCauseName(ClassifyScrapeError(c.error)), std::string(ScrapeCauseName(c.cause)))
        << c.error;
  }
}

TickReport Report() {
  TickReport r;
  r.start = kT0;
  r.duration = milliseconds(1500);
  NodeOutcome ok{
      "a", "https://10.0.0.1:10250/metrics/resource", kT0, milliseconds(20), true, "", kT0, ""};
  NodeOutcome bad{"b",
                  "https://10.0.0.2:10250/metrics/resource",
                  kT0,
                  milliseconds(10000),
                  false,
                  "10.0.0.2:10250: connect: timed out",
                  kT0 - 60 * kSecond,
                  ""};
  NodeOutcome never{"c", "", 0, milliseconds(0), false, "target: no address", 0, ""};
  r.nodes = {ok, bad, never};
  r.succeeded = 1;
  r.failed = 2;
  return r;
}

TEST(ScrapeStateTest, RendersEachNodeFailuresFirst) {
  TickReport r = Report();
  auto j = nlohmann::json::parse(RenderScrapeState(&r, kT0 + 5 * kSecond));
  EXPECT_EQ(j["tickStart"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(j["nodes"], 3);
  EXPECT_EQ(j["succeeded"], 1);
  EXPECT_EQ(j["failed"], 2);
  EXPECT_EQ(j["listed"], 3);
  EXPECT_EQ(j["truncated"], false);
  ASSERT_EQ(j["items"].size(), 3u);
  const auto& b = j["items"][0];
  EXPECT_EQ(b["name"], "b");
  EXPECT_EQ(b["address"], "https://10.0.0.2:10250/metrics/resource");
  EXPECT_EQ(b["success"], false);
  EXPECT_EQ(b["cause"], "timeout");
  EXPECT_EQ(b["error"], "10.0.0.2:10250: connect: timed out");
  EXPECT_EQ(b["durationSeconds"], 10.0);
  EXPECT_EQ(b["lastSuccess"], "2023-11-14T22:12:20Z");
  EXPECT_EQ(b["secondsSinceLastSuccess"], 65);
  const auto& c = j["items"][1];
  EXPECT_EQ(c["name"], "c");
  EXPECT_EQ(c["cause"], "no_address");
  EXPECT_TRUE(c["lastAttempt"].is_null());
  EXPECT_TRUE(c["lastSuccess"].is_null());
  EXPECT_TRUE(c["secondsSinceLastSuccess"].is_null());
  const auto& a = j["items"][2];
  EXPECT_EQ(a["name"], "a");
  EXPECT_EQ(a["success"], true);
  EXPECT_EQ(a["cause"], "none");
  EXPECT_EQ(a["error"], "");
  EXPECT_EQ(a["secondsSinceLastSuccess"], 5);
  EXPECT_FALSE(a.contains("summaryError"));  // no summary read failed (or none was made)

  // --kubelet-summary-api: a failed /stats/summary read is shown with its cause.
  r.nodes[0].summary_error =
      "https://10.0.0.1:10250/stats/summary: request failed, status: \"404 Not Found\"";
  auto with_summary = nlohmann::json::parse(RenderScrapeState(&r, kT0));
  const auto& s = with_summary["items"][2];
  EXPECT_EQ(s["name"], "a");
  EXPECT_EQ(s["summaryError"], r.nodes[0].summary_error);
  EXPECT_EQ(s["summaryCause"], "not_found");
  EXPECT_STREQ(SummaryCauseName("x: request failed, status: \"403 Forbidden\""), "forbidden");
  EXPECT_STREQ(SummaryCauseName("x: summary: byte 11: unexpected end of the body"), "other");

  auto failed = nlohmann::json::parse(RenderScrapeState(&r, kT0, {.failed_only = true}));
  EXPECT_EQ(failed["listed"], 2);
  EXPECT_EQ(failed["nodes"], 3);
}

TEST(ScrapeStateTest, NoTickYet) {
  auto j = nlohmann::json::parse(RenderScrapeState(nullptr, kT0));
  EXPECT_TRUE(j["tickStart"].is_null());
  EXPECT_EQ(j["nodes"], 0);
  EXPECT_TRUE(j["items"].empty());
}

// The bound: at most kMaxListedNodes items, each field cut, so the answer stays under
// kMaxStateBytes even when every node fails with a long error and has a long address.
TEST(ScrapeStateTest, BoundedAtTenThousandNodes) {
  TickReport r;
  r.start = kT0;
  const std::string long_error(4000, 'e');
  const std::string long_url = "https://" + std::string(1000, 'h') + ":10250/metrics/resource";
  for (size_t i = 0; i < kMaxListedNodes + 1; ++i) {
    char name[254];
    std::snprintf(name, sizeof name, "%0253zu", i);
    const bool fails = i % 2 == 1;
    r.nodes.push_back(NodeOutcome{name, long_url, kT0, milliseconds(10), !fails,
                                  fails ? long_error : "", kT0, ""});
  }
  const std::string body = RenderScrapeState(&r, kT0);
  EXPECT_LT(body.size(), kMaxStateBytes);
  auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["nodes"], kMaxListedNodes + 1);
  EXPECT_EQ(j["listed"], kMaxListedNodes);
  EXPECT_EQ(j["truncated"], true);
  ASSERT_EQ(j["items"].size(), kMaxListedNodes);
  // Every failure is listed (they come first); one success is left out.
  EXPECT_EQ(j["items"][0]["success"], false);
  EXPECT_EQ(j["items"][kMaxListedNodes / 2 - 1]["success"], false);
  EXPECT_EQ(j["items"][kMaxListedNodes / 2]["success"], true);
  EXPECT_EQ(j["items"][0]["error"].get<std::string>().size(), kMaxErrorBytes);
  EXPECT_THAT(j["items"][0]["error"].get<std::string>(), ::testing::EndsWith("..."));
  EXPECT_EQ(j["items"][0]["address"].get<std::string>().size(), kMaxAddressBytes);
}

}  // namespace
}  // namespace scraper
