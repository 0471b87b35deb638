#include "kube/labels.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace kube {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

std::vector<std::pair<std::string, std::string>> Items(const Labels& labels) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : labels) out.emplace_back(k, v);
  return out;
}

TEST(LabelsTest, SortedByKeyWhateverTheOrderOfSetAndFirstOfADuplicateInTheList) {
  Labels l = {{"tier", "web"},
              {"app", "shop"},
              {"pod-template-hash", "7d9f8c6b5"},
              {"app", "ignored"},
              {"", "empty-key"}};
  EXPECT_EQ(l.size(), 4u);
  EXPECT_THAT(Items(l), ElementsAre(Pair("", "empty-key"), Pair("app", "shop"),
                                    Pair("pod-template-hash", "7d9f8c6b5"), Pair("tier", "web")));
  EXPECT_EQ(l.at("app"), "shop");
  EXPECT_EQ(l.find("tier")->second, "web");
  EXPECT_EQ(l.find("ap"), l.end());
  EXPECT_EQ(l.find("zzz"), l.end());
  EXPECT_THROW((void)l.at("missing"), std::out_of_range);
}

TEST(LabelsTest, SetReplacesValuesLongerShorterAndEmptyKeepingTheOthers) {
  Labels l;
  EXPECT_TRUE(l.empty());
  l.Set("b", "2");
  l.Set("a", "1");
  l.Set("c", "3");
  l.Set("b", "a much longer value than before");
  EXPECT_THAT(Items(l), ElementsAre(Pair("a", "1"), Pair("b", "a much longer value than before"),
                                    Pair("c", "3")));
  l.Set("b", "");
  l.Set("a", "one");
  EXPECT_THAT(Items(l), ElementsAre(Pair("a", "one"), Pair("b", ""), Pair("c", "3")));
  l.clear();
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.begin(), l.end());
}

TEST(LabelsTest, EqualityIsBySetOfLabelsNotByInsertionOrder) {
  Labels a = {{"x", "1"}, {"y", "2"}};
  Labels b;
  b.Set("y", "2");
  b.Set("x", "1");
  EXPECT_EQ(a, b);
  b.Set("x", "10");
  EXPECT_FALSE(a == b);
  // Same characters, different split between key and value.
  EXPECT_FALSE((Labels{{"ab", "c"}}) == (Labels{{"a", "bc"}}));
}

// Against std::map, the type it replaces: random keys and values, including replacements.
TEST(LabelsTest, BehavesAsAMapOfStrings) {
  std::mt19937 random(7);
  for (int round = 0; round < 200; ++round) {
    std::map<std::string, std::string> want;
    Labels got;
    const int n = static_cast<int>(random() % 12);
    for (int i = 0; i < n; ++i) {
      std::string key = "k" + std::to_string(random() % 8);
      std::string value(random() % 20, static_cast<char>('a' + random() % 26));
      want[key] = value;
      got.Set(key, value);
    }
    ASSERT_EQ(got.size(), want.size());
    std::vector<std::pair<std::string, std::string>> expected(want.begin(), want.end());
    EXPECT_EQ(Items(got), expected) << "round " << round;
    for (const auto& [k, v] : want) EXPECT_EQ(got.at(k), v);
    // The same labels set in key order into room made first (as the decoder does) are equal.
    Labels reserved;
    size_t bytes = 0;
    for (const auto& [k, v] : want) bytes += k.size() + v.size();
    reserved.Reserve(want.size(), bytes);
    for (const auto& [k, v] : want) reserved.Set(k, v);
    EXPECT_EQ(reserved, got) << "round " << round;
    EXPECT_EQ(Items(reserved), expected) << "round " << round;
  }
}

}  // namespace
}  // namespace kube
