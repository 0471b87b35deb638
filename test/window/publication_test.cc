#include "window/publication.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace window {
namespace {

std::shared_ptr<const Window> Generation(uint64_t g) {
  NodeMetrics node;
  node.name = "node-" + std::to_string(g);
  return std::make_shared<Window>(g, std::vector<NodeMetrics>{node}, std::vector<PodInput>{});
}

TEST(Publication, StartsEmptyAtGenerationZero) {
  Publication p;
  ASSERT_NE(p.Current(), nullptr);
  EXPECT_EQ(p.Current()->generation(), 0u);
  EXPECT_TRUE(p.Current()->nodes().empty());
  EXPECT_EQ(p.published(), 0u);
}

TEST(Publication, PublishedWindowIsCurrentBeforeListenersRun) {
  Publication p;
  std::vector<uint64_t> heard;
  auto sub = p.Subscribe([&](const std::shared_ptr<const Window>& w) {
    // A listener that reads Current() sees the window it is told about.
    EXPECT_EQ(p.Current(), w);
    heard.push_back(w->generation());
  });
  p.Publish(Generation(1));
  p.Publish(Generation(2));
  EXPECT_EQ(heard, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(p.Current()->generation(), 2u);
  EXPECT_EQ(p.published(), 2u);
}

TEST(Publication, ListenersRunInSubscriptionOrderAndOnlyForLaterWindows) {
  Publication p;
  p.Publish(Generation(1));
  std::vector<std::string> calls;
  auto a =
      p.Subscribe([&](const auto& w) { calls.push_back("a" + std::to_string(w->generation())); });
  auto b =
      p.Subscribe([&](const auto& w) { calls.push_back("b" + std::to_string(w->generation())); });
  p.Publish(Generation(2));
  EXPECT_EQ(calls, (std::vector<std::string>{"a2", "b2"}));
}

TEST(Publication, ResetOrDestroyedSubscriptionIsNeverCalledAgain) {
  Publication p;
  int a_calls = 0;
  int b_calls = 0;
  auto a = p.Subscribe([&](const auto&) { ++a_calls; });
  {
    auto b = p.Subscribe([&](const auto&) { ++b_calls; });
    p.Publish(Generation(1));
  }
  a.Reset();
  a.Reset();  // idempotent
  p.Publish(Generation(2));
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b_calls, 1);
}

TEST(Publication, MovedSubscriptionKeepsTheListener) {
  Publication p;
  int calls = 0;
  Publication::Subscription kept;
  {
    auto sub = p.Subscribe([&](const auto&) { ++calls; });
    kept = std::move(sub);
  }  // the moved-from Subscription unsubscribes nothing
  p.Publish(Generation(1));
  EXPECT_EQ(calls, 1);
  Publication::Subscription other = std::move(kept);
  p.Publish(Generation(2));
  EXPECT_EQ(calls, 2);
  other = Publication::Subscription();  // assignment unsubscribes the old listener
  p.Publish(Generation(3));
  EXPECT_EQ(calls, 2);
}

TEST(Publication, ReadersKeepTheirWindowAcrossPublishes) {
  Publication p;
  p.Publish(Generation(1));
  std::shared_ptr<const Window> held = p.Current();
  p.Publish(Generation(2));
  EXPECT_EQ(held->generation(), 1u);
  ASSERT_EQ(held->nodes().size(), 1u);
  EXPECT_EQ(held->nodes()[0].name, "node-1");
}

// The contract consumers rely on: once Reset() returns, the listener is not running and never
// runs again, even while another thread publishes; readers on other threads always see a whole
// window. Run under ThreadSanitizer (label `concurrent`).
TEST(Publication, UnsubscribeWaitsForARunningListener) {
  Publication p;
  std::atomic<bool> in_listener{false};
  std::atomic<bool> release{false};
  std::atomic<int> calls_after_reset{0};
  std::atomic<bool> reset_done{false};
  auto sub = p.Subscribe([&](const auto&) {
    if (reset_done.load()) ++calls_after_reset;
    in_listener = true;
    while (!release.load()) std::this_thread::yield();
  });
  std::thread publisher([&] { p.Publish(Generation(1)); });
  while (!in_listener.load()) std::this_thread::yield();
  std::thread unsubscriber([&] {
    sub.Reset();
    reset_done = true;
  });
  // The unsubscriber must still be waiting: the listener has not returned.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(reset_done.load());
  release = true;
  unsubscriber.join();
  publisher.join();
  EXPECT_TRUE(reset_done.load());
  p.Publish(Generation(2));
  EXPECT_EQ(calls_after_reset.load(), 0);
}

TEST(Publication, ConcurrentReadersSubscribersAndOnePublisher) {
  Publication p;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> heard{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      uint64_t last = 0;
      while (!stop.load()) {
        auto w = p.Current();
        // Generations only move forward for one reader, and each window is whole.
        EXPECT_GE(w->generation(), last);
        last = w->generation();
        if (last > 0) {
          EXPECT_EQ(w->nodes().size(), 1u);
        }
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.load()) {
      auto sub = p.Subscribe([&](const auto&) { ++heard; });
      std::this_thread::yield();
    }
  });
  auto steady = p.Subscribe([&](const auto&) { ++heard; });
  for (uint64_t g = 1; g <= 2000; ++g) p.Publish(Generation(g));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(p.Current()->generation(), 2000u);
  EXPECT_GE(heard.load(), 2000u);  // the steady listener heard every window
}

}  // namespace
}  // namespace window
