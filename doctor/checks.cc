#include "doctor/checks.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <map>
#include <memory>

#include "kube/json_fields.h"

namespace doctor {
namespace {

using kube::Field;
using kube::StringField;
using nlohmann::json;

bool Contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

std::string Join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

Finding Ok(std::string check, std::string evidence) {
  return Finding{std::move(check), Verdict::kOk, "", std::move(evidence)};
}
Finding Fail(std::string check, std::string cause, std::string evidence) {
  return Finding{std::move(check), Verdict::kFail, std::move(cause), std::move(evidence)};
}
Finding Skipped(std::string check, std::string evidence) {
  return Finding{std::move(check), Verdict::kSkipped, "", std::move(evidence)};
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::vector<X509Ptr> ParsePems(const std::string& pem) {
  std::vector<X509Ptr> out;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) return out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();
  return out;
}

std::string Name(X509_NAME* name) {
  if (name == nullptr) return "";
  char buf[256];
  X509_NAME_oneline(name, buf, sizeof buf);
  return buf;
}

std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS) {
      const ASN1_STRING* s = n->d.dNSName;
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                         ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = n->d.iPAddress;
      const unsigned char* b = ASN1_STRING_get0_data(ip);
      if (ASN1_STRING_length(ip) == 4) {
        out.push_back("IP:" + std::to_string(b[0]) + "." + std::to_string(b[1]) + "." +
                      std::to_string(b[2]) + "." + std::to_string(b[3]));
      } else {
        out.push_back("IP:(IPv6)");
      }
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

const std::map<std::string, std::string>& KubeletCauses() {
  static const std::map<std::string, std::string> m = {
      {"no_ip_san", "kubelet_no_ip_san"},
      {"hostname_mismatch", "kubelet_hostname_mismatch"},
      {"unknown_authority", "kubelet_unknown_authority"},
      {"unauthorized", "kubelet_unauthorized"},
      {"forbidden", "kubelet_forbidden"},
      {"timeout", "kubelet_unreachable"},
      {"refused", "kubelet_unreachable"},
      {"unreachable", "kubelet_unreachable"},
      {"malformed_response", "kubelet_malformed_response"},
      {"no_address", "kubelet_no_address"},
  };
  return m;
}

}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kWarn:
      return "warn";
    case Verdict::kFail:
      return "fail";
    case Verdict::kSkipped:
      return "skipped";
  }
  return "fail";
}

Fix CauseFix(const std::string& cause) {
  static const std::map<std::string, Fix> fixes = {
      {"apiservice_missing",
       {"Register the API: kubectl apply -k manifests/ (or the Helm chart); the APIService "
        "v1beta1.metrics.k8s.io must point at the server's Service.",
        "README.md#install"}},
      {"apiservice_unavailable",
       {"Read the APIService message above and the server's log "
        "(kubectl -n <namespace> logs deploy/cpp-metrics-server).",
        "README.md#doctor-apiservice"}},
      {"server_down",
       {"The server is not running or not ready: check its pod "
        "(kubectl -n <namespace> get pods -l app.kubernetes.io/name=cpp-metrics-server), its "
        "events and its log; the Service's selector and targetPort must match the pod.",
        "README.md#doctor-server-down"}},
      {"server_unreachable",
       {"kube-apiserver cannot reach the server in time: open the control plane to the pod "
        "network on the server's port (firewall, security groups), or run kube-apiserver with a "
        "route to the pod network.",
        "README.md#doctor-server-down"}},
      {"ca_bundle_mismatch",
       {"The APIService caBundle is not the CA that signed the serving certificate: re-apply "
        "certs/out/apiservice.yaml made with the Secret's CA (certs/gen-certs.sh), or list both "
        "CAs during a change.",
        "README.md#doctor-ca-bundle"}},
      {"serving_cert_name_mismatch",
       {"The serving certificate does not name <service>.<namespace>.svc: make it with "
        "certs/gen-certs.sh --namespace/--service matching the Service.",
        "README.md#doctor-ca-bundle"}},
      {"front_proxy_untrusted",
       {"The server rejects the aggregator's front-proxy client certificate: the server must "
        "trust the CA of kube-apiserver's --proxy-client-cert-file (do not override "
        "--requestheader-client-ca-file, or give it that CA), and the certificate's CN must be "
        "in --requestheader-allowed-names (or that list empty).",
        "README.md#doctor-front-proxy"}},
      {"front_proxy_not_configured",
       {"Run kube-apiserver with --requestheader-client-ca-file, "
        "--proxy-client-cert-file/--proxy-client-key-file and --requestheader-allowed-names; "
        "it then publishes them in kube-system/extension-apiserver-authentication.",
        "README.md#doctor-front-proxy"}},
      {"rbac_missing",
       {"Re-apply manifests/rbac.yaml (ClusterRole system:cpp-metrics-server and its binding, the "
        "system:auth-delegator binding, the extension-apiserver-authentication-reader "
        "RoleBinding) for the server's ServiceAccount.",
        "README.md#doctor-rbac"}},
      {"kubelet_no_ip_san",
       {"The kubelet's serving certificate has no IP SAN for the address scraped: enable "
        "serverTLSBootstrap and approve the kubelets' CSRs (or give the kubelet a serving "
        "certificate with the node's IP), or put Hostname first in "
        "--kubelet-preferred-address-types when the certificate names it; on development "
        "clusters only, --kubelet-insecure-tls (overlays/insecure-kubelet-tls).",
        "README.md#doctor-kubelet-ip-san"}},
      {"kubelet_hostname_mismatch",
       {"The kubelet's serving certificate does not name the host scraped: use an address type "
        "its certificate names (--kubelet-preferred-address-types).",
        "README.md#doctor-kubelet-ip-san"}},
      {"kubelet_unknown_authority",
       {"The kubelet's certificate is not signed by a CA the server trusts: give that CA with "
        "--kubelet-certificate-authority (kubelets self-sign unless serverTLSBootstrap).",
        "README.md#doctor-kubelet-ip-san"}},
      {"kubelet_unauthorized",
       {"The kubelet rejects the server's token (401): run kubelets with "
        "--authentication-token-webhook=true.",
        "README.md#doctor-kubelet-401-403"}},
      {"kubelet_forbidden",
       {"The kubelet denies the server (403): grant get nodes/metrics to its ServiceAccount "
        "(manifests/rbac.yaml, ClusterRole system:cpp-metrics-server).",
        "README.md#doctor-kubelet-401-403"}},
      {"kubelet_unreachable",
       {"The server cannot reach the kubelet's address and port (timeout, refused, no route): "
        "check the node's addresses and kubelet port (kubectl get node <node> -o wide), that "
        "the kubelet runs, and firewalls between the server's pod and the node.",
        "README.md#doctor-kubelet-unreachable"}},
      {"kubelet_malformed_response",
       {"Something other than a kubelet answers on that address, or its answer exceeds the "
        "limits: check what listens on the node's kubelet port.",
        "README.md#doctor-kubelet-unreachable"}},
      {"kubelet_no_address",
       {"The Node has no address of the types in --kubelet-preferred-address-types: add one, or "
        "widen the list.",
        "README.md#doctor-kubelet-unreachable"}},
      {"kubelet_other",
       {"See the error above and the server's log for that node.",
        "README.md#doctor-kubelet-unreachable"}},
      {"kubelet_summary_not_found",
       {"The kubelet answers 404 on /stats/summary (--kubelet-summary-api): it has no summary API "
        "(a virtual or simulated kubelet); that node's CPU and memory are served, its "
        "ephemeral-storage is not. Leave the flag off where kubelets lack the endpoint.",
        "README.md#doctor-kubelet-summary"}},
      {"kubelet_summary_forbidden",
       {"The kubelet denies /stats/summary (403): grant get nodes/stats to the server's "
        "ServiceAccount (kubectl apply -k overlays/ephemeral-storage, or the chart's "
        "ephemeralStorage.enabled).",
        "README.md#doctor-kubelet-summary"}},
      {"kubelet_summary_failed",
       {"The kubelet's /stats/summary could not be read (see the error: timeout, malformed "
        "answer, ...); that node's CPU and memory are served, its ephemeral-storage is not.",
        "README.md#doctor-kubelet-summary"}},
  };
  auto it = fixes.find(cause);
  return it == fixes.end() ? Fix{} : it->second;
}

std::string ClassifyApiServiceMessage(const std::string& reason, const std::string& message) {
  if (Contains(message, "unknown authority") || Contains(message, "unable to get local issuer")) {
    return "ca_bundle_mismatch";
  }
  if (Contains(message, "certificate is valid for") || Contains(message, "not valid for")) {
    return "serving_cert_name_mismatch";
  }
  if (reason == "ServiceNotFound" || reason == "MissingEndpoints" ||
      Contains(message, "no endpoints") || Contains(message, "connection refused") ||
      Contains(message, "endpoints for service") || Contains(message, "have no endpoints")) {
    return "server_down";
  }
  if (Contains(message, "deadline exceeded") || Contains(message, "Client.Timeout") ||
      Contains(message, "i/o timeout") || Contains(message, "no route to host")) {
    return "server_unreachable";
  }
  if (Contains(message, ": 401") || Contains(message, ": 403") ||
      Contains(message, "Unauthorized") || Contains(message, "forbidden")) {
    return "front_proxy_untrusted";
  }
  return "apiservice_unavailable";
}

Finding CheckApiService(const std::string& name, const json* apiservice, bool required) {
  std::string check = "APIService " + name;
  if (apiservice == nullptr) {
    if (!required) return Skipped(check, "not registered (optional)");
    return Fail(check, "apiservice_missing", "not found");
  }
  const json* spec = Field(*apiservice, "spec");
  std::string where;
  if (spec) {
    if (const json* svc = Field(*spec, "service"); svc && svc->is_object()) {
      where = "-> Service " + StringField(*svc, "namespace") + "/" + StringField(*svc, "name");
      if (const json* p = Field(*svc, "port"); p && p->is_number_integer()) {
        where += ":" + std::to_string(p->get<int>());
      }
    } else {
      where = "-> local (no service: not served by an aggregated server)";
    }
  }
  const json* status = Field(*apiservice, "status");
  const json* conditions = status ? Field(*status, "conditions") : nullptr;
  if (conditions && conditions->is_array()) {
    for (const auto& c : *conditions) {
      if (StringField(c, "type") != "Available") continue;
      const std::string s = StringField(c, "status"), reason = StringField(c, "reason"),
                        message = StringField(c, "message");
      std::string evidence = where + "; Available=" + s + " (" + reason + ")";
      if (!message.empty()) evidence += ": " + message;
      if (s == "True") {
        if (spec && kube::BoolField(*spec, "insecureSkipTLSVerify")) {
          return Finding{check, Verdict::kWarn, "",
                         evidence +
                             "; insecureSkipTLSVerify: the serving certificate is not "
                             "verified (use a caBundle: README, \"Secure APIService\")"};
        }
        return Ok(check, evidence);
      }
      return Fail(check, ClassifyApiServiceMessage(reason, message), evidence);
    }
  }
  return Fail(check, "apiservice_unavailable", where + "; no Available condition yet");
}

std::vector<Address> ServerAddresses(const json& service, const json* slices, int service_port) {
  std::vector<Address> out;
  const json* spec = Field(service, "spec");
  if (!spec) return out;
  if (StringField(*spec, "type") == "ExternalName") {
    const std::string host = StringField(*spec, "externalName");
    if (!host.empty()) out.push_back({host, service_port});
    return out;
  }
  // The service port's name selects the EndpointSlice port.
  std::string port_name;
  if (const json* ports = Field(*spec, "ports"); ports && ports->is_array()) {
    for (const auto& p : *ports) {
      const json* n = Field(p, "port");
      if (n && n->is_number_integer() && n->get<int>() == service_port) {
        port_name = StringField(p, "name");
      }
    }
  }
  const json* items = slices ? Field(*slices, "items") : nullptr;
  if (!items || !items->is_array()) return out;
  for (const auto& slice : *items) {
    int port = 0;
    if (const json* ports = Field(slice, "ports"); ports && ports->is_array()) {
      for (const auto& p : *ports) {
        const json* n = Field(p, "port");
        if (StringField(p, "name") == port_name && n && n->is_number_integer())
          port = n->get<int>();
      }
    }
    const json* endpoints = Field(slice, "endpoints");
    if (port == 0 || !endpoints || !endpoints->is_array()) continue;
    for (const auto& e : *endpoints) {
      const json* cond = Field(e, "conditions");
      const json* ready = cond ? Field(*cond, "ready") : nullptr;
      if (ready && ready->is_boolean() && !ready->get<bool>()) continue;
      const json* addresses = Field(e, "addresses");
      if (addresses && addresses->is_array() && !addresses->empty() &&
          addresses->front().is_string()) {
        out.push_back({addresses->front().get<std::string>(), port});
      }
    }
  }
  return out;
}

Finding CheckService(const Target& target, const json* service, const json* slices,
                     int service_port) {
  std::string check = "Service " + target.ns + "/" + target.service;
  if (service == nullptr) return Fail(check, "server_down", "Service not found");
  const json* spec = Field(*service, "spec");
  const bool external = spec && StringField(*spec, "type") == "ExternalName";
  std::vector<Address> addresses = ServerAddresses(*service, slices, service_port);
  if (addresses.empty()) {
    return Fail(check, "server_down",
                external ? "ExternalName without a name"
                         : "no ready endpoint for port " + std::to_string(service_port) +
                               " in its EndpointSlices");
  }
  std::vector<std::string> shown;
  for (const auto& a : addresses) shown.push_back(a.host + ":" + std::to_string(a.port));
  return Ok(check,
            std::string(external ? "ExternalName " : "ready endpoints ") + Join(shown, ", "));
}

Finding CheckServingCertificate(const Target& target, const std::vector<std::string>& chain_pem,
                                const std::string& handshake_error,
                                const std::string& ca_bundle_pem, bool insecure) {
  const std::string check = "Serving certificate";
  const std::string dns = target.service + "." + target.ns + ".svc";
  if (chain_pem.empty()) {
    // Refused: nothing listens where the Service points (the APIService's condition may still
    // be the last check's, up to a minute old). Other errors may be the doctor's own network
    // path (pod IPs unroutable from where it runs): no verdict.
    if (Contains(handshake_error, "Connection refused")) {
      return Fail(check, "server_down", "no TLS handshake with the server: " + handshake_error);
    }
    return Skipped(check, "no TLS handshake with the server: " + handshake_error);
  }
  std::vector<X509Ptr> chain;
  for (const auto& pem : chain_pem) {
    for (auto& c : ParsePems(pem)) chain.push_back(std::move(c));
  }
  if (chain.empty()) return Skipped(check, "the server sent no parsable certificate");
  X509* leaf = chain.front().get();
  std::string evidence = "subject " + Name(X509_get_subject_name(leaf)) + ", issuer " +
                         Name(X509_get_issuer_name(leaf)) + ", SANs " +
                         Join(SubjectAltNames(leaf), ",");
  if (X509_check_host(leaf, dns.data(), dns.size(), 0, nullptr) != 1) {
    return Fail(check, "serving_cert_name_mismatch", evidence + "; does not name " + dns);
  }
  if (ca_bundle_pem.empty()) {
    if (insecure) {
      return Finding{check, Verdict::kWarn, "",
                     evidence + "; names " + dns + "; not verified (insecureSkipTLSVerify)"};
    }
    return Fail(check, "ca_bundle_mismatch",
                evidence + "; the APIService has neither caBundle nor insecureSkipTLSVerify");
  }
  std::vector<X509Ptr> cas = ParsePems(ca_bundle_pem);
  if (cas.empty()) return Fail(check, "ca_bundle_mismatch", evidence + "; caBundle holds no PEM");
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  for (auto& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
  std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> untrusted(
      sk_X509_new_null(), [](STACK_OF(X509) * s) { sk_X509_free(s); });
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i].get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get());
  const bool verified = X509_verify_cert(ctx.get()) == 1;
  const int err = X509_STORE_CTX_get_error(ctx.get());
  std::vector<std::string> ca_names;
  for (auto& ca : cas) ca_names.push_back(Name(X509_get_subject_name(ca.get())));
  if (!verified) {
    return Fail(check, "ca_bundle_mismatch",
                evidence + "; not verified by the caBundle (" + Join(ca_names, "; ") +
                    "): " + X509_verify_cert_error_string(err));
  }
  return Ok(check, evidence + "; names " + dns + "; verified by the caBundle");
}

Finding CheckFrontProxy(const json* configmap) {
  const std::string check = "Front proxy (kube-system/extension-apiserver-authentication)";
  if (configmap == nullptr) {
    return Fail(check, "front_proxy_not_configured", "ConfigMap not found or not readable");
  }
  const json* data = Field(*configmap, "data");
  const std::string ca = data ? StringField(*data, "requestheader-client-ca-file") : "";
  if (ca.empty()) {
    return Fail(check, "front_proxy_not_configured",
                "no requestheader-client-ca-file: kube-apiserver runs without "
                "--requestheader-client-ca-file, so the aggregator cannot authenticate to the "
                "server");
  }
  std::vector<std::string> names;
  for (auto& c : ParsePems(ca)) names.push_back(Name(X509_get_subject_name(c.get())));
  std::string evidence = "requestheader-client-ca-file: " + std::to_string(names.size()) +
                         " CA(s) (" + Join(names, "; ") + ")";
  const std::string allowed = data ? StringField(*data, "requestheader-allowed-names") : "";
  evidence += "; requestheader-allowed-names: " + (allowed.empty() ? "[] (any CN)" : allowed);
  evidence +=
      "; client-ca-file: " +
      std::string(data && !StringField(*data, "client-ca-file").empty() ? "present" : "absent");
  if (names.empty()) {
    return Fail(check, "front_proxy_not_configured", evidence + "; no parsable certificate");
  }
  return Ok(check, evidence +
                       " (the server trusts these unless started with its own "
                       "--requestheader-client-ca-file)");
}

std::vector<kube::Attributes> RequiredAccess(const Target& target) {
  kube::UserInfo user;
  user.name = "system:serviceaccount:" + target.ns + ":" + target.service_account;
  user.groups = {"system:serviceaccounts", "system:serviceaccounts:" + target.ns,
                 "system:authenticated"};
  auto attr = [&](std::string verb, std::string group, std::string resource,
                  std::string subresource = "", std::string ns = "", std::string name = "") {
    kube::Attributes a;
    a.user = user;
    a.verb = std::move(verb);
    a.api_group = std::move(group);
    a.resource = std::move(resource);
    a.subresource = std::move(subresource);
    a.namespace_ = std::move(ns);
    a.name = std::move(name);
    return a;
  };
  std::vector<kube::Attributes> out = {attr("get", "", "nodes", "metrics")};
  for (const char* r : {"nodes", "pods"}) {
    for (const char* v : {"get", "list", "watch"}) out.push_back(attr(v, "", r));
  }
  out.push_back(attr("create", "authentication.k8s.io", "tokenreviews"));
  out.push_back(attr("create", "authorization.k8s.io", "subjectaccessreviews"));
  for (const char* v : {"get", "list", "watch"}) {
    out.push_back(
        attr(v, "", "configmaps", "", "kube-system", "extension-apiserver-authentication"));
  }
  return out;
}

Finding CheckRbac(const Target& target, const std::vector<kube::Attributes>& access,
                  const std::vector<base::Result<kube::Decision>>& decisions) {
  const std::string check =
      "RBAC of system:serviceaccount:" + target.ns + ":" + target.service_account;
  std::vector<std::string> denied, errors;
  for (size_t i = 0; i < access.size(); ++i) {
    const kube::Attributes& a = access[i];
    std::string what =
        a.verb + " " + a.resource + (a.subresource.empty() ? "" : "/" + a.subresource) +
        (a.api_group.empty() ? "" : "." + a.api_group) +
        (a.namespace_.empty() ? "" : " in " + a.namespace_) + (a.name.empty() ? "" : " " + a.name);
    if (i >= decisions.size()) {
      errors.push_back(what + ": not reviewed");
    } else if (!decisions[i].ok()) {
      errors.push_back(what + ": " + decisions[i].error());
    } else if (!decisions[i]->allowed) {
      denied.push_back(what);
    }
  }
  if (!denied.empty()) {
    return Fail(check, "rbac_missing", "denied by SubjectAccessReview: " + Join(denied, ", "));
  }
  if (!errors.empty()) return Skipped(check, "reviews failed: " + Join(errors, "; "));
  return Ok(check, "allowed: " + std::to_string(access.size()) +
                       " SubjectAccessReviews (nodes/metrics, nodes, pods, tokenreviews, "
                       "subjectaccessreviews, the authentication ConfigMap)");
}

std::vector<Finding> CheckNodeScrapes(const json* debug_nodes, const std::string& fetch_error) {
  const std::string check = "Kubelet scrapes";
  if (debug_nodes == nullptr) {
    return {Skipped(check, "no per-node state from the server (/debug/nodes): " + fetch_error)};
  }
  const json* total = Field(*debug_nodes, "nodes");
  const json* failed = Field(*debug_nodes, "failed");
  const json* items = Field(*debug_nodes, "items");
  const int n_total = total && total->is_number_integer() ? total->get<int>() : 0;
  const int n_failed = failed && failed->is_number_integer() ? failed->get<int>() : 0;
  if (StringField(*debug_nodes, "tickStart").empty()) {
    return {Skipped(check, "the server has not finished a scrape yet")};
  }
  // cause -> "node (address): error" for up to five nodes, and the count.
  std::map<std::string, std::pair<int, std::vector<std::string>>> by_cause;
  std::vector<std::string> order;
  if (items && items->is_array()) {
    for (const auto& item : *items) {
      if (kube::BoolField(item, "success")) continue;
      const std::string scrape_cause = StringField(item, "cause");
      auto it = KubeletCauses().find(scrape_cause);
      const std::string cause = it == KubeletCauses().end() ? "kubelet_other" : it->second;
      auto& [count, shown] = by_cause[cause];
      if (count == 0) order.push_back(cause);
      ++count;
      if (shown.size() < 5) {
        shown.push_back(StringField(item, "name") + " (" + StringField(item, "address") +
                        "): " + scrape_cause + ": " + StringField(item, "error"));
      }
    }
  }
  // --kubelet-summary-api: nodes scraped whose /stats/summary read failed (summaryCause).
  std::map<std::string, std::pair<int, std::vector<std::string>>> by_summary_cause;
  std::vector<std::string> summary_order;
  if (items && items->is_array()) {
    for (const auto& item : *items) {
      const std::string summary_cause = StringField(item, "summaryCause");
      if (summary_cause.empty()) continue;
      const std::string cause = summary_cause == "not_found"   ? "kubelet_summary_not_found"
                                : summary_cause == "forbidden" ? "kubelet_summary_forbidden"
                                                               : "kubelet_summary_failed";
      auto& [count, shown] = by_summary_cause[cause];
      if (count == 0) summary_order.push_back(cause);
      ++count;
      if (shown.size() < 5) {
        shown.push_back(StringField(item, "name") + ": " + summary_cause + ": " +
                        StringField(item, "summaryError"));
      }
    }
  }
  std::vector<Finding> summaries;
  for (const auto& cause : summary_order) {
    const auto& [count, shown] = by_summary_cause[cause];
    std::string evidence = std::to_string(count) + " of " + std::to_string(n_total) +
                           " node(s) without ephemeral-storage: " + Join(shown, "; ");
    if (count > static_cast<int>(shown.size())) evidence += "; ...";
    summaries.push_back(Fail("Kubelet summaries", cause, evidence));
  }
  if (order.empty()) {
    std::vector<Finding> out = {
        Ok(check, std::to_string(n_total) + " node(s), " + std::to_string(n_failed) +
                      " failed in the last tick (at " + StringField(*debug_nodes, "tickStart") +
                      ")")};
    out.insert(out.end(), summaries.begin(), summaries.end());
    return out;
  }
  std::vector<Finding> out;
  for (const auto& cause : order) {
    const auto& [count, shown] = by_cause[cause];
    std::string evidence =
        std::to_string(count) + " of " + std::to_string(n_total) + " node(s): " + Join(shown, "; ");
    if (count > static_cast<int>(shown.size())) evidence += "; ...";
    out.push_back(Fail(check, cause, evidence));
  }
  out.insert(out.end(), summaries.begin(), summaries.end());
  return out;
}

std::vector<std::string> Causes(const std::vector<Finding>& findings) {
  std::vector<std::string> out;
  for (const auto& f : findings) {
    if (f.verdict == Verdict::kFail && std::find(out.begin(), out.end(), f.cause) == out.end()) {
      out.push_back(f.cause);
    }
  }
  return out;
}

std::string RenderText(const std::vector<Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    std::string v = VerdictName(f.verdict);
    for (auto& ch : v) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    out += "[" + v + "] " + f.check + "\n";
    if (!f.evidence.empty()) out += "    evidence: " + f.evidence + "\n";
    if (f.verdict == Verdict::kFail) {
      Fix fix = CauseFix(f.cause);
      out += "    cause: " + f.cause + "\n";
      if (!fix.text.empty()) out += "    fix: " + fix.text + "\n";
      if (!fix.doc.empty()) out += "    see: " + fix.doc + "\n";
    }
  }
  std::vector<std::string> causes = Causes(findings);
  out += causes.empty() ? "healthy\n" : "causes: " + Join(causes, ", ") + "\n";
  return out;
}

std::string RenderJson(const std::vector<Finding>& findings) {
  json checks = json::array();
  for (const auto& f : findings) {
    Fix fix = f.verdict == Verdict::kFail ? CauseFix(f.cause) : Fix{};
    checks.push_back({{"check", f.check},
                      {"verdict", VerdictName(f.verdict)},
                      {"cause", f.cause},
                      {"evidence", f.evidence},
                      {"fix", fix.text},
                      {"doc", fix.doc}});
  }
  std::vector<std::string> causes = Causes(findings);
  json out = {{"healthy", causes.empty()}, {"causes", causes}, {"checks", checks}};
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace doctor
