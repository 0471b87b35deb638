#include "test/testing/test_pki.h"

#include <stdexcept>

namespace testing_support {

TestPki::TestPki(const std::string& ca_name) {
  auto ca = net::MakeCa(ca_name);
  if (!ca.ok()) throw std::runtime_error("TestPki: " + ca.error());
  ca_ = std::move(*ca);
  ca_file_ = dir_.Write("ca.crt", ca_.cert_pem);
}

net::CertAndKey TestPki::Issue(const net::CertificateSpec& spec) const {
  auto pair = net::IssueCertificate(spec, ca_);
  if (!pair.ok()) throw std::runtime_error("TestPki: " + pair.error());
  return std::move(*pair);
}

net::CertAndKey TestPki::ServerCert(std::vector<std::string> dns_names,
                                    std::vector<std::string> ips,
                                    const std::string& common_name) const {
  net::CertificateSpec spec;
  spec.common_name = common_name;
  spec.dns_names = std::move(dns_names);
  spec.ip_addresses = std::move(ips);
  spec.server_auth = true;
  return Issue(spec);
}

net::CertAndKey TestPki::ClientCert(const std::string& common_name,
                                    std::vector<std::string> groups) const {
  net::CertificateSpec spec;
  spec.common_name = common_name;
  spec.organizations = std::move(groups);
  spec.client_auth = true;
  return Issue(spec);
}

PemFiles TestPki::WriteFiles(const std::string& name, const net::CertAndKey& pair) const {
  return PemFiles{dir_.Write(name + ".crt", pair.cert_pem),
                  dir_.Write(name + ".key", pair.key_pem)};
}

}  // namespace testing_support
