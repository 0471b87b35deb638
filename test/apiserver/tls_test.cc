#include "apiserver/tls.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace apiserver {
namespace {

TEST(TlsOptionsTest, SniCertKeyValues) {
  auto plain = ParseSniCertKey("a.crt,a.key");
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_EQ(plain->cert_file, "a.crt");
  EXPECT_EQ(plain->key_file, "a.key");
  EXPECT_TRUE(plain->names.empty());
  auto named = ParseSniCertKey("foo.crt,foo.key:*.Foo.com,foo.com");
  ASSERT_TRUE(named.ok()) << named.error();
  EXPECT_EQ(named->names, (std::vector<std::string>{"*.foo.com", "foo.com"}));
  EXPECT_FALSE(ParseSniCertKey("only.crt").ok());
  EXPECT_FALSE(ParseSniCertKey("a,b,c").ok());
  EXPECT_FALSE(ParseSniCertKey(",a.key").ok());
  TlsServingOptions o;
  o.sni_cert_keys = {"bad"};
  EXPECT_EQ(ValidateTlsServingOptions(o).size(), 1u);
}

TEST(TlsOptionsTest, Validation) {
  TlsServingOptions o;
  o.min_version = "VersionTLS10";
  o.cipher_suites = {"TLS_RSA_WITH_RC4_128_SHA"};
  o.cert_file = "x";
  auto errors = ValidateTlsServingOptions(o);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("--tls-min-version"), std::string::npos);
  EXPECT_NE(errors[1].find("TLS_RSA_WITH_RC4_128_SHA"), std::string::npos);
  EXPECT_EQ(*OpenSslCipherList({"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"}),
            "ECDHE-RSA-AES128-GCM-SHA256");
}

}  // namespace
}  // namespace apiserver
