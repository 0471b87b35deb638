// Delegated authentication and authorization: who a bearer token belongs to (TokenReview) and
// whether a user may do something (SubjectAccessReview), both asked of the kube-apiserver, with
// the result caches k8s.io/apiserver uses.
//
// The API server codes against the abstract TokenAuthenticator and Authorizer and fakes them in
// its tests; TokenReviewAuthenticator and SubjectAccessReviewAuthorizer are the real ones.
//
// Callbacks: `done` is called exactly once, from the calling thread when the answer is cached
// (synchronously, before Authenticate/Authorize returns) or else from an io_context thread.
// It must not throw. All classes are thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace kube {

class ApiClient;

// An authenticated caller (k8s.io/apiserver user.Info).
struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

// What a request wants to do (k8s.io/apiserver authorizer.Attributes).
struct Attributes {
  UserInfo user;
  std::string
      verb;  // get, list, watch, create, ... ; for non-resource requests the lower-cased method
  bool resource_request = true;
  // Resource requests:
  std::string api_group;    // "metrics.k8s.io"; "" = core
  std::string api_version;  // "v1beta1"
  std::string resource;     // "pods"
  std::string subresource;
  std::string namespace_;  // "" = cluster-scoped or all namespaces
  std::string name;        // "" for list
  // Non-resource requests:
  std::string path;  // "/metrics"
};

struct Decision {
  bool allowed = false;
  std::string reason;  // from the authorizer; may be empty
};

class TokenAuthenticator {
 public:
  virtual ~TokenAuthenticator() = default;
  // Ok(user) = authenticated; Ok(nullopt) = the token was rejected; error = the review could not
  // be done (the caller answers 401 either way, but logs errors).
  virtual void Authenticate(std::string token,
                            std::function<void(base::Result<std::optional<UserInfo>>)> done) = 0;
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Ok(decision) = the authorizer answered; error = it could not (the caller answers 403).
  virtual void Authorize(Attributes attributes,
                         std::function<void(base::Result<Decision>)> done) = 0;
};

// TTL cache bounded in entries; allowed and denied answers have their own TTLs. When full, the
// entry closest to expiry is evicted. Thread-safe.
struct ReviewCacheOptions {
  std::chrono::milliseconds allowed_ttl{10000};
  std::chrono::milliseconds denied_ttl{10000};
  std::size_t max_entries = 10000;
};

struct ReviewOptions {
  ReviewCacheOptions cache;
  std::chrono::milliseconds timeout{10000};  // per review request
  std::size_t max_response_bytes = 1 << 20;
  std::vector<std::string> audiences;  // TokenReview spec.audiences; empty = none
};

// TokenReview (authentication.k8s.io/v1) through `client`, which must outlive this object.
// Authenticated and rejected tokens are cached (keyed by a hash of the token and audiences);
// errors are not.
class TokenReviewAuthenticator final : public TokenAuthenticator {
 public:
  TokenReviewAuthenticator(ApiClient& client, const base::Clock& clock, ReviewOptions options = {});
  ~TokenReviewAuthenticator() override;
  void Authenticate(std::string token,
                    std::function<void(base::Result<std::optional<UserInfo>>)> done) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// SubjectAccessReview (authorization.k8s.io/v1) through `client`, which must outlive this
// object. Answers are cached keyed by the request's spec; errors are not. Allowed answers use
// allowed_ttl, denied and no-opinion answers denied_ttl.
class SubjectAccessReviewAuthorizer final : public Authorizer {
 public:
  SubjectAccessReviewAuthorizer(ApiClient& client, const base::Clock& clock,
                                ReviewOptions options = {});
  ~SubjectAccessReviewAuthorizer() override;
  void Authorize(Attributes attributes, std::function<void(base::Result<Decision>)> done) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Wire helpers, exposed for tests and fuzzers. Decoders never throw.
std::string EncodeTokenReview(const std::string& token, const std::vector<std::string>& audiences);
// Ok(nullopt) when status.authenticated is false.
base::Result<std::optional<UserInfo>> DecodeTokenReview(std::string_view body);
std::string EncodeSubjectAccessReview(const Attributes& attributes);
base::Result<Decision> DecodeSubjectAccessReview(std::string_view body);

}  // namespace kube
