// Retry pacing for the informers and watchers, as client-go's reflector does it
// (wait.NewExponentialBackoffManager(800ms, 30s, 2m, 2.0, 1.0)): each failure doubles the delay
// up to a cap, a random jitter of up to `jitter` x delay is added, and the delay resets when no
// failure happened for `reset_after`.
//
// Time is injected (base::Clock for "now", Scheduler for waiting) so tests can run a
// ten-minute outage without waiting. Backoff is not thread-safe (one per loop); the schedulers
// are thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>

#include "base/clock.h"

namespace kube {

// client-go's cap on the delay between retries.
inline constexpr std::chrono::milliseconds kMaxBackoff{30000};

struct BackoffOptions {
  std::chrono::milliseconds initial{800};
  std::chrono::milliseconds max = kMaxBackoff;
  std::chrono::milliseconds reset_after{120000};
  double factor = 2.0;
  double jitter = 1.0;  // delay += delay * jitter * U[0,1)
};

// Returns a value in [0, 1). Tests pass a fixed sequence.
using JitterSource = std::function<double()>;
JitterSource DefaultJitterSource();  // thread-safe PRNG

class Backoff {
 public:
  Backoff(const base::Clock& clock, BackoffOptions options = {},
          JitterSource jitter = DefaultJitterSource());

  // The delay to wait before the next attempt after a failure. The un-jittered base grows by
  // `factor` per call up to `max`; it restarts from `initial` when the previous call was more
  // than `reset_after` ago. The result is base + base * jitter * U, so at most (1 + jitter) x max.
  std::chrono::nanoseconds Next();
  // Forgets past failures (after a success that proves the peer healthy).
  void Reset();

 private:
  const base::Clock& clock_;
  const BackoffOptions options_;
  JitterSource jitter_;
  std::chrono::nanoseconds current_{0};  // 0 = no failure yet
  std::chrono::steady_clock::time_point last_{};
};

// Runs a function after a delay. Production uses Asio timers; tests substitute one driven by a
// ManualClock.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Calls `fn` once after `delay` on an io thread, never synchronously from After() itself.
  // There is no cancellation: `fn` checks whether it is still wanted (informers hold a
  // weak_ptr).
  virtual void After(std::chrono::nanoseconds delay, std::function<void()> fn) = 0;
};

// Scheduler on boost::asio::steady_timer. `io` must outlive it.
class AsioScheduler final : public Scheduler {
 public:
  explicit AsioScheduler(boost::asio::io_context& io) : io_(io) {}
  void After(std::chrono::nanoseconds delay, std::function<void()> fn) override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace kube
