// Settings of the kubelet scraper, with metrics-server's flag names and defaults where the
// meaning is the same, so its users can switch by changing the image.
//
// Life cycle: default-construct, AddFlags() onto the process FlagSet, parse, then Validate()
// (all errors at once). The scraper's classes never see the flags: they take the plain settings
// structs derived below. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/flags.h"
#include "base/result.h"
#include "kube/config.h"
#include "scraper/kubelet_client_impl.h"
#include "scraper/manager.h"
#include "scraper/store.h"

namespace scraper {

struct Options {
  // --metric-resolution: interval between two scrapes of every node. Minimum 5s.
  std::chrono::nanoseconds metric_resolution = std::chrono::seconds(15);
  // --kubelet-port: port used when the node status port is not used or not set.
  int64_t kubelet_port = 10250;
  // --kubelet-use-node-status-port: prefer status.daemonEndpoints.kubeletEndpoint.Port.
  bool kubelet_use_node_status_port = false;
  // --kubelet-summary-api: also read /stats/summary for ephemeral-storage usage and Heapster's
  // summary-based metrics (needs the nodes/stats RBAC permission).
  bool kubelet_summary_api = false;
  // --kubelet-preferred-address-types: order matters; the first type a node has wins.
  std::vector<std::string> kubelet_preferred_address_types = {
      "Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP"};
  // --kubelet-insecure-tls: do not verify the kubelet's serving certificate.
  bool kubelet_insecure_tls = false;
  // --kubelet-certificate-authority: CA bundle (PEM file) for kubelet serving certificates.
  // Empty: the in-cluster CA chosen by main, else the system roots.
  std::string kubelet_certificate_authority;
  // --kubelet-client-certificate / --kubelet-client-key: client certificate (both or neither).
  std::string kubelet_client_certificate;
  std::string kubelet_client_key;
  // --kubelet-bearer-token-file: bearer token sent to kubelets, re-read when the file changes.
  // Empty: main may fill in the service-account token.
  std::string kubelet_bearer_token_file;
  // --kubelet-request-timeout: deadline of one scrape (connect, TLS, request, body).
  std::chrono::nanoseconds kubelet_request_timeout = std::chrono::seconds(10);
  // --deprecated-kubelet-completely-insecure: plain HTTP, no authentication to kubelets.
  bool deprecated_kubelet_completely_insecure = false;
  // --node-selector: label selector restricting the scraped nodes (applied by the node cache).
  std::string node_selector;
  // --kubelet-max-concurrency: scrapes in flight at once.
  int64_t kubelet_max_concurrency = 64;
  // --kubelet-max-response-bytes: cap on one kubelet response body.
  int64_t kubelet_max_response_bytes = 16 << 20;
  // --kubelet-request-protobuf: ask for /metrics/resource in the protobuf exposition (text stays
  // the fallback for kubelets that answer text). Off by default: measured, it saves 22 % of the
  // bytes and no CPU yet (README, "Kubelet protobuf exposition"), and no real kubelet has been
  // scraped with it in the test suite.
  bool kubelet_request_protobuf = false;
  // --kubelet-max-idle-connections: kubelet connections kept open between scrapes; nodes beyond
  // it reconnect (resuming TLS) for each scrape. -1: derived from the open-files limit
  // (DerivedMaxIdleConnections), so that serving keeps descriptors at any cluster size.
  int64_t kubelet_max_idle_connections = -1;
  // --kubelet-failure-retention-ticks: ticks a node's last good points are kept (and served)
  // after failed scrapes; 0 drops them at the first failure, as metrics-server does.
  int64_t kubelet_failure_retention_ticks = 2;

  // Registers every flag above; the current values are the defaults shown in help.
  void AddFlags(base::FlagSet& flags);

  // Returns every problem found; empty when the options are usable.
  std::vector<std::string> Validate() const;
};

// The store's settings from validated flags.
StoreSettings MakeStoreSettings(const Options& options);

// Derives the loop settings from validated flags; fails only on a bad --node-selector.
base::Result<ManagerSettings> MakeManagerSettings(const Options& options);

// Derives the client settings from the flags and, as metrics-server hands its rest config to its
// kubelet client, from the Kubernetes API client's configuration `rest` (may be null): its CA
// (file or data), client certificate and key (files or data), static token or token file.
// The flags override as in metrics-server: --kubelet-insecure-tls drops the CA and skips
// verification, --kubelet-certificate-authority replaces the CA, --kubelet-client-certificate
// and --kubelet-client-key replace the client certificate, --kubelet-bearer-token-file replaces
// the token, --deprecated-kubelet-completely-insecure drops everything. Unlike metrics-server,
// the kubeconfig's insecure-skip-tls-verify and tls-server-name are never taken over: they
// describe the kube-apiserver's certificate, not the kubelets'.
KubeletClientSettings MakeKubeletClientSettings(const Options& options,
                                                const kube::RestConfig* rest = nullptr);

// The default of --kubelet-max-idle-connections for a soft open-files limit (UINT64_MAX: none):
// the limit less a sixteenth of it (at least 256) for serving, watches and files, less
// `max_concurrency` for the scrapes in flight; never negative.
size_t DerivedMaxIdleConnections(uint64_t open_files_limit, int64_t max_concurrency);

}  // namespace scraper
