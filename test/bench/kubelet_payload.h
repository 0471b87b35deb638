// Synthetic kubelet `/metrics/resource` bodies shaped like a real kubelet's (HELP/TYPE lines,
// stability prefixes, sorted families and labels, exponent-form values, ms timestamps), for
// benchmarks and simulated kubelets.
#pragma once

#include <cstdint>
#include <string>

namespace bench {

// `pods` pods of `containers` containers each in a few namespaces; counters grow with
// `sample_ms` so successive payloads give positive rates.
std::string KubeletPayload(int pods, int containers, int64_t sample_ms, uint32_t seed = 1);

}  // namespace bench
