// Writes two known windows through an InfluxSink to the server of a --sink value, waits until
// both are written (or 30 s), and exits 0 when they were. For test/exporter/check-influxdb.sh.
//   influx_probe 'influxdb:http://127.0.0.1:PORT?db=k8s[&withfields=true]'
// The windows: node "probe-node" (1500 millicores, 2 GiB), pod default/probe-pod with containers
// "app" (250 m, 100 MiB) and "sidecar" (10 m, 20 MiB), sampled at 1700000000 s and +15 s.
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "base/metrics.h"
#include "exporter/influx_sink.h"

namespace {

std::shared_ptr<const window::Window> ProbeWindow(uint64_t generation, base::UnixNanos ts) {
  window::NodeMetrics node;
  node.name = "probe-node";
  node.timestamp = ts;
  node.window = std::chrono::seconds(15);
  node.cpu_nanocores = 1'500'000'000;
  node.memory_bytes = uint64_t{2} << 30;
  window::PodMetrics pod;
  pod.namespace_ = "default";
  pod.name = "probe-pod";
  pod.timestamp = ts;
  pod.window = node.window;
  pod.containers.push_back({"app", 250'000'000, 100 << 20});
  pod.containers.push_back({"sidecar", 10'000'000, 20 << 20});
  return std::make_shared<const window::Window>(generation, std::vector{node}, std::vector{pod});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SINK\n", argv[0]);
    return 2;
  }
  auto config = exporter::ParseSinkFlag(argv[1]);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.error().c_str());
    return 2;
  }
  config->initial_backoff = std::chrono::milliseconds(200);
  base::MetricsRegistry registry;
  auto sink = exporter::InfluxSink::Create(*config, exporter::SinkMetrics::Register(registry));
  if (!sink.ok()) {
    std::fprintf(stderr, "%s\n", sink.error().c_str());
    return 2;
  }
  (*sink)->Start();
  const base::UnixNanos t0 = 1'700'000'000'000'000'000;
  (*sink)->Enqueue(ProbeWindow(1, t0));
  (*sink)->Enqueue(ProbeWindow(2, t0 + 15'000'000'000));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((*sink)->written() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::printf("written %llu windows\n", static_cast<unsigned long long>((*sink)->written()));
  return (*sink)->written() == 2 ? 0 : 1;
}
