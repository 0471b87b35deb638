// How to reach the kube-apiserver: kubeconfig files and in-cluster service-account
// configuration, loaded the way Kubernetes components (client-go's clientcmd and
// rest.InClusterConfig) do, plus metrics-server's flags for choosing them.
//
// Loading is pure file and environment reading; nothing here opens a connection. Functions are
// thread-safe; RestConfig is a value.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/flags.h"
#include "base/result.h"
#include "net/http_client.h"

namespace kube {

// Everything needed to talk to one kube-apiserver.
struct RestConfig {
  net::Endpoint endpoint;    // from the server URL; https unless the URL says http
  std::string path_prefix;   // path part of the server URL without trailing "/" (usually "")
  net::TlsClientConfig tls;  // CA, client certificate, SNI name, insecure-skip-tls-verify
  // Static bearer token (kubeconfig `token`); empty when none or when token_file is used.
  std::string bearer_token;
  // File re-read on change (in-cluster service-account token, kubeconfig `tokenFile`).
  std::string token_file;
  std::string user_agent = "cpp-metrics-server";
  std::string source;  // where it came from, for logs: "in-cluster" or the kubeconfig path

  // The bearer-token provider for net::ClientOptions: reads token_file through a shared
  // FileTokenSource (re-read when it changes, i.e. on rotation) or returns bearer_token.
  // The returned provider is self-contained (may outlive this RestConfig).
  net::TokenProvider MakeTokenProvider() const;
};

// Loads `path` and resolves its current context (or `context` if non-empty): cluster `server`,
// `certificate-authority` / `certificate-authority-data`, `insecure-skip-tls-verify`,
// `tls-server-name`; user `client-certificate(-data)`, `client-key(-data)`, `token`,
// `tokenFile`. Relative file paths are resolved against the kubeconfig's directory. *-data
// fields are base64 (decoded here). Unsupported user kinds (exec, auth-provider, username/password)
// are errors. Referenced files must be readable. Errors name the file and the field, e.g.
// `kubeconfig /etc/k.yaml: users[admin].client-key: open /etc/admin.key: No such file or
// directory`.
base::Result<RestConfig> LoadKubeconfig(const std::string& path, std::string_view context = "");

// Parses kubeconfig text (for tests and fuzzers); relative paths resolve against `base_dir`.
base::Result<RestConfig> ParseKubeconfig(std::string_view yaml, const std::string& base_dir,
                                         std::string_view context = "",
                                         std::string_view name_for_errors = "kubeconfig");

// Where the in-cluster configuration lives (overridable for tests).
struct InClusterPaths {
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
};

// rest.InClusterConfig: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set
// (`unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT
// must be defined`), the token file must be readable (it is re-read on rotation afterwards), and
// the CA file must exist.
base::Result<RestConfig> InClusterConfig(const InClusterPaths& paths = {});

// metrics-server's client flags.
struct KubeOptions {
  std::string kubeconfig;                 // --kubeconfig
  std::string authentication_kubeconfig;  // --authentication-kubeconfig
  std::string authorization_kubeconfig;   // --authorization-kubeconfig
  InClusterPaths in_cluster;              // not a flag

  void AddFlags(base::FlagSet& flags);
  // Checks that named files exist; returns every problem.
  std::vector<std::string> Validate() const;

  // The config for informers: --kubeconfig if set, else in-cluster.
  base::Result<RestConfig> ClientConfig() const;
  // For TokenReview: --authentication-kubeconfig if set, else ClientConfig(). (k8s.io/apiserver
  // falls back to in-cluster only; falling back to --kubeconfig as well lets a server run
  // outside the cluster with one flag.)
  base::Result<RestConfig> AuthenticationConfig() const;
  // For SubjectAccessReview: --authorization-kubeconfig if set, else ClientConfig().
  base::Result<RestConfig> AuthorizationConfig() const;
};

}  // namespace kube
