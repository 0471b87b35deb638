// Synthetic kubelet `/stats/summary` bodies shaped like a real kubelet's: every field of
// k8s.io/kubelet/pkg/apis/stats/v1alpha1 Summary a kubelet on cgroup v2 with containerd fills
// (node: system containers, cpu, memory, network with interfaces, fs, runtime image/container fs,
// rlimit, swap; per pod: podRef, containers with cpu, memory, rootfs, logs, swap, pod cpu,
// memory, network, volumes, ephemeral-storage, process stats), pretty-printed with two-space
// indents as the kubelet's REST layer writes it. For benchmarks, parser tests and seeds.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>

namespace testing_support {

// `pods` pods of `containers` containers each, in a few namespaces. Container c of pod p uses
// SummaryRootfsBytes(p, c) of rootfs and SummaryLogsBytes(p, c) of logs; the node fs uses
// SummaryNodeFsBytes().
std::string SummaryPayload(int pods, int containers, int64_t sample_ms);
// The same body for the given pods (namespace, name) and container names, so that it names the
// pods another payload (e.g. the simulated fleet's /metrics/resource) serves.
std::string SummaryPayload(std::span<const std::pair<std::string, std::string>> pods,
                           std::span<const std::string> containers, int64_t sample_ms);

uint64_t SummaryRootfsBytes(int pod, int container);
uint64_t SummaryLogsBytes(int pod, int container);
uint64_t SummaryNodeFsBytes();

}  // namespace testing_support
