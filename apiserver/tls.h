// The serving certificate and TLS policy: TLS 1.2+ (or 1.3 only), a modern cipher list named
// the way Kubernetes flags name them (Go's constants), certificate and key files reloaded when
// they change, or a self-signed certificate kept in --cert-dir when no files are given, and the
// client-certificate CAs advertised to clients (the request-header CA and the client CA).
// Further certificates (--tls-sni-cert-key) are chosen by the name the client asks for (SNI),
// or by the local IP address the client connected to when it sent no name, as k8s.io/apiserver
// does; they are reloaded with the default one.
//
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "apiserver/server.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "base/result.h"

namespace apiserver {

struct TlsServingOptions {
  std::string cert_file;  // --tls-cert-file (PEM, may include intermediates)
  std::string key_file;   // --tls-private-key-file
  std::string cert_dir = "apiserver.local.config/certificates";  // --cert-dir
  std::string min_version = "VersionTLS12";  // --tls-min-version: VersionTLS12 | VersionTLS13
  // --tls-cipher-suites, Go names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...); empty = default
  // modern list (ECDHE with AES-GCM or ChaCha20-Poly1305). TLS 1.3 suites are always enabled.
  std::vector<std::string> cipher_suites;
  // --tls-sni-cert-key values: "cert,key" or "cert,key:name1,name2" (see ParseSniCertKey).
  std::vector<std::string> sni_cert_keys;
  // How often the certificate files are checked for changes.
  std::chrono::milliseconds reload_check_interval{10000};
};

// One --tls-sni-cert-key value.
struct SniCertKey {
  std::string cert_file;
  std::string key_file;
  // Explicit domain patterns ("foo.com", "*.foo.com", IPs), lower-cased; empty = the names of
  // the certificate (CommonName if it is a DNS name, DNS and IP SANs).
  std::vector<std::string> names;
};
// Parses "cert,key" or "cert,key:pattern,pattern" as k8s.io/component-base's NamedCertKey.
base::Result<SniCertKey> ParseSniCertKey(const std::string& value);

// Validates names only (no file access); every problem is reported.
std::vector<std::string> ValidateTlsServingOptions(const TlsServingOptions& options);

// The OpenSSL cipher list for Go cipher-suite names; error names the unknown suite.
base::Result<std::string> OpenSslCipherList(const std::vector<std::string>& go_names);

// Makes (or reuses) `<cert_dir>/apiserver.crt` and `apiserver.key`: a self-signed CA
// "localhost-ca@<unix>" and a serving certificate "localhost@<unix>" for localhost, 127.0.0.1
// and `extra_names` (DNS names or IPs), valid one year, as k8s.io/apiserver does. Returns the
// paths of the certificate and key files.
base::Result<std::pair<std::string, std::string>> EnsureSelfSignedCertificate(
    const std::string& cert_dir, const std::vector<std::string>& extra_names);

// "<mtime>/<size>/<inode>" of a file, or "missing": what reloads compare to see a change.
std::string FileStamp(const std::string& path);

class ServingCertificates final : public TlsContextProvider {
 public:
  // Loads the files once (after EnsureSelfSignedCertificate when no cert_file is given); fails
  // when they are unreadable, mismatched or the options invalid.
  static base::Result<std::unique_ptr<ServingCertificates>> Create(TlsServingOptions options,
                                                                   const base::Clock& clock);

  // The current context; at most once per reload_check_interval, checks the files and rebuilds
  // the context when they changed (keeping the old one if the new files do not load).
  std::shared_ptr<boost::asio::ssl::context> Current() override;

  // Sets the CA bundles (PEM) whose subjects are advertised as acceptable client-certificate
  // issuers; takes effect for new connections.
  void SetClientCas(std::vector<std::string> ca_pems);

  // Forces a check of the files now (tests, SIGHUP). Returns the reload error, if any.
  base::Status Reload();

 private:
  ServingCertificates(TlsServingOptions options, const base::Clock& clock);
  base::Result<std::shared_ptr<boost::asio::ssl::context>> Build() const REQUIRES(mu_);
  // TLS policy, certificate and key, advertised client CAs.
  base::Status Configure(boost::asio::ssl::context& ctx, const std::string& cert_file,
                         const std::string& key_file) const REQUIRES(mu_);

  TlsServingOptions options_;
  const base::Clock& clock_;
  std::string cipher_list_;
  base::Mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_ GUARDED_BY(mu_);
  std::vector<std::string> client_ca_pems_ GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point next_check_ GUARDED_BY(mu_);
  std::string stamp_ GUARDED_BY(mu_);  // mtimes and sizes of the loaded files
  std::vector<SniCertKey> sni_;        // parsed once; immutable
  std::string FilesStamp() const;
};

}  // namespace apiserver
