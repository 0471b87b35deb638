// What the sink tests share: the local server they write to (plain HTTP on 127.0.0.1 port 0,
// test/testing/local_https_server.h), a small window, and delivery settings that retry fast.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "exporter/window_sink.h"
#include "test/testing/local_https_server.h"
#include "window/window.h"

namespace exporter::sink_testing {

// Options for a LocalHttpsServer that speaks plain HTTP, as the sinks' servers usually do.
inline testing_support::ServerOptions PlainHttp() {
  testing_support::ServerOptions options;
  options.tls = false;
  return options;
}

// One node (node-1) and one pod (default/web, container app) sampled at
// 1,700,000,000 s + `generation` ns.
inline std::shared_ptr<const window::Window> MakeWindow(uint64_t generation) {
  window::NodeMetrics node;
  node.name = "node-1";
  node.timestamp = 1'700'000'000'000'000'000 + static_cast<int64_t>(generation);
  node.window = std::chrono::seconds(15);
  node.cpu_nanocores = 2'000'000'000;
  node.memory_bytes = 1 << 30;
  window::PodInput pod;
  pod.namespace_ = "default";
  pod.name = "web";
  pod.timestamp = node.timestamp;
  pod.window = node.window;
  pod.containers.push_back({"app", 250'000'000, 100 << 20});
  return std::make_shared<const window::Window>(generation, std::vector{node}, std::vector{pod});
}

// Retries after 10 ms doubling up to 40 ms, 5 s per request, 4 windows queued.
inline DeliveryOptions FastDelivery() {
  DeliveryOptions d;
  d.initial_backoff = std::chrono::milliseconds(10);
  d.max_backoff = std::chrono::milliseconds(40);
  d.request_timeout = std::chrono::milliseconds(5000);
  d.max_queued_windows = 4;
  return d;
}

}  // namespace exporter::sink_testing
