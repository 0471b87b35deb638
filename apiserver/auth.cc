#include "apiserver/auth.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <strings.h>
#include <algorithm>
#include <cctype>

namespace apiserver {
namespace {

base::Result<X509_STORE*> LoadStore(const std::string& pem, const char* what) {
  X509_STORE* store = X509_STORE_new();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++count;
  }
  ERR_clear_error();
  BIO_free(bio);
  if (count == 0) {
    X509_STORE_free(store);
    return base::MakeError(std::string(what) + ": no PEM certificate found");
  }
  return store;
}

std::string NameEntries(X509* cert, int nid, std::vector<std::string>* all) {
  X509_NAME* name = X509_get_subject_name(cert);
  std::string first;
  int idx = -1;
  while ((idx = X509_NAME_get_index_by_NID(name, nid, idx)) >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) continue;
    std::string value(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
    if (first.empty()) first = value;
    if (all != nullptr) all->push_back(std::move(value));
  }
  return first;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool IStartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && IEquals(s.substr(0, prefix.size()), prefix);
}

void AddAuthenticatedGroup(kube::UserInfo& user) {
  if (std::find(user.groups.begin(), user.groups.end(), "system:authenticated") ==
      user.groups.end()) {
    user.groups.push_back("system:authenticated");
  }
}

// The front-proxy headers of a request whose proxy certificate was accepted. nullopt when no
// username header is set (the authenticator then has no opinion).
std::optional<kube::UserInfo> UserFromHeaders(const HttpRequest& request,
                                              const kube::AuthenticationConfig& config) {
  kube::UserInfo user;
  for (const auto& header : config.username_headers) {
    for (const auto& [k, v] : request.headers) {
      if (IEquals(k, header) && !v.empty()) {
        user.name = v;
        break;
      }
    }
    if (!user.name.empty()) break;
  }
  if (user.name.empty()) return std::nullopt;
  for (const auto& header : config.uid_headers) {
    for (const auto& [k, v] : request.headers) {
      if (IEquals(k, header) && !v.empty()) {
        user.uid = v;
        break;
      }
    }
    if (!user.uid.empty()) break;
  }
  for (const auto& header : config.group_headers) {
    for (const auto& [k, v] : request.headers) {
      if (IEquals(k, header) && !v.empty()) user.groups.push_back(v);
    }
  }
  for (const auto& prefix : config.extra_headers_prefix) {
    for (const auto& [k, v] : request.headers) {
      if (!IStartsWith(k, prefix) || k.size() == prefix.size()) continue;
      std::string key = k.substr(prefix.size());
      std::transform(key.begin(), key.end(), key.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      key = PercentDecode(key, false).value_or(key);
      user.extra[key].push_back(v);
    }
  }
  return user;
}

}  // namespace

CompiledAuthConfig::~CompiledAuthConfig() {
  if (client_ca_ != nullptr) X509_STORE_free(client_ca_);
  if (requestheader_ca_ != nullptr) X509_STORE_free(requestheader_ca_);
}

base::Result<std::shared_ptr<const CompiledAuthConfig>> CompiledAuthConfig::Compile(
    const kube::AuthenticationConfig& config) {
  std::shared_ptr<CompiledAuthConfig> c(new CompiledAuthConfig());
  c->config_ = config;
  if (!config.client_ca_pem.empty()) {
    auto store = LoadStore(config.client_ca_pem, "client-ca-file");
    if (!store.ok()) return base::MakeError(store.error());
    c->client_ca_ = *store;
  }
  if (!config.requestheader_client_ca_pem.empty()) {
    auto store = LoadStore(config.requestheader_client_ca_pem, "requestheader-client-ca-file");
    if (!store.ok()) return base::MakeError(store.error());
    c->requestheader_ca_ = *store;
  }
  return std::shared_ptr<const CompiledAuthConfig>(std::move(c));
}

base::Status VerifyClientCertificate(const PeerCertificates& peer, X509_STORE* store) {
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, peer.leaf(), peer.intermediates());
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
  int ok = X509_verify_cert(ctx);
  std::string reason = ok == 1 ? "" : X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  ERR_clear_error();
  if (ok == 1) return base::Status::Ok();
  return base::Status::Error("x509: " + reason);
}

void RequestAuthenticator::SetConfig(std::shared_ptr<const CompiledAuthConfig> config) {
  base::MutexLock lock(mu_);
  config_ = std::move(config);
}

std::shared_ptr<const CompiledAuthConfig> RequestAuthenticator::config() const {
  base::MutexLock lock(mu_);
  return config_;
}

void RequestAuthenticator::Authenticate(const HttpRequest& request,
                                        std::function<void(AuthnResult)> done) const {
  std::vector<std::string> errors;
  std::shared_ptr<const CompiledAuthConfig> config = this->config();
  if (request.peer != nullptr && config != nullptr) {
    X509* leaf = request.peer->leaf();
    // 1. Front proxy.
    if (config->requestheader_ca() != nullptr) {
      base::Status verified = request.peer->VerifiedAgainst(config->requestheader_ca(), [&] {
        return VerifyClientCertificate(*request.peer, config->requestheader_ca());
      });
      if (!verified.ok()) {
        errors.push_back("front-proxy: " + verified.message());
      } else {
        std::string cn = NameEntries(leaf, NID_commonName, nullptr);
        const auto& allowed = config->config().allowed_names;
        if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), cn) == allowed.end()) {
          errors.push_back("front-proxy: x509: subject with cn=" + cn +
                           " is not in the allowed list");
        } else if (auto user = UserFromHeaders(request, config->config())) {
          AuthnResult r;
          r.outcome = AuthnResult::Outcome::kAuthenticated;
          r.user = std::move(*user);
          r.how = "front-proxy";
          AddAuthenticatedGroup(r.user);
          return done(std::move(r));
        }
      }
    }
    // 2. Client certificate.
    if (config->client_ca() != nullptr) {
      base::Status verified = request.peer->VerifiedAgainst(config->client_ca(), [&] {
        return VerifyClientCertificate(*request.peer, config->client_ca());
      });
      if (!verified.ok()) {
        errors.push_back("client certificate: " + verified.message());
      } else {
        AuthnResult r;
        r.outcome = AuthnResult::Outcome::kAuthenticated;
        r.user.name = NameEntries(leaf, NID_commonName, nullptr);
        NameEntries(leaf, NID_organizationName, &r.user.groups);
        r.how = "x509";
        if (!r.user.name.empty()) {
          AddAuthenticatedGroup(r.user);
          return done(std::move(r));
        }
        errors.push_back("client certificate: empty common name");
      }
    }
  } else if (request.peer != nullptr) {
    errors.push_back("client certificate: no client CA configured");
  }
  // 3. Bearer token.
  std::optional<std::string_view> authz = request.Header("Authorization");
  std::string token;
  if (authz && authz->size() > 7 && IEquals(authz->substr(0, 7), "Bearer ")) {
    token = std::string(authz->substr(7));
    while (!token.empty() && token.front() == ' ') token.erase(token.begin());
    while (!token.empty() && token.back() == ' ') token.pop_back();
  }
  auto finish = [errors, had_token = !token.empty()](std::optional<kube::UserInfo> user,
                                                     std::string token_error) mutable {
    AuthnResult r;
    if (user) {
      r.outcome = AuthnResult::Outcome::kAuthenticated;
      r.user = std::move(*user);
      r.how = "token";
      AddAuthenticatedGroup(r.user);
      return r;
    }
    if (had_token) errors.push_back("token: " + token_error);
    if (!errors.empty()) {
      r.outcome = AuthnResult::Outcome::kUnauthorized;
      for (const auto& e : errors) r.error += (r.error.empty() ? "" : "; ") + e;
      return r;
    }
    r.outcome = AuthnResult::Outcome::kAnonymous;
    r.user.name = "system:anonymous";
    r.user.groups = {"system:unauthenticated"};
    r.how = "anonymous";
    return r;
  };
  if (token.empty()) return done(finish(std::nullopt, ""));
  if (tokens_ == nullptr)
    return done(finish(std::nullopt, "token authentication is not configured"));
  tokens_->Authenticate(
      std::move(token),
      [finish, done = std::move(done)](base::Result<std::optional<kube::UserInfo>> result) mutable {
        if (!result.ok()) return done(finish(std::nullopt, result.error()));
        if (!result->has_value()) {
          return done(finish(std::nullopt, "invalid bearer token"));
        }
        done(finish(std::move(**result), ""));
      });
}

RequestAuthorizer::RequestAuthorizer(std::vector<std::string> always_allow_paths,
                                     kube::Authorizer* sar)
    : sar_(sar) {
  for (std::string p : always_allow_paths) {
    if (p.empty()) continue;
    if (p.front() != '/') p.insert(p.begin(), '/');
    if (p.back() == '*') {
      p.pop_back();
      prefixes_.push_back(p);
    } else {
      exact_.push_back(p);
    }
  }
}

bool RequestAuthorizer::PathAlwaysAllowed(const std::string& path) const {
  if (std::find(exact_.begin(), exact_.end(), path) != exact_.end()) return true;
  for (const auto& p : prefixes_) {
    if (path.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

void RequestAuthorizer::Authorize(const kube::Attributes& attributes,
                                  std::function<void(AuthzResult)> done) const {
  const auto& groups = attributes.user.groups;
  if (std::find(groups.begin(), groups.end(), "system:masters") != groups.end()) {
    return done(AuthzResult{true, ""});
  }
  if (!attributes.resource_request && PathAlwaysAllowed(attributes.path)) {
    return done(AuthzResult{true, ""});
  }
  if (sar_ == nullptr) return done(AuthzResult{false, ""});
  sar_->Authorize(attributes, [done = std::move(done)](base::Result<kube::Decision> d) {
    if (!d.ok()) return done(AuthzResult{false, d.error()});
    done(AuthzResult{d->allowed, d->reason});
  });
}

kube::Attributes MakeAttributes(const kube::UserInfo& user, const RequestInfo& info) {
  kube::Attributes a;
  a.user = user;
  a.verb = info.verb;
  a.resource_request = info.is_resource;
  a.path = info.path;
  if (info.is_resource) {
    a.api_group = info.api_group;
    a.api_version = info.api_version;
    a.resource = info.resource;
    a.subresource = info.subresource;
    a.namespace_ = info.namespace_;
    a.name = info.name;
  }
  return a;
}

}  // namespace apiserver
