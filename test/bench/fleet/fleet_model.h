// The simulated fleet, defined deterministically from (nodes N, pods per node P, containers per
// pod C): names, kubelet ports, labels and resource usage. fleet_sim (the kubelets),
// kube_standin (the inventory) and metrics_load (the client) all derive from it, so they agree
// without exchanging anything.
//
//   node i (0 <= i < N)   "node-<i>", kubelet at 127.0.0.1:<port_base + i>
//   pod slot j of node i  global index g = j*N + i (round-robin: an app's pods spread over nodes)
//                         namespace "ns-<g/1000>", app d = g/20, name "app-<d>-7d9f8c6b5d-<g>",
//                         labels app=app-<d>, pod-template-hash=7d9f8c6b5d
//   containers            "app", "sidecar", "c2", "c3", ...
//   container (g, c)      constant CPU rate in 5..500 millicores; working set 20..500 MiB, varying
//                         by +-3% over a 10-minute period; start time fixed, in the past
//   node                  CPU = sum of its containers + 100m; memory = sum + 1 GiB
//
// Every app has 20 pods in one namespace (when N*P is a multiple of 20), so an HPA-shaped query
// is HpaPath(d). Pure functions of the size and the time; thread-safe.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace fleet {

inline constexpr char kTemplateHash[] = "7d9f8c6b5d";
inline constexpr int kPodsPerApp = 20;
inline constexpr int kPodsPerNamespace = 1000;
// 2026-01-01T00:00:00Z: nodes booted 30 days before, containers started up to 20 days before.
inline constexpr double kEpoch = 1767225600;

struct FleetSize {
  int nodes = 0;
  int pods = 0;        // per node
  int containers = 1;  // per pod
  int port_base = 20000;
};

class FleetModel {
 public:
  explicit FleetModel(FleetSize size) : s_(size) {}

  const FleetSize& size() const { return s_; }
  int64_t total_pods() const { return static_cast<int64_t>(s_.nodes) * s_.pods; }
  // Apps; the last has fewer than 20 pods unless N*P is a multiple of 20.
  int64_t apps() const { return (total_pods() + kPodsPerApp - 1) / kPodsPerApp; }

  // ---- nodes ----
  static std::string NodeName(int i) { return "node-" + std::to_string(i); }
  int KubeletPort(int i) const { return s_.port_base + i; }
  static std::string NodeUid(int i) { return Uid(0x4e, static_cast<uint64_t>(i)); }
  static double NodeStartSeconds(int /*i*/) { return kEpoch - 30 * 86400.0; }

  // ---- pods ----
  int64_t PodIndex(int node, int slot) const {
    return static_cast<int64_t>(slot) * s_.nodes + node;
  }
  int PodNode(int64_t g) const { return static_cast<int>(g % s_.nodes); }
  static std::string Namespace(int64_t g) { return "ns-" + std::to_string(g / kPodsPerNamespace); }
  static int64_t App(int64_t g) { return g / kPodsPerApp; }
  static std::string AppName(int64_t d) { return "app-" + std::to_string(d); }
  static std::string PodName(int64_t g) {
    return AppName(App(g)) + "-" + kTemplateHash + "-" + std::to_string(g);
  }
  static std::string PodUid(int64_t g) { return Uid(0x50, static_cast<uint64_t>(g)); }
  static std::string ContainerName(int c) {
    if (c == 0) return "app";
    if (c == 1) return "sidecar";
    return "c" + std::to_string(c);
  }
  // The namespace of app `d`'s pods and the query an HPA sends for them.
  static std::string AppNamespace(int64_t d) { return Namespace(d * kPodsPerApp); }
  static std::string HpaPath(int64_t d) {
    return "/apis/metrics.k8s.io/v1beta1/namespaces/" + AppNamespace(d) +
           "/pods?labelSelector=app%3D" + AppName(d);
  }

  // ---- usage ----
  static int CpuMillicores(int64_t g, int c) { return 5 + static_cast<int>(Hash(g, c, 1) % 496); }
  static double MemoryBaseBytes(int64_t g, int c) {
    return (20.0 + static_cast<double>(Hash(g, c, 2) % 481)) * 1048576.0;
  }
  // Working set at `t` (Unix seconds), a multiple of 4 KiB.
  static double MemoryBytes(int64_t g, int c, double t) {
    double phase = static_cast<double>(Hash(g, c, 3) % 1000) / 1000.0;
    double f = 1.0 + 0.03 * std::sin(2 * M_PI * (t / 600.0 + phase));
    return std::floor(MemoryBaseBytes(g, c) * f / 4096.0) * 4096.0;
  }
  static double ContainerStartSeconds(int64_t g, int c) {
    return kEpoch - static_cast<double>(Hash(g, c, 4) % (20 * 86400));
  }
  // Cumulative core-seconds at `t`.
  static double CpuSeconds(int64_t g, int c, double t) {
    return CpuMillicores(g, c) / 1000.0 * (t - ContainerStartSeconds(g, c));
  }
  int NodeCpuMillicores(int i) const {
    int sum = 100;
    for (int j = 0; j < s_.pods; ++j) {
      for (int c = 0; c < s_.containers; ++c) sum += CpuMillicores(PodIndex(i, j), c);
    }
    return sum;
  }
  double NodeCpuSeconds(int i, double t) const {
    return NodeCpuMillicores(i) / 1000.0 * (t - NodeStartSeconds(i));
  }
  double NodeMemoryBytes(int i, double t) const {
    double sum = 1073741824.0;
    for (int j = 0; j < s_.pods; ++j) {
      for (int c = 0; c < s_.containers; ++c) sum += MemoryBytes(PodIndex(i, j), c, t);
    }
    return sum;
  }

  // splitmix64 of (g, c, salt).
  static uint64_t Hash(int64_t g, int c, uint64_t salt) {
    uint64_t x = static_cast<uint64_t>(g) * 0x9E3779B97F4A7C15ull ^
                 (static_cast<uint64_t>(c) + 1) * 0xC2B2AE3D27D4EB4Full ^
                 salt * 0x165667B19E3779F9ull;
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }

 private:
  // A UUID-shaped id: "<kind>000000-0000-4000-8000-<12 hex digits of n>".
  static std::string Uid(int kind, uint64_t n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%02x000000-0000-4000-8000-%012llx", kind,
                  static_cast<unsigned long long>(n));
    return buf;
  }

  FleetSize s_;
};

}  // namespace fleet
