// Time sources. Production code takes a `Clock&` so tests can inject a ManualClock instead of
// sleeping. All implementations are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace base {

// Wall-clock time in nanoseconds since the Unix epoch (UTC).
using UnixNanos = int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Current wall-clock time, for timestamps that leave the process.
  virtual UnixNanos Now() const = 0;
  // Monotonic time, for durations and deadlines.
  virtual std::chrono::steady_clock::time_point Steady() const = 0;
};

// The process clock.
class SystemClock final : public Clock {
 public:
  UnixNanos Now() const override;
  std::chrono::steady_clock::time_point Steady() const override;
  static SystemClock& Instance();
};

// A clock that only moves when told to. Wall and monotonic time advance together.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(UnixNanos start = 1'700'000'000'000'000'000) : now_(start) {}
  UnixNanos Now() const override { return now_.load(); }
  std::chrono::steady_clock::time_point Steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(now_.load()));
  }
  void Advance(std::chrono::nanoseconds d) { now_ += d.count(); }
  void Set(UnixNanos t) { now_ = t; }

 private:
  std::atomic<UnixNanos> now_;
};

}  // namespace base
