#include "apiserver/wire_format.h"

#include <gtest/gtest.h>

#include <ctime>
#include <string>
#include <vector>

namespace apiserver {
namespace {

TEST(QuantityTest, CpuFollowsDecimalSICanonicalForm) {
  EXPECT_EQ(FormatCpu(12345678), "12345678n");
  EXPECT_EQ(FormatCpu(500000000), "500m");
  EXPECT_EQ(FormatCpu(1000000000), "1");
  EXPECT_EQ(FormatCpu(1500000000), "1500m");
  EXPECT_EQ(FormatCpu(1000000), "1m");
  EXPECT_EQ(FormatCpu(0), "0");
  EXPECT_EQ(FormatCpu(164843745), "164843745n");
  EXPECT_EQ(FormatCpu(10), "10n");
  EXPECT_EQ(FormatCpu(1000), "1u");
  EXPECT_EQ(FormatCpu(120000), "120u");
  EXPECT_EQ(FormatCpu(64000000000), "64");
  EXPECT_EQ(FormatCpu(2000000000000), "2k");
}

TEST(QuantityTest, MemoryFollowsBinarySICanonicalForm) {
  EXPECT_EQ(FormatMemory(12533760), "12240Ki");
  EXPECT_EQ(FormatMemory(1616273408), "1578392Ki");
  EXPECT_EQ(FormatMemory(1048576), "1Mi");
  EXPECT_EQ(FormatMemory(1025), "1025");
  EXPECT_EQ(FormatMemory(1000), "1k");
  EXPECT_EQ(FormatMemory(512), "512");
  EXPECT_EQ(FormatMemory(0), "0");
  EXPECT_EQ(FormatMemory(1024), "1Ki");
  EXPECT_EQ(FormatMemory(3ull << 30), "3Gi");
  EXPECT_EQ(FormatMemory(4620 * 1024), "4620Ki");
}

TEST(QuantityTest, DecimalExponentsAreLoweredToMultiplesOfThree) {
  std::string s;
  AppendDecimalSI(s, 15, -1);  // 1.5 = 1500m
  EXPECT_EQ(s, "1500m");
  s.clear();
  AppendDecimalSI(s, -25, -2);
  EXPECT_EQ(s, "-250m");
}

TEST(TimeTest, Rfc3339WholeSecondsUtc) {
  // 2025-01-09T13:45:39.999Z
  EXPECT_EQ(FormatTime(1736430339'999'000'000LL), "2025-01-09T13:45:39Z");
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(UnixSeconds(-1), -1);
}

TEST(TimeTest, CivilDateArithmeticAgreesWithGmtime) {
  // Leap days, century and 400-year rules, month ends, times before the epoch and far ahead
  // (within what int64 nanoseconds hold: 1677-2262).
  std::vector<int64_t> seconds = {0,          -1,          -86400,     -86401,
                                  951782400,  951868799,   4107542400, 4107628799,
                                  9000000000, -9000000000, 1709164800, 1735689599};
  for (int64_t s = -2'000'000'000; s < 4'000'000'000; s += 7'777'777) seconds.push_back(s);
  for (int64_t s : seconds) {
    std::time_t t = static_cast<std::time_t>(s);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::string want(buf, std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm));
    std::string got = "x";
    AppendTime(got, s * 1'000'000'000 + 999'999'999);
    EXPECT_EQ(got, "x" + want) << s;
  }
}

TEST(JsonStringTest, EscapesLikeGo) {
  std::string s;
  AppendJsonString(s, "a\"b\\c\n<&>\x01");
  EXPECT_EQ(s, "\"a\\\"b\\\\c\\n\\u003c\\u0026\\u003e\\u0001\"");
  s.clear();
  AppendJsonString(s, "\xc3\xa9\xff");
  EXPECT_EQ(s, "\"\xc3\xa9\\ufffd\"");
  s.clear();
  AppendJsonString(s, "\xe2\x80\xa8");
  EXPECT_EQ(s, "\"\\u2028\"");
}

TEST(JsonStringTest, SizeIsWhatAppendWrites) {
  for (std::string_view in :
       {std::string_view(""), std::string_view("plain-name-0"),
        std::string_view("a\"b\\c\n<&>\x01"), std::string_view("prefix \xc3\xa9\xff suffix"),
        std::string_view("\xe2\x80\xa8"), std::string_view("\xf0\x9f\x98\x80 four bytes"),
        std::string_view("cut \xe2\x80"), std::string_view("nul \0 inside", 13)}) {
    std::string s;
    AppendJsonString(s, in);
    EXPECT_EQ(JsonStringSize(in), s.size()) << s;
  }
}

TEST(ProtoTest, Varints) {
  std::string s;
  AppendVarint(s, 300);
  EXPECT_EQ(s, std::string("\xac\x02", 2));
  EXPECT_EQ(VarintSize(300), 2u);
  EXPECT_EQ(VarintSize(127), 1u);
}

TEST(ProtoTest, FieldsWrittenInPlaceMatchFieldsWrittenFromTemporaries) {
  for (size_t inner_size : {0u, 1u, 120u, 127u, 128u, 300u, 20000u}) {
    const std::string payload(inner_size, 'p');
    std::string inner;
    AppendBytesField(inner, 1, payload);
    std::string want = "head";
    AppendBytesField(want, 4, inner);

    std::string got = "head";
    const size_t outer = BeginField(got, 4);
    const size_t nested = BeginField(got, 1);
    got.append(payload);
    EndField(got, nested);
    EndField(got, outer);
    EXPECT_EQ(got, want) << inner_size;
  }
}

}  // namespace
}  // namespace apiserver
