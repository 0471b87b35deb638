#include "base/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace base {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Parsed {
  std::string name = "default";
  bool insecure = false;
  int64_t port = 10250;
  std::chrono::nanoseconds resolution = std::chrono::seconds(15);
  std::vector<std::string> types = {"Hostname", "InternalIP"};
};

std::vector<std::string> ParseArgs(FlagSet& flags, std::vector<const char*> args) {
  args.insert(args.begin(), "prog");
  return flags.Parse(static_cast<int>(args.size()), args.data());
}

FlagSet Make(Parsed& p) {
  FlagSet flags("prog", "summary");
  flags.Group("Kubelet flags");
  flags.String("name", &p.name, "a name");
  flags.Bool("kubelet-insecure-tls", &p.insecure, "skip verify");
  flags.Int("kubelet-port", &p.port, "port");
  flags.Duration("metric-resolution", &p.resolution, "resolution");
  flags.StringList("kubelet-preferred-address-types", &p.types, "types");
  return flags;
}

TEST(FlagSet, ParsesEveryFormKubernetesComponentsAccept) {
  Parsed p;
  FlagSet flags = Make(p);
  auto errors =
      ParseArgs(flags, {"--name=x", "--kubelet-insecure-tls", "--kubelet-port", "4443",
                        "--metric-resolution=30s", "--kubelet-preferred-address-types",
                        "InternalIP,ExternalIP", "--kubelet-preferred-address-types=Hostname"});
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(p.name, "x");
  EXPECT_TRUE(p.insecure);
  EXPECT_EQ(p.port, 4443);
  EXPECT_EQ(p.resolution, std::chrono::seconds(30));
  EXPECT_THAT(p.types, ElementsAre("InternalIP", "ExternalIP", "Hostname"));
  EXPECT_TRUE(flags.WasSet("kubelet-port"));
  EXPECT_FALSE(flags.help_requested());
}

TEST(FlagSet, ReportsAllErrorsAtOnce) {
  Parsed p;
  FlagSet flags = Make(p);
  auto errors = ParseArgs(flags, {"--nope", "--kubelet-port=abc", "--metric-resolution=fast",
                                  "--kubelet-insecure-tls=maybe", "stray", "--name"});
  ASSERT_EQ(errors.size(), 6u);
  EXPECT_THAT(errors[0], HasSubstr("unknown flag --nope"));
  EXPECT_THAT(errors[1], HasSubstr("--kubelet-port"));
  EXPECT_THAT(errors[2], HasSubstr("--metric-resolution"));
  EXPECT_THAT(errors[3], HasSubstr("--kubelet-insecure-tls"));
  EXPECT_THAT(errors[4], HasSubstr("stray"));
  EXPECT_THAT(errors[5], HasSubstr("needs a value"));
  EXPECT_EQ(p.port, 10250);  // untouched on error
}

TEST(FlagSet, SingleDashForSingleLetterFlags) {
  int64_t v = 0;
  FlagSet flags("prog", "summary");
  flags.Int("v", &v, "verbosity");
  EXPECT_TRUE(ParseArgs(flags, {"-v=4"}).empty());
  EXPECT_EQ(v, 4);
  EXPECT_TRUE(ParseArgs(flags, {"-v", "2"}).empty());
  EXPECT_EQ(v, 2);
}

TEST(FlagSet, UsageGroupsFlagsWithDefaults) {
  Parsed p;
  FlagSet flags = Make(p);
  ParseArgs(flags, {"--help"});
  EXPECT_TRUE(flags.help_requested());
  std::string usage = flags.Usage();
  EXPECT_THAT(usage, HasSubstr("Kubelet flags:"));
  EXPECT_THAT(usage, HasSubstr("--metric-resolution duration"));
  EXPECT_THAT(usage, HasSubstr("(default 15s)"));
  EXPECT_THAT(usage, HasSubstr("(default Hostname,InternalIP)"));
  EXPECT_THAT(usage, HasSubstr("(default \"default\")"));
}

}  // namespace
}  // namespace base
