// Parser for the kubelet's `/stats/summary` (k8s.io/kubelet/pkg/apis/stats/v1alpha1 Summary),
// keeping only what ephemeral-storage usage and Heapster's summary-based metrics need:
//  - the node: `node.fs.usedBytes`;
//  - per container: `pods[].containers[].rootfs.usedBytes` and `.logs.usedBytes`, with the pod's
//    `podRef.namespace`/`podRef.name` and the container's `name`;
//  - into window::SummaryStats, for the node, each pod and each container: `startTime`;
//    `memory.{time,usageBytes,rssBytes,pageFaults,majorPageFaults}` (node, containers);
//    `network.{time,rxBytes,rxErrors,txBytes,txErrors}` (node, pods; the default interface, as
//    Heapster reads it); `{used,capacity,available}Bytes` of `node.fs`, and of each container's
//    `rootfs` and `logs`.
// Times are RFC 3339 (metav1.Time, fractional seconds allowed); one that is not is ignored.
// A container's ephemeral-storage usage is rootfs + logs, as the kubelet's eviction manager counts
// it (kubernetes pkg/kubelet/eviction/helpers.go, containerUsage with fsStatsRoot and fsStatsLogs:
// a missing FsStats or usedBytes counts as 0).
//
// The parser is one pass of a strict JSON (RFC 8259) scanner that descends only into the objects
// on the way to those fields: no DOM is built, nothing is allocated for the rest of the summary
// (CPU, memory, network, volumes, ...), whose syntax is only checked. Nesting is limited to 512.
// Strings are not checked for valid UTF-8 (the names are only compared with the names of
// /metrics/resource).
//
// Thread-safety: ParseSummary is reentrant; a SummaryStorage is a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "window/window.h"

namespace scraper {

struct ContainerStorage {
  std::string namespace_;
  std::string pod;
  std::string container;
  bool has_rootfs = false;  // rootfs.usedBytes was reported
  bool has_logs = false;    // logs.usedBytes was reported
  uint64_t rootfs_bytes = 0;
  uint64_t logs_bytes = 0;
  window::SummaryStats stats;  // fs[kRootFs] is rootfs, fs[kLogs] is logs

  // The kubelet reported at least one of rootfs and logs usage.
  bool has_ephemeral_storage() const { return has_rootfs || has_logs; }
  // rootfs + logs used bytes (saturating), the eviction manager's container usage.
  uint64_t ephemeral_storage_bytes() const;
};

// A pod's own statistics (network, startTime).
struct PodStorage {
  std::string namespace_;
  std::string pod;
  window::SummaryStats stats;
};

struct SummaryStorage {
  bool has_node_fs = false;
  uint64_t node_fs_used_bytes = 0;  // node.fs.usedBytes
  window::SummaryStats node;        // fs[kRootFs] is node.fs
  // One entry per pod with a namespace and a name, sorted by (namespace, pod); a repeated pod
  // keeps its first entry.
  std::vector<PodStorage> pods;
  // One entry per container that has a name and whose pod has a namespace and a name, sorted by
  // (namespace, pod, container); a repeated container keeps its first entry.
  std::vector<ContainerStorage> containers;
  // Kept values that were not non-negative integers (negative, fractional, not a number), times
  // that were not RFC 3339, and containers without a name or pod reference: dropped, counted
  // here.
  int ignored = 0;

  void Clear();
  // The pod's / container's entry; nullptr when the summary has none. O(log n).
  const PodStorage* FindPod(std::string_view namespace_, std::string_view pod) const;
  const ContainerStorage* FindContainer(std::string_view namespace_, std::string_view pod,
                                        std::string_view container) const;
};

// Exposed for tests: an RFC 3339 date-time ("2026-12-04T20:11:07Z", "...07.123456789+01:00")
// as nanoseconds since the epoch; false when `text` is not one.
bool ParseRfc3339(std::string_view text, int64_t* unix_nanos);

// Parses `text`, the whole /stats/summary body. On success fills `out` (cleared first). On
// malformed JSON, or when the top level or the known fields have the wrong JSON type (e.g.
// `"pods": {}`), returns an error naming the problem and, for syntax, the byte (1-based), e.g.
// "summary: byte 17: expected ',' or '}' in an object"; `out` is then unspecified but valid.
base::Status ParseSummary(std::string_view text, SummaryStorage* out);

}  // namespace scraper
