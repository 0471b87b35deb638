// The authentication and authorization matrix through real TLS against the real binary, run at
// its most verbose log level: every credential that must not pass gets exactly the expected
// status (401 or 403) and never metrics; the positive controls get 200 (so the matrix is not
// vacuous); a SubjectAccessReview error is a 403 even for a user whose token is cached; and no
// secret (bearer tokens, private keys) ever appears in the server's output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <set>
#include <sstream>

#include "test/system/system_harness.h"

namespace system_test {
namespace {

using namespace std::chrono_literals;

const char* const kTargets[] = {"/apis/metrics.k8s.io/v1beta1/nodes",
                                "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", "/metrics",
                                "/debug/nodes", "/metrics/heapster"};

bool HasData(const std::string& body) {
  return body.find("NodeMetrics") != std::string::npos ||
         body.find("PodMetrics") != std::string::npos ||
         body.find("metrics_server_") != std::string::npos ||
         body.find("heapster_") != std::string::npos ||
         body.find("\"tickStart\"") != std::string::npos;
}

// The base64 lines of a PEM block (what a leaked key would show).
std::vector<std::string> PemLines(const std::string& pem) {
  std::vector<std::string> out;
  std::istringstream in(pem);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '-' && line.size() >= 16) out.push_back(line);
  }
  return out;
}

TEST(AuthMatrix, NoBypassThroughRealTlsAndNoSecretsInVerboseLogs) {
  System sys;
  sys.AddKubelets(2);
  auto& api = sys.apiserver();
  api.AddToken("alice-token-3f9c2a7d", "alice", {"dev"});
  api.AddToken("bob-token-8e1b44c0", "bob", {"dev"});
  api.AddToken("carol-token-5a6d9e21", "carol", {});
  api.AddToken("expired-token-0c7f3b19", "dave", {});
  api.ExpireToken("expired-token-0c7f3b19");
  api.SetSarPolicy([](const nlohmann::json& spec) {
    const std::string user = spec.value("user", "");
    const bool allowed = user == "alice" || user == "carol";
    return nlohmann::json{{"allowed", allowed}, {"reason", allowed ? "test allows" : ""}};
  });
  ASSERT_TRUE(sys.Start({"-v=10", "--heapster-metrics"}));

  testing_support::TestPki rogue("rogue-ca");
  auto rogue_cert = rogue.ClientCert("alice", {"system:masters"});
  net::CertificateSpec expired_spec;
  expired_spec.common_name = "alice";
  expired_spec.organizations = {"system:masters"};
  expired_spec.client_auth = true;
  expired_spec.not_before = std::chrono::system_clock::now() - std::chrono::hours(48);
  expired_spec.not_after = std::chrono::system_clock::now() - std::chrono::hours(24);
  auto expired_cert = sys.client_ca().Issue(expired_spec);
  const std::vector<std::pair<std::string, std::string>> spoof = {
      {"X-Remote-User", "alice"}, {"X-Remote-Group", "system:masters"}};
  auto with = [](Credentials c, std::vector<std::pair<std::string, std::string>> h) {
    c.headers = std::move(h);
    return c;
  };
  auto token = [](const std::string& t) { return Credentials{"", "", t, {}}; };
  // A client certificate from the client CA whose CN is the allowed front-proxy name: still
  // only an x509 user (the request-header CA did not sign it), headers ignored.
  auto client_ca_proxy_name = sys.ClientCert("front-proxy-client");

  struct Case {
    std::string name;
    Credentials who;
    unsigned want;
  };
  const std::vector<Case> negative = {
      {"no credentials", {}, 403},
      {"client cert from an unknown CA", {rogue_cert.cert_pem, rogue_cert.key_pem, "", {}}, 401},
      {"expired client cert", {expired_cert.cert_pem, expired_cert.key_pem, "", {}}, 401},
      {"front-proxy cert with a CN not allowed", with(sys.Proxy("rogue-proxy"), spoof), 401},
      {"X-Remote-* headers without credentials", with({}, spoof), 403},
      {"X-Remote-* headers from a client-CA cert", with(sys.ClientCert("mallory"), spoof), 403},
      {"X-Remote-* headers from a client-CA cert named like the proxy",
       with(client_ca_proxy_name, spoof), 403},
      {"X-Remote-* headers with a bearer token", with(token("bob-token-8e1b44c0"), spoof), 403},
      {"expired token", token("expired-token-0c7f3b19"), 401},
      {"unknown token", token("unknown-token-77d2e0aa"), 401},
      {"SAR deny (token)", token("bob-token-8e1b44c0"), 403},
      {"SAR deny (client cert)", sys.ClientCert("bob"), 403},
  };
  const std::vector<Case> positive = {
      {"system:masters client cert", sys.Admin(), 200},
      {"client cert allowed by SAR", sys.ClientCert("alice"), 200},
      {"token allowed by SAR", token("alice-token-3f9c2a7d"), 200},
      {"front proxy with allowed CN", with(sys.Proxy(), {{"X-Remote-User", "alice"}}), 200},
  };

  int requests = 0, bypasses = 0, wrong_status = 0;
  std::string table;
  auto run = [&](const Case& c, bool must_deny) {
    for (const char* target : kTargets) {
      // /metrics, /debug/nodes and /metrics/heapster need a non-resource permission the SAR
      // policy gives alice and carol too.
      auto r = sys.Get(target, c.who);
      ++requests;
      ASSERT_TRUE(r.ok()) << c.name << " " << target << ": " << r.error();
      if (must_deny && (r->status == 200 || HasData(r->body))) {
        ++bypasses;
        ADD_FAILURE() << "BYPASS: " << c.name << " " << target << " -> " << r->status;
      }
      if (r->status != c.want) {
        ++wrong_status;
        ADD_FAILURE() << c.name << " " << target << ": got " << r->status << " want " << c.want
                      << ": " << r->body.substr(0, 300);
      }
    }
    table += "  " + c.name + ": " + std::to_string(c.want) + "\n";
  };
  for (const auto& c : positive) run(c, false);
  for (const auto& c : negative) run(c, true);

  // SAR error: carol (allowed by policy) with the review failing. The first request caches her
  // token; the second must not turn the cached authentication plus a review error into an allow.
  api.SetAccessReviewsFailing(true);
  const Case sar_error{"SAR error (500)", token("carol-token-5a6d9e21"), 403};
  run(sar_error, true);
  run(sar_error, true);
  const auto cached_front_proxy = with(sys.Proxy(), {{"X-Remote-User", "carol"}});
  run({"SAR error via front proxy", cached_front_proxy, 403}, true);
  api.SetAccessReviewsFailing(false);
  // The error was not cached as a decision: carol is allowed once the review works again.
  run({"after the SAR error is gone", token("carol-token-5a6d9e21"), 200}, false);

  EXPECT_EQ(bypasses, 0);
  EXPECT_EQ(wrong_status, 0);
  Figure("auth_matrix", std::to_string(negative.size() + 3) + " denied cases + " +
                            std::to_string(positive.size() + 1) + " positive controls x " +
                            std::to_string(std::size(kTargets)) +
                            " targets = " + std::to_string(requests) +
                            " requests over TLS: " + std::to_string(bypasses) + " bypasses, " +
                            std::to_string(wrong_status) + " unexpected statuses");
  std::printf("auth matrix (expected status):\n%s", table.c_str());

  // Secrets: after the whole matrix at -v=10, nothing secret in the server's output.
  sys.Signal(SIGTERM);
  ASSERT_TRUE(sys.Wait(20s).has_value());
  const std::string log = sys.Log();
  std::vector<std::string> secrets = {"alice-token-3f9c2a7d",
                                      "bob-token-8e1b44c0",
                                      "carol-token-5a6d9e21",
                                      "expired-token-0c7f3b19",
                                      "unknown-token-77d2e0aa",
                                      kube::fake::FakeKubeApiserver::kToken,
                                      "PRIVATE KEY"};
  for (auto& l : PemLines(sys.ServingKeyPem())) secrets.push_back(l);
  int leaks = 0;
  for (const auto& s : secrets) {
    if (log.find(s) != std::string::npos) {
      ++leaks;
      ADD_FAILURE() << "secret in the server log: " << s;
    }
  }
  std::size_t lines = 0;
  for (char ch : log) lines += ch == '\n';
  EXPECT_GT(lines, 50u) << "the log is suspiciously short for -v=10";
  Figure(
      "secrets_not_logged",
      std::to_string(lines) + " log lines at -v=10 over " + std::to_string(requests) +
          " matrix requests: " + std::to_string(secrets.size()) +
          " secret strings searched (6 bearer tokens, serving-key PEM lines, \"PRIVATE KEY\"), " +
          std::to_string(leaks) + " found");
}

}  // namespace
}  // namespace system_test
