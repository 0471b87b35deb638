#include "apiserver/auth.h"

#include <gtest/gtest.h>

#include <map>

#include "test/apiserver/peer.h"
#include "test/testing/fake_authorizer.h"
#include "test/testing/test_pki.h"

namespace apiserver {
namespace {

using testing::Peer;
using testing_support::FakeAuthorizer;
using Answer = FakeAuthorizer::Answer;

class FakeTokens : public kube::TokenAuthenticator {
 public:
  void Authenticate(
      std::string token,
      std::function<void(base::Result<std::optional<kube::UserInfo>>)> done) override {
    ++calls;
    if (token == "good")
      return done(std::optional<kube::UserInfo>(kube::UserInfo{"alice", "", {"dev"}, {}}));
    if (token == "broken") return done(base::MakeError("tokenreview: timed out"));
    done(std::optional<kube::UserInfo>());
  }
  int calls = 0;
};

struct Pkis {
  testing_support::TestPki client_ca{"client-ca"};
  testing_support::TestPki proxy_ca{"front-proxy-ca"};
  testing_support::TestPki rogue_ca{"rogue-ca"};
};

const Pkis& pki() {
  static Pkis* p = new Pkis();
  return *p;
}

std::shared_ptr<const CompiledAuthConfig> Config() {
  kube::AuthenticationConfig c;
  c.client_ca_pem = pki().client_ca.ca().cert_pem;
  c.requestheader_client_ca_pem = pki().proxy_ca.ca().cert_pem;
  c.allowed_names = {"front-proxy-client"};
  c.username_headers = {"X-Remote-User"};
  c.group_headers = {"X-Remote-Group"};
  c.extra_headers_prefix = {"X-Remote-Extra-"};
  c.uid_headers = {"X-Remote-Uid"};
  auto compiled = CompiledAuthConfig::Compile(c);
  EXPECT_TRUE(compiled.ok()) << compiled.error();
  return *compiled;
}

struct AuthnCase {
  std::string name;
  std::string cert;  // "", "client", "client-rogue", "proxy", "proxy-bad-cn"
  std::vector<std::pair<std::string, std::string>> headers;
  AuthnResult::Outcome outcome;
  std::string user;
  std::vector<std::string> groups;
};

TEST(AuthenticationTest, TableOfCases) {
  std::map<std::string, std::string> certs = {
      {"client", pki().client_ca.ClientCert("bob", {"ops", "system:masters"}).cert_pem},
      {"client-rogue", pki().rogue_ca.ClientCert("bob", {"system:masters"}).cert_pem},
      {"proxy", pki().proxy_ca.ClientCert("front-proxy-client").cert_pem},
      {"proxy-bad-cn", pki().proxy_ca.ClientCert("someone-else").cert_pem},
  };
  using O = AuthnResult::Outcome;
  const std::vector<AuthnCase> cases = {
      {"no credentials", "", {}, O::kAnonymous, "system:anonymous", {"system:unauthenticated"}},
      {"client cert",
       "client",
       {},
       O::kAuthenticated,
       "bob",
       {"ops", "system:masters", "system:authenticated"}},
      {"client cert from the wrong CA", "client-rogue", {}, O::kUnauthorized, "", {}},
      {"front proxy",
       "proxy",
       {{"X-Remote-User", "alice"},
        {"X-Remote-Group", "dev"},
        {"x-remote-group", "system:masters"},
        {"X-Remote-Extra-Scopes", "a"}},
       O::kAuthenticated,
       "alice",
       {"dev", "system:masters", "system:authenticated"}},
      {"front proxy with a CN not allowed",
       "proxy-bad-cn",
       {{"X-Remote-User", "alice"}},
       O::kUnauthorized,
       "",
       {}},
      {"spoofed X-Remote-User without a proxy cert",
       "",
       {{"X-Remote-User", "admin"}, {"X-Remote-Group", "system:masters"}},
       O::kAnonymous,
       "system:anonymous",
       {"system:unauthenticated"}},
      {"spoofed X-Remote-User with a client cert",
       "client",
       {{"X-Remote-User", "admin"}, {"X-Remote-Group", "system:masters"}},
       O::kAuthenticated,
       "bob",
       {"ops", "system:masters", "system:authenticated"}},
      {"token accepted",
       "",
       {{"Authorization", "Bearer good"}},
       O::kAuthenticated,
       "alice",
       {"dev", "system:authenticated"}},
      {"token denied", "", {{"Authorization", "Bearer bad"}}, O::kUnauthorized, "", {}},
      {"token review error", "", {{"Authorization", "Bearer broken"}}, O::kUnauthorized, "", {}},
      {"bad cert but good token",
       "client-rogue",
       {{"Authorization", "Bearer good"}},
       O::kAuthenticated,
       "alice",
       {"dev", "system:authenticated"}},
  };
  FakeTokens tokens;
  RequestAuthenticator authn(&tokens);
  authn.SetConfig(Config());
  for (const auto& c : cases) {
    HttpRequest req;
    req.method = "GET";
    req.target = "/apis/metrics.k8s.io/v1beta1/pods";
    req.headers = c.headers;
    if (!c.cert.empty()) req.peer = Peer(certs.at(c.cert));
    std::optional<AuthnResult> got;
    authn.Authenticate(req, [&](AuthnResult r) { got = std::move(r); });
    ASSERT_TRUE(got.has_value()) << c.name;
    EXPECT_EQ(got->outcome, c.outcome) << c.name << ": " << got->error;
    if (c.outcome != O::kUnauthorized) {
      EXPECT_EQ(got->user.name, c.user) << c.name;
      EXPECT_EQ(got->user.groups, c.groups) << c.name;
    }
  }
}

TEST(AuthenticationTest, FrontProxyExtraAndUid) {
  RequestAuthenticator authn(nullptr);
  authn.SetConfig(Config());
  HttpRequest req;
  req.peer = Peer(pki().proxy_ca.ClientCert("front-proxy-client").cert_pem);
  req.headers = {{"X-Remote-User", "alice"},
                 {"X-Remote-Uid", "42"},
                 {"X-Remote-Extra-Acme.com%2Fproject", "p1"},
                 {"X-Remote-Extra-acme.com%2fproject", "p2"},
                 {"X-Remote-Group", ""}};
  std::optional<AuthnResult> got;
  authn.Authenticate(req, [&](AuthnResult r) { got = std::move(r); });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->how, "front-proxy");
  EXPECT_EQ(got->user.uid, "42");
  EXPECT_EQ(got->user.extra["acme.com/project"], (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ(got->user.groups, (std::vector<std::string>{"system:authenticated"}));
}

TEST(AuthenticationTest, WithoutRequestHeaderCaProxyHeadersAreIgnored) {
  kube::AuthenticationConfig c;
  c.client_ca_pem = pki().client_ca.ca().cert_pem;
  c.username_headers = {"X-Remote-User"};
  RequestAuthenticator authn(nullptr);
  authn.SetConfig(*CompiledAuthConfig::Compile(c));
  HttpRequest req;
  req.peer = Peer(pki().client_ca.ClientCert("kube-apiserver-proxy", {"system:masters"}).cert_pem);
  req.headers = {{"X-Remote-User", "alice"}};
  std::optional<AuthnResult> got;
  authn.Authenticate(req, [&](AuthnResult r) { got = std::move(r); });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->user.name, "kube-apiserver-proxy");
}

TEST(AuthenticationTest, ChainVerificationIsRememberedPerConnectionAndStore) {
  PeerCertificates peer(nullptr, nullptr);
  X509_STORE* client_ca = X509_STORE_new();
  X509_STORE* front_proxy_ca = X509_STORE_new();
  int calls = 0;
  auto verify = [&calls](bool ok) {
    return [&calls, ok] {
      ++calls;
      return ok ? base::Status::Ok() : base::Status::Error("x509: unknown authority");
    };
  };
  const auto t0 = std::chrono::steady_clock::now();
  // The requests of one connection: the first verifies, the next reuse the outcome, per store.
  EXPECT_TRUE(peer.VerifiedAgainst(client_ca, verify(true), t0).ok());
  EXPECT_TRUE(peer.VerifiedAgainst(client_ca, verify(false), t0 + std::chrono::seconds(1)).ok());
  EXPECT_FALSE(peer.VerifiedAgainst(front_proxy_ca, verify(false), t0).ok());
  EXPECT_FALSE(peer.VerifiedAgainst(front_proxy_ca, verify(true), t0).ok());
  EXPECT_EQ(calls, 2);
  // Remembered for a bounded time only.
  EXPECT_FALSE(
      peer.VerifiedAgainst(client_ca, verify(false), t0 + PeerCertificates::kVerificationMemo)
          .ok());
  EXPECT_EQ(calls, 3);
  // A new trust store (the CA bundle changed) is verified afresh even while the old one is
  // remembered, and it may be allocated where a freed one was: the memo holds a reference.
  X509_STORE_free(client_ca);
  X509_STORE* replaced = X509_STORE_new();
  EXPECT_TRUE(peer.VerifiedAgainst(replaced, verify(true), t0).ok());
  EXPECT_EQ(calls, 4);
  X509_STORE_free(replaced);
  X509_STORE_free(front_proxy_ca);
}

TEST(AuthenticationTest, RememberedVerificationNeverOutlivesAConfigChange) {
  // One connection's certificate, authenticated three times, then the client CA is replaced
  // by one that did not issue it: the next request on the same connection is refused.
  auto peer = Peer(pki().client_ca.ClientCert("bob").cert_pem);
  RequestAuthenticator authenticator(nullptr);
  authenticator.SetConfig(Config());
  HttpRequest request;
  request.peer = peer;
  auto authenticate = [&] {
    AuthnResult result;
    authenticator.Authenticate(request, [&](AuthnResult r) { result = std::move(r); });
    return result;
  };
  for (int i = 0; i < 3; ++i) {
    AuthnResult r = authenticate();
    EXPECT_EQ(r.outcome, AuthnResult::Outcome::kAuthenticated) << r.error;
    EXPECT_EQ(r.user.name, "bob");
  }
  kube::AuthenticationConfig rogue;
  rogue.client_ca_pem = pki().rogue_ca.ca().cert_pem;
  auto changed = CompiledAuthConfig::Compile(rogue);
  ASSERT_TRUE(changed.ok()) << changed.error();
  authenticator.SetConfig(*changed);
  EXPECT_EQ(authenticate().outcome, AuthnResult::Outcome::kUnauthorized);
}

TEST(AuthenticationTest, CompileRejectsGarbageCa) {
  kube::AuthenticationConfig c;
  c.client_ca_pem = "not a certificate";
  EXPECT_FALSE(CompiledAuthConfig::Compile(c).ok());
}

struct AuthzCase {
  std::string name;
  kube::UserInfo user;
  std::string method;
  std::string path;
  Answer sar_answer;
  bool allowed;
  int sar_calls;
};

TEST(AuthorizationTest, TableOfCases) {
  const kube::UserInfo masters{
      "system:kube-aggregator", "", {"system:masters", "system:authenticated"}, {}};
  const kube::UserInfo alice{"alice", "", {"dev", "system:authenticated"}, {}};
  const kube::UserInfo anonymous{"system:anonymous", "", {"system:unauthenticated"}, {}};
  const std::vector<AuthzCase> cases = {
      {"system:masters skips SAR", masters, "GET", "/apis/metrics.k8s.io/v1beta1", Answer::kDeny,
       true, 0},
      {"SAR allow", alice, "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods",
       Answer::kAllow, true, 1},
      {"SAR deny", alice, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", Answer::kDeny, false, 1},
      {"SAR error", alice, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", Answer::kError, false, 1},
      {"always-allowed path", anonymous, "GET", "/healthz", Answer::kDeny, true, 0},
      {"always-allowed prefix", anonymous, "GET", "/livez/ping", Answer::kDeny, true, 0},
      {"/metrics needs SAR", anonymous, "GET", "/metrics", Answer::kDeny, false, 1},
      {"/readyzz is not /readyz", anonymous, "GET", "/readyzz", Answer::kDeny, false, 1},
  };
  for (const auto& c : cases) {
    FakeAuthorizer sar(c.sar_answer);
    RequestAuthorizer authz({"/healthz", "readyz", "/livez*"}, &sar);
    RequestInfo info = ParseRequestInfo(c.method, c.path, Query(""));
    std::optional<AuthzResult> got;
    authz.Authorize(MakeAttributes(c.user, info), [&](AuthzResult r) { got = std::move(r); });
    ASSERT_TRUE(got) << c.name;
    EXPECT_EQ(got->allowed, c.allowed) << c.name;
    EXPECT_EQ(sar.calls(), c.sar_calls) << c.name;
  }
}

TEST(AuthorizationTest, SarGetsResourceAttributes) {
  FakeAuthorizer sar;
  RequestAuthorizer authz({}, &sar);
  kube::UserInfo alice{"alice", "", {"system:authenticated"}, {}};
  RequestInfo info = ParseRequestInfo(
      "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-0", Query(""));
  authz.Authorize(MakeAttributes(alice, info), [](AuthzResult) {});
  const kube::Attributes last = sar.last();
  EXPECT_TRUE(last.resource_request);
  EXPECT_EQ(last.verb, "get");
  EXPECT_EQ(last.api_group, "metrics.k8s.io");
  EXPECT_EQ(last.api_version, "v1beta1");
  EXPECT_EQ(last.resource, "pods");
  EXPECT_EQ(last.namespace_, "default");
  EXPECT_EQ(last.name, "web-0");
  EXPECT_EQ(last.user.name, "alice");
}

}  // namespace
}  // namespace apiserver
