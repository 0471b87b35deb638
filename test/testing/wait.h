// WaitFor: polls a condition until it holds, for a test that waits for another thread (a
// server's io threads, an informer, a scrape) to reach a state.
//
// The limit only turns a hang into a failure; it is not a time bound (test/README.md, "Time
// bounds"). Call it from the test's thread; the condition must be safe to call from there.
#pragma once

#include <chrono>
#include <thread>

namespace testing_support {

// True as soon as `condition()` is true; false if it is still false after `limit`.
// `condition` is called every `poll`, and once more at the limit; a condition that asks a
// server over the network wants a longer `poll` than one that reads a counter.
template <typename Condition>
bool WaitFor(Condition condition,
             std::chrono::milliseconds limit = std::chrono::milliseconds(15000),
             std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(poll);
  }
  return condition();
}

}  // namespace testing_support
