#include "test/testing/virtual_time_scheduler.h"

#include <boost/asio/post.hpp>

#include <utility>

namespace testing_support {

void VirtualTimeScheduler::After(std::chrono::nanoseconds delay, std::function<void()> fn) {
  {
    base::MutexLock lock(mu_);
    delays_.push_back(delay);
    total_ += delay;
  }
  clock_.Advance(delay);
  boost::asio::post(io_, std::move(fn));
}

std::vector<std::chrono::nanoseconds> VirtualTimeScheduler::delays() const {
  base::MutexLock lock(mu_);
  return delays_;
}

std::chrono::nanoseconds VirtualTimeScheduler::total() const {
  base::MutexLock lock(mu_);
  return total_;
}

}  // namespace testing_support
