// The checks of `cpp-metrics-server doctor`, in the order a request travels: the APIService,
// the Service and its EndpointSlices, the serving certificate, kube-apiserver's front-proxy
// configuration, the server's RBAC, and each node's last scrape. Each is a pure function of the
// API objects (or the certificates, or the server's /debug/nodes) already fetched, so tests
// run them on recorded objects; doctor/doctor.h fetches and prints.
//
// A failing check names a cause: a stable id (CauseFix gives the fix and the README section
// for it). A symptom seen by several checks carries the same cause, so the report names each
// root cause once. Nothing here reads or returns secrets: only object metadata, conditions,
// public certificates and the server's scrape errors.
//
// Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "kube/auth.h"

namespace doctor {

enum class Verdict { kOk, kWarn, kFail, kSkipped };
const char* VerdictName(Verdict v);  // "ok", "warn", "fail", "skipped"

struct Finding {
  std::string check;  // what was checked, e.g. "APIService v1beta1.metrics.k8s.io"
  Verdict verdict = Verdict::kOk;
  std::string cause;  // kFail: a cause id ("ca_bundle_mismatch", ...); else ""
  std::string evidence;
};

// The fix for a cause and the README section that explains it ("" for unknown causes).
struct Fix {
  std::string text;
  std::string doc;  // e.g. "README.md#troubleshooting-apiservice"
};
Fix CauseFix(const std::string& cause);

// Where the doctor looks (defaults: metrics-server-compatible names of manifests/).
struct Target {
  std::string ns = "kube-system";
  std::string service = "cpp-metrics-server";
  std::string service_account = "cpp-metrics-server";
  std::vector<std::string> apiservices = {"v1beta1.metrics.k8s.io", "v1.metrics.k8s.io"};
};

// The cause an APIService condition's reason and message point at: ca_bundle_mismatch,
// serving_cert_name_mismatch, server_down, server_unreachable, front_proxy_untrusted, or
// apiservice_unavailable.
std::string ClassifyApiServiceMessage(const std::string& reason, const std::string& message);

// `apiservice` null: not found (fails only when `required`, else the check is skipped).
Finding CheckApiService(const std::string& name, const nlohmann::json* apiservice, bool required);

// A host and port the server answers on, as the aggregator would reach it.
struct Address {
  std::string host;
  int port = 0;
};
// The Service's ready addresses for the APIService's service port: an ExternalName Service
// gives its externalName, a selector Service the ready endpoints of its EndpointSlices
// (`slices`: an EndpointSliceList).
std::vector<Address> ServerAddresses(const nlohmann::json& service, const nlohmann::json* slices,
                                     int service_port);
// `service` null: missing. Fails (server_down) when no ready address exists.
Finding CheckService(const Target& target, const nlohmann::json* service,
                     const nlohmann::json* slices, int service_port);

// The serving certificate (`chain_pem`: leaf first, from a TLS handshake; empty when the
// handshake failed with `handshake_error`) against the APIService's `ca_bundle_pem` and the
// name the aggregator verifies, <service>.<namespace>.svc. `insecure`: the APIService has
// insecureSkipTLSVerify (nothing to verify against: a warning). A refused connection fails
// (server_down); other handshake errors skip the check.
Finding CheckServingCertificate(const Target& target, const std::vector<std::string>& chain_pem,
                                const std::string& handshake_error,
                                const std::string& ca_bundle_pem, bool insecure);

// kube-system/extension-apiserver-authentication (null: not readable or missing): the
// front-proxy CA and allowed names kube-apiserver publishes, which the server trusts.
Finding CheckFrontProxy(const nlohmann::json* configmap);

// What the server's ServiceAccount must be allowed, from manifests/rbac.yaml: get nodes/metrics;
// get, list, watch nodes and pods; create tokenreviews and subjectaccessreviews
// (system:auth-delegator); get, list, watch the extension-apiserver-authentication ConfigMap
// in kube-system (extension-apiserver-authentication-reader).
std::vector<kube::Attributes> RequiredAccess(const Target& target);
// One decision (or review error) per RequiredAccess entry, in order.
Finding CheckRbac(const Target& target, const std::vector<kube::Attributes>& access,
                  const std::vector<base::Result<kube::Decision>>& decisions);

// The server's /debug/nodes?failed=true answer (null: not fetched, `fetch_error` says why): one
// finding per kubelet-side cause (kubelet_no_ip_san, kubelet_unknown_authority,
// kubelet_unauthorized, kubelet_forbidden, kubelet_unreachable, kubelet_malformed_response,
// kubelet_no_address, kubelet_other), naming up to five nodes each; or one OK finding.
std::vector<Finding> CheckNodeScrapes(const nlohmann::json* debug_nodes,
                                      const std::string& fetch_error);

// The distinct causes of failed findings, in order of first appearance.
std::vector<std::string> Causes(const std::vector<Finding>& findings);

// The report: text (one block per finding: verdict, check, evidence, fix, doc) or JSON
// {"healthy", "causes", "checks": [{"check", "verdict", "cause", "evidence", "fix", "doc"}]}.
std::string RenderText(const std::vector<Finding>& findings);
std::string RenderJson(const std::vector<Finding>& findings);

}  // namespace doctor
