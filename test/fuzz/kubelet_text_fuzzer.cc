// libFuzzer target for the kubelet text parser, also run over the seed corpus by
// kubelet_text_corpus_test. Checks the parser's output contract, checks that the reference
// parser (the one before the fast path) gives the same answer, and feeds the result through the
// store, so malformed or hostile input can neither crash nor break an invariant.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <tuple>

#include "scraper/resource_metrics.h"
#include "scraper/store.h"
#include "test/scraper/reference_resource_metrics.h"

namespace {

bool SameUsage(const scraper::ResourceUsage& a, const scraper::ResourceUsage& b) {
  return a.has_cpu == b.has_cpu && a.has_memory == b.has_memory &&
         a.cpu_timestamp == b.cpu_timestamp && a.memory_timestamp == b.memory_timestamp &&
         a.cpu_ns == b.cpu_ns && a.memory_bytes == b.memory_bytes && a.has_swap == b.has_swap &&
         a.swap_bytes == b.swap_bytes;
}

// Aborts unless the reference parser accepts or rejects `text` as `status` and `metrics` say.
void CheckAgainstReference(std::string_view text, base::UnixNanos scrape_time,
                           const base::Status& status, const scraper::ResourceMetrics& metrics) {
  scraper::ResourceMetrics want;
  base::Status want_status = scraper_reference::ParseResourceMetrics(text, scrape_time, &want);
  if (status.ok() != want_status.ok() || status.message() != want_status.message()) std::abort();
  if (!status.ok()) return;
  if (!SameUsage(metrics.node, want.node) || metrics.scrape_error != want.scrape_error ||
      metrics.ignored_samples != want.ignored_samples ||
      metrics.containers.size() != want.containers.size()) {
    std::abort();
  }
  for (size_t i = 0; i < want.containers.size(); ++i) {
    const auto& g = metrics.containers[i];
    const auto& w = want.containers[i];
    if (g.namespace_ != w.namespace_ || g.pod != w.pod || g.container != w.container ||
        g.start_time != w.start_time || !SameUsage(g, w)) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  scraper::ResourceMetrics metrics;
  constexpr base::UnixNanos kScrapeTime = 1'700'000'000'000'000'000;
  base::Status status = scraper::ParseResourceMetrics(text, kScrapeTime, &metrics);
  CheckAgainstReference(text, kScrapeTime, status, metrics);
  if (!status.ok()) {
    if (status.message().rfind("line ", 0) != 0) std::abort();  // errors name the line
    return 0;
  }
  for (size_t i = 0; i < metrics.containers.size(); ++i) {
    const auto& c = metrics.containers[i];
    if (c.namespace_.empty() || c.pod.empty() || c.container.empty()) std::abort();
    if (i > 0) {
      const auto& p = metrics.containers[i - 1];
      if (!(std::tie(p.namespace_, p.pod, p.container) <
            std::tie(c.namespace_, c.pod, c.container))) {
        std::abort();  // sorted and unique
      }
    }
    if (c.has_cpu && c.cpu_timestamp <= 0) std::abort();
  }
  // Two ticks through the store: rates computed from arbitrary values must not crash.
  window::Publication windows;
  scraper::Store store(scraper::StoreSettings{}, windows);
  for (int tick = 0; tick < 2; ++tick) {
    store.BeginTick().Success("node", metrics);
    store.Publish();
  }
  auto window = windows.Current();
  for (const auto& pod : window->pods()) {
    if (pod.containers.empty()) std::abort();
  }
  return 0;
}
