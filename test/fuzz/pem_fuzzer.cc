// libFuzzer target for certificate and key input (PEM), through every path that loads it: the
// client-ca and requestheader-client-ca bundles of the authentication config
// (CompiledAuthConfig), a client certificate verified against them (VerifyClientCertificate), a
// TLS client context from CA data and a certificate + key pair (net::MakeClientContext, as a
// kubeconfig's *-data fields are used), and a certificate's common name. Also run over the seed
// corpus by pem_corpus_test.
//
// Input: up to three sections separated by a line "----" : CA bundle, certificate chain, key.
// Invariants: nothing crashes, leaks or throws; errors explain themselves.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "apiserver/auth.h"
#include "net/http_client.h"
#include "net/pki.h"

namespace {

std::string Section(std::string_view& rest) {
  constexpr std::string_view kSeparator = "\n----\n";
  size_t at = rest.find(kSeparator);
  std::string section(rest.substr(0, at));
  rest = at == std::string_view::npos ? std::string_view() : rest.substr(at + kSeparator.size());
  return section;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string ca = Section(rest);
  const std::string cert = Section(rest);
  const std::string key = Section(rest);

  kube::AuthenticationConfig config;
  config.client_ca_pem = ca;
  config.requestheader_client_ca_pem = ca;
  auto compiled = apiserver::CompiledAuthConfig::Compile(config);
  if (!compiled.ok() && compiled.error().empty()) std::abort();

  // The certificate section as a presented chain: leaf first, then intermediates.
  BIO* bio = BIO_new_mem_buf(cert.data(), static_cast<int>(cert.size()));
  X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  STACK_OF(X509)* chain = sk_X509_new_null();
  while (X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) sk_X509_push(chain, c);
  BIO_free(bio);
  ERR_clear_error();  // the read past the last certificate
  if (leaf != nullptr) {
    apiserver::PeerCertificates peer(leaf, chain);
    if (compiled.ok()) {
      for (X509_STORE* store : {(*compiled)->client_ca(), (*compiled)->requestheader_ca()}) {
        base::Status verified = apiserver::VerifyClientCertificate(peer, store);
        if (!verified.ok() && verified.message().empty()) std::abort();
      }
    }
    X509_free(leaf);
  }
  sk_X509_pop_free(chain, X509_free);

  net::TlsClientConfig tls;
  tls.ca_data = ca;
  tls.cert_data = cert;
  tls.key_data = key;
  auto ctx = net::MakeClientContext(tls);
  if (!ctx.ok() && ctx.error().empty()) std::abort();

  auto cn = net::CertificateCommonName(ca);
  if (!cn.ok() && cn.error().empty()) std::abort();
  return 0;
}
