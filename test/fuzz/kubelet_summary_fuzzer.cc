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
  // Reusing the result gives the same answer.
  const size_t n = summary.containers.size();
  if (!scraper::ParseSummary(text, &summary).ok() || summary.containers.size() != n) std::abort();
  return 0;
}
