// Publication: the current window and the signal that a new one was published.
//
// The scraper's store is the one publisher; the Metrics API, and any exporter or watcher, read
// Current() whenever they serve, or Subscribe() to hear about each new window as it is published
// (to pre-encode it, trim memory, push it to watchers or sinks).
//
// Thread-safety:
//  - Current() may be called from any thread at any time; it takes a lock only to copy a
//    pointer, never waits for a publisher or a listener.
//  - Publish() is for one publisher at a time. It swaps the window in, then calls every listener
//    on the publisher's thread, in subscription order, before returning. Listeners run on the
//    scrape thread: they must be quick and must not block (post real work to an executor of
//    their own), and must not call Publish().
//  - Subscribe() and the Subscription's destruction may happen on any thread, concurrently with
//    Publish(). Once a Subscription is destroyed (or Reset()) its listener is not running and is
//    never called again, so a listener may capture what outlives its Subscription. A listener
//    must not subscribe or unsubscribe (it would wait for itself).
//  - The Publication must outlive its Subscriptions.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>

#include "base/mutex.h"
#include "window/window.h"

namespace window {

class Publication final : public Source {
 public:
  using Listener = std::function<void(const std::shared_ptr<const Window>& published)>;

  // Keeps a listener subscribed while it lives. Movable, not copyable.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& other) noexcept;
    Subscription& operator=(Subscription&& other) noexcept;
    ~Subscription() { Reset(); }
    // Unsubscribes now; waits for a call of the listener in progress on another thread.
    void Reset();

   private:
    friend class Publication;
    struct Entry;
    Subscription(Publication* publication, std::list<Entry>::iterator entry)
        : publication_(publication), entry_(entry) {}
    Publication* publication_ = nullptr;
    std::list<Entry>::iterator entry_;
  };

  // Starts with an empty window of generation 0.
  Publication();
  ~Publication() override;
  Publication(const Publication&) = delete;
  Publication& operator=(const Publication&) = delete;

  std::shared_ptr<const Window> Current() const override;

  // Makes `next` (not null) the current window and tells every listener.
  void Publish(std::shared_ptr<const Window> next);

  // `listener` is called for each window published from now on (not for the current one).
  [[nodiscard]] Subscription Subscribe(Listener listener);

  // Windows published since construction.
  uint64_t published() const;

 private:
  mutable base::Mutex window_mu_;  // held only to copy or swap window_
  std::shared_ptr<const Window> window_ GUARDED_BY(window_mu_);
  uint64_t published_ GUARDED_BY(window_mu_) = 0;

  // Serializes calls of listeners with unsubscription: held while listeners run and while one
  // is removed. Publish() is the only caller of listeners, and there is one publisher.
  base::Mutex listeners_mu_;
  std::list<Subscription::Entry> listeners_ GUARDED_BY(listeners_mu_);
};

struct Publication::Subscription::Entry {
  Listener listener;
};

}  // namespace window
