#include "scraper/options.h"

#include <algorithm>
#include <cstdint>

#include "base/duration.h"
#include "kube/selector.h"

namespace scraper {

void Options::AddFlags(base::FlagSet& flags) {
  flags.Group("Kubelet scraping");
  flags.Duration("metric-resolution", &metric_resolution,
                 "The resolution at which metrics are scraped from kubelets (at least 5s).");
  flags.Int("kubelet-port", &kubelet_port, "The port to use to connect to kubelets.");
  flags.Bool("kubelet-use-node-status-port", &kubelet_use_node_status_port,
             "Use the port in the node status. Takes precedence over --kubelet-port.");
  flags.Bool("kubelet-summary-api", &kubelet_summary_api,
             "Also read each kubelet's /stats/summary every tick and serve ephemeral-storage "
             "usage of nodes (node fs) and containers (rootfs + logs); sinks also get Heapster's "
             "summary-based metrics (memory usage/rss/page faults, network, filesystem, uptime). "
             "Needs the nodes/stats permission.");
  flags.StringList("kubelet-preferred-address-types", &kubelet_preferred_address_types,
                   "The priority of node address types to use when determining which address to "
                   "use to connect to a particular node.");
  flags.Bool("kubelet-insecure-tls", &kubelet_insecure_tls,
             "Do not verify CA of serving certificates presented by kubelets. For testing "
             "purposes only.");
  flags.String("kubelet-certificate-authority", &kubelet_certificate_authority,
               "Path to the CA to use to validate the kubelet's serving certificates.");
  flags.String("kubelet-client-certificate", &kubelet_client_certificate,
               "Path to a client cert file for TLS.");
  flags.String("kubelet-client-key", &kubelet_client_key, "Path to a client key file for TLS.");
  flags.String("kubelet-bearer-token-file", &kubelet_bearer_token_file,
               "Path to a file holding the bearer token sent to kubelets; re-read when it "
               "changes. Default: the service-account token when running in a cluster.");
  flags.Duration("kubelet-request-timeout", &kubelet_request_timeout,
                 "The length of time to wait before giving up on a single request to Kubelet.");
  flags.Bool("deprecated-kubelet-completely-insecure", &deprecated_kubelet_completely_insecure,
             "Do not use any encryption, authorization, or authentication when communicating "
             "with the Kubelet. This is rarely the right option.");
  flags.String("node-selector", &node_selector,
               "Selector (label query) to filter on, not including uninitialized ones, supports "
               "'=', '==', and '!='.(e.g. -l key1=value1,key2=value2).");
  flags.Shorthand('l', "node-selector");
  flags.Int("kubelet-max-concurrency", &kubelet_max_concurrency,
            "Maximum number of kubelet scrapes in flight at once.");
  flags.Int("kubelet-max-response-bytes", &kubelet_max_response_bytes,
            "Maximum size of one kubelet response body.");
  flags.Bool("kubelet-request-protobuf", &kubelet_request_protobuf,
             "Ask kubelets for /metrics/resource in the Prometheus protobuf exposition, with the "
             "text format as the fallback (off: the text format only).");
  flags.Int("kubelet-max-idle-connections", &kubelet_max_idle_connections,
            "Maximum number of kubelet connections kept open between scrapes; scrapes of further "
            "nodes connect, resuming their TLS session, and close after the response. -1: the "
            "open-files limit less a sixteenth of it (at least 256) for serving and less "
            "--kubelet-max-concurrency.");
  flags.Int("kubelet-failure-retention-ticks", &kubelet_failure_retention_ticks,
            "Number of failed scrapes of a node during which its last good metrics are kept "
            "and served; 0 drops them at the first failure.");
}

std::vector<std::string> Options::Validate() const {
  std::vector<std::string> errors;
  using std::chrono::seconds;
  if (metric_resolution < seconds(5)) {
    errors.push_back("metric-resolution should be a time duration at least 5s, but value " +
                     base::FormatDuration(metric_resolution) + " provided");
  }
  if (kubelet_request_timeout <= std::chrono::nanoseconds(0)) {
    errors.push_back("kubelet-request-timeout should be positive, but value " +
                     base::FormatDuration(kubelet_request_timeout) + " provided");
  } else if (kubelet_request_timeout >= metric_resolution) {
    errors.push_back(
        "metric-resolution should be larger than kubelet-request-timeout, but metric-resolution "
        "value " +
        base::FormatDuration(metric_resolution) + " kubelet-request-timeout value " +
        base::FormatDuration(kubelet_request_timeout) + " provided");
  }
  if (kubelet_port <= 0 || kubelet_port > 65535) {
    errors.push_back("kubelet-port must be between 1 and 65535, got " +
                     std::to_string(kubelet_port));
  }
  if (kubelet_preferred_address_types.empty()) {
    errors.push_back("kubelet-preferred-address-types must not be empty");
  }
  for (const auto& type : kubelet_preferred_address_types) {
    if (type != "Hostname" && type != "InternalDNS" && type != "InternalIP" &&
        type != "ExternalDNS" && type != "ExternalIP") {
      errors.push_back("kubelet-preferred-address-types: unknown address type \"" + type +
                       "\" (want Hostname, InternalDNS, InternalIP, ExternalDNS, ExternalIP)");
    }
  }
  if (kubelet_insecure_tls && !kubelet_certificate_authority.empty()) {
    errors.push_back("cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls");
  }
  if (kubelet_client_certificate.empty() != kubelet_client_key.empty()) {
    errors.push_back("need both --kubelet-client-certificate and --kubelet-client-key, or neither");
  }
  if (deprecated_kubelet_completely_insecure &&
      (kubelet_insecure_tls || !kubelet_certificate_authority.empty() ||
       !kubelet_client_certificate.empty() || !kubelet_client_key.empty() ||
       !kubelet_bearer_token_file.empty())) {
    errors.push_back(
        "cannot use --deprecated-kubelet-completely-insecure together with "
        "--kubelet-insecure-tls, --kubelet-certificate-authority, "
        "--kubelet-client-certificate, --kubelet-client-key or --kubelet-bearer-token-file");
  }
  if (auto selector = kube::LabelSelector::Parse(node_selector); !selector.ok()) {
    errors.push_back("node-selector: " + selector.error());
  }
  if (kubelet_max_concurrency < 1) {
    errors.push_back("kubelet-max-concurrency must be at least 1, got " +
                     std::to_string(kubelet_max_concurrency));
  }
  if (kubelet_max_response_bytes < 1024) {
    errors.push_back("kubelet-max-response-bytes must be at least 1024, got " +
                     std::to_string(kubelet_max_response_bytes));
  }
  if (kubelet_max_idle_connections < -1) {
    errors.push_back("kubelet-max-idle-connections must be -1 (derived) or at least 0, got " +
                     std::to_string(kubelet_max_idle_connections));
  }
  if (kubelet_failure_retention_ticks < 0) {
    errors.push_back("kubelet-failure-retention-ticks must not be negative, got " +
                     std::to_string(kubelet_failure_retention_ticks));
  }
  return errors;
}

StoreSettings MakeStoreSettings(const Options& options) {
  StoreSettings s;
  s.resolution = options.metric_resolution;
  s.failure_retention_ticks = static_cast<int>(options.kubelet_failure_retention_ticks);
  return s;
}

base::Result<ManagerSettings> MakeManagerSettings(const Options& options) {
  ManagerSettings s;
  s.resolution = options.metric_resolution;
  s.request_timeout = options.kubelet_request_timeout;
  s.max_concurrency = static_cast<size_t>(std::max<int64_t>(1, options.kubelet_max_concurrency));
  s.spread = true;
  s.early_second_sample = true;
  s.target.preferred_address_types = options.kubelet_preferred_address_types;
  s.target.port = static_cast<uint16_t>(options.kubelet_port);
  s.target.use_node_status_port = options.kubelet_use_node_status_port;
  s.summary_api = options.kubelet_summary_api;
  s.target.plain_http = options.deprecated_kubelet_completely_insecure;
  auto selector = kube::LabelSelector::Parse(options.node_selector);
  if (!selector.ok()) return base::MakeError("node-selector: " + selector.error());
  s.node_selector = std::move(selector.value());
  return s;
}

KubeletClientSettings MakeKubeletClientSettings(const Options& options,
                                                const kube::RestConfig* rest) {
  KubeletClientSettings s;
  auto timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(options.kubelet_request_timeout);
  s.connect_timeout = timeout;
  s.handshake_timeout = timeout;
  s.max_response_bytes = static_cast<size_t>(options.kubelet_max_response_bytes);
  s.request_protobuf = options.kubelet_request_protobuf;
  if (options.kubelet_max_idle_connections >= 0)
    s.max_idle_connections = static_cast<size_t>(options.kubelet_max_idle_connections);
  s.plain_http = options.deprecated_kubelet_completely_insecure;
  if (s.plain_http) return s;  // no encryption, authorization or authentication
  if (rest != nullptr) {
    s.tls.ca_file = rest->tls.ca_file;
    s.tls.ca_data = rest->tls.ca_data;
    s.tls.cert_file = rest->tls.cert_file;
    s.tls.key_file = rest->tls.key_file;
    s.tls.cert_data = rest->tls.cert_data;
    s.tls.key_data = rest->tls.key_data;
    s.token_file = rest->token_file;
    if (s.token_file.empty()) s.bearer_token = rest->bearer_token;
  }
  if (options.kubelet_insecure_tls) {
    s.tls.insecure_skip_verify = true;
    s.tls.ca_file.clear();
    s.tls.ca_data.clear();
  }
  if (!options.kubelet_certificate_authority.empty()) {
    s.tls.ca_file = options.kubelet_certificate_authority;
    s.tls.ca_data.clear();
  }
  if (!options.kubelet_client_certificate.empty()) {
    s.tls.cert_file = options.kubelet_client_certificate;
    s.tls.cert_data.clear();
  }
  if (!options.kubelet_client_key.empty()) {
    s.tls.key_file = options.kubelet_client_key;
    s.tls.key_data.clear();
  }
  if (!options.kubelet_bearer_token_file.empty()) {
    s.token_file = options.kubelet_bearer_token_file;
    s.bearer_token.clear();
  }
  return s;
}

size_t DerivedMaxIdleConnections(uint64_t open_files_limit, int64_t max_concurrency) {
  if (open_files_limit == UINT64_MAX) return SIZE_MAX;
  uint64_t reserve = std::max<uint64_t>(256, open_files_limit / 16) +
                     static_cast<uint64_t>(std::max<int64_t>(0, max_concurrency));
  if (open_files_limit <= reserve) return 0;
  return static_cast<size_t>(std::min<uint64_t>(open_files_limit - reserve, SIZE_MAX));
}

}  // namespace scraper
