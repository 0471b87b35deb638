// The metrics window the fuzzers that drive the API handlers serve (one node, one pod); they
// publish it into a window::Publication.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "window/window.h"

namespace fuzz_support {

inline std::shared_ptr<const window::Window> FixedWindow() {
  window::PodInput pod;
  pod.namespace_ = "default";
  pod.name = "web-0";
  pod.timestamp = 1'700'000'000'000'000'000;
  pod.window = std::chrono::seconds(15);
  pod.containers = {{"app", 1000000, 1 << 20}};
  return std::make_shared<window::Window>(
      1,
      std::vector<window::NodeMetrics>{
          {"node-1", 1'700'000'000'000'000'000, std::chrono::seconds(15), 500000000, 1 << 30}},
      std::vector<window::PodInput>{pod});
}

}  // namespace fuzz_support
