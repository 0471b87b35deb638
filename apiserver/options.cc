#include "apiserver/options.h"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace apiserver {
namespace {

base::Result<std::string> ReadFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::MakeError("--" + flag + ": cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void Options::AddFlags(base::FlagSet& flags) {
  flags.Group("Secure serving flags");
  flags.Int("secure-port", &secure_port, "The port on which to serve HTTPS.");
  flags.String("bind-address", &bind_address,
               "The IP address on which to listen for the --secure-port port. If an unspecified "
               "address (0.0.0.0 or ::), all interfaces and IP address families are used (IPv4 "
               "alone on hosts without IPv6).");
  flags.String("cert-dir", &tls.cert_dir,
               "The directory where a self-signed certificate is kept when --tls-cert-file and "
               "--tls-private-key-file are not given.");
  flags.String("tls-cert-file", &tls.cert_file,
               "File containing the default x509 certificate for HTTPS (CA cert, if any, "
               "concatenated after the server cert). Reloaded when it changes.");
  flags.String("tls-private-key-file", &tls.key_file,
               "File containing the default x509 private key matching --tls-cert-file.");
  flags.String("tls-min-version", &tls.min_version,
               "Minimum TLS version supported: VersionTLS12 or VersionTLS13.");
  flags.StringList("tls-cipher-suites", &tls.cipher_suites,
                   "Comma-separated list of cipher suites for TLS 1.2 (Go names, e.g. "
                   "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256). Default: ECDHE with AES-GCM or "
                   "ChaCha20-Poly1305. TLS 1.3 suites are not configurable.");
  flags.Int("max-requests-inflight", &max_requests_inflight,
            "The maximum number of requests handled at once; excess requests get 429.");
  flags.Int("max-connections", &max_connections,
            "The maximum number of open client connections; further connections are closed "
            "as soon as they are accepted. Each connection needs a file descriptor (the server "
            "raises its soft limit to the hard limit at start).");
  flags.Int("max-pending-response-bytes", &max_pending_response_bytes,
            "Response bytes written but not yet read by their clients, summed over connections; "
            "a response over 64 KiB that would exceed it while others are pending gets 429 "
            "(a single response is always sent). Bounds the memory slow readers can hold.");
  flags.Int("max-watches", &max_watches,
            "The maximum number of watches on nodes.metrics.k8s.io and pods.metrics.k8s.io open "
            "at once; one more gets 429. Each watch holds a connection (see --max-connections).");
  flags.Int("min-request-timeout", &min_request_timeout,
            "A watch without timeoutSeconds lasts a random time between this many seconds and "
            "twice as long, as in k8s.io/apiserver, so that watch load spreads over replicas.");
  flags.Duration("request-timeout", &request_timeout,
                 "Deadline for reading a request and for writing its response.");
  flags.Duration("shutdown-timeout", &shutdown_timeout,
                 "How long to wait for in-flight requests after SIGTERM before exiting.");
  flags.StringList("metrics-api-versions", &metrics_api_versions,
                   "Versions of metrics.k8s.io to serve, in discovery order: v1beta1, v1.");
  flags.Duration("shutdown-delay-duration", &shutdown_delay_duration,
                 "Time to delay the termination. During that time the server keeps serving "
                 "requests normally while /readyz returns failure, so that endpoints and load "
                 "balancers stop sending traffic; then in-flight requests are drained.");
  flags.StringArray(
      "tls-sni-cert-key", &tls.sni_cert_keys,
      "A pair of x509 certificate and private key file paths, optionally suffixed with a list "
      "of domain patterns which are fully qualified domain names, possibly with prefixed "
      "wildcard segments (IP addresses also match, for clients that connect to that IP without "
      "SNI). If no domain patterns are provided, the names of the certificate are extracted. "
      "Non-wildcard matches trump over wildcard matches, explicit domain patterns trump over "
      "extracted names. Repeat the flag for several pairs. Reloaded when the files change, like "
      "--tls-cert-file. Examples: \"example.crt,example.key\" or "
      "\"foo.crt,foo.key:*.foo.com,foo.com\".");
  flags.Bool("permit-port-sharing", &permit_port_sharing,
             "If true, SO_REUSEPORT will be used when binding the port, which allows more than one "
             "instance to bind on the same address and port. Beside an instance that already "
             "listens there, this one starts listening once it has metrics to serve.");
  flags.NoEffect("permit-address-sharing", "bool",
                 "SO_REUSEADDR is always set on the listening socket, as Go's listeners do",
                 "true");
  flags.NoEffect("disable-http2-serving", "bool", "only HTTP/1.1 is served", "true");
  flags.NoEffect("http2-max-streams-per-connection", "int", "only HTTP/1.1 is served");

  flags.Group("Generic flags accepted for compatibility with metrics-server");
  flags.NoEffect("advertise-address", "ip",
                 "nothing is advertised; the APIService's Service routes to this server");
  flags.NoEffect("external-hostname", "string", "no URLs to this server are generated");
  flags.NoEffect("cors-allowed-origins", "strings", "CORS is not served");
  flags.NoEffect("strict-transport-security-directives", "strings",
                 "no Strict-Transport-Security header is sent");
  flags.NoEffect("max-mutating-requests-inflight", "int",
                 "no mutating requests are served; --max-requests-inflight bounds all requests");
  flags.NoEffect("goaway-chance", "float", "only HTTP/1.1 is served (GOAWAY is HTTP/2)");
  flags.NoEffect("livez-grace-period", "duration",
                 "/livez reports the scrape loop from the start (1.5x --metric-resolution)");
  flags.NoEffect("storage-initialization-timeout", "duration", "there is no storage backend");
  flags.NoEffect("shutdown-send-retry-after", "bool",
                 "while draining, the listener is closed instead of answering 429", "false");
  // k8s.io/apiserver's default 0s also waits for no watch; any other value is reported.
  flags.NoEffect("shutdown-watch-termination-grace-period", "duration",
                 "watches end when the drain starts (their clients re-watch elsewhere)", "0s");
  flags.NoEffect("emulated-version", "strings", "no Kubernetes version is emulated");
  flags.NoEffect("feature-gates", "string", "k8s.io/apiserver feature gates do not exist here");
  flags.NoEffect("emulation-forward-compatible", "bool", "no Kubernetes version is emulated",
                 "false");
  flags.NoEffect("runtime-config-emulation-forward-compatible", "bool",
                 "no Kubernetes version is emulated", "false");
  flags.NoEffect("profiling", "bool", "no /debug/pprof endpoints are served (Go-only)", "false");
  flags.NoEffect("contention-profiling", "bool", "no /debug/pprof endpoints are served (Go-only)",
                 "false");
  flags.NoEffect("debug-socket-path", "string", "no profiling socket is served (Go-only)");
  flags.NoEffect("enable-priority-and-fairness", "bool",
                 "requests are bounded by --max-requests-inflight alone, as with "
                 "--enable-priority-and-fairness=false in metrics-server",
                 "false");

  flags.Group("Audit flags accepted for compatibility with metrics-server");
  const std::string no_audit = "no audit log is written";
  flags.NoEffect("audit-policy-file", "string", no_audit);
  flags.NoEffect("audit-log-path", "string", no_audit);
  flags.NoEffect("audit-log-maxage", "int", no_audit);
  flags.NoEffect("audit-log-maxbackup", "int", no_audit);
  flags.NoEffect("audit-log-maxsize", "int", no_audit);
  flags.NoEffect("audit-log-format", "string", no_audit);
  flags.NoEffect("audit-log-version", "string", no_audit);
  flags.NoEffect("audit-log-compress", "bool", no_audit, "false");
  flags.NoEffect("audit-webhook-config-file", "string", no_audit);
  flags.NoEffect("audit-webhook-initial-backoff", "duration", no_audit);
  flags.NoEffect("audit-webhook-batch-initial-backoff", "duration", no_audit);
  flags.NoEffect("audit-webhook-version", "string", no_audit);
  for (const char* backend : {"log", "webhook"}) {
    const std::string prefix = std::string("audit-") + backend;
    flags.NoEffect(prefix + "-mode", "string", no_audit);
    flags.NoEffect(prefix + "-batch-buffer-size", "int", no_audit);
    flags.NoEffect(prefix + "-batch-max-size", "int", no_audit);
    flags.NoEffect(prefix + "-batch-max-wait", "duration", no_audit);
    flags.NoEffect(prefix + "-batch-throttle-enable", "bool", no_audit, "false");
    flags.NoEffect(prefix + "-batch-throttle-qps", "float", no_audit);
    flags.NoEffect(prefix + "-batch-throttle-burst", "int", no_audit);
    flags.NoEffect(prefix + "-truncate-enabled", "bool", no_audit, "false");
    flags.NoEffect(prefix + "-truncate-max-batch-size", "int", no_audit);
    flags.NoEffect(prefix + "-truncate-max-event-size", "int", no_audit);
  }

  flags.Group("Authentication flags");
  flags.String("client-ca-file", &client_ca_file,
               "If set, any request presenting a client certificate signed by one of the "
               "authorities in this file is authenticated with the certificate's CommonName.");
  flags.String("requestheader-client-ca-file", &requestheader_client_ca_file,
               "Root certificate bundle to verify front-proxy client certificates before "
               "trusting usernames in the headers named by --requestheader-username-headers.");
  flags.StringList(
      "requestheader-allowed-names", &requestheader_allowed_names,
      "Client certificate common names allowed to pass usernames in headers. If "
      "empty, any certificate validated by --requestheader-client-ca-file is allowed.");
  flags.StringList("requestheader-username-headers", &requestheader_username_headers,
                   "Request headers to inspect for the username. X-Remote-User is common.");
  flags.StringList("requestheader-group-headers", &requestheader_group_headers,
                   "Request headers to inspect for groups. X-Remote-Group is suggested.");
  flags.StringList("requestheader-extra-headers-prefix", &requestheader_extra_headers_prefix,
                   "Request header prefixes to inspect. X-Remote-Extra- is suggested.");
  flags.StringList("requestheader-uid-headers", &requestheader_uid_headers,
                   "Request headers to inspect for the UID. X-Remote-Uid is suggested.");
  flags.Bool("authentication-skip-lookup", &authentication_skip_lookup,
             "If false, the authentication configuration missing from flags is read from the "
             "kube-system/extension-apiserver-authentication ConfigMap.");
  flags.Bool("authentication-tolerate-lookup-failure", &authentication_tolerate_lookup_failure,
             "If true, failing to read the authentication configuration from the cluster is not "
             "fatal (requests that need it are then not authenticated).");
  flags.Duration("authentication-token-webhook-cache-ttl", &authentication_token_webhook_cache_ttl,
                 "The duration to cache TokenReview responses.");

  flags.Group("Authorization flags");
  flags.StringList("authorization-always-allow-paths", &authorization_always_allow_paths,
                   "HTTP paths exempt from authorization; a trailing * matches a prefix.");
  flags.Duration("authorization-webhook-cache-authorized-ttl",
                 &authorization_webhook_cache_authorized_ttl,
                 "The duration to cache 'authorized' SubjectAccessReview responses.");
  flags.Duration("authorization-webhook-cache-unauthorized-ttl",
                 &authorization_webhook_cache_unauthorized_ttl,
                 "The duration to cache 'unauthorized' SubjectAccessReview responses.");
}

std::vector<std::string> Options::Validate() const {
  std::vector<std::string> errors;
  if (secure_port < 0 || secure_port > 65535) {
    errors.push_back("--secure-port " + std::to_string(secure_port) +
                     " must be between 0 and 65535, inclusive");
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(bind_address, ec);
  if (ec) errors.push_back("--bind-address \"" + bind_address + "\" is not a valid IP address");
  for (auto& e : ValidateTlsServingOptions(tls)) errors.push_back(e);
  if (!tls.cert_file.empty()) {
    if (auto r = ReadFile(tls.cert_file, "tls-cert-file"); !r.ok()) errors.push_back(r.error());
  }
  if (!tls.key_file.empty()) {
    if (auto r = ReadFile(tls.key_file, "tls-private-key-file"); !r.ok()) {
      errors.push_back(r.error());
    }
  }
  if (max_requests_inflight < 1) errors.push_back("--max-requests-inflight must be at least 1");
  if (max_connections < 1 || max_connections > 1'000'000) {
    errors.push_back("--max-connections must be between 1 and 1000000, got " +
                     std::to_string(max_connections));
  }
  if (max_watches < 0 || max_watches > 1'000'000) {
    errors.push_back("--max-watches must be between 0 and 1000000, got " +
                     std::to_string(max_watches));
  }
  if (min_request_timeout < 1) {
    errors.push_back("--min-request-timeout must be at least 1, got " +
                     std::to_string(min_request_timeout));
  }
  if (max_pending_response_bytes < 1) {
    errors.push_back("--max-pending-response-bytes must be at least 1, got " +
                     std::to_string(max_pending_response_bytes));
  }
  if (request_timeout <= std::chrono::nanoseconds(0)) {
    errors.push_back("--request-timeout must be positive");
  }
  if (shutdown_timeout < std::chrono::nanoseconds(0)) {
    errors.push_back("--shutdown-timeout must not be negative");
  }
  if (shutdown_delay_duration < std::chrono::nanoseconds(0)) {
    errors.push_back("--shutdown-delay-duration can not be negative value");
  }
  if (metrics_api_versions.empty()) {
    errors.push_back("--metrics-api-versions must name at least one version");
  }
  for (size_t i = 0; i < metrics_api_versions.size(); ++i) {
    const auto& v = metrics_api_versions[i];
    if (v != "v1beta1" && v != "v1") {
      errors.push_back("--metrics-api-versions: unknown version \"" + v +
                       "\" (supported: v1beta1, v1)");
    } else if (std::find(metrics_api_versions.begin(), metrics_api_versions.begin() + i, v) !=
               metrics_api_versions.begin() + i) {
      errors.push_back("--metrics-api-versions: \"" + v + "\" given twice");
    }
  }
  if (!client_ca_file.empty()) {
    if (auto r = ReadFile(client_ca_file, "client-ca-file"); !r.ok()) errors.push_back(r.error());
  }
  if (!requestheader_client_ca_file.empty()) {
    if (auto r = ReadFile(requestheader_client_ca_file, "requestheader-client-ca-file"); !r.ok()) {
      errors.push_back(r.error());
    }
  }
  if (requestheader_username_headers.empty() && !requestheader_client_ca_file.empty()) {
    errors.push_back(
        "--requestheader-username-headers must not be empty when "
        "--requestheader-client-ca-file is set");
  }
  auto non_negative = [&](std::chrono::nanoseconds d, const char* flag) {
    if (d < std::chrono::nanoseconds(0))
      errors.push_back(std::string("--") + flag + " must not be negative");
  };
  non_negative(authentication_token_webhook_cache_ttl, "authentication-token-webhook-cache-ttl");
  non_negative(authorization_webhook_cache_authorized_ttl,
               "authorization-webhook-cache-authorized-ttl");
  non_negative(authorization_webhook_cache_unauthorized_ttl,
               "authorization-webhook-cache-unauthorized-ttl");
  return errors;
}

ServerOptions Options::ToServerOptions() const {
  ServerOptions s;
  s.bind_address = bind_address;
  s.port = static_cast<uint16_t>(secure_port);
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(request_timeout);
  s.read_timeout = timeout;
  s.write_timeout = timeout;
  s.max_requests_in_flight = static_cast<uint32_t>(max_requests_inflight);
  s.max_connections = static_cast<uint32_t>(max_connections);
  s.max_response_bytes_pending = static_cast<uint64_t>(max_pending_response_bytes);
  s.reuse_port = permit_port_sharing;
  return s;
}

bool Options::NeedsConfigMapLookup() const {
  return !authentication_skip_lookup &&
         (client_ca_file.empty() || requestheader_client_ca_file.empty());
}

base::Result<kube::AuthenticationConfig> Options::AuthenticationConfig(
    const kube::AuthenticationConfig* from_cluster) const {
  kube::AuthenticationConfig c;
  if (from_cluster != nullptr) c = *from_cluster;
  if (!client_ca_file.empty()) {
    auto pem = ReadFile(client_ca_file, "client-ca-file");
    if (!pem.ok()) return base::MakeError(pem.error());
    c.client_ca_pem = *pem;
  }
  if (!requestheader_client_ca_file.empty()) {
    auto pem = ReadFile(requestheader_client_ca_file, "requestheader-client-ca-file");
    if (!pem.ok()) return base::MakeError(pem.error());
    c.requestheader_client_ca_pem = *pem;
  }
  if (from_cluster == nullptr || !requestheader_client_ca_file.empty()) {
    c.allowed_names = requestheader_allowed_names;
    c.username_headers = requestheader_username_headers;
    c.group_headers = requestheader_group_headers;
    c.extra_headers_prefix = requestheader_extra_headers_prefix;
    c.uid_headers = requestheader_uid_headers;
  }
  return c;
}

}  // namespace apiserver
