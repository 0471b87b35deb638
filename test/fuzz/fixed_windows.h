// A fixed metrics window (one node, one pod) for the fuzzers that drive the API handlers.
// Thread-safety: immutable after construction.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "window/window.h"

namespace fuzz_support {

class FixedWindows : public window::Source {
 public:
  FixedWindows() {
    window::PodMetrics pod;
    pod.namespace_ = "default";
    pod.name = "web-0";
    pod.timestamp = 1'700'000'000'000'000'000;
    pod.window = std::chrono::seconds(15);
    pod.containers = {{"app", 1000000, 1 << 20}};
    window_ = std::make_shared<window::Window>(
        1,
        std::vector<window::NodeMetrics>{
            {"node-1", 1'700'000'000'000'000'000, std::chrono::seconds(15), 500000000, 1 << 30}},
        std::vector<window::PodMetrics>{pod});
  }
  std::shared_ptr<const window::Window> Current() const override { return window_; }

 private:
  std::shared_ptr<const window::Window> window_;
};

}  // namespace fuzz_support
