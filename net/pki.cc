#include "net/pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace net {
namespace {

template <auto F>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    F(p);
  }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using X509ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using Asn1OctetPtr = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

base::Error Fail(const char* what) { return base::MakeError(OpenSslError(what)); }

base::Result<EvpPkeyPtr> NewKey(KeyAlgorithm algorithm) {
  EVP_PKEY* key = nullptr;
  switch (algorithm) {
    case KeyAlgorithm::kEcdsaP256:
      key = EVP_EC_gen("P-256");
      break;
    case KeyAlgorithm::kRsa2048:
      key = EVP_RSA_gen(2048);
      break;
    case KeyAlgorithm::kRsa4096:
      key = EVP_RSA_gen(4096);
      break;
  }
  if (key == nullptr) return Fail("key generation failed");
  return EvpPkeyPtr(key);
}

base::Result<std::string> BioToString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  if (n < 0) return Fail("reading memory BIO");
  return std::string(data, static_cast<std::size_t>(n));
}

base::Result<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Fail("encoding private key");
  return BioToString(bio.get());
}

base::Result<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return Fail("encoding certificate");
  return BioToString(bio.get());
}

base::Result<EvpPkeyPtr> ParseKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key =
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr;
  if (key == nullptr) return Fail("parsing private key PEM");
  return EvpPkeyPtr(key);
}

base::Result<X509Ptr> ParseCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509* cert = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (cert == nullptr) return Fail("parsing certificate PEM");
  return X509Ptr(cert);
}

// Adds an extension given in OpenSSL's config syntax, e.g. "critical,CA:TRUE".
base::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return base::Status::Error(
        OpenSslError(("adding extension " + std::string(OBJ_nid2sn(nid)) + "=" + value).c_str()));
  }
  return base::Status::Ok();
}

base::Status AddSubjectAltNames(X509* cert, const CertificateSpec& spec) {
  if (spec.dns_names.empty() && spec.ip_addresses.empty()) return base::Status::Ok();
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return base::Status::Error(OpenSslError("allocating subjectAltName"));
  for (const std::string& dns : spec.dns_names) {
    GENERAL_NAME* name = GENERAL_NAME_new();
    ASN1_IA5STRING* str = ASN1_IA5STRING_new();
    if (name == nullptr || str == nullptr ||
        ASN1_STRING_set(str, dns.data(), static_cast<int>(dns.size())) != 1) {
      GENERAL_NAME_free(name);
      ASN1_IA5STRING_free(str);
      return base::Status::Error(OpenSslError("encoding DNS name"));
    }
    GENERAL_NAME_set0_value(name, GEN_DNS, str);
    sk_GENERAL_NAME_push(names.get(), name);
  }
  for (const std::string& ip : spec.ip_addresses) {
    Asn1OctetPtr octets(a2i_IPADDRESS(ip.c_str()));
    if (!octets) {
      ERR_clear_error();
      return base::Status::Error("invalid IP address \"" + ip + "\" for subjectAltName");
    }
    GENERAL_NAME* name = GENERAL_NAME_new();
    if (name == nullptr) return base::Status::Error(OpenSslError("allocating IP name"));
    GENERAL_NAME_set0_value(name, GEN_IPADD, octets.release());
    sk_GENERAL_NAME_push(names.get(), name);
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1)
    return base::Status::Error(OpenSslError("adding subjectAltName"));
  return base::Status::Ok();
}

base::Status SetValidity(X509* cert, const CertificateSpec& spec) {
  using std::chrono::system_clock;
  auto now = system_clock::now();
  auto not_before = spec.not_before == system_clock::time_point{} ? now - std::chrono::minutes(5)
                                                                  : spec.not_before;
  auto not_after = spec.not_after == system_clock::time_point{}
                       ? not_before + std::chrono::hours(24 * 365)
                       : spec.not_after;
  if (not_after <= not_before) return base::Status::Error("not_after must be after not_before");
  if (ASN1_TIME_set(X509_getm_notBefore(cert), system_clock::to_time_t(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), system_clock::to_time_t(not_after)) == nullptr) {
    return base::Status::Error(OpenSslError("setting validity"));
  }
  return base::Status::Ok();
}

base::Status SetSubject(X509* cert, const CertificateSpec& spec) {
  X509_NAME* name = X509_get_subject_name(cert);
  for (const std::string& org : spec.organizations) {
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1,
                                   0) != 1)
      return base::Status::Error(OpenSslError("setting O"));
  }
  if (!spec.common_name.empty() &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                                 -1, -1, 0) != 1)
    return base::Status::Error(OpenSslError("setting CN"));
  return base::Status::Ok();
}

base::Status SetSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return base::Status::Error(OpenSslError("RAND_bytes"));
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x01;  // no leading zero octet: always 16 bytes
  BignumPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr)
    return base::Status::Error(OpenSslError("setting serial number"));
  return base::Status::Ok();
}

// Builds and signs a certificate for `spec` with `key`; self-signed when issuer is null.
base::Result<CertAndKey> Build(const CertificateSpec& spec, X509* issuer_cert,
                               EVP_PKEY* issuer_key) {
  auto key = NewKey(spec.key_algorithm);
  if (!key.ok()) return base::MakeError(key.error());
  X509Ptr cert(X509_new());
  if (!cert) return Fail("X509_new");
  X509* self_or_issuer = issuer_cert != nullptr ? issuer_cert : cert.get();
  EVP_PKEY* signing_key = issuer_key != nullptr ? issuer_key : key->get();

  base::Status st;
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_pubkey(cert.get(), key->get()) != 1)
    return Fail("setting version/public key");
  if (!(st = SetSerial(cert.get())).ok()) return st;
  if (!(st = SetValidity(cert.get(), spec)).ok()) return st;
  if (!(st = SetSubject(cert.get(), spec)).ok()) return st;
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(self_or_issuer)) != 1)
    return Fail("setting issuer name");

  if (spec.is_ca) {
    if (!(st = AddExtension(cert.get(), self_or_issuer, NID_basic_constraints, "critical,CA:TRUE"))
             .ok())
      return st;
    if (!(st = AddExtension(cert.get(), self_or_issuer, NID_key_usage,
                            "critical,digitalSignature,keyCertSign,cRLSign"))
             .ok())
      return st;
  } else {
    if (!(st = AddExtension(cert.get(), self_or_issuer, NID_basic_constraints, "critical,CA:FALSE"))
             .ok())
      return st;
    // keyEncipherment matters only for RSA key exchange, but is conventional for RSA keys.
    std::string usage = EVP_PKEY_get_base_id(key->get()) == EVP_PKEY_RSA
                            ? "critical,digitalSignature,keyEncipherment"
                            : "critical,digitalSignature";
    if (!(st = AddExtension(cert.get(), self_or_issuer, NID_key_usage, usage)).ok()) return st;
  }
  std::string eku;
  if (spec.server_auth) eku = "serverAuth";
  if (spec.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  if (!eku.empty() && !(st = AddExtension(cert.get(), self_or_issuer, NID_ext_key_usage, eku)).ok())
    return st;
  if (!(st = AddExtension(cert.get(), self_or_issuer, NID_subject_key_identifier, "hash")).ok())
    return st;
  if (!(st = AddExtension(cert.get(), self_or_issuer, NID_authority_key_identifier, "keyid:always"))
           .ok())
    return st;
  if (!(st = AddSubjectAltNames(cert.get(), spec)).ok()) return st;

  if (X509_sign(cert.get(), signing_key, EVP_sha256()) == 0) return Fail("signing certificate");

  auto cert_pem = CertToPem(cert.get());
  if (!cert_pem.ok()) return base::MakeError(cert_pem.error());
  auto key_pem = KeyToPem(key->get());
  if (!key_pem.ok()) return base::MakeError(key_pem.error());
  return CertAndKey{std::move(*cert_pem), std::move(*key_pem)};
}

}  // namespace

int NoPassphrase(char*, int, int, void*) { return -1; }

std::string OpenSslError(const char* fallback) {
  unsigned long code = ERR_get_error();
  if (code == 0) return fallback;
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return std::string(fallback) + ": " + buf;
}

base::Result<std::string> GenerateKeyPem(KeyAlgorithm algorithm) {
  auto key = NewKey(algorithm);
  if (!key.ok()) return base::MakeError(key.error());
  return KeyToPem(key->get());
}

base::Result<CertAndKey> MakeSelfSigned(const CertificateSpec& spec) {
  return Build(spec, nullptr, nullptr);
}

base::Result<CertAndKey> IssueCertificate(const CertificateSpec& spec, const CertAndKey& issuer) {
  auto cert = ParseCert(issuer.cert_pem);
  if (!cert.ok()) return base::MakeError("issuer: " + cert.error());
  auto key = ParseKey(issuer.key_pem);
  if (!key.ok()) return base::MakeError("issuer: " + key.error());
  if (X509_check_private_key(cert->get(), key->get()) != 1)
    return base::MakeError(OpenSslError("issuer: key does not match certificate"));
  return Build(spec, cert->get(), key->get());
}

base::Result<CertAndKey> MakeCa(const std::string& common_name, KeyAlgorithm algorithm) {
  CertificateSpec spec;
  spec.common_name = common_name;
  spec.is_ca = true;
  spec.key_algorithm = algorithm;
  spec.not_after = std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 10);
  return MakeSelfSigned(spec);
}

base::Result<std::string> CertificateCommonName(const std::string& cert_pem) {
  auto cert = ParseCert(cert_pem);
  if (!cert.ok()) return base::MakeError(cert.error());
  X509_NAME* name = X509_get_subject_name(cert->get());
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return base::MakeError("certificate has no common name");
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return Fail("decoding common name");
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

}  // namespace net
