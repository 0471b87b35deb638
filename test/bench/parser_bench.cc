// Parser throughput on a realistic 100-pod kubelet payload. Prints MB/s; not a test.
//   build/test/bench/parser_bench [pods] [containers-per-pod] [seconds]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "scraper/resource_metrics.h"
#include "test/testing/kubelet_payload.h"

int main(int argc, char** argv) {
  int pods = argc > 1 ? std::atoi(argv[1]) : 100;
  int containers = argc > 2 ? std::atoi(argv[2]) : 2;
  double seconds = argc > 3 ? std::atof(argv[3]) : 2.0;
  std::string payload = testing_support::KubeletPayload(pods, containers, 1'700'000'000'000);
  scraper::ResourceMetrics metrics;
  // Warm-up, and a correctness check so the benchmark measures a successful parse.
  base::Status s = scraper::ParseResourceMetrics(payload, 1, &metrics);
  if (!s.ok() || metrics.containers.size() != static_cast<size_t>(pods * containers)) {
    std::fprintf(stderr, "parse failed: %s\n", s.message().c_str());
    return 1;
  }
  size_t lines = 0;
  for (char c : payload) lines += c == '\n';
  // CPU time of this thread, so that other processes on a busy machine do not count.
  auto thread_cpu = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  };
  double cpu_start = thread_cpu();
  auto start = std::chrono::steady_clock::now();
  auto until = start + std::chrono::duration<double>(seconds);
  long iterations = 0;
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 64; ++i) {
      if (!scraper::ParseResourceMetrics(payload, 1, &metrics).ok()) return 1;
    }
    iterations += 64;
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double elapsed = thread_cpu() - cpu_start;
  double mb = static_cast<double>(payload.size()) * static_cast<double>(iterations) / 1e6;
  std::printf("payload: %d pods x %d containers, %zu bytes, %zu lines\n", pods, containers,
              payload.size(), lines);
  std::printf(
      "parsed %ld times in %.2f s of CPU (%.2f s wall): %.1f MB/s per core, "
      "%.1f us per payload, %.0f ns per line\n",
      iterations, elapsed, wall, mb / elapsed, elapsed * 1e6 / static_cast<double>(iterations),
      elapsed * 1e9 / static_cast<double>(iterations) / static_cast<double>(lines));
  return 0;
}
