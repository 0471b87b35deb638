// Synthetic kubelet `/metrics/resource` bodies shaped like a real kubelet's (HELP/TYPE lines,
// stability prefixes, families sorted by name, series sorted by label values, labels sorted,
// values formatted as Go's strconv 'g' shortest form, ms timestamps), for benchmarks, the
// simulated kubelets and the system tests' kubelets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace testing_support {

// Collects one kubelet's samples and renders them. The string_views passed in must stay valid
// until AppendTo returns. Reusable: Clear() keeps the capacity. Not thread-safe.
class KubeletPayloadBuilder {
 public:
  void Clear();
  // Starts a pod; the containers added next belong to it.
  void AddPod(std::string_view ns, std::string_view name);
  // A container of the last pod: cumulative CPU core-seconds, working set bytes, start time
  // (Unix seconds). The pod's own samples are the sums of its containers'.
  void AddContainer(std::string_view name, double cpu_seconds, double memory_bytes,
                    double start_seconds);
  void SetNode(double cpu_seconds, double memory_bytes);
  // Appends the exposition text with every sample stamped `sample_ms`.
  void AppendTo(int64_t sample_ms, std::string* out);
  // A capacity hint for the body, in bytes.
  std::size_t EstimatedSize() const;

 private:
  struct Pod {
    std::string_view ns, name;
    double cpu = 0, memory = 0;
  };
  struct Container {
    std::string_view name;
    std::size_t pod;
    double cpu, memory, start;
  };
  std::vector<Pod> pods_;
  std::vector<Container> containers_;
  std::vector<std::size_t> order_;  // containers_ sorted by (name, namespace, pod)
  std::vector<std::size_t> pod_order_;
  double node_cpu_ = 0, node_memory_ = 0;
};

// Appends `v` as Go's strconv.FormatFloat(v, 'g', -1, 64) does (what the Prometheus text
// encoder prints): shortest round-trip digits, exponent form below 1e-4 and from 1e6 on
// ("1.2627968e+07", "0.366894", "1e-05").
void AppendGoFloat(double v, std::string* out);

// `pods` pods of `containers` containers each in a few namespaces; counters grow with
// `sample_ms` so successive payloads give positive rates.
std::string KubeletPayload(int pods, int containers, int64_t sample_ms, uint32_t seed = 1);

}  // namespace testing_support
