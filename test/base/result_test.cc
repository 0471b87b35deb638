#include "base/result.h"

#include <gtest/gtest.h>

namespace base {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return MakeError(std::to_string(v) + " is odd");
  return v / 2;
}

TEST(Result, CarriesValueOrError) {
  auto ok = Half(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "3 is odd");
  EXPECT_EQ(bad.status().message(), "3 is odd");
}

TEST(Status, WrapAddsContextInFront) {
  Status s = Status::Error("certificate verify failed");
  EXPECT_EQ(s.Wrap("handshake").Wrap("node-3 10.0.0.5:10250").message(),
            "node-3 10.0.0.5:10250: handshake: certificate verify failed");
  EXPECT_TRUE(Status::Ok().Wrap("ignored").ok());
  EXPECT_EQ(Status::Ok().message(), "");
}

}  // namespace
}  // namespace base
