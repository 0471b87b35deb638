#include "apiserver/options.h"

#include <gtest/gtest.h>

#include "test/testing/temp_dir.h"

namespace apiserver {
namespace {

TEST(OptionsTest, DefaultsAreValidAndFlagsParse) {
  Options o;
  base::FlagSet flags("t", "t");
  o.AddFlags(flags);
  const char* argv[] = {"t",
                        "--secure-port=4443",
                        "--metrics-api-versions=v1",
                        "--requestheader-allowed-names=front-proxy-client,aggregator",
                        "--authorization-always-allow-paths=/healthz,/metrics",
                        "--max-connections=500",
                        "--max-pending-response-bytes=1048576"};
  EXPECT_TRUE(flags.Parse(7, argv).empty());
  EXPECT_TRUE(o.Validate().empty());
  EXPECT_EQ(o.ToServerOptions().port, 4443);
  EXPECT_EQ(o.ToServerOptions().max_connections, 500u);
  EXPECT_EQ(o.ToServerOptions().max_response_bytes_pending, 1048576u);
  EXPECT_EQ(o.metrics_api_versions, std::vector<std::string>{"v1"});
  EXPECT_EQ(o.requestheader_allowed_names.size(), 2u);
  EXPECT_TRUE(o.NeedsConfigMapLookup());
}

TEST(OptionsTest, EveryProblemIsReported) {
  Options o;
  o.secure_port = -1;
  o.bind_address = "localhost:1";
  o.tls.min_version = "VersionTLS11";
  o.tls.cert_file = "/nonexistent/cert.pem";
  o.max_requests_inflight = 0;
  o.max_connections = 0;
  o.max_pending_response_bytes = -5;
  o.metrics_api_versions = {"v1", "v1", "v2alpha1"};
  o.client_ca_file = "/nonexistent/ca.pem";
  auto errors = o.Validate();
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  for (const char* want :
       {"--secure-port", "--bind-address", "--tls-min-version",
        "--tls-cert-file and --tls-private-key-file", "cannot read /nonexistent/cert.pem",
        "--max-requests-inflight", "--max-connections", "--max-pending-response-bytes",
        "\"v1\" given twice", "\"v2alpha1\"", "--client-ca-file"}) {
    EXPECT_NE(all.find(want), std::string::npos) << want << "\n" << all;
  }
}

TEST(OptionsTest, FlagCasOverrideTheClusterConfig) {
  testing_support::TempDir dir;
  Options o;
  o.client_ca_file = dir.Write("ca.pem", "CLIENT-CA");
  kube::AuthenticationConfig cluster;
  cluster.client_ca_pem = "CLUSTER-CA";
  cluster.requestheader_client_ca_pem = "CLUSTER-PROXY-CA";
  cluster.allowed_names = {"front-proxy-client"};
  cluster.username_headers = {"X-Remote-User"};
  auto merged = o.AuthenticationConfig(&cluster);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->client_ca_pem, "CLIENT-CA");
  EXPECT_EQ(merged->requestheader_client_ca_pem, "CLUSTER-PROXY-CA");
  EXPECT_EQ(merged->allowed_names, std::vector<std::string>{"front-proxy-client"});
  auto flags_only = o.AuthenticationConfig(nullptr);
  ASSERT_TRUE(flags_only.ok());
  EXPECT_EQ(flags_only->requestheader_client_ca_pem, "");
  EXPECT_EQ(flags_only->username_headers, std::vector<std::string>{"x-remote-user"});
  o.authentication_skip_lookup = true;
  EXPECT_FALSE(o.NeedsConfigMapLookup());
}

}  // namespace
}  // namespace apiserver
