#include "scraper/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace scraper {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Parse(Options& o, std::vector<const char*> args) {
  base::FlagSet flags("prog", "summary");
  o.AddFlags(flags);
  args.insert(args.begin(), "prog");
  return flags.Parse(static_cast<int>(args.size()), args.data());
}

TEST(Options, DefaultsMatchMetricsServer) {
  Options o;
  EXPECT_EQ(o.metric_resolution, std::chrono::seconds(15));
  EXPECT_EQ(o.kubelet_port, 10250);
  EXPECT_EQ(o.kubelet_request_timeout, std::chrono::seconds(10));
  EXPECT_THAT(o.kubelet_preferred_address_types,
              ElementsAre("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP"));
  EXPECT_THAT(o.Validate(), IsEmpty());
}

TEST(Options, FlagsParse) {
  Options o;
  auto errors = Parse(
      o, {"--metric-resolution=30s", "--kubelet-port", "10255", "--kubelet-use-node-status-port",
          "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
          "--kubelet-insecure-tls", "--kubelet-request-timeout=5s", "--node-selector=role=worker",
          "--kubelet-max-concurrency=8", "--kubelet-bearer-token-file=/tok"});
  ASSERT_THAT(errors, IsEmpty());
  EXPECT_EQ(o.metric_resolution, std::chrono::seconds(30));
  EXPECT_EQ(o.kubelet_port, 10255);
  EXPECT_TRUE(o.kubelet_use_node_status_port);
  EXPECT_THAT(o.kubelet_preferred_address_types,
              ElementsAre("InternalIP", "ExternalIP", "Hostname"));
  EXPECT_TRUE(o.kubelet_insecure_tls);
  EXPECT_EQ(o.node_selector, "role=worker");
  EXPECT_EQ(o.kubelet_max_concurrency, 8);
  EXPECT_EQ(o.kubelet_bearer_token_file, "/tok");
  EXPECT_THAT(o.Validate(), IsEmpty());
}

TEST(Options, ValidateReportsEveryError) {
  Options o;
  o.metric_resolution = std::chrono::seconds(4);
  o.kubelet_port = 0;
  o.kubelet_insecure_tls = true;
  o.kubelet_certificate_authority = "/ca";
  o.kubelet_client_key = "/key";
  o.kubelet_preferred_address_types = {"InternalIP", "Bogus"};
  o.kubelet_max_concurrency = 0;
  auto errors = o.Validate();
  ASSERT_EQ(errors.size(), 7u) << ::testing::PrintToString(errors);
  EXPECT_THAT(errors[0], HasSubstr("at least 5s, but value 4s provided"));
  EXPECT_THAT(errors[1], HasSubstr("larger than kubelet-request-timeout"));
  EXPECT_THAT(errors[2], HasSubstr("kubelet-port"));
  EXPECT_THAT(errors[3], HasSubstr("\"Bogus\""));
  EXPECT_THAT(errors[4], HasSubstr("--kubelet-insecure-tls"));
  EXPECT_THAT(errors[5], HasSubstr("--kubelet-client-key"));
  EXPECT_THAT(errors[6], HasSubstr("kubelet-max-concurrency"));
}

TEST(Options, FiveSecondResolutionNeedsShorterTimeout) {
  Options o;
  o.metric_resolution = std::chrono::seconds(5);
  EXPECT_EQ(o.Validate().size(), 1u);
  o.kubelet_request_timeout = std::chrono::seconds(4);
  EXPECT_THAT(o.Validate(), IsEmpty());
  o.kubelet_request_timeout = std::chrono::seconds(0);
  EXPECT_THAT(o.Validate(), ElementsAre(HasSubstr("should be positive")));
}

TEST(Options, CompletelyInsecureExcludesTlsSettings) {
  Options o;
  o.deprecated_kubelet_completely_insecure = true;
  EXPECT_THAT(o.Validate(), IsEmpty());
  o.kubelet_client_certificate = "/c";
  o.kubelet_client_key = "/k";
  EXPECT_THAT(o.Validate(), ElementsAre(HasSubstr("--deprecated-kubelet-completely-insecure")));
}

}  // namespace
}  // namespace scraper
