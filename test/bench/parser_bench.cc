// Parser throughput on realistic kubelet payloads. Prints MB/s and µs per node; not a test.
//   build/test/bench/parser_bench [pods] [containers-per-pod] [seconds]
// Measures the /metrics/resource text parser, then the /stats/summary parser (what
// --kubelet-summary-api adds per node per tick), each on one node's payload of `pods` pods of
// `containers` containers.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "scraper/resource_metrics.h"
#include "scraper/summary.h"
#include "test/testing/kubelet_payload.h"
#include "test/testing/summary_payload.h"

namespace {

// CPU time of this thread, so that other processes on a busy machine do not count.
double ThreadCpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Runs `parse` for `seconds`; returns CPU µs per call (0 on a failed parse).
double Measure(const char* what, const std::string& payload, double seconds,
               const std::function<bool()>& parse) {
  size_t lines = 0;
  for (char c : payload) lines += c == '\n';
  double cpu_start = ThreadCpu();
  auto start = std::chrono::steady_clock::now();
  auto until = start + std::chrono::duration<double>(seconds);
  long iterations = 0;
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 64; ++i) {
      if (!parse()) return 0;
    }
    iterations += 64;
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double elapsed = ThreadCpu() - cpu_start;
  double mb = static_cast<double>(payload.size()) * static_cast<double>(iterations) / 1e6;
  double us = elapsed * 1e6 / static_cast<double>(iterations);
  std::printf("%s: %zu bytes, %zu lines\n", what, payload.size(), lines);
  std::printf(
      "  parsed %ld times in %.2f s of CPU (%.2f s wall): %.1f MB/s per core, "
      "%.1f us per payload, %.0f ns per line\n",
      iterations, elapsed, wall, mb / elapsed, us,
      elapsed * 1e9 / static_cast<double>(iterations) / static_cast<double>(lines));
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  int pods = argc > 1 ? std::atoi(argv[1]) : 100;
  int containers = argc > 2 ? std::atoi(argv[2]) : 2;
  double seconds = argc > 3 ? std::atof(argv[3]) : 2.0;
  const size_t expected = static_cast<size_t>(pods * containers);
  std::string payload = testing_support::KubeletPayload(pods, containers, 1'700'000'000'000);
  scraper::ResourceMetrics metrics;
  // Warm-up, and a correctness check so the benchmark measures a successful parse.
  base::Status s = scraper::ParseResourceMetrics(payload, 1, &metrics);
  if (!s.ok() || metrics.containers.size() != expected) {
    std::fprintf(stderr, "parse failed: %s\n", s.message().c_str());
    return 1;
  }
  std::string summary = testing_support::SummaryPayload(pods, containers, 1'700'000'000'000);
  scraper::SummaryStorage storage;
  s = scraper::ParseSummary(summary, &storage);
  if (!s.ok() || storage.containers.size() != expected) {
    std::fprintf(stderr, "summary parse failed: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("payloads: %d pods x %d containers\n", pods, containers);
  double text_us = Measure("/metrics/resource", payload, seconds, [&] {
    return scraper::ParseResourceMetrics(payload, 1, &metrics).ok();
  });
  double summary_us = Measure("/stats/summary", summary, seconds,
                              [&] { return scraper::ParseSummary(summary, &storage).ok(); });
  if (text_us == 0 || summary_us == 0) return 1;
  std::printf(
      "parse CPU per node per tick: %.1f us without the summary, %.1f us with it (x%.1f)\n",
      text_us, text_us + summary_us, (text_us + summary_us) / text_us);
  return 0;
}
