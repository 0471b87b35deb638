// The doctor's checks on recorded API objects: each failure the aggregator, the Service, the
// serving certificate, the front-proxy ConfigMap, the RBAC reviews and /debug/nodes can show,
// and the cause (with its fix) the doctor names for it.
#include "doctor/checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "test/testing/test_pki.h"

namespace doctor {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

json ApiService(const std::string& status, const std::string& reason, const std::string& message,
                bool insecure = false) {
  json a = json::parse(R"({
    "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
    "metadata": {"name": "v1beta1.metrics.k8s.io"},
    "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
             "versionPriority": 100,
             "service": {"name": "cpp-metrics-server", "namespace": "kube-system", "port": 443}}})");
  if (insecure) a["spec"]["insecureSkipTLSVerify"] = true;
  a["status"]["conditions"] = json::array(
      {{{"type", "Available"}, {"status", status}, {"reason", reason}, {"message", message}}});
  return a;
}

// Messages as kube-apiserver's aggregator writes them (k8s.io/kube-aggregator
// pkg/controllers/status).
TEST(DoctorChecksTest, ApiServiceMessagesDecoded) {
  struct Case {
    std::string reason, message, cause;
  };
  const std::string prefix =
      "failing or missing response from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1: ";
  const Case cases[] = {
      {"FailedDiscoveryCheck",
       prefix + "Get \"https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1\": tls: failed to "
                "verify certificate: x509: certificate signed by unknown authority",
       "ca_bundle_mismatch"},
      {"FailedDiscoveryCheck",
       prefix + "Get \"https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1\": tls: failed to "
                "verify certificate: x509: certificate is valid for localhost, not "
                "cpp-metrics-server.kube-system.svc",
       "serving_cert_name_mismatch"},
      {"FailedDiscoveryCheck",
       prefix + "Get \"https://localhost:4443/apis/metrics.k8s.io/v1beta1\": dial tcp "
                "127.0.0.1:4443: connect: connection refused",
       "server_down"},
      {"MissingEndpoints",
       "endpoints for service/cpp-metrics-server in \"kube-system\" have no addresses with port "
       "name \"https\"",
       "server_down"},
      {"ServiceNotFound", "service/cpp-metrics-server in \"kube-system\" is not present",
       "server_down"},
      {"FailedDiscoveryCheck",
       prefix + "Get \"https://10.244.0.5:10250/apis/metrics.k8s.io/v1beta1\": context deadline "
                "exceeded (Client.Timeout exceeded while awaiting headers)",
       "server_unreachable"},
      {"FailedDiscoveryCheck",
       prefix + "bad status from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1: 401",
       "front_proxy_untrusted"},
      {"FailedDiscoveryCheck",
       prefix + "bad status from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1: 403",
       "front_proxy_untrusted"},
      {"FailedDiscoveryCheck", prefix + "bad status: 500", "apiservice_unavailable"},
  };
  for (const Case& c : cases) {
    json a = ApiService("False", c.reason, c.message);
    Finding f = CheckApiService("v1beta1.metrics.k8s.io", &a, true);
    EXPECT_EQ(f.verdict, Verdict::kFail) << c.message;
    EXPECT_EQ(f.cause, c.cause) << c.message;
    EXPECT_THAT(f.evidence, HasSubstr(c.message));
    EXPECT_FALSE(CauseFix(f.cause).text.empty()) << f.cause;
  }
}

TEST(DoctorChecksTest, ApiServiceAvailableMissingAndInsecure) {
  json ok = ApiService("True", "Passed", "all checks passed");
  Finding f = CheckApiService("v1beta1.metrics.k8s.io", &ok, true);
  EXPECT_EQ(f.verdict, Verdict::kOk);
  EXPECT_THAT(f.evidence, HasSubstr("-> Service kube-system/cpp-metrics-server:443"));

  json insecure = ApiService("True", "Passed", "all checks passed", true);
  EXPECT_EQ(CheckApiService("v1beta1.metrics.k8s.io", &insecure, true).verdict, Verdict::kWarn);

  Finding missing = CheckApiService("v1beta1.metrics.k8s.io", nullptr, true);
  EXPECT_EQ(missing.verdict, Verdict::kFail);
  EXPECT_EQ(missing.cause, "apiservice_missing");
  EXPECT_EQ(CheckApiService("v1.metrics.k8s.io", nullptr, false).verdict, Verdict::kSkipped);
}

const Target kTarget;

TEST(DoctorChecksTest, ServiceAddresses) {
  json external = json::parse(R"({"spec": {"type": "ExternalName", "externalName": "localhost"}})");
  Finding f = CheckService(kTarget, &external, nullptr, 4443);
  EXPECT_EQ(f.verdict, Verdict::kOk);
  EXPECT_THAT(f.evidence, HasSubstr("localhost:4443"));

  json selector = json::parse(R"({"spec": {"type": "ClusterIP",
      "ports": [{"name": "https", "port": 443, "targetPort": "https"}]}})");
  json slices = json::parse(R"({"items": [{
      "ports": [{"name": "https", "port": 10250}],
      "endpoints": [{"addresses": ["10.244.1.7"], "conditions": {"ready": true}},
                    {"addresses": ["10.244.2.9"], "conditions": {"ready": false}}]}]})");
  auto addresses = ServerAddresses(selector, &slices, 443);
  ASSERT_EQ(addresses.size(), 1u);
  EXPECT_EQ(addresses[0].host, "10.244.1.7");
  EXPECT_EQ(addresses[0].port, 10250);
  EXPECT_EQ(CheckService(kTarget, &selector, &slices, 443).verdict, Verdict::kOk);

  json none = json::parse(R"({"items": [{"ports": [{"name": "https", "port": 10250}],
      "endpoints": [{"addresses": ["10.244.2.9"], "conditions": {"ready": false}}]}]})");
  Finding down = CheckService(kTarget, &selector, &none, 443);
  EXPECT_EQ(down.verdict, Verdict::kFail);
  EXPECT_EQ(down.cause, "server_down");
  EXPECT_EQ(CheckService(kTarget, nullptr, nullptr, 443).cause, "server_down");
}

TEST(DoctorChecksTest, ServingCertificate) {
  testing_support::TestPki pki("serving-ca");
  testing_support::TestPki other("other-ca");
  const std::string good =
      pki.ServerCert({"localhost", "cpp-metrics-server.kube-system.svc"}).cert_pem;
  Finding ok = CheckServingCertificate(kTarget, {good}, "", pki.ca().cert_pem, false);
  EXPECT_EQ(ok.verdict, Verdict::kOk) << ok.evidence;
  EXPECT_THAT(ok.evidence, HasSubstr("DNS:cpp-metrics-server.kube-system.svc"));

  Finding wrong_ca = CheckServingCertificate(kTarget, {good}, "", other.ca().cert_pem, false);
  EXPECT_EQ(wrong_ca.verdict, Verdict::kFail);
  EXPECT_EQ(wrong_ca.cause, "ca_bundle_mismatch");
  EXPECT_THAT(wrong_ca.evidence, HasSubstr("other-ca"));

  const std::string no_svc_name = pki.ServerCert({"localhost"}).cert_pem;
  Finding name = CheckServingCertificate(kTarget, {no_svc_name}, "", pki.ca().cert_pem, false);
  EXPECT_EQ(name.cause, "serving_cert_name_mismatch");

  EXPECT_EQ(CheckServingCertificate(kTarget, {good}, "", "", true).verdict, Verdict::kWarn);
  Finding skipped = CheckServingCertificate(kTarget, {}, "10.244.1.7:10250: connect: timed out",
                                            pki.ca().cert_pem, false);
  EXPECT_EQ(skipped.verdict, Verdict::kSkipped);
  EXPECT_THAT(skipped.evidence, HasSubstr("timed out"));
  // Nothing listens: the server is down, even while the APIService still shows the last check.
  Finding refused = CheckServingCertificate(
      kTarget, {}, "localhost:4443: connect: Connection refused", pki.ca().cert_pem, false);
  EXPECT_EQ(refused.verdict, Verdict::kFail);
  EXPECT_EQ(refused.cause, "server_down");
}

TEST(DoctorChecksTest, FrontProxy) {
  testing_support::TestPki proxy("front-proxy-ca");
  json cm = {{"data",
              {{"requestheader-client-ca-file", proxy.ca().cert_pem},
               {"requestheader-allowed-names", "[\"front-proxy-client\"]"},
               {"client-ca-file", "..."}}}};
  Finding ok = CheckFrontProxy(&cm);
  EXPECT_EQ(ok.verdict, Verdict::kOk);
  EXPECT_THAT(ok.evidence, HasSubstr("front-proxy-ca"));
  EXPECT_THAT(ok.evidence, HasSubstr("front-proxy-client"));
  // Public CA certificates only: no key material in the evidence.
  EXPECT_THAT(ok.evidence, ::testing::Not(HasSubstr("BEGIN")));

  json without = {{"data", {{"client-ca-file", "..."}}}};
  EXPECT_EQ(CheckFrontProxy(&without).cause, "front_proxy_not_configured");
  EXPECT_EQ(CheckFrontProxy(nullptr).cause, "front_proxy_not_configured");
}

TEST(DoctorChecksTest, RbacFromTheManifests) {
  auto access = RequiredAccess(kTarget);
  ASSERT_EQ(access.size(), 12u);
  EXPECT_EQ(access[0].user.name, "system:serviceaccount:kube-system:cpp-metrics-server");
  EXPECT_EQ(access[0].resource, "nodes");
  EXPECT_EQ(access[0].subresource, "metrics");
  std::vector<base::Result<kube::Decision>> decisions(access.size(), kube::Decision{true, ""});
  EXPECT_EQ(CheckRbac(kTarget, access, decisions).verdict, Verdict::kOk);
  decisions[0] = kube::Decision{false, ""};
  decisions[2] = kube::Decision{false, ""};
  Finding denied = CheckRbac(kTarget, access, decisions);
  EXPECT_EQ(denied.verdict, Verdict::kFail);
  EXPECT_EQ(denied.cause, "rbac_missing");
  EXPECT_THAT(denied.evidence, HasSubstr("get nodes/metrics, list nodes"));
  decisions[0] = kube::Decision{true, ""};
  decisions[2] = base::MakeError("500 boom");
  EXPECT_EQ(CheckRbac(kTarget, access, decisions).verdict, Verdict::kSkipped);
}

TEST(DoctorChecksTest, NodeScrapesGroupedByCause) {
  json states = json::parse(R"j({"tickStart": "2026-01-01T00:00:00Z", "nodes": 5, "failed": 4,
    "items": [
      {"name": "a", "address": "https://10.0.0.1:10250/metrics/resource", "success": false,
       "cause": "no_ip_san", "error": "10.0.0.1:10250: handshake: ... (IP address mismatch)"},
      {"name": "b", "address": "https://10.0.0.2:10250/metrics/resource", "success": false,
       "cause": "timeout", "error": "10.0.0.2:10250: connect: timed out"},
      {"name": "c", "address": "https://10.0.0.3:10250/metrics/resource", "success": false,
       "cause": "refused", "error": "10.0.0.3:10250: connect: Connection refused"},
      {"name": "d", "address": "https://10.0.0.4:10250/metrics/resource", "success": false,
       "cause": "forbidden", "error": "request failed, status: \"403 Forbidden\""}]})j");
  auto findings = CheckNodeScrapes(&states, "");
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(findings[0].cause, "kubelet_no_ip_san");
  EXPECT_EQ(findings[1].cause, "kubelet_unreachable");
  EXPECT_THAT(findings[1].evidence, HasSubstr("2 of 5 node(s): b ("));
  EXPECT_EQ(findings[2].cause, "kubelet_forbidden");
  EXPECT_THAT(Causes(findings),
              ElementsAre("kubelet_no_ip_san", "kubelet_unreachable", "kubelet_forbidden"));

  json healthy =
      json::parse(R"({"tickStart": "2026-01-01T00:00:00Z", "nodes": 5, "failed": 0, "items": []})");
  auto ok = CheckNodeScrapes(&healthy, "");
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].verdict, Verdict::kOk);
  EXPECT_EQ(CheckNodeScrapes(nullptr, "refused")[0].verdict, Verdict::kSkipped);
}

// --kubelet-summary-api: a scraped node whose /stats/summary read failed is its own finding, by
// /debug/nodes' summaryCause: 404 (no summary API), 403 (nodes/stats not granted), other.
TEST(DoctorChecksTest, SummaryFailuresAreDecoded) {
  json states = json::parse(R"j({"tickStart": "2026-01-01T00:00:00Z", "nodes": 4, "failed": 0,
    "items": [
      {"name": "a", "success": true, "cause": "none", "error": "", "summaryCause": "not_found",
       "summaryError": "https://10.0.0.1:10250/stats/summary: request failed, status: \"404 Not Found\""},
      {"name": "b", "success": true, "cause": "none", "error": "", "summaryCause": "forbidden",
       "summaryError": "https://10.0.0.2:10250/stats/summary: request failed, status: \"403 Forbidden\""},
      {"name": "c", "success": true, "cause": "none", "error": "", "summaryCause": "not_found",
       "summaryError": "https://10.0.0.3:10250/stats/summary: request failed, status: \"404 Not Found\""},
      {"name": "d", "success": true, "cause": "none", "error": "", "summaryCause": "timeout",
       "summaryError": "https://10.0.0.4:10250/stats/summary: timed out"}]})j");
  auto findings = CheckNodeScrapes(&states, "");
  ASSERT_EQ(findings.size(), 4u);
  EXPECT_EQ(findings[0].verdict, Verdict::kOk);  // the scrapes themselves
  EXPECT_EQ(findings[1].cause, "kubelet_summary_not_found");
  EXPECT_THAT(findings[1].evidence, HasSubstr("2 of 4 node(s) without ephemeral-storage: a: "));
  EXPECT_EQ(findings[2].cause, "kubelet_summary_forbidden");
  EXPECT_EQ(findings[3].cause, "kubelet_summary_failed");
  EXPECT_THAT(CauseFix("kubelet_summary_forbidden").text, HasSubstr("nodes/stats"));
  EXPECT_THAT(CauseFix("kubelet_summary_not_found").text, HasSubstr("404"));
}

// A symptom seen by several checks is one cause; the report gives the fix and where to read.
TEST(DoctorChecksTest, ReportNamesEachCauseOnceWithItsFix) {
  std::vector<Finding> findings = {
      {"APIService v1beta1.metrics.k8s.io", Verdict::kFail, "ca_bundle_mismatch", "x509"},
      {"Service kube-system/cpp-metrics-server", Verdict::kOk, "", "ExternalName localhost:4443"},
      {"Serving certificate", Verdict::kFail, "ca_bundle_mismatch", "not verified"},
      {"Kubelet scrapes", Verdict::kSkipped, "", "not reachable"},
  };
  EXPECT_THAT(Causes(findings), ElementsAre("ca_bundle_mismatch"));
  const std::string text = RenderText(findings);
  EXPECT_THAT(text, HasSubstr("[FAIL] APIService v1beta1.metrics.k8s.io\n"));
  EXPECT_THAT(text, HasSubstr("    fix: The APIService caBundle is not the CA"));
  EXPECT_THAT(text, HasSubstr("    see: README.md#doctor-ca-bundle\n"));
  EXPECT_THAT(text, HasSubstr("causes: ca_bundle_mismatch\n"));
  json j = json::parse(RenderJson(findings));
  EXPECT_EQ(j["healthy"], false);
  EXPECT_EQ(j["causes"], json::array({"ca_bundle_mismatch"}));
  EXPECT_EQ(j["checks"][2]["verdict"], "fail");
  EXPECT_EQ(j["checks"][3]["verdict"], "skipped");
  EXPECT_EQ(json::parse(RenderJson({findings[1]}))["healthy"], true);
  EXPECT_THAT(RenderText({findings[1]}), HasSubstr("healthy\n"));
}

}  // namespace
}  // namespace doctor
