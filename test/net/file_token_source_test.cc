#include "net/file_token_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "test/testing/temp_dir.h"

namespace net {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

TEST(FileTokenSourceTest, KeepsLastGoodTokenAndReportsErrors) {
  testing_support::TempDir dir;
  std::string path = dir.File("token");
  FileTokenSource source(path, 0ms);
  auto missing = source.Token();
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error(), HasSubstr(path));
  EXPECT_EQ(source.AsProvider()(), "");

  dir.Write("token", "\tabc \r\n");
  auto t = source.Token();
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_EQ(*t, "abc");
  EXPECT_TRUE(source.LastError().ok());

  std::remove(path.c_str());
  t = source.Token();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "abc");
  EXPECT_THAT(source.LastError().message(), HasSubstr(path));

  dir.Write("token", "   \n");
  EXPECT_EQ(*source.Token(), "abc");
  EXPECT_THAT(source.LastError().message(), HasSubstr("empty"));

  dir.Write("token", "def");
  EXPECT_EQ(*source.Token(), "def");
  EXPECT_TRUE(source.LastError().ok());
}

TEST(FileTokenSourceTest, ChecksTheFileAtMostOncePerInterval) {
  testing_support::TempDir dir;
  std::string path = dir.Write("token", "one");
  FileTokenSource source(path, std::chrono::hours(1));
  EXPECT_EQ(*source.Token(), "one");
  dir.Write("token", "two");
  EXPECT_EQ(*source.Token(), "one");
}

}  // namespace
}  // namespace net
