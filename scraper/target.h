// Choosing where to scrape a node, exactly as metrics-server users know it: the first address of
// the first preferred type, the node status port or --kubelet-port, and the path from the
// `metrics.k8s.io/resource-metrics-path` annotation. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "kube/objects.h"

namespace scraper {

inline constexpr char kResourceMetricsPathAnnotation[] = "metrics.k8s.io/resource-metrics-path";
inline constexpr char kDefaultResourceMetricsPath[] = "/metrics/resource";
// The kubelet's summary API (k8s.io/kubelet/pkg/apis/stats/v1alpha1), for ephemeral storage.
inline constexpr char kSummaryPath[] = "/stats/summary";

struct TargetSettings {
  // Address types in order of preference ("Hostname", "InternalIP", ...).
  std::vector<std::string> preferred_address_types = {"Hostname", "InternalDNS", "InternalIP",
                                                      "ExternalDNS", "ExternalIP"};
  uint16_t port = 10250;
  bool use_node_status_port = false;  // prefer status.daemonEndpoints.kubeletEndpoint.Port
  bool plain_http = false;            // http:// instead of https://
};

// Where one node's kubelet is scraped.
struct Target {
  bool tls = true;
  std::string host;  // DNS name or IP literal; IPv6 without brackets
  uint16_t port = 0;
  std::string path;  // request target, e.g. "/metrics/resource"

  std::string HostPort() const;  // "host:port"; IPv6 bracketed
  std::string Url() const;       // "https://host:port/path", for messages
  bool operator==(const Target&) const = default;
};

// Fails when no address of a preferred type exists ("no address matched types [InternalIP
// Hostname]") or the path annotation is not an absolute path without spaces or control bytes.
base::Result<Target> ResolveTarget(const kube::Node& node, const TargetSettings& settings);

}  // namespace scraper
