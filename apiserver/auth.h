// Delegated authentication and authorization of incoming requests, in the order
// k8s.io/apiserver's delegating authenticator uses (see the security reference):
//
//   1. front proxy: a client certificate that chains to the request-header CA (client-auth
//      usage) with an allowed CN; then the user from X-Remote-User, groups from every
//      X-Remote-Group header, extra from X-Remote-Extra-*; headers from anyone else are ignored;
//   2. client certificate against the client CA: user = CN, groups = O;
//   3. bearer token via TokenReview.
//
// The first success wins and gains the group system:authenticated; if none succeeded and one
// failed, the request is 401; without any credentials it is system:anonymous
// (system:unauthenticated). Authorization: system:masters is allowed, then
// --authorization-always-allow-paths (non-resource requests), then SubjectAccessReview; an
// error or no opinion is 403 (the errors and their bodies are status.h's).
//
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <openssl/x509.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/request.h"
#include "base/mutex.h"
#include "base/result.h"
#include "kube/auth.h"
#include "kube/authentication_config.h"

namespace apiserver {

// An AuthenticationConfig with its CA bundles parsed. Immutable.
class CompiledAuthConfig {
 public:
  static base::Result<std::shared_ptr<const CompiledAuthConfig>> Compile(
      const kube::AuthenticationConfig& config);
  ~CompiledAuthConfig();

  const kube::AuthenticationConfig& config() const { return config_; }
  X509_STORE* client_ca() const { return client_ca_; }                // null = no client CA
  X509_STORE* requestheader_ca() const { return requestheader_ca_; }  // null = front proxy off

 private:
  CompiledAuthConfig() = default;
  kube::AuthenticationConfig config_;
  X509_STORE* client_ca_ = nullptr;
  X509_STORE* requestheader_ca_ = nullptr;
};

struct AuthnResult {
  enum class Outcome { kAuthenticated, kAnonymous, kUnauthorized };
  Outcome outcome = Outcome::kAnonymous;
  kube::UserInfo user;
  std::string how;    // "front-proxy", "x509", "token", "anonymous"
  std::string error;  // for kUnauthorized: why (logged, not sent)
};

class RequestAuthenticator {
 public:
  // `tokens` may be null (bearer tokens then fail as unauthorized).
  explicit RequestAuthenticator(kube::TokenAuthenticator* tokens) : tokens_(tokens) {}

  // Publishes a new configuration (null = no CAs: certificates are not accepted).
  void SetConfig(std::shared_ptr<const CompiledAuthConfig> config);
  std::shared_ptr<const CompiledAuthConfig> config() const;

  // Calls `done` exactly once (inline, or from the token authenticator's thread).
  void Authenticate(const HttpRequest& request, std::function<void(AuthnResult)> done) const;

 private:
  kube::TokenAuthenticator* tokens_;
  mutable base::Mutex mu_;
  std::shared_ptr<const CompiledAuthConfig> config_ GUARDED_BY(mu_);
};

struct AuthzResult {
  bool allowed = false;
  std::string reason;  // from the authorizer, or the error
};

class RequestAuthorizer {
 public:
  // `always_allow_paths`: exact paths, or prefixes ending in '*'; a missing leading '/' is
  // added. `sar` may be null (everything not allowed by the shortcuts is then denied).
  RequestAuthorizer(std::vector<std::string> always_allow_paths, kube::Authorizer* sar);

  void Authorize(const kube::Attributes& attributes, std::function<void(AuthzResult)> done) const;

 private:
  bool PathAlwaysAllowed(const std::string& path) const;
  std::vector<std::string> exact_;
  std::vector<std::string> prefixes_;
  kube::Authorizer* sar_;
};

// Verifies `peer` against `store` for client authentication. Error text names the reason.
base::Status VerifyClientCertificate(const PeerCertificates& peer, X509_STORE* store);

// The authorization attributes of a request.
kube::Attributes MakeAttributes(const kube::UserInfo& user, const RequestInfo& info);

}  // namespace apiserver
