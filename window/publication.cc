#include "window/publication.h"

#include <utility>
#include <vector>

namespace window {

Publication::Publication()
    : window_(std::make_shared<Window>(0, std::vector<NodeMetrics>{}, std::vector<PodInput>{})) {}

Publication::~Publication() = default;

std::shared_ptr<const Window> Publication::Current() const {
  base::MutexLock lock(window_mu_);
  return window_;
}

uint64_t Publication::published() const {
  base::MutexLock lock(window_mu_);
  return published_;
}

void Publication::Publish(std::shared_ptr<const Window> next) {
  {
    base::MutexLock lock(window_mu_);
    window_ = next;
    ++published_;
  }
  // The previous window is released here or by the last reader still holding it.
  base::MutexLock lock(listeners_mu_);
  for (const Subscription::Entry& entry : listeners_) entry.listener(next);
}

Publication::Subscription Publication::Subscribe(Listener listener) {
  base::MutexLock lock(listeners_mu_);
  listeners_.push_back(Subscription::Entry{std::move(listener)});
  return Subscription(this, std::prev(listeners_.end()));
}

Publication::Subscription::Subscription(Subscription&& other) noexcept
    : publication_(std::exchange(other.publication_, nullptr)), entry_(other.entry_) {}

Publication::Subscription& Publication::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    Reset();
    publication_ = std::exchange(other.publication_, nullptr);
    entry_ = other.entry_;
  }
  return *this;
}

void Publication::Subscription::Reset() {
  if (publication_ == nullptr) return;
  base::MutexLock lock(publication_->listeners_mu_);
  publication_->listeners_.erase(entry_);
  publication_ = nullptr;
}

}  // namespace window
