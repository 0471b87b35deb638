#include "scraper/target.h"

namespace scraper {
namespace {

constexpr size_t kMaxPathBytes = 1024;

bool ValidPath(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.size() > kMaxPathBytes) return false;
  for (unsigned char c : path) {
    if (c <= 0x20 || c == 0x7f || c == '#') return false;
  }
  return true;
}

}  // namespace

std::string Target::HostPort() const {
  std::string out;
  if (host.find(':') != std::string::npos) {
    out = "[" + host + "]";
  } else {
    out = host;
  }
  return out + ":" + std::to_string(port);
}

std::string Target::Url() const { return (tls ? "https://" : "http://") + HostPort() + path; }

base::Result<Target> ResolveTarget(const kube::Node& node, const TargetSettings& settings) {
  Target target;
  target.tls = !settings.plain_http;
  bool found = false;
  for (const auto& type : settings.preferred_address_types) {
    for (const auto& address : node.addresses) {
      if (address.type == type && !address.address.empty()) {
        target.host = address.address;
        found = true;
        break;
      }
    }
    if (found) break;
  }
  if (!found) {
    std::string types;
    for (const auto& type : settings.preferred_address_types) {
      if (!types.empty()) types += " ";
      types += type;
    }
    return base::MakeError("no address matched types [" + types + "]");
  }
  // A bracketed IPv6 literal in the status would be doubled by HostPort.
  if (target.host.size() > 2 && target.host.front() == '[' && target.host.back() == ']') {
    target.host = target.host.substr(1, target.host.size() - 2);
  }
  target.port = settings.port;
  if (settings.use_node_status_port && node.kubelet_port > 0 && node.kubelet_port <= 65535) {
    target.port = static_cast<uint16_t>(node.kubelet_port);
  }
  target.path = kDefaultResourceMetricsPath;
  auto it = node.annotations.find(kResourceMetricsPathAnnotation);
  if (it != node.annotations.end()) {
    if (!ValidPath(it->second)) {
      return base::MakeError(std::string("annotation ") + kResourceMetricsPathAnnotation +
                             ": invalid path \"" + it->second.substr(0, 100) + "\"");
    }
    target.path = it->second;
  }
  return target;
}

}  // namespace scraper
