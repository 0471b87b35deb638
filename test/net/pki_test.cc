#include "net/pki.h"

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>

#include "net/http_client.h"

namespace net {
namespace {

using ::testing::HasSubstr;

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr Parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return X509Ptr(cert);
}

// Verifies `leaf` against `ca` the way a TLS peer would; returns the X509 verify error.
int Verify(const std::string& ca_pem, const std::string& leaf_pem, int purpose,
           const char* host = nullptr, const char* ip = nullptr) {
  X509Ptr ca = Parse(ca_pem), leaf = Parse(leaf_pem);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca.get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  if (host != nullptr) X509_VERIFY_PARAM_set1_host(param, host, 0);
  if (ip != nullptr) X509_VERIFY_PARAM_set1_ip_asc(param, ip);
  int ok = X509_verify_cert(ctx);
  int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return err;
}

TEST(PkiTest, GeneratesKeys) {
  for (KeyAlgorithm alg : {KeyAlgorithm::kEcdsaP256, KeyAlgorithm::kRsa2048}) {
    auto key = GenerateKeyPem(alg);
    ASSERT_TRUE(key.ok()) << key.error();
    EXPECT_THAT(*key, HasSubstr("-----BEGIN PRIVATE KEY-----"));
  }
}

TEST(PkiTest, ServerCertificateVerifiesAgainstCaForItsNamesAndAddresses) {
  auto ca = MakeCa("unit-ca");
  ASSERT_TRUE(ca.ok()) << ca.error();
  CertificateSpec spec;
  spec.common_name = "server";
  spec.dns_names = {"localhost", "metrics.example"};
  spec.ip_addresses = {"127.0.0.1", "::1"};
  spec.server_auth = true;
  auto leaf = IssueCertificate(spec, *ca);
  ASSERT_TRUE(leaf.ok()) << leaf.error();

  EXPECT_EQ(Verify(ca->cert_pem, leaf->cert_pem, X509_PURPOSE_SSL_SERVER, "metrics.example"),
            X509_V_OK);
  EXPECT_EQ(Verify(ca->cert_pem, leaf->cert_pem, X509_PURPOSE_SSL_SERVER, nullptr, "::1"),
            X509_V_OK);
  EXPECT_EQ(Verify(ca->cert_pem, leaf->cert_pem, X509_PURPOSE_SSL_SERVER, nullptr, "127.0.0.1"),
            X509_V_OK);
  EXPECT_EQ(Verify(ca->cert_pem, leaf->cert_pem, X509_PURPOSE_SSL_SERVER, "other.example"),
            X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(Verify(ca->cert_pem, leaf->cert_pem, X509_PURPOSE_SSL_SERVER, nullptr, "10.0.0.1"),
            X509_V_ERR_IP_ADDRESS_MISMATCH);
  // serverAuth only: not usable as a client certificate.
  EXPECT_EQ(Verify(ca->cert_pem, leaf->cert_pem, X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST(PkiTest, ClientCertificateCarriesCommonNameAndGroups) {
  auto ca = MakeCa("unit-ca", KeyAlgorithm::kRsa2048);
  ASSERT_TRUE(ca.ok()) << ca.error();
  CertificateSpec spec;
  spec.common_name = "system:kube-aggregator";
  spec.organizations = {"system:masters", "team"};
  spec.client_auth = true;
  auto leaf = IssueCertificate(spec, *ca);
  ASSERT_TRUE(leaf.ok()) << leaf.error();
  EXPECT_EQ(Verify(ca->cert_pem, leaf->cert_pem, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  auto cn = CertificateCommonName(leaf->cert_pem);
  ASSERT_TRUE(cn.ok()) << cn.error();
  EXPECT_EQ(*cn, "system:kube-aggregator");

  X509Ptr cert = Parse(leaf->cert_pem);
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::vector<std::string> orgs;
  for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_organizationName, i)) >= 0;) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    orgs.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      ASN1_STRING_length(s));
  }
  EXPECT_THAT(orgs, ::testing::ElementsAre("system:masters", "team"));
}

TEST(PkiTest, ExpiredAndNotYetValidCertificatesFailVerification) {
  auto ca = MakeCa("unit-ca");
  ASSERT_TRUE(ca.ok()) << ca.error();
  auto now = std::chrono::system_clock::now();
  CertificateSpec spec;
  spec.common_name = "old";
  spec.server_auth = true;
  spec.not_before = now - std::chrono::hours(48);
  spec.not_after = now - std::chrono::hours(24);
  auto expired = IssueCertificate(spec, *ca);
  ASSERT_TRUE(expired.ok()) << expired.error();
  EXPECT_EQ(Verify(ca->cert_pem, expired->cert_pem, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_CERT_HAS_EXPIRED);

  spec.not_before = now + std::chrono::hours(24);
  spec.not_after = now + std::chrono::hours(48);
  auto future = IssueCertificate(spec, *ca);
  ASSERT_TRUE(future.ok()) << future.error();
  EXPECT_EQ(Verify(ca->cert_pem, future->cert_pem, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST(PkiTest, LeafCannotSignAndBadInputsAreErrors) {
  auto ca = MakeCa("unit-ca");
  ASSERT_TRUE(ca.ok()) << ca.error();
  CertificateSpec spec;
  spec.common_name = "leaf";
  auto leaf = IssueCertificate(spec, *ca);
  ASSERT_TRUE(leaf.ok()) << leaf.error();
  auto grandchild = IssueCertificate(spec, *leaf);
  ASSERT_TRUE(grandchild.ok()) << grandchild.error();
  // The chain ca -> leaf -> grandchild is invalid because leaf is not a CA.
  EXPECT_NE(Verify(ca->cert_pem, grandchild->cert_pem, X509_PURPOSE_ANY), X509_V_OK);

  spec.ip_addresses = {"not-an-ip"};
  auto bad_ip = IssueCertificate(spec, *ca);
  ASSERT_FALSE(bad_ip.ok());
  EXPECT_THAT(bad_ip.error(), HasSubstr("not-an-ip"));

  CertAndKey mismatched{ca->cert_pem, leaf->key_pem};
  spec.ip_addresses.clear();
  auto bad_issuer = IssueCertificate(spec, mismatched);
  ASSERT_FALSE(bad_issuer.ok());
  EXPECT_THAT(bad_issuer.error(), HasSubstr("does not match"));

  auto garbage = IssueCertificate(spec, CertAndKey{"garbage", "garbage"});
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(garbage.error(), HasSubstr("issuer: parsing certificate PEM"));

  spec.not_before = std::chrono::system_clock::now();
  spec.not_after = spec.not_before - std::chrono::hours(1);
  EXPECT_FALSE(IssueCertificate(spec, *ca).ok());
}

// Found by the pem fuzzer (seed encrypted_key): OpenSSL's default passphrase callback prompted on
// the terminal, so a kubeconfig with an encrypted client-key-data blocked the process. Here the
// would-be prompt is answered with the right passphrase on stdin: only a refusal to ask fails.
TEST(PkiTest, EncryptedKeysFailToLoadInsteadOfPrompting) {
  auto ca = MakeCa("unit-ca");
  ASSERT_TRUE(ca.ok()) << ca.error();
  CertificateSpec spec;
  spec.common_name = "client";
  spec.client_auth = true;
  auto leaf = IssueCertificate(spec, *ca);
  ASSERT_TRUE(leaf.ok()) << leaf.error();
  auto encrypt = [](const std::string& pem) {
    BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO_free(in);
    BIO* out = BIO_new(BIO_s_mem());
    char passphrase[] = "secret";
    PEM_write_bio_PKCS8PrivateKey(out, key, EVP_aes_256_cbc(), passphrase, 6, nullptr, nullptr);
    EVP_PKEY_free(key);
    char* data = nullptr;
    long len = BIO_get_mem_data(out, &data);
    std::string encrypted(data, static_cast<size_t>(len));
    BIO_free(out);
    return encrypted;
  };
  const std::string encrypted = encrypt(leaf->key_pem);
  const std::string encrypted_ca_key = encrypt(ca->key_pem);
  ASSERT_NE(encrypted.find("ENCRYPTED PRIVATE KEY"), std::string::npos);
  ASSERT_NE(encrypted_ca_key.find("ENCRYPTED PRIVATE KEY"), std::string::npos);

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "secret\nsecret\n", 14), 14);
  close(fds[1]);
  int saved_stdin = dup(0);
  dup2(fds[0], 0);
  close(fds[0]);
  TlsClientConfig config;
  config.insecure_skip_verify = true;
  config.cert_data = leaf->cert_pem;
  config.key_data = encrypted;
  auto ctx = MakeClientContext(config);
  auto issued = IssueCertificate(spec, CertAndKey{ca->cert_pem, encrypted_ca_key});
  dup2(saved_stdin, 0);
  close(saved_stdin);
  EXPECT_FALSE(ctx.ok());
  EXPECT_FALSE(issued.ok());
}

}  // namespace
}  // namespace net
