// Writes known windows through the sink of a --sink value (any kind) to a real server, for
// test/exporter/check-influxdb.sh and check-otelcol.sh.
//
//   sink_probe SINK            two windows; waits until both are written (or 30 s); exit 0 if so
//   sink_probe SINK --outage   for a server not started yet: enqueues 20 windows, waits until
//                              the sink is down, prints "DOWN queued=Q dropped=D" (the caller
//                              then starts the server), waits until the queue is empty (or
//                              60 s), prints "UP written=W queued=Q"; exit 0 when the queue never
//                              held more than its bound, the extra windows were dropped, and the
//                              queued ones were written after the server came up
//
// The windows: node "probe-node" (1500 millicores, 2 GiB), pod default/probe-pod with containers
// "app" (250 m, 100 MiB) and "sidecar" (10 m, 20 MiB), sampled at 1700000000 s + 15 s * (i - 1).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <variant>
#include <vector>

#include "base/metrics.h"
#include "exporter/options.h"

namespace {

std::shared_ptr<const window::Window> ProbeWindow(uint64_t generation, base::UnixNanos ts) {
  window::NodeMetrics node;
  node.name = "probe-node";
  node.timestamp = ts;
  node.window = std::chrono::seconds(15);
  node.cpu_nanocores = 1'500'000'000;
  node.memory_bytes = uint64_t{2} << 30;
  window::PodInput pod;
  pod.namespace_ = "default";
  pod.name = "probe-pod";
  pod.timestamp = ts;
  pod.window = node.window;
  pod.containers.push_back({"app", 250'000'000, 100 << 20});
  pod.containers.push_back({"sidecar", 10'000'000, 20 << 20});
  return std::make_shared<const window::Window>(generation, std::vector{node}, std::vector{pod});
}

constexpr base::UnixNanos kT0 = 1'700'000'000'000'000'000;
constexpr base::UnixNanos kStep = 15'000'000'000;
constexpr std::size_t kBound = 4;

template <typename Pred>
bool WaitUntil(std::chrono::seconds timeout, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const bool outage = argc == 3 && std::strcmp(argv[2], "--outage") == 0;
  if (argc != 2 && !outage) {
    std::fprintf(stderr, "usage: %s SINK [--outage]\n", argv[0]);
    return 2;
  }
  auto config = exporter::ParseAnySinkFlag(argv[1]);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.error().c_str());
    return 2;
  }
  std::visit(
      [](auto& c) {
        c.delivery.initial_backoff = std::chrono::milliseconds(200);
        c.delivery.max_backoff = std::chrono::milliseconds(1000);
        c.delivery.max_queued_windows = kBound;
      },
      *config);
  base::MetricsRegistry registry;
  auto sink = exporter::CreateSink(*config, exporter::SinkMetrics::Register(registry));
  if (!sink.ok()) {
    std::fprintf(stderr, "%s\n", sink.error().c_str());
    return 2;
  }
  exporter::WindowSink& s = **sink;
  s.Start();
  if (!outage) {
    s.Enqueue(ProbeWindow(1, kT0));
    s.Enqueue(ProbeWindow(2, kT0 + kStep));
    WaitUntil(std::chrono::seconds(30), [&] { return s.written() >= 2; });
    std::printf("written %llu windows\n", static_cast<unsigned long long>(s.written()));
    return s.written() == 2 ? 0 : 1;
  }
  constexpr uint64_t kWindows = 20;
  bool bounded = true;
  for (uint64_t i = 1; i <= kWindows; ++i) {
    s.Enqueue(ProbeWindow(i, kT0 + static_cast<base::UnixNanos>(i - 1) * kStep));
    bounded = bounded && s.queued() <= kBound;
  }
  if (!WaitUntil(std::chrono::seconds(30), [&] { return s.down(); })) {
    std::printf("never saw the sink down\n");
    return 1;
  }
  std::printf("DOWN queued=%zu dropped=%llu\n", s.queued(),
              static_cast<unsigned long long>(s.dropped()));
  std::fflush(stdout);
  const bool drained = WaitUntil(std::chrono::seconds(60), [&] { return s.queued() == 0; });
  std::printf("UP written=%llu queued=%zu\n", static_cast<unsigned long long>(s.written()),
              s.queued());
  const bool ok = drained && bounded && s.dropped() == kWindows - kBound && s.written() >= kBound &&
                  s.written() <= kBound + 1 && !s.down();
  return ok ? 0 : 1;
}
