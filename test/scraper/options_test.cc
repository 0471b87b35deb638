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
      o,
      {"--metric-resolution=30s", "--kubelet-port", "10255", "--kubelet-use-node-status-port",
       "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname", "--kubelet-insecure-tls",
       "--kubelet-request-timeout=5s", "--node-selector=role=worker", "--kubelet-max-concurrency=8",
       "--kubelet-bearer-token-file=/tok", "--kubelet-request-protobuf=true"});
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
  EXPECT_TRUE(o.kubelet_request_protobuf);
  EXPECT_TRUE(MakeKubeletClientSettings(o).request_protobuf);
  EXPECT_FALSE(MakeKubeletClientSettings(Options{}).request_protobuf);
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
  o.kubelet_max_idle_connections = -2;
  auto errors = o.Validate();
  ASSERT_EQ(errors.size(), 8u) << ::testing::PrintToString(errors);
  EXPECT_THAT(errors[0], HasSubstr("at least 5s, but value 4s provided"));
  EXPECT_THAT(errors[1], HasSubstr("larger than kubelet-request-timeout"));
  EXPECT_THAT(errors[2], HasSubstr("kubelet-port"));
  EXPECT_THAT(errors[3], HasSubstr("\"Bogus\""));
  EXPECT_THAT(errors[4], HasSubstr("--kubelet-insecure-tls"));
  EXPECT_THAT(errors[5], HasSubstr("--kubelet-client-key"));
  EXPECT_THAT(errors[6], HasSubstr("kubelet-max-concurrency"));
  EXPECT_THAT(errors[7], HasSubstr("kubelet-max-idle-connections must be -1 (derived) or at "
                                   "least 0, got -2"));
}

// Unset, the limit comes from the open-files limit (filled in by the program); set, it is taken
// as given, 0 included (never keep a connection).
TEST(Options, MaxIdleKubeletConnections) {
  Options o;
  EXPECT_EQ(o.kubelet_max_idle_connections, -1);
  EXPECT_EQ(MakeKubeletClientSettings(o).max_idle_connections, SIZE_MAX);
  ASSERT_THAT(Parse(o, {"--kubelet-max-idle-connections=0"}), IsEmpty());
  EXPECT_THAT(o.Validate(), IsEmpty());
  EXPECT_EQ(MakeKubeletClientSettings(o).max_idle_connections, 0u);
  ASSERT_THAT(Parse(o, {"--kubelet-max-idle-connections=5000"}), IsEmpty());
  EXPECT_EQ(MakeKubeletClientSettings(o).max_idle_connections, 5000u);

  // A sixteenth of the limit, at least 256, stays for serving, plus the scrapes in flight.
  EXPECT_EQ(DerivedMaxIdleConnections(20000, 64), 20000u - 1250 - 64);
  EXPECT_EQ(DerivedMaxIdleConnections(1048576, 64), 1048576u - 65536 - 64);
  EXPECT_EQ(DerivedMaxIdleConnections(1024, 64), 1024u - 256 - 64);
  EXPECT_EQ(DerivedMaxIdleConnections(300, 64), 0u);
  EXPECT_EQ(DerivedMaxIdleConnections(UINT64_MAX, 64), SIZE_MAX);
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

TEST(KubeletClientSettings, FromOptions) {
  kube::RestConfig in_cluster;
  in_cluster.tls.ca_file = "/var/run/ca.crt";
  in_cluster.token_file = "/var/run/token";
  Options o;
  o.kubelet_certificate_authority = "/etc/kubelet-ca.crt";
  o.kubelet_client_certificate = "/c";
  o.kubelet_client_key = "/k";
  auto s = MakeKubeletClientSettings(o, &in_cluster);
  EXPECT_EQ(s.tls.ca_file, "/etc/kubelet-ca.crt");
  EXPECT_EQ(s.tls.cert_file, "/c");
  EXPECT_EQ(s.token_file, "/var/run/token");
  EXPECT_FALSE(s.plain_http);
  o.kubelet_certificate_authority.clear();
  o.kubelet_insecure_tls = true;
  in_cluster.token_file.clear();
  s = MakeKubeletClientSettings(o, &in_cluster);
  EXPECT_TRUE(s.tls.insecure_skip_verify);
  EXPECT_TRUE(s.tls.ca_file.empty());
  EXPECT_TRUE(s.token_file.empty());
  s = MakeKubeletClientSettings(Options{});
  EXPECT_TRUE(s.tls.ca_file.empty());
  EXPECT_TRUE(s.token_file.empty());
  EXPECT_TRUE(s.bearer_token.empty());
}

// A kubeconfig's credentials, in every form, reach the kubelet client as metrics-server's rest
// config does; the kubelet flags override them the way metrics-server's
// KubeletClientOptions.Config does; the kubeconfig's insecure-skip-tls-verify and tls-server-name
// (about the kube-apiserver's certificate) never reach it.
TEST(KubeletClientSettings, KubeconfigCredentialsAndFlagOverrides) {
  kube::RestConfig rest;
  rest.tls.ca_data = "CA-DATA";
  rest.tls.cert_data = "CERT-DATA";
  rest.tls.key_data = "KEY-DATA";
  rest.tls.server_name = "kubernetes.default.svc";
  rest.bearer_token = "static-token";
  Options o;
  auto s = MakeKubeletClientSettings(o, &rest);
  EXPECT_EQ(s.tls.ca_data, "CA-DATA");
  EXPECT_EQ(s.tls.cert_data, "CERT-DATA");
  EXPECT_EQ(s.tls.key_data, "KEY-DATA");
  EXPECT_EQ(s.bearer_token, "static-token");
  EXPECT_TRUE(s.token_file.empty());
  EXPECT_TRUE(s.tls.server_name.empty());
  EXPECT_FALSE(s.tls.insecure_skip_verify);

  // Files instead of data; a token file wins over a static token.
  kube::RestConfig files;
  files.tls.ca_file = "/kc/ca.crt";
  files.tls.cert_file = "/kc/client.crt";
  files.tls.key_file = "/kc/client.key";
  files.bearer_token = "ignored";
  files.token_file = "/kc/token";
  s = MakeKubeletClientSettings(o, &files);
  EXPECT_EQ(s.tls.ca_file, "/kc/ca.crt");
  EXPECT_EQ(s.tls.cert_file, "/kc/client.crt");
  EXPECT_EQ(s.tls.key_file, "/kc/client.key");
  EXPECT_EQ(s.token_file, "/kc/token");
  EXPECT_TRUE(s.bearer_token.empty());

  // insecure-skip-tls-verify in the kubeconfig stays with the kube-apiserver client.
  kube::RestConfig insecure;
  insecure.tls.insecure_skip_verify = true;
  s = MakeKubeletClientSettings(o, &insecure);
  EXPECT_FALSE(s.tls.insecure_skip_verify);

  // --kubelet-certificate-authority replaces the CA data; client certificate flags replace the
  // certificate and key data; --kubelet-bearer-token-file replaces the static token.
  Options flags;
  flags.kubelet_certificate_authority = "/flags/kubelet-ca.crt";
  flags.kubelet_client_certificate = "/flags/c.crt";
  flags.kubelet_client_key = "/flags/c.key";
  flags.kubelet_bearer_token_file = "/flags/token";
  s = MakeKubeletClientSettings(flags, &rest);
  EXPECT_EQ(s.tls.ca_file, "/flags/kubelet-ca.crt");
  EXPECT_TRUE(s.tls.ca_data.empty());
  EXPECT_EQ(s.tls.cert_file, "/flags/c.crt");
  EXPECT_EQ(s.tls.key_file, "/flags/c.key");
  EXPECT_TRUE(s.tls.cert_data.empty());
  EXPECT_TRUE(s.tls.key_data.empty());
  EXPECT_EQ(s.token_file, "/flags/token");
  EXPECT_TRUE(s.bearer_token.empty());

  // --kubelet-insecure-tls drops the kubeconfig's CA (file and data) but keeps its credentials.
  Options skip;
  skip.kubelet_insecure_tls = true;
  s = MakeKubeletClientSettings(skip, &rest);
  EXPECT_TRUE(s.tls.insecure_skip_verify);
  EXPECT_TRUE(s.tls.ca_data.empty());
  EXPECT_EQ(s.tls.cert_data, "CERT-DATA");
  EXPECT_EQ(s.bearer_token, "static-token");
  s = MakeKubeletClientSettings(skip, &files);
  EXPECT_TRUE(s.tls.ca_file.empty());

  // --deprecated-kubelet-completely-insecure: plain HTTP and no credentials at all.
  Options plain;
  plain.deprecated_kubelet_completely_insecure = true;
  s = MakeKubeletClientSettings(plain, &rest);
  EXPECT_TRUE(s.plain_http);
  EXPECT_TRUE(s.tls.cert_data.empty());
  EXPECT_TRUE(s.bearer_token.empty());
  EXPECT_TRUE(s.token_file.empty());
}

}  // namespace
}  // namespace scraper
