#include "base/duration.h"

#include <gtest/gtest.h>

namespace base {
namespace {

using std::chrono::nanoseconds;

TEST(FormatDuration, MatchesGoDurationString) {
  EXPECT_EQ(FormatDuration(nanoseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(nanoseconds(1)), "1ns");
  EXPECT_EQ(FormatDuration(nanoseconds(1'500)), "1.5\xC2\xB5s");
  EXPECT_EQ(FormatDuration(nanoseconds(1'500'000)), "1.5ms");
  EXPECT_EQ(FormatDuration(nanoseconds(500'000'000)), "500ms");
  EXPECT_EQ(FormatDuration(nanoseconds(15'000'000'000)), "15s");
  EXPECT_EQ(FormatDuration(nanoseconds(15'001'000'000)), "15.001s");
  EXPECT_EQ(FormatDuration(nanoseconds(17'913'000'000)), "17.913s");
  EXPECT_EQ(FormatDuration(nanoseconds(60'000'000'000)), "1m0s");
  EXPECT_EQ(FormatDuration(nanoseconds(90'500'000'000)), "1m30.5s");
  EXPECT_EQ(FormatDuration(nanoseconds(3'600'000'000'000)), "1h0m0s");
  EXPECT_EQ(FormatDuration(nanoseconds(-2'000'000'000)), "-2s");
  EXPECT_EQ(FormatDuration(nanoseconds(1'000'000'001)), "1.000000001s");
}

TEST(ParseDuration, AcceptsGoSyntax) {
  EXPECT_EQ(*ParseDuration("15s"), nanoseconds(15'000'000'000));
  EXPECT_EQ(*ParseDuration("1m30.5s"), nanoseconds(90'500'000'000));
  EXPECT_EQ(*ParseDuration("500ms"), nanoseconds(500'000'000));
  EXPECT_EQ(*ParseDuration("1h"), nanoseconds(3'600'000'000'000));
  EXPECT_EQ(*ParseDuration("0"), nanoseconds(0));
  EXPECT_EQ(*ParseDuration("-1.5s"), nanoseconds(-1'500'000'000));
  EXPECT_EQ(*ParseDuration("2us"), nanoseconds(2'000));
  EXPECT_EQ(*ParseDuration("2\xC2\xB5s"), nanoseconds(2'000));
}

TEST(ParseDuration, RejectsMalformedInputWithReason) {
  EXPECT_NE(ParseDuration("").error().find("empty"), std::string::npos);
  EXPECT_NE(ParseDuration("15").error().find("missing unit"), std::string::npos);
  EXPECT_NE(ParseDuration("15x").error().find("unknown unit"), std::string::npos);
  EXPECT_NE(ParseDuration("s").error().find("expected a number"), std::string::npos);
  EXPECT_NE(ParseDuration("999999999999h").error().find("overflow"), std::string::npos);
}

TEST(DurationRoundTrip, FormatThenParse) {
  for (int64_t v : {1LL, 999LL, 1'234'567LL, 15'001'000'000LL, 3'723'000'000'001LL}) {
    EXPECT_EQ(ParseDuration(FormatDuration(nanoseconds(v)))->count(), v) << v;
  }
}

}  // namespace
}  // namespace base
