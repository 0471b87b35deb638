// A fixed metrics window (one node, one pod) for the fuzzers that drive the API handlers.
// Thread-safety: immutable after construction.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "scraper/window.h"

namespace fuzz_support {

class FixedWindows : public scraper::WindowSource {
 public:
  FixedWindows() {
    scraper::PodMetrics pod;
    pod.namespace_ = "default";
    pod.name = "web-0";
    pod.timestamp = 1'700'000'000'000'000'000;
    pod.window = std::chrono::seconds(15);
    pod.containers = {{"app", 1000000, 1 << 20}};
    window_ = std::make_shared<scraper::Window>(
        1,
        std::vector<scraper::NodeMetrics>{
            {"node-1", 1'700'000'000'000'000'000, std::chrono::seconds(15), 500000000, 1 << 30}},
        std::vector<scraper::PodMetrics>{pod});
  }
  std::shared_ptr<const scraper::Window> Current() const override { return window_; }

 private:
  std::shared_ptr<const scraper::Window> window_;
};

}  // namespace fuzz_support
