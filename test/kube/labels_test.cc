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
    Labels::Builder builder;
    size_t bytes = 0;
    for (const auto& [k, v] : want) bytes += k.size() + v.size();
    builder.Reserve(want.size(), bytes);
    for (const auto& [k, v] : want) builder.Set(k, v);
    const Labels reserved = builder.Build();
    EXPECT_EQ(reserved, got) << "round " << round;
    EXPECT_EQ(Items(reserved), expected) << "round " << round;
  }
}

TEST(LabelsTest, CopiesShareTheBufferAndAChangeMakesANewOne) {
  const Labels a = {{"app", "web"}, {"pod-template-hash", "7d9f8c6b5d"}};
  Labels b = a;
  EXPECT_TRUE(b.SharesBufferWith(a));
  b.Set("app", "db");
  EXPECT_FALSE(b.SharesBufferWith(a));
  EXPECT_EQ(a.at("app"), "web");
  EXPECT_EQ(b.at("app"), "db");
  EXPECT_EQ(b.at("pod-template-hash"), "7d9f8c6b5d");
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(a.size(), 2u);
}

TEST(LabelSetTableTest, EqualSetsShareOneBufferAndUnheldSetsAreSwept) {
  LabelSetTable table;
  Labels web1 = {{"app", "web"}, {"hash", "1"}};
  Labels web2 = {{"app", "web"}, {"hash", "1"}};
  Labels db = {{"app", "db"}};
  Labels none;
  EXPECT_FALSE(web2.SharesBufferWith(web1));
  table.Intern(web1);
  table.Intern(web2);
  table.Intern(db);
  table.Intern(none);
  EXPECT_TRUE(web2.SharesBufferWith(web1));
  EXPECT_EQ(web2, (Labels{{"app", "web"}, {"hash", "1"}}));
  EXPECT_FALSE(db.SharesBufferWith(web1));
  EXPECT_EQ(table.size(), 2u);  // no entry for empty labels

  db = Labels();  // nothing holds {app=db} but the table
  table.Sweep();
  EXPECT_EQ(table.size(), 1u);
  web1 = Labels();
  table.Sweep();
  EXPECT_EQ(table.size(), 1u);  // web2 still holds it
  Labels web3 = {{"app", "web"}, {"hash", "1"}};
  table.Intern(web3);
  EXPECT_TRUE(web3.SharesBufferWith(web2));
}

TEST(LabelSetTableTest, InternAsksForASweepOnceTheTableHasDoubled) {
  LabelSetTable table;
  std::vector<Labels> held;
  int first_due = -1;
  for (int i = 0; i < 1000 && first_due < 0; ++i) {
    Labels l = {{"app", "app-" + std::to_string(i)}};
    if (table.Intern(l)) first_due = i;
  }
  EXPECT_EQ(first_due, 64);  // 2 * 0 + 64 sets after the (empty) last sweep, then one more
  table.Sweep();             // none is held: all dropped
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace kube
