// Parser for the kubelet's `/stats/summary` (k8s.io/kubelet/pkg/apis/stats/v1alpha1 Summary),
// keeping only what ephemeral-storage usage needs:
//  - the node: `node.fs.usedBytes`;
//  - per container: `pods[].containers[].rootfs.usedBytes` and `.logs.usedBytes`, with the pod's
//    `podRef.namespace`/`podRef.name` and the container's `name`.
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

namespace scraper {

struct ContainerStorage {
  std::string namespace_;
  std::string pod;
  std::string container;
  bool has_rootfs = false;  // rootfs.usedBytes was reported
  bool has_logs = false;    // logs.usedBytes was reported
  uint64_t rootfs_bytes = 0;
  uint64_t logs_bytes = 0;

  // The kubelet reported at least one of rootfs and logs usage.
  bool has_ephemeral_storage() const { return has_rootfs || has_logs; }
  // rootfs + logs used bytes (saturating), the eviction manager's container usage.
  uint64_t ephemeral_storage_bytes() const;
};

struct SummaryStorage {
  bool has_node_fs = false;
  uint64_t node_fs_used_bytes = 0;  // node.fs.usedBytes
  // One entry per container that has a name and whose pod has a namespace and a name, sorted by
  // (namespace, pod, container); a repeated container keeps its first entry.
  std::vector<ContainerStorage> containers;
  // usedBytes values that were not non-negative integers (negative, fractional, not a number),
  // and containers without a name or pod reference: dropped, counted here.
  int ignored = 0;

  void Clear();
};

// Parses `text`, the whole /stats/summary body. On success fills `out` (cleared first). On
// malformed JSON, or when the top level or the known fields have the wrong JSON type (e.g.
// `"pods": {}`), returns an error naming the problem and, for syntax, the byte (1-based), e.g.
// "summary: byte 17: expected ',' or '}' in an object"; `out` is then unspecified but valid.
base::Status ParseSummary(std::string_view text, SummaryStorage* out);

}  // namespace scraper
