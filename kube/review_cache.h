// The TTL cache behind TokenReviewAuthenticator and SubjectAccessReviewAuthorizer (exposed for
// tests). Entries expire after the TTL given at insertion; when the cache is full the entry
// that expires first is evicted. Thread-safe (one mutex; operations are O(log n)).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "base/clock.h"
#include "base/mutex.h"

namespace kube {

template <typename V>
class ReviewCache {
 public:
  ReviewCache(const base::Clock& clock, std::size_t max_entries)
      : clock_(clock), max_entries_(max_entries) {}

  // The cached value if present and not expired.
  std::optional<V> Get(const std::string& key) {
    base::MutexLock lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    if (it->second.expiry <= clock_.Steady()) {
      EraseLocked(it);
      return std::nullopt;
    }
    return it->second.value;
  }

  // Stores `value` for `ttl` (a non-positive ttl stores nothing).
  void Put(const std::string& key, V value, std::chrono::nanoseconds ttl) {
    if (ttl.count() <= 0 || max_entries_ == 0) return;
    base::MutexLock lock(mu_);
    auto now = clock_.Steady();
    if (auto it = entries_.find(key); it != entries_.end()) EraseLocked(it);
    // Drop what expired, then the soonest-expiring entries while full.
    while (!by_expiry_.empty() &&
           (by_expiry_.begin()->first <= now || entries_.size() >= max_entries_)) {
      EraseLocked(entries_.find(by_expiry_.begin()->second));
    }
    auto expiry = now + ttl;
    auto pos = by_expiry_.emplace(expiry, key);
    entries_.emplace(key, Entry{std::move(value), expiry, pos});
  }

  std::size_t Size() const {
    base::MutexLock lock(mu_);
    return entries_.size();
  }

 private:
  using Time = std::chrono::steady_clock::time_point;
  struct Entry {
    V value;
    Time expiry;
    typename std::multimap<Time, std::string>::iterator pos;
  };
  void EraseLocked(typename std::unordered_map<std::string, Entry>::iterator it) REQUIRES(mu_) {
    by_expiry_.erase(it->second.pos);
    entries_.erase(it);
  }

  const base::Clock& clock_;
  const std::size_t max_entries_;
  mutable base::Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ GUARDED_BY(mu_);
  std::multimap<Time, std::string> by_expiry_ GUARDED_BY(mu_);
};

}  // namespace kube
