// Peer(pem): the PeerCertificates a TLS connection carries for a client that presented the
// certificate `pem` (PEM, no intermediates), for tests of request authentication.
#pragma once

#include <openssl/pem.h>

#include <memory>
#include <string>

#include "apiserver/request.h"

namespace apiserver::testing {

inline std::shared_ptr<const PeerCertificates> Peer(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  auto peer = std::make_shared<const PeerCertificates>(cert, nullptr);
  X509_free(cert);
  return peer;
}

}  // namespace apiserver::testing
