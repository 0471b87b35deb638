// VirtualTimeScheduler: a kube::Scheduler that does not wait. Each After() advances a
// base::ManualClock by the delay and posts the function to an io_context at once, so retry
// back-offs of many minutes run in milliseconds while the code under test sees the time pass.
// It records every delay asked for.
//
// Thread-safe. The io_context and the clock must outlive it.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "kube/backoff.h"

namespace testing_support {

class VirtualTimeScheduler final : public kube::Scheduler {
 public:
  VirtualTimeScheduler(boost::asio::io_context& io, base::ManualClock& clock)
      : io_(io), clock_(clock) {}

  void After(std::chrono::nanoseconds delay, std::function<void()> fn) override;

  // Every delay asked for, in order, and their sum.
  std::vector<std::chrono::nanoseconds> delays() const;
  std::chrono::nanoseconds total() const;

 private:
  boost::asio::io_context& io_;
  base::ManualClock& clock_;
  mutable base::Mutex mu_;
  std::vector<std::chrono::nanoseconds> delays_ GUARDED_BY(mu_);
  std::chrono::nanoseconds total_ GUARDED_BY(mu_){0};
};

}  // namespace testing_support
