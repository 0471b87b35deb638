#include "base/block_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace base {
namespace {

TEST(BlockPool, BlocksArePageAlignedWholePagesAndWritable) {
  BlockPool pool(10'000);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  EXPECT_EQ(pool.block_bytes() % page, 0u);
  EXPECT_GE(pool.block_bytes(), 10'000u);
  char* block = pool.Take();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % page, 0u);
  std::memset(block, 'x', pool.block_bytes());
  EXPECT_EQ(block[pool.block_bytes() - 1], 'x');
  pool.Give(block);
}

TEST(BlockPool, GivenBlocksAreReusedUpToTheSpareLimit) {
  BlockPool pool;
  std::vector<char*> round;
  for (int i = 0; i < 4; ++i) round.push_back(pool.Take());
  EXPECT_EQ(pool.mapped(), 4u);
  pool.SetSpareLimit(3);
  for (char* block : round) pool.Give(block);
  EXPECT_EQ(pool.spare(), 3u);   // the fourth was unmapped
  EXPECT_EQ(pool.mapped(), 3u);
  // The next round gets the same blocks back, then fresh ones.
  std::set<char*> before(round.begin(), round.end());
  std::vector<char*> next;
  for (int i = 0; i < 4; ++i) next.push_back(pool.Take());
  int reused = 0;
  for (char* block : next) reused += before.count(block) > 0 ? 1 : 0;
  EXPECT_GE(reused, 3);
  EXPECT_EQ(pool.spare(), 0u);
  EXPECT_EQ(pool.mapped(), 4u);
  // A reused block is writable whatever the kernel did with it meanwhile.
  for (char* block : next) std::memset(block, 1, pool.block_bytes());
  for (char* block : next) pool.Give(block);
  EXPECT_EQ(pool.spare(), 3u);
}

TEST(BlockPool, LoweringTheLimitUnmapsSpares) {
  BlockPool pool;
  pool.SetSpareLimit(8);
  std::vector<char*> round;
  for (int i = 0; i < 8; ++i) round.push_back(pool.Take());
  for (char* block : round) pool.Give(block);
  EXPECT_EQ(pool.spare(), 8u);
  pool.SetSpareLimit(2);
  EXPECT_EQ(pool.spare(), 2u);
  EXPECT_EQ(pool.mapped(), 2u);
  pool.SetSpareLimit(0);
  EXPECT_EQ(pool.mapped(), 0u);
}

TEST(BlockPool, TakeAndGiveFromSeveralThreads) {
  BlockPool pool(4096);
  pool.SetSpareLimit(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&pool, t] {
      for (int i = 0; i < 200; ++i) {
        char* block = pool.Take();
        block[0] = static_cast<char>(t);
        block[4095] = static_cast<char>(i);
        EXPECT_EQ(block[0], static_cast<char>(t));
        pool.Give(block);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(pool.spare(), 16u);
  EXPECT_EQ(pool.mapped(), pool.spare());
}


}  // namespace
}  // namespace base
