#include "apiserver/http_parser.h"

#include <gtest/gtest.h>

namespace apiserver {
namespace {

TEST(HttpParserTest, HealthProbesAreTheHealthPathsAndTheirChecks) {
  using boost::beast::http::verb;
  for (const char* target : {"/livez", "/readyz?verbose", "/healthz", "/livez/ping", "/readyz/"}) {
    EXPECT_TRUE(IsHealthProbe(verb::get, target)) << target;
  }
  EXPECT_TRUE(IsHealthProbe(verb::head, "/livez"));
  for (const char* target : {"/livezz", "/apis/livez", "/", "/metrics", "/readyzz?x=/"}) {
    EXPECT_FALSE(IsHealthProbe(verb::get, target)) << target;
  }
  EXPECT_FALSE(IsHealthProbe(verb::post, "/livez"));
}

}  // namespace
}  // namespace apiserver
