// Keeps the request authenticator and the client CAs advertised in TLS handshakes in step with
// their two sources: the CA files given by flag (--client-ca-file,
// --requestheader-client-ca-file), re-read when they change as the serving certificate is, and
// the cluster's extension-apiserver-authentication ConfigMap when it is watched. A change of
// either recompiles the merged configuration (Options::AuthenticationConfig) and publishes it;
// a file that does not read or parse keeps the last good configuration.
//
// Thread-safety: all public methods may be called from any thread. The Options, the
// RequestAuthenticator and the ServingCertificates must outlive the reloader; Stop() (or the
// destructor) before the io_context it was started on is destroyed.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "apiserver/auth.h"
#include "apiserver/options.h"
#include "apiserver/tls.h"
#include "base/mutex.h"
#include "base/result.h"
#include "kube/authentication_config.h"

namespace apiserver {

class AuthConfigReloader {
 public:
  // How often main checks the CA files: a CA removed from a file stops authenticating within
  // this (a changed trust store is verified afresh, see PeerCertificates::VerifiedAgainst).
  static constexpr std::chrono::milliseconds kCheckInterval{1000};

  AuthConfigReloader(const Options& options, RequestAuthenticator& authenticator,
                     ServingCertificates& certs);
  ~AuthConfigReloader();
  AuthConfigReloader(const AuthConfigReloader&) = delete;
  AuthConfigReloader& operator=(const AuthConfigReloader&) = delete;

  // Merges the CA files with `from_cluster` (null: the files only, or no ConfigMap seen yet),
  // compiles and publishes the result, and remembers `from_cluster` for later file changes.
  // Fails with "authentication config: <why>" (naming the file) and keeps the previous one.
  base::Status Apply(std::shared_ptr<const kube::AuthenticationConfig> from_cluster) EXCLUDES(mu_);

  // Applies again when a CA file changed (modification time, size or inode) since the last
  // Apply. True when it applied (successfully or not).
  bool CheckFiles() EXCLUDES(mu_);

  // Calls CheckFiles() every `interval` on `io` until Stop(). Once.
  void Start(boost::asio::io_context& io, std::chrono::milliseconds interval = kCheckInterval);
  // Stops the checks; returns after any check in progress. Idempotent.
  void Stop();

 private:
  struct Timer;
  std::string Stamp() const;

  const Options& options_;
  RequestAuthenticator& authenticator_;
  ServingCertificates& certs_;
  base::Mutex mu_;  // serializes Apply
  std::shared_ptr<const kube::AuthenticationConfig> from_cluster_ GUARDED_BY(mu_);
  std::string stamp_ GUARDED_BY(mu_);  // FileStamp of the CA files at the last Apply
  std::shared_ptr<Timer> timer_;
};

}  // namespace apiserver
