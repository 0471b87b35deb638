#include "kube/backoff.h"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>

#include "base/mutex.h"

namespace kube {

JitterSource DefaultJitterSource() {
  struct State {
    base::Mutex mu;
    std::mt19937_64 rng GUARDED_BY(mu){std::random_device{}()};
    std::uniform_real_distribution<double> dist GUARDED_BY(mu){0.0, 1.0};
  };
  auto state = std::make_shared<State>();
  return [state] {
    base::MutexLock lock(state->mu);
    return state->dist(state->rng);
  };
}

Backoff::Backoff(const base::Clock& clock, BackoffOptions options, JitterSource jitter)
    : clock_(clock), options_(options), jitter_(std::move(jitter)) {}

std::chrono::nanoseconds Backoff::Next() {
  auto now = clock_.Steady();
  if (current_.count() == 0 || now - last_ > options_.reset_after) {
    current_ = options_.initial;
  } else {
    auto grown = std::chrono::nanoseconds(
        static_cast<int64_t>(static_cast<double>(current_.count()) * options_.factor));
    current_ = std::min<std::chrono::nanoseconds>(grown, options_.max);
  }
  last_ = now;
  double u = jitter_ ? std::clamp(jitter_(), 0.0, 1.0) : 0.0;
  auto extra = std::chrono::nanoseconds(
      static_cast<int64_t>(static_cast<double>(current_.count()) * options_.jitter * u));
  return current_ + extra;
}

void Backoff::Reset() { current_ = std::chrono::nanoseconds(0); }

void AsioScheduler::After(std::chrono::nanoseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io_);
  timer->expires_after(delay);
  timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code&) { fn(); });
}

}  // namespace kube
