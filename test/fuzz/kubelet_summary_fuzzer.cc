// libFuzzer target for the kubelet /stats/summary parser, also run over the seed corpus by
// kubelet_summary_corpus_test. Checks the parser's output contract, so malformed or hostile
// input can neither crash nor break an invariant.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <tuple>

#include "scraper/summary.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  scraper::SummaryStorage summary;
  base::Status status = scraper::ParseSummary(text, &summary);
  if (!status.ok()) {
    if (status.message().rfind("summary: ", 0) != 0) std::abort();  // errors say what failed
    return 0;
  }
  if (!summary.has_node_fs && summary.node_fs_used_bytes != 0) std::abort();
  if (summary.ignored < 0) std::abort();
  for (size_t i = 0; i < summary.containers.size(); ++i) {
    const auto& c = summary.containers[i];
    if (c.namespace_.empty() || c.pod.empty() || c.container.empty()) std::abort();
    if (i > 0) {
      const auto& p = summary.containers[i - 1];
      if (!(std::tie(p.namespace_, p.pod, p.container) <
            std::tie(c.namespace_, c.pod, c.container))) {
        std::abort();  // sorted and unique
      }
    }
    const uint64_t sum = c.ephemeral_storage_bytes();
    if ((c.has_rootfs && sum < c.rootfs_bytes) || (c.has_logs && sum < c.logs_bytes)) std::abort();
    if (!c.has_ephemeral_storage() && sum != 0) std::abort();
  }
  // Heapster's fields: a value is set only with its bit (a cleared field stays 0).
  auto check_stats = [](const window::SummaryStats& st) {
    using S = window::SummaryStats;
    if (st.has >= (S::kTxErrors << 1)) std::abort();
    if (!st.Has(S::kStartTime) && st.start_time != 0) std::abort();
    if (!st.Has(S::kMemoryTime) && st.memory_time != 0) std::abort();
    if (!st.Has(S::kNetworkTime) && st.network_time != 0) std::abort();
    if (!st.Has(S::kMemoryUsage) && st.memory_usage_bytes != 0) std::abort();
    if (!st.Has(S::kPageFaults) && st.page_faults != 0) std::abort();
    if (!st.Has(S::kRxBytes) && st.rx_bytes != 0) std::abort();
    if (!st.Has(S::kTxErrors) && st.tx_errors != 0) std::abort();
    for (const window::FsUsage& fs : st.fs) {
      if (fs.has > 7) std::abort();
      if (!(fs.has & window::FsUsage::kUsed) && fs.used_bytes != 0) std::abort();
      if (!(fs.has & window::FsUsage::kCapacity) && fs.capacity_bytes != 0) std::abort();
    }
  };
  check_stats(summary.node);
  if (summary.has_node_fs != ((summary.node.fs[0].has & window::FsUsage::kUsed) != 0)) std::abort();
  if (summary.has_node_fs && summary.node.fs[0].used_bytes != summary.node_fs_used_bytes) {
    std::abort();
  }
  if (summary.node.fs[1].has != 0) std::abort();  // the node has no "logs" filesystem
  for (const auto& c : summary.containers) {
    check_stats(c.stats);
    if (c.has_rootfs && c.stats.fs[0].used_bytes != c.rootfs_bytes) std::abort();
    if (c.has_logs && c.stats.fs[1].used_bytes != c.logs_bytes) std::abort();
    if (summary.FindContainer(c.namespace_, c.pod, c.container) != &c) std::abort();
  }
  for (size_t i = 0; i < summary.pods.size(); ++i) {
    const auto& p = summary.pods[i];
    check_stats(p.stats);
    if (p.namespace_.empty() || p.pod.empty()) std::abort();
    if (i > 0 && !(std::tie(summary.pods[i - 1].namespace_, summary.pods[i - 1].pod) <
                   std::tie(p.namespace_, p.pod))) {
      std::abort();  // sorted and unique
    }
    if (summary.FindPod(p.namespace_, p.pod) != &p) std::abort();
    if (p.stats.Has(window::SummaryStats::kMemoryUsage)) std::abort();  // pods have no memory
  }
  // Reusing the result gives the same answer.
  const size_t n = summary.containers.size();
  if (!scraper::ParseSummary(text, &summary).ok() || summary.containers.size() != n) std::abort();
  return 0;
}
