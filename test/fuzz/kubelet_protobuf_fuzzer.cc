// libFuzzer target for the kubelet's delimited protobuf exposition, also run over the seed
// corpus by kubelet_protobuf_corpus_test. Checks the decoder's output contract and feeds the
// result through the store, so malformed or hostile input can neither crash nor break an
// invariant. Seeds: bodies Go's encoder wrote from the text seeds (test/scraper/prom2pb), and
// malformed ones.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <tuple>

#include "scraper/resource_metrics.h"
#include "scraper/store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  scraper::ResourceMetrics metrics;
  constexpr base::UnixNanos kScrapeTime = 1'700'000'000'000'000'000;
  base::Status status = scraper::ParseResourceMetricsProtobuf(body, kScrapeTime, &metrics);
  if (!status.ok()) {
    if (status.message().rfind("family ", 0) != 0) std::abort();  // errors name the family
    return 0;
  }
  const char* begin = body.data();
  const char* end = begin + body.size();
  auto inside = [&](std::string_view v) { return v.data() >= begin && v.data() + v.size() <= end; };
  for (size_t i = 0; i < metrics.containers.size(); ++i) {
    const auto& c = metrics.containers[i];
    if (c.namespace_.empty() || c.pod.empty() || c.container.empty()) std::abort();
    if (!inside(c.namespace_) || !inside(c.pod) || !inside(c.container)) std::abort();
    if (i > 0) {
      const auto& p = metrics.containers[i - 1];
      if (!(std::tie(p.namespace_, p.pod, p.container) <
            std::tie(c.namespace_, c.pod, c.container))) {
        std::abort();  // sorted and unique
      }
    }
    if (c.has_cpu && c.cpu_timestamp <= 0) std::abort();
  }
  // Reparsing into the used result gives the same answer.
  scraper::ResourceMetrics again = metrics;
  if (!scraper::ParseResourceMetricsProtobuf(body, kScrapeTime, &again).ok() ||
      again.containers.size() != metrics.containers.size()) {
    std::abort();
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
