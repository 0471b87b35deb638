// Command-line options of the API server side (serving, TLS, delegated authentication and
// authorization, API versions), with metrics-server's flag names and defaults where the
// meaning is the same. main registers them on its FlagSet, validates them with the other
// components' options (all errors at once) and turns them into the settings structs the
// libraries take.
//
// Not thread-safe; used once at start-up.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "apiserver/server.h"
#include "apiserver/tls.h"
#include "base/flags.h"
#include "base/result.h"
#include "kube/authentication_config.h"

namespace apiserver {

struct Options {
  // Serving.
  int64_t secure_port = 10250;
  std::string bind_address = "0.0.0.0";
  TlsServingOptions tls;
  int64_t max_requests_inflight = 400;
  int64_t max_connections = 10000;                   // open client connections
  int64_t max_pending_response_bytes = 256ll << 20;  // response bytes not yet taken by clients
  int64_t max_watches = 2000;                        // watches open at once (WatchOptions)
  int64_t min_request_timeout = 1800;                // seconds; a watch's length (WatchOptions)
  std::chrono::nanoseconds request_timeout = std::chrono::seconds(60);
  std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(30);
  // After SIGTERM, /readyz fails at once but serving goes on for this long before the drain.
  std::chrono::nanoseconds shutdown_delay_duration{0};
  bool permit_port_sharing = false;  // SO_REUSEPORT on the listening socket
  std::vector<std::string> metrics_api_versions = {"v1beta1", "v1"};

  // Authentication.
  std::string client_ca_file;
  std::string requestheader_client_ca_file;
  std::vector<std::string> requestheader_allowed_names;
  std::vector<std::string> requestheader_username_headers = {"x-remote-user"};
  std::vector<std::string> requestheader_group_headers = {"x-remote-group"};
  std::vector<std::string> requestheader_extra_headers_prefix = {"x-remote-extra-"};
  std::vector<std::string> requestheader_uid_headers;
  bool authentication_skip_lookup = false;
  bool authentication_tolerate_lookup_failure = false;
  std::chrono::nanoseconds authentication_token_webhook_cache_ttl = std::chrono::seconds(10);

  // Authorization.
  std::vector<std::string> authorization_always_allow_paths = {"/healthz", "/readyz", "/livez"};
  std::chrono::nanoseconds authorization_webhook_cache_authorized_ttl = std::chrono::seconds(10);
  std::chrono::nanoseconds authorization_webhook_cache_unauthorized_ttl = std::chrono::seconds(10);

  // Registers every flag above on `flags` (in groups), and accepts without effect the other
  // k8s.io/apiserver flags metrics-server exposes (generic, secure serving, audit, features),
  // each with why it means nothing here; `this` must outlive `flags`.
  void AddFlags(base::FlagSet& flags);
  // Every problem, in flag order; empty = valid. Checks that named files are readable.
  std::vector<std::string> Validate() const;

  ServerOptions ToServerOptions() const;
  // Whether the cluster's extension-apiserver-authentication ConfigMap should be read.
  bool NeedsConfigMapLookup() const;
  // The authentication configuration from the flags alone (CA files read now), layered over
  // `from_cluster` (may be null): a CA file given by flag replaces the ConfigMap's, and
  // request-header names given by flag replace the ConfigMap's when the request-header CA
  // comes from the flag.
  base::Result<kube::AuthenticationConfig> AuthenticationConfig(
      const kube::AuthenticationConfig* from_cluster) const;
};

}  // namespace apiserver
