// Key and X.509 certificate generation on OpenSSL 3 (EVP/X509 API).
//
// Used by the API server to self-sign its serving certificate when none is configured, and by
// tests to build throw-away PKIs. All functions are pure (no files, no global state) and
// thread-safe. Output is PEM text; failures carry the OpenSSL reason.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/result.h"

namespace net {

enum class KeyAlgorithm {
  kEcdsaP256,  // prime256v1; the default: small and fast
  kRsa2048,
  kRsa4096,
};

// A certificate together with its private key, both PEM (the key as PKCS#8).
struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

// What to put in a certificate. Times are wall-clock; a default (epoch) not_before means
// "now minus 5 minutes" (clock skew) and a default not_after means "not_before plus one year".
struct CertificateSpec {
  std::string common_name;
  std::vector<std::string> organizations;  // O= entries; Kubernetes reads them as groups
  std::vector<std::string> dns_names;      // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;   // subjectAltName IP entries, IPv4 or IPv6 literals
  std::chrono::system_clock::time_point not_before{};
  std::chrono::system_clock::time_point not_after{};
  bool is_ca = false;        // basicConstraints CA:TRUE, keyUsage keyCertSign+cRLSign
  bool server_auth = false;  // extendedKeyUsage serverAuth
  bool client_auth = false;  // extendedKeyUsage clientAuth
  KeyAlgorithm key_algorithm = KeyAlgorithm::kEcdsaP256;
};

// A new private key, PEM (PKCS#8).
base::Result<std::string> GenerateKeyPem(KeyAlgorithm algorithm);

// A new self-signed certificate (and key) for `spec`; with spec.is_ca it can sign others.
base::Result<CertAndKey> MakeSelfSigned(const CertificateSpec& spec);

// A new certificate (and key) for `spec` signed by `issuer` (a CA made by MakeSelfSigned or
// loaded from PEM). Fails when the issuer's key does not match its certificate.
base::Result<CertAndKey> IssueCertificate(const CertificateSpec& spec, const CertAndKey& issuer);

// Shorthand: a self-signed CA named `common_name`, valid for ten years.
base::Result<CertAndKey> MakeCa(const std::string& common_name,
                                KeyAlgorithm algorithm = KeyAlgorithm::kEcdsaP256);

// The subject common name of a PEM certificate.
base::Result<std::string> CertificateCommonName(const std::string& cert_pem);

// An OpenSSL passphrase callback that supplies none, for every place that reads a private key:
// an encrypted key then fails to load (as in Kubernetes, which has no passphrase option) instead
// of OpenSSL's default callback prompting on the terminal and blocking the process.
int NoPassphrase(char* buf, int size, int rwflag, void* userdata);

// The most recent OpenSSL error as text (and clears the queue); `fallback` if there is none.
std::string OpenSslError(const char* fallback);

}  // namespace net
