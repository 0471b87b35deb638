#include "base/shared_string.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <thread>
#include <unordered_set>
#include <vector>

namespace base {
namespace {

TEST(SharedStringTest, CopiesShareOneBufferAndCompareByCharacters) {
  SharedString a("app-7d9f8c6b5d-x2x9q");
  SharedString b = a;
  EXPECT_TRUE(b.SharesBufferWith(a));
  EXPECT_EQ(b.data(), a.data());
  SharedString c(std::string("app-7d9f8c6b5d-x2x9q"));
  EXPECT_FALSE(c.SharesBufferWith(a));
  EXPECT_EQ(c, a);
  EXPECT_EQ(a, "app-7d9f8c6b5d-x2x9q");
  EXPECT_EQ(std::string("app-7d9f8c6b5d-x2x9q"), a);
  EXPECT_EQ(std::string_view("app-7d9f8c6b5d-x2x9q"), a);
  EXPECT_NE(a, "app");
  EXPECT_LT(SharedString("a"), SharedString("b"));
  EXPECT_LT(SharedString("a"), "ab");
  EXPECT_GT(std::string_view("b"), SharedString("ab"));
  EXPECT_EQ(a.size(), 20u);
  EXPECT_EQ(a.compare("app"), std::string_view(a).compare("app"));
  EXPECT_EQ(a.data()[a.size()], '\0');
  EXPECT_EQ(a.str(), "app-7d9f8c6b5d-x2x9q");
  std::ostringstream out;
  out << a;
  EXPECT_EQ(out.str(), "app-7d9f8c6b5d-x2x9q");
}

TEST(SharedStringTest, EmptyHoldsNoBuffer) {
  SharedString empty;
  SharedString from_empty("");
  EXPECT_TRUE(empty.empty());
  EXPECT_TRUE(from_empty.empty());
  EXPECT_EQ(empty, "");
  EXPECT_EQ(empty, from_empty);
  EXPECT_FALSE(empty.SharesBufferWith(from_empty));
  EXPECT_STREQ(empty.data(), "");
  EXPECT_EQ(empty.size(), 0u);
}

TEST(SharedStringTest, AssignmentAndMovesKeepEveryHolderValid) {
  SharedString a("first");
  SharedString b("second");
  b = a;
  EXPECT_TRUE(b.SharesBufferWith(a));
  a = SharedString("third");
  EXPECT_EQ(b, "first");
  EXPECT_EQ(a, "third");
  SharedString moved = std::move(a);
  EXPECT_EQ(moved, "third");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): a moved-from string is empty
  SharedString& same = b;  // assigned to itself, by copy and by move: keeps the string
  b = same;
  EXPECT_EQ(b, "first");
  b = std::move(same);
  EXPECT_EQ(b, "first");
}

TEST(SharedStringTest, WorksAsAKeyInOrderedAndHashedContainers) {
  std::map<SharedString, int, std::less<>> ordered = {{"b", 2}, {"a", 1}};
  EXPECT_EQ(ordered.begin()->first, "a");
  EXPECT_NE(ordered.find(std::string_view("b")), ordered.end());
  std::unordered_set<SharedString> hashed = {"x", "y", "x"};
  EXPECT_EQ(hashed.size(), 2u);
  EXPECT_EQ(hashed.count(SharedString("y")), 1u);
}

// Copies of one buffer made and dropped on several threads at once: the count stays exact
// (ThreadSanitizer and AddressSanitizer runs check the buffer is freed once, after the last).
TEST(SharedStringTest, CopiesOnManyThreadsFreeTheBufferOnce) {
  std::vector<SharedString> shared(64, SharedString("namespace-of-many-pods"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&shared] {
      for (int round = 0; round < 2000; ++round) {
        std::vector<SharedString> copies(shared.begin(), shared.end());
        for (const SharedString& c : copies) ASSERT_EQ(c, "namespace-of-many-pods");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const SharedString& s : shared) EXPECT_TRUE(s.SharesBufferWith(shared[0]));
}

}  // namespace
}  // namespace base
