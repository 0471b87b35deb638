// CA files given by flag are reloaded like the serving certificate: a CA removed from
// --client-ca-file stops authenticating within AuthConfigReloader::kCheckInterval (asserted:
// within 10 s, in real time, as main runs it), also when both CA files are given (there is then
// no ConfigMap watch to trigger a reload), and a broken file keeps the last good configuration.
#include "apiserver/auth_config_reloader.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>

#include <thread>

#include "base/clock.h"
#include "test/apiserver/peer.h"
#include "test/testing/temp_dir.h"
#include "test/testing/test_pki.h"

namespace apiserver {
namespace {

using namespace std::chrono_literals;

using testing::Peer;

class AuthConfigReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto serving = server_pki_.WriteFiles("serving", server_pki_.ServerCert());
    TlsServingOptions tls;
    tls.cert_file = serving.cert_file;
    tls.key_file = serving.key_file;
    auto certs = ServingCertificates::Create(tls, base::SystemClock::Instance());
    ASSERT_TRUE(certs.ok()) << certs.error();
    certs_ = std::move(*certs);
  }

  AuthnResult::Outcome Authenticate(const std::shared_ptr<const PeerCertificates>& peer,
                                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest request;
    request.peer = peer;
    request.headers = std::move(headers);
    AuthnResult result;
    authenticator_.Authenticate(request, [&](AuthnResult r) { result = std::move(r); });
    return result.outcome;
  }

  testing_support::TestPki server_pki_{"server-ca"};
  testing_support::TestPki kept_ca_{"kept-ca"};
  testing_support::TestPki removed_ca_{"removed-ca"};
  testing_support::TestPki proxy_ca_{"front-proxy-ca"};
  testing_support::TempDir dir_;
  std::unique_ptr<ServingCertificates> certs_;
  RequestAuthenticator authenticator_{nullptr};
};

TEST_F(AuthConfigReloaderTest, ACaRemovedFromTheClientCaFileStopsAuthenticatingWithin10s) {
  Options options;
  // Both files given: no ConfigMap is watched, so only the file check can reload.
  options.client_ca_file =
      dir_.Write("client-ca.crt", kept_ca_.ca().cert_pem + removed_ca_.ca().cert_pem);
  options.requestheader_client_ca_file = dir_.Write("front-proxy-ca.crt", proxy_ca_.ca().cert_pem);
  options.requestheader_allowed_names = {"front-proxy-client"};
  AuthConfigReloader reloader(options, authenticator_, *certs_);
  ASSERT_TRUE(reloader.Apply(nullptr).ok());
  auto kept = Peer(kept_ca_.ClientCert("kept").cert_pem);
  auto removed = Peer(removed_ca_.ClientCert("removed").cert_pem);
  ASSERT_EQ(Authenticate(kept), AuthnResult::Outcome::kAuthenticated);
  ASSERT_EQ(Authenticate(removed), AuthnResult::Outcome::kAuthenticated);

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });
  reloader.Start(io);  // the interval main uses
  dir_.Write("client-ca.crt", kept_ca_.ca().cert_pem);
  const auto removed_at = std::chrono::steady_clock::now();
  while (Authenticate(removed) == AuthnResult::Outcome::kAuthenticated &&
         std::chrono::steady_clock::now() - removed_at < 15s) {
    std::this_thread::sleep_for(50ms);
  }
  const auto took = std::chrono::steady_clock::now() - removed_at;
  EXPECT_EQ(Authenticate(removed), AuthnResult::Outcome::kUnauthorized);
  EXPECT_LT(took, 10s);
  EXPECT_EQ(Authenticate(kept), AuthnResult::Outcome::kAuthenticated);
  reloader.Stop();
  work.reset();
  thread.join();
}

TEST_F(AuthConfigReloaderTest, TheFrontProxyCaFileIsReloadedAndABrokenFileKeepsTheLastGoodOne) {
  Options options;
  options.requestheader_client_ca_file = dir_.Write("front-proxy-ca.crt", proxy_ca_.ca().cert_pem);
  options.requestheader_allowed_names = {"front-proxy-client"};
  AuthConfigReloader reloader(options, authenticator_, *certs_);
  ASSERT_TRUE(reloader.Apply(nullptr).ok());
  EXPECT_FALSE(reloader.CheckFiles());  // nothing changed

  auto proxy = Peer(proxy_ca_.ClientCert("front-proxy-client").cert_pem);
  const std::vector<std::pair<std::string, std::string>> as_alice = {{"X-Remote-User", "alice"}};
  ASSERT_EQ(Authenticate(proxy, as_alice), AuthnResult::Outcome::kAuthenticated);

  // A broken file: reported, the last good configuration stays.
  dir_.Write("front-proxy-ca.crt", "not a certificate");
  EXPECT_TRUE(reloader.CheckFiles());
  EXPECT_EQ(Authenticate(proxy, as_alice), AuthnResult::Outcome::kAuthenticated);

  // Another CA: the proxy's certificate no longer authenticates the headers.
  dir_.Write("front-proxy-ca.crt", kept_ca_.ca().cert_pem);
  EXPECT_TRUE(reloader.CheckFiles());
  EXPECT_NE(Authenticate(proxy, as_alice), AuthnResult::Outcome::kAuthenticated);
}

}  // namespace
}  // namespace apiserver
