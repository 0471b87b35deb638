// A throw-away PKI for tests: one CA, server and client certificates signed by it, PEM files
// in a temporary directory removed on destruction.
//
// Not thread-safe. Failures throw std::runtime_error (reported by GoogleTest as a failure).
#pragma once

#include <string>
#include <vector>

#include "net/pki.h"
#include "test/testing/temp_dir.h"

namespace testing_support {

struct PemFiles {
  std::string cert_file;
  std::string key_file;
};

class TestPki {
 public:
  explicit TestPki(const std::string& ca_name = "test-ca");

  const net::CertAndKey& ca() const { return ca_; }
  const std::string& ca_file() const { return ca_file_; }  // the CA certificate, PEM
  const TempDir& dir() const { return dir_; }

  // Any certificate signed by the CA.
  net::CertAndKey Issue(const net::CertificateSpec& spec) const;
  // A serving certificate (serverAuth) for `dns_names` and `ips`.
  net::CertAndKey ServerCert(std::vector<std::string> dns_names = {"localhost"},
                             std::vector<std::string> ips = {"127.0.0.1", "::1"},
                             const std::string& common_name = "test-server") const;
  // A client certificate (clientAuth) with CN=`common_name` and O=`groups`.
  net::CertAndKey ClientCert(const std::string& common_name,
                             std::vector<std::string> groups = {}) const;
  // Writes `<name>.crt` and `<name>.key` into dir().
  PemFiles WriteFiles(const std::string& name, const net::CertAndKey& pair) const;

 private:
  TempDir dir_;
  net::CertAndKey ca_;
  std::string ca_file_;
};

}  // namespace testing_support
