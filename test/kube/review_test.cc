// TokenReview and SubjectAccessReview clients with their caches, and the watch of the
// authentication ConfigMap, against the fake kube-apiserver (real TLS on a local port).
#include "kube/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <optional>
#include <thread>

#include "base/mutex.h"
#include "kube/authentication_config.h"
#include "test/kube/fake_apiserver_test.h"
#include "test/testing/wait.h"

namespace kube {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;
using testing_support::WaitFor;

class ReviewTest : public fake::FakeApiserverTest {};

template <typename T>
struct Captured {
  base::Mutex mu;
  std::optional<base::Result<T>> value GUARDED_BY(mu);
  bool sync GUARDED_BY(mu) = false;
};

template <typename T, typename Call>
base::Result<T> Await(Call call, bool* was_sync = nullptr) {
  auto c = std::make_shared<Captured<T>>();
  // Synchronous means "called back on this thread, inside call()": the io_context runs on
  // other threads, so a network answer can arrive before call() returns and is still async.
  const std::thread::id caller = std::this_thread::get_id();
  call([c, caller](base::Result<T> r) {
    base::MutexLock lock(c->mu);
    c->sync = std::this_thread::get_id() == caller;
    c->value.emplace(std::move(r));
  });
  EXPECT_TRUE(WaitFor([&] {
    base::MutexLock lock(c->mu);
    return c->value.has_value();
  }));
  base::MutexLock lock(c->mu);
  if (was_sync) *was_sync = c->sync;
  if (!c->value) return base::MakeError("timed out");
  return std::move(*c->value);
}

TEST_F(ReviewTest, TokenReviewAuthenticatesAndCaches) {
  fake_.AddToken("good", "system:serviceaccount:monitoring:prom", {"system:serviceaccounts"});
  TokenReviewAuthenticator authn(*client_, clock_);
  using R = std::optional<UserInfo>;
  bool sync = true;
  auto r = Await<R>([&](auto done) { authn.Authenticate("good", done); }, &sync);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->name, "system:serviceaccount:monitoring:prom");
  EXPECT_EQ((*r)->groups, std::vector<std::string>{"system:serviceaccounts"});
  EXPECT_FALSE(sync);
  EXPECT_EQ(fake_.token_reviews(), 1);

  auto again = Await<R>([&](auto done) { authn.Authenticate("good", done); }, &sync);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->has_value());
  EXPECT_TRUE(sync);  // served from the cache, synchronously
  EXPECT_EQ(fake_.token_reviews(), 1);

  auto bad = Await<R>([&](auto done) { authn.Authenticate("bad", done); });
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->has_value());
  EXPECT_TRUE(Await<R>([&](auto done) { authn.Authenticate("bad", done); }, &sync).ok());
  EXPECT_TRUE(sync);  // rejections are cached too
  EXPECT_EQ(fake_.token_reviews(), 2);

  clock_.Advance(seconds(11));
  EXPECT_TRUE(Await<R>([&](auto done) { authn.Authenticate("good", done); }, &sync).ok());
  EXPECT_FALSE(sync);
  EXPECT_EQ(fake_.token_reviews(), 3);

  fake_.SetUnavailable(true);
  auto down = Await<R>([&](auto done) { authn.Authenticate("other", done); });
  ASSERT_FALSE(down.ok());
  EXPECT_THAT(down.error(), HasSubstr("TokenReview"));
  fake_.SetUnavailable(false);
  auto retried = Await<R>([&](auto done) { authn.Authenticate("other", done); });
  EXPECT_TRUE(retried.ok());  // errors are not cached
}

TEST_F(ReviewTest, SubjectAccessReviewAllowsDeniesAndCachesSeparately) {
  ReviewOptions options;
  options.cache.allowed_ttl = seconds(10);
  options.cache.denied_ttl = seconds(2);
  SubjectAccessReviewAuthorizer authz(*client_, clock_, options);
  Attributes a;
  a.verb = "list";
  a.api_group = "metrics.k8s.io";
  a.api_version = "v1beta1";
  a.resource = "pods";
  a.namespace_ = "default";
  a.user.name = "alice";
  Attributes b = a;
  b.user.name = "bob";

  auto allowed = Await<Decision>([&](auto done) { authz.Authorize(a, done); });
  ASSERT_TRUE(allowed.ok()) << allowed.error();
  EXPECT_TRUE(allowed->allowed);
  EXPECT_EQ(allowed->reason, "alice may");
  auto denied = Await<Decision>([&](auto done) { authz.Authorize(b, done); });
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->allowed);
  EXPECT_EQ(fake_.access_reviews(), 2);

  bool sync = false;
  EXPECT_TRUE(Await<Decision>([&](auto done) { authz.Authorize(a, done); }, &sync).ok());
  EXPECT_TRUE(sync);
  EXPECT_TRUE(Await<Decision>([&](auto done) { authz.Authorize(b, done); }, &sync).ok());
  EXPECT_TRUE(sync);
  EXPECT_EQ(fake_.access_reviews(), 2);

  clock_.Advance(seconds(3));  // denied expired, allowed not
  EXPECT_TRUE(Await<Decision>([&](auto done) { authz.Authorize(a, done); }, &sync).ok());
  EXPECT_TRUE(sync);
  EXPECT_TRUE(Await<Decision>([&](auto done) { authz.Authorize(b, done); }, &sync).ok());
  EXPECT_FALSE(sync);
  EXPECT_EQ(fake_.access_reviews(), 3);

  // A different request is a different cache entry.
  Attributes other_ns = a;
  other_ns.namespace_ = "kube-system";
  EXPECT_TRUE(Await<Decision>([&](auto done) { authz.Authorize(other_ns, done); }, &sync).ok());
  EXPECT_FALSE(sync);
  EXPECT_EQ(fake_.access_reviews(), 4);

  fake_.SetSarPolicy([](const nlohmann::json&) {
    return nlohmann::json{{"allowed", true}, {"denied", true}};
  });
  Attributes c = a;
  c.user.name = "carol";
  auto broken = Await<Decision>([&](auto done) { authz.Authorize(c, done); });
  EXPECT_FALSE(broken.ok());
}

TEST_F(ReviewTest, AuthenticationConfigMapIsWatchedLive) {
  fake_.SetAuthConfigMap({{"client-ca-file", "CA-1"},
                          {"requestheader-client-ca-file", "PROXY-CA"},
                          {"requestheader-allowed-names", "[\"front-proxy-client\"]"},
                          {"requestheader-username-headers", "[\"X-Remote-User\"]"},
                          {"requestheader-group-headers", "[\"X-Remote-Group\"]"},
                          {"requestheader-extra-headers-prefix", "[\"X-Remote-Extra-\"]"}});
  AuthenticationConfigWatcher watcher(*client_, clock_, {}, &scheduler_);
  std::mutex mu;
  std::vector<std::string> seen;
  watcher.Start([&](std::shared_ptr<const AuthenticationConfig> c) {
    std::lock_guard lock(mu);
    seen.push_back(c->client_ca_pem);
  });
  ASSERT_TRUE(WaitFor([&] { return watcher.Current() != nullptr; })) << watcher.LastError();
  EXPECT_TRUE(watcher.HasSynced());
  auto c = watcher.Current();
  EXPECT_EQ(c->client_ca_pem, "CA-1");
  EXPECT_EQ(c->requestheader_client_ca_pem, "PROXY-CA");
  EXPECT_EQ(c->allowed_names, std::vector<std::string>{"front-proxy-client"});
  EXPECT_EQ(c->extra_headers_prefix, std::vector<std::string>{"X-Remote-Extra-"});
  EXPECT_THAT(fake_.targets().front(),
              HasSubstr("fieldSelector=metadata.name%3Dextension-apiserver-authentication"));

  ASSERT_TRUE(WaitFor([&] { return fake_.open_watches("configmaps") == 1; }));
  fake_.SetAuthConfigMap({{"client-ca-file", "CA-2"}});
  ASSERT_TRUE(WaitFor([&] { return watcher.Current()->client_ca_pem == "CA-2"; }));
  EXPECT_TRUE(watcher.Current()->requestheader_client_ca_pem.empty());
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"CA-1", "CA-2"}));
}

}  // namespace
}  // namespace kube
