#include "kube/auth.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "kube/client.h"
#include "kube/review_cache.h"

namespace kube {
namespace {

// Tokens are cached under their SHA-256, so the cache does not keep bearer tokens around.
std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

net::Request JsonPost(std::string target, std::string body) {
  net::Request req;
  req.method = boost::beast::http::verb::post;
  req.target = std::move(target);
  req.body = std::move(body);
  req.content_type = "application/json";
  req.headers.emplace_back("Accept", "application/json");
  return req;
}

}  // namespace

// ---- TokenReview ----

struct TokenReviewAuthenticator::Impl {
  Impl(ApiClient& c, const base::Clock& clock, ReviewOptions o)
      : client(c), options(std::move(o)), cache(clock, options.cache.max_entries) {}
  ApiClient& client;
  const ReviewOptions options;
  ReviewCache<std::optional<UserInfo>> cache;
};

TokenReviewAuthenticator::TokenReviewAuthenticator(ApiClient& client, const base::Clock& clock,
                                                   ReviewOptions options)
    : impl_(std::make_shared<Impl>(client, clock, std::move(options))) {}

TokenReviewAuthenticator::~TokenReviewAuthenticator() = default;

void TokenReviewAuthenticator::Authenticate(
    std::string token, std::function<void(base::Result<std::optional<UserInfo>>)> done) {
  std::string key = Sha256Hex(token);
  for (const std::string& a : impl_->options.audiences) key += "\n" + a;
  if (auto hit = impl_->cache.Get(key)) {
    done(std::move(*hit));
    return;
  }
  std::weak_ptr<Impl> weak = impl_;
  impl_->client.Send(JsonPost("/apis/authentication.k8s.io/v1/tokenreviews",
                              EncodeTokenReview(token, impl_->options.audiences)),
                     impl_->options.timeout, impl_->options.max_response_bytes,
                     [weak, key, done = std::move(done)](base::Result<net::Response> r) {
                       if (!r.ok()) {
                         done(base::MakeError("TokenReview: " + r.error()));
                         return;
                       }
                       if (r->status != 200 && r->status != 201) {
                         done(base::MakeError("TokenReview: " + ErrorFromResponse(*r).message()));
                         return;
                       }
                       auto user = DecodeTokenReview(r->body);
                       if (user.ok()) {
                         if (auto impl = weak.lock()) {
                           const auto& ttl = user->has_value() ? impl->options.cache.allowed_ttl
                                                               : impl->options.cache.denied_ttl;
                           impl->cache.Put(key, user.value(), ttl);
                         }
                       }
                       done(std::move(user));
                     });
}

// ---- SubjectAccessReview ----

struct SubjectAccessReviewAuthorizer::Impl {
  Impl(ApiClient& c, const base::Clock& clock, ReviewOptions o)
      : client(c), options(std::move(o)), cache(clock, options.cache.max_entries) {}
  ApiClient& client;
  const ReviewOptions options;
  ReviewCache<Decision> cache;
};

SubjectAccessReviewAuthorizer::SubjectAccessReviewAuthorizer(ApiClient& client,
                                                             const base::Clock& clock,
                                                             ReviewOptions options)
    : impl_(std::make_shared<Impl>(client, clock, std::move(options))) {}

SubjectAccessReviewAuthorizer::~SubjectAccessReviewAuthorizer() = default;

void SubjectAccessReviewAuthorizer::Authorize(Attributes attributes,
                                              std::function<void(base::Result<Decision>)> done) {
  // The key is the request itself (k8s.io/apiserver keys on the JSON of the spec).
  std::string body = EncodeSubjectAccessReview(attributes);
  if (auto hit = impl_->cache.Get(body)) {
    done(std::move(*hit));
    return;
  }
  std::weak_ptr<Impl> weak = impl_;
  std::string key = body;
  impl_->client.Send(
      JsonPost("/apis/authorization.k8s.io/v1/subjectaccessreviews", std::move(body)),
      impl_->options.timeout, impl_->options.max_response_bytes,
      [weak, key = std::move(key), done = std::move(done)](base::Result<net::Response> r) {
        if (!r.ok()) {
          done(base::MakeError("SubjectAccessReview: " + r.error()));
          return;
        }
        if (r->status != 200 && r->status != 201) {
          done(base::MakeError("SubjectAccessReview: " + ErrorFromResponse(*r).message()));
          return;
        }
        auto decision = DecodeSubjectAccessReview(r->body);
        if (decision.ok()) {
          if (auto impl = weak.lock()) {
            const auto& ttl = decision->allowed ? impl->options.cache.allowed_ttl
                                                : impl->options.cache.denied_ttl;
            impl->cache.Put(key, decision.value(), ttl);
          }
        }
        done(std::move(decision));
      });
}

}  // namespace kube
