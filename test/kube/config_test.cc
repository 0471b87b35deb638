#include "kube/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "test/testing/temp_dir.h"

namespace kube {
namespace {

using ::testing::HasSubstr;

// "hello" and "key" in base64.
constexpr char kB64Hello[] = "aGVsbG8=";
constexpr char kB64Key[] = "a2V5";

std::string Kubeconfig(const std::string& cluster, const std::string& user,
                       const std::string& current = "ctx") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: " + current +
         "\n"
         "contexts:\n- name: ctx\n  context: {cluster: c1, user: u1}\n"
         "- name: other\n  context: {cluster: c2, user: u2}\n"
         "clusters:\n- name: c1\n  cluster:\n" +
         cluster +
         "- name: c2\n  cluster:\n    server: https://other.example:8443\n"
         "users:\n- name: u1\n  user:\n" +
         user + "- name: u2\n  user:\n    token: other-token\n";
}

class ConfigTest : public ::testing::Test {
 protected:
  base::Result<RestConfig> Load(const std::string& cluster, const std::string& user) {
    std::string path = dir_.Write("kubeconfig", Kubeconfig(cluster, user));
    return LoadKubeconfig(path);
  }
  testing_support::TempDir dir_;
};

TEST_F(ConfigTest, CaDataAndToken) {
  auto c = Load("    server: https://10.0.0.1:6443\n    certificate-authority-data: " +
                    std::string(kB64Hello) + "\n",
                "    token: abc\n");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(c->endpoint.tls);
  EXPECT_EQ(c->endpoint.host, "10.0.0.1");
  EXPECT_EQ(c->endpoint.port, 6443);
  EXPECT_EQ(c->tls.ca_data, "hello");
  EXPECT_TRUE(c->tls.ca_file.empty());
  EXPECT_EQ(c->bearer_token, "abc");
  EXPECT_FALSE(c->tls.insecure_skip_verify);
  EXPECT_THAT(c->source, HasSubstr("kubeconfig"));
}

TEST_F(ConfigTest, FilesResolvedRelativeToTheKubeconfig) {
  dir_.Write("ca.crt", "CA");
  dir_.Write("client.crt", "CERT");
  dir_.Write("client.key", "KEY");
  dir_.Write("token", "tok\n");
  auto c = Load(
      "    server: https://kube.example/prefix/\n    certificate-authority: ca.crt\n"
      "    tls-server-name: kubernetes.default\n",
      "    client-certificate: client.crt\n    client-key: " + dir_.File("client.key") +
          "\n    tokenFile: token\n    token: ignored\n");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->endpoint.host, "kube.example");
  EXPECT_EQ(c->endpoint.port, 443);
  EXPECT_EQ(c->path_prefix, "/prefix");
  EXPECT_EQ(c->tls.ca_file, dir_.File("ca.crt"));
  EXPECT_EQ(c->tls.cert_file, dir_.File("client.crt"));
  EXPECT_EQ(c->tls.key_file, dir_.File("client.key"));
  EXPECT_EQ(c->tls.server_name, "kubernetes.default");
  EXPECT_EQ(c->token_file, dir_.File("token"));
  EXPECT_TRUE(c->bearer_token.empty());  // the file wins
}

TEST_F(ConfigTest, ClientCertAndKeyData) {
  auto c = Load("    server: https://[::1]:6443\n    insecure-skip-tls-verify: true\n",
                std::string("    client-certificate-data: ") + kB64Hello +
                    "\n    client-key-data: " + kB64Key + "\n");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->endpoint.host, "::1");
  EXPECT_EQ(c->endpoint.port, 6443);
  EXPECT_TRUE(c->tls.insecure_skip_verify);
  EXPECT_EQ(c->tls.cert_data, "hello");
  EXPECT_EQ(c->tls.key_data, "key");
}

TEST_F(ConfigTest, ContextOverrideAndPlainHttp) {
  std::string path =
      dir_.Write("kc", Kubeconfig("    server: http://127.0.0.1:8080\n", "    token: t\n"));
  auto other = LoadKubeconfig(path, "other");
  ASSERT_TRUE(other.ok()) << other.error();
  EXPECT_EQ(other->endpoint.host, "other.example");
  EXPECT_EQ(other->endpoint.port, 8443);
  EXPECT_EQ(other->bearer_token, "other-token");
  auto plain = LoadKubeconfig(path);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->endpoint.tls);
  EXPECT_EQ(plain->endpoint.port, 8080);
}

// Each malformed case fails with one error naming the file and the field.
TEST_F(ConfigTest, MalformedCasesNameTheField) {
  struct Case {
    std::string cluster, user, want;
  };
  const std::string server = "    server: https://h:1\n";
  const Case cases[] = {
      {"    certificate-authority: x\n", "    token: t\n", "clusters[c1].server: not set"},
      {"    server: ftp://h\n", "    token: t\n",
       "clusters[c1].server: \"ftp://h\": unsupported scheme"},
      {"    server: https://h:99999\n", "    token: t\n",
       "clusters[c1].server: \"https://h:99999\": invalid port"},
      {"    server: https://[::1\n", "    token: t\n", "missing ']'"},
      {server + "    certificate-authority: missing.crt\n", "    token: t\n",
       "clusters[c1].certificate-authority: open " + dir_.File("missing.crt") +
           ": No such file or directory"},
      {server + "    certificate-authority-data: '!!!'\n", "    token: t\n",
       "clusters[c1].certificate-authority-data: illegal base64 data"},
      {server + "    insecure-skip-tls-verify: maybe\n", "    token: t\n",
       "clusters[c1].insecure-skip-tls-verify: not a boolean"},
      {server + "    insecure-skip-tls-verify: true\n    certificate-authority-data: " + kB64Hello +
           "\n",
       "    token: t\n", "insecure flag is not allowed"},
      {server, "    client-certificate: nope.crt\n    client-key: nope.key\n",
       "users[u1].client-certificate: open " + dir_.File("nope.crt")},
      {server, std::string("    client-certificate-data: ") + kB64Hello + "\n",
       "users[u1].client-key: client certificate without a key"},
      {server, std::string("    client-key-data: ") + kB64Key + "\n",
       "users[u1].client-certificate: client key without a certificate"},
      {server, "    tokenFile: no-token\n", "users[u1].tokenFile: open " + dir_.File("no-token")},
      {server, "    exec: {command: aws}\n", "users[u1].exec: not supported"},
      {server, "    auth-provider: {name: gcp}\n", "users[u1].auth-provider: not supported"},
  };
  for (const Case& c : cases) {
    auto r = Load(c.cluster, c.user);
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_THAT(r.error(), HasSubstr(c.want));
    EXPECT_THAT(r.error(), HasSubstr("kubeconfig " + dir_.File("kubeconfig")));
  }
}

TEST_F(ConfigTest, MalformedDocuments) {
  EXPECT_THAT(LoadKubeconfig(dir_.File("absent")).error(),
              HasSubstr("kubeconfig " + dir_.File("absent") + ": open "));
  auto yaml = ParseKubeconfig("clusters: [\n", "", "", "kc");
  ASSERT_FALSE(yaml.ok());
  EXPECT_THAT(yaml.error(), HasSubstr("kc: invalid YAML"));
  EXPECT_THAT(ParseKubeconfig("- a\n- b\n", "").error(), HasSubstr("not a kubeconfig"));
  EXPECT_THAT(ParseKubeconfig("clusters: []\n", "").error(), HasSubstr("current-context: not set"));
  EXPECT_THAT(ParseKubeconfig("current-context: x\n", "").error(),
              HasSubstr("contexts[x]: no such context"));
  EXPECT_THAT(
      ParseKubeconfig("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n", "")
          .error(),
      HasSubstr("clusters[c]: no such cluster"));
  EXPECT_THAT(ParseKubeconfig("current-context: x\ncontexts: [{name: x, context: {cluster: c, "
                              "user: u}}]\nclusters: [{name: c, cluster: {server: "
                              "'https://h'}}]\n",
                              "")
                  .error(),
              HasSubstr("users[u]: no such user"));
  // Odd shapes never throw.
  for (const char* odd : {"", "~", "current-context: [1]\n", "contexts: 5\ncurrent-context: a\n",
                          "current-context: a\ncontexts: [{name: a, context: [1]}]\n",
                          "current-context: a\ncontexts: [{name: a}]\n"}) {
    EXPECT_FALSE(ParseKubeconfig(odd, "").ok()) << odd;
  }
}

class InClusterTest : public ConfigTest {
 protected:
  void SetUp() override {
    paths_.token_file = dir_.Write("token", "sa-token\n");
    paths_.ca_file = dir_.Write("ca.crt", "CA");
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  }
  void TearDown() override {
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
  }
  InClusterPaths paths_;
};

TEST_F(InClusterTest, UsesServiceAccountAndEnvironment) {
  auto c = InClusterConfig(paths_);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->endpoint.host, "10.96.0.1");
  EXPECT_EQ(c->endpoint.port, 443);
  EXPECT_TRUE(c->endpoint.tls);
  EXPECT_EQ(c->tls.ca_file, paths_.ca_file);
  EXPECT_EQ(c->token_file, paths_.token_file);  // re-read on rotation by the provider
  EXPECT_EQ(c->source, "in-cluster");
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  auto v6 = InClusterConfig(paths_);
  ASSERT_TRUE(v6.ok()) << v6.error();
  EXPECT_EQ(v6->endpoint.host, "fd00::1");
}

TEST_F(InClusterTest, TokenProviderFollowsRotation) {
  auto c = InClusterConfig(paths_);
  ASSERT_TRUE(c.ok());
  auto provider = c->MakeTokenProvider();
  ASSERT_TRUE(provider);
  EXPECT_EQ(provider(), "sa-token");
  RestConfig fixed;
  fixed.bearer_token = "static";
  EXPECT_EQ(fixed.MakeTokenProvider()(), "static");
  EXPECT_FALSE(RestConfig().MakeTokenProvider());
}

TEST_F(InClusterTest, FailuresNameWhatIsMissing) {
  unsetenv("KUBERNETES_SERVICE_PORT");
  EXPECT_EQ(InClusterConfig(paths_).error(),
            "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
            "KUBERNETES_SERVICE_PORT must be defined");
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  InClusterPaths no_token = paths_;
  no_token.token_file = dir_.File("absent-token");
  EXPECT_THAT(InClusterConfig(no_token).error(),
              HasSubstr("token: open " + dir_.File("absent-token")));
  InClusterPaths no_ca = paths_;
  no_ca.ca_file = dir_.File("absent-ca");
  EXPECT_THAT(InClusterConfig(no_ca).error(), HasSubstr("ca.crt: open " + dir_.File("absent-ca")));
}

TEST_F(InClusterTest, OptionsFallBackToInClusterAndOverridePerPurpose) {
  KubeOptions o;
  o.in_cluster = paths_;
  base::FlagSet flags("test", "");
  o.AddFlags(flags);
  std::string authn =
      dir_.Write("authn", Kubeconfig("    server: https://authn:6443\n", "    token: a\n"));
  std::string arg = "--authentication-kubeconfig=" + authn;
  const char* argv[] = {"test", arg.c_str()};
  EXPECT_TRUE(flags.Parse(2, argv).empty());
  EXPECT_TRUE(o.Validate().empty());
  auto client = o.ClientConfig();
  ASSERT_TRUE(client.ok()) << client.error();
  EXPECT_EQ(client->source, "in-cluster");
  auto a = o.AuthenticationConfig();
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->endpoint.host, "authn");
  auto z = o.AuthorizationConfig();
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->source, "in-cluster");

  o.kubeconfig = dir_.File("missing");
  o.authorization_kubeconfig = dir_.File("missing-too");
  auto errors = o.Validate();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(errors[0], HasSubstr("--kubeconfig"));
  EXPECT_THAT(errors[1], HasSubstr("--authorization-kubeconfig"));
  EXPECT_THAT(o.ClientConfig().error(), HasSubstr("unable to construct lister client config"));
}

}  // namespace
}  // namespace kube
