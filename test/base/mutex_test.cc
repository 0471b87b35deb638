#include "base/mutex.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace base {
namespace {

using namespace std::chrono_literals;

struct Counter {
  Mutex mu;
  CondVar cv;
  int value GUARDED_BY(mu) = 0;
};

TEST(MutexTest, MutexLockExcludesOtherThreads) {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) {
        MutexLock lock(c.mu);
        ++c.value;
      }
    });
  }
  for (auto& t : threads) t.join();
  MutexLock lock(c.mu);
  EXPECT_EQ(c.value, 40000);
}

TEST(MutexTest, TryLockFailsWhileHeld) {
  Mutex mu;
  mu.Lock();
  bool acquired_while_held = false;
  std::thread([&] {
    if (mu.TryLock()) {
      acquired_while_held = true;
      mu.Unlock();
    }
  }).join();
  EXPECT_FALSE(acquired_while_held);
  mu.Unlock();
  bool acquired_when_free = false;
  if (mu.TryLock()) {
    acquired_when_free = true;
    mu.Unlock();
  }
  EXPECT_TRUE(acquired_when_free);
}

TEST(MutexTest, SharedMutexAdmitsReadersTogether) {
  SharedMutex mu;
  ReaderMutexLock first(mu);
  bool second_reader_entered = false;
  std::thread([&] {
    ReaderMutexLock second(mu);
    second_reader_entered = true;
  }).join();  // would hang if readers excluded each other
  EXPECT_TRUE(second_reader_entered);
}

TEST(MutexTest, WriterMutexLockExcludesOtherWriters) {
  SharedMutex mu;
  int written = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        WriterMutexLock lock(mu);
        ++written;
      }
    });
  }
  for (auto& t : threads) t.join();
  ReaderMutexLock lock(mu);
  EXPECT_EQ(written, 40000);
}

TEST(CondVarTest, WaitForReturnsOnceThePredicateHolds) {
  Counter c;
  std::thread producer([&c] {
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(1ms);
      MutexLock lock(c.mu);
      ++c.value;
      c.cv.NotifyAll();
    }
  });
  {
    MutexLock lock(c.mu);
    EXPECT_TRUE(c.cv.WaitFor(c.mu, 10s, [&]() REQUIRES(c.mu) { return c.value == 3; }));
    EXPECT_EQ(c.value, 3);
  }
  producer.join();
}

TEST(CondVarTest, WaitForTimesOutWithThePredicateFalse) {
  Counter c;
  MutexLock lock(c.mu);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.cv.WaitFor(c.mu, 20ms, [&]() REQUIRES(c.mu) { return c.value > 0; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
}

TEST(CondVarTest, WaitReleasesTheMutexWhileBlocked) {
  Counter c;
  std::thread setter([&c] {
    MutexLock lock(c.mu);  // acquirable only while the waiter is blocked in Wait
    c.value = 1;
    c.cv.NotifyOne();
  });
  {
    MutexLock lock(c.mu);
    while (c.value == 0) c.cv.Wait(c.mu);
    EXPECT_EQ(c.value, 1);
  }
  setter.join();
}

}  // namespace
}  // namespace base
