#include "apiserver/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>

#include "net/pki.h"

namespace apiserver {
namespace {

namespace ssl = boost::asio::ssl;

const std::map<std::string, std::string>& CipherNames() {
  static const std::map<std::string, std::string> kNames = {
      {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
      {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
      {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
      // TLS 1.3 suites are not configurable (as in Go); accepted and ignored.
      {"TLS_AES_128_GCM_SHA256", ""},
      {"TLS_AES_256_GCM_SHA384", ""},
      {"TLS_CHACHA20_POLY1305_SHA256", ""},
  };
  return kNames;
}

constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

base::Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::MakeError("read " + path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

base::Status WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return base::Status::Error("write " + tmp + ": cannot open");
    out << data;
    if (!out) return base::Status::Error("write " + tmp + ": failed");
  }
  chmod(tmp.c_str(), mode);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return base::Status::Error("rename " + tmp + ": " + ec.message());
  return base::Status::Ok();
}

}  // namespace

std::string FileStamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "missing";
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "/" +
         std::to_string(st.st_size) + "/" + std::to_string(st.st_ino);
}

base::Result<std::string> OpenSslCipherList(const std::vector<std::string>& go_names) {
  if (go_names.empty()) return std::string(kDefaultCiphers);
  std::string out;
  for (const auto& name : go_names) {
    auto it = CipherNames().find(name);
    if (it == CipherNames().end()) {
      return base::MakeError("--tls-cipher-suites: unknown cipher suite \"" + name + "\"");
    }
    if (it->second.empty()) continue;
    if (!out.empty()) out.push_back(':');
    out += it->second;
  }
  if (out.empty()) out = kDefaultCiphers;
  return out;
}

std::vector<std::string> ValidateTlsServingOptions(const TlsServingOptions& o) {
  std::vector<std::string> errors;
  if (o.min_version != "VersionTLS12" && o.min_version != "VersionTLS13") {
    errors.push_back("--tls-min-version: \"" + o.min_version +
                     "\" is not supported (use VersionTLS12 or VersionTLS13)");
  }
  if (auto c = OpenSslCipherList(o.cipher_suites); !c.ok()) errors.push_back(c.error());
  if (o.cert_file.empty() != o.key_file.empty()) {
    errors.push_back("--tls-cert-file and --tls-private-key-file must be given together");
  }
  if (o.cert_file.empty() && o.cert_dir.empty()) {
    errors.push_back("--cert-dir must be set when no --tls-cert-file is given");
  }
  return errors;
}

base::Result<std::pair<std::string, std::string>> EnsureSelfSignedCertificate(
    const std::string& cert_dir, const std::vector<std::string>& extra_names) {
  const std::string cert_path = cert_dir + "/apiserver.crt";
  const std::string key_path = cert_dir + "/apiserver.key";
  {
    auto cert = ReadFile(cert_path);
    auto key = ReadFile(key_path);
    if (cert.ok() && key.ok() && !cert->empty() && !key->empty()) {
      return std::make_pair(cert_path, key_path);
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(cert_dir, ec);
  if (ec) return base::MakeError("--cert-dir " + cert_dir + ": " + ec.message());
  const std::string stamp = std::to_string(std::time(nullptr));
  auto ca = net::MakeCa("localhost-ca@" + stamp);
  if (!ca.ok()) return base::MakeError("self-signed CA: " + ca.error());
  net::CertificateSpec spec;
  spec.common_name = "localhost@" + stamp;
  spec.dns_names = {"localhost"};
  spec.ip_addresses = {"127.0.0.1"};
  for (const auto& n : extra_names) {
    boost::system::error_code bad;
    boost::asio::ip::make_address(n, bad);
    (bad ? spec.dns_names : spec.ip_addresses).push_back(n);
  }
  spec.server_auth = true;
  auto serving = net::IssueCertificate(spec, *ca);
  if (!serving.ok()) return base::MakeError("self-signed certificate: " + serving.error());
  // The bundle lists the serving certificate then its CA, as client-go's cert util writes it.
  if (auto s = WriteFile(cert_path, serving->cert_pem + ca->cert_pem, 0644); !s.ok()) {
    return base::MakeError(s.message());
  }
  if (auto s = WriteFile(key_path, serving->key_pem, 0600); !s.ok()) {
    return base::MakeError(s.message());
  }
  spdlog::info("generated self-signed serving certificate {} (CN localhost@{})", cert_path, stamp);
  return std::make_pair(cert_path, key_path);
}

ServingCertificates::ServingCertificates(TlsServingOptions options, const base::Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

base::Result<std::unique_ptr<ServingCertificates>> ServingCertificates::Create(
    TlsServingOptions options, const base::Clock& clock) {
  auto errors = ValidateTlsServingOptions(options);
  if (!errors.empty()) return base::MakeError(errors.front());
  if (options.cert_file.empty()) {
    auto files = EnsureSelfSignedCertificate(options.cert_dir, {});
    if (!files.ok()) return base::MakeError(files.error());
    options.cert_file = files->first;
    options.key_file = files->second;
  }
  std::unique_ptr<ServingCertificates> c(new ServingCertificates(std::move(options), clock));
  c->cipher_list_ = *OpenSslCipherList(c->options_.cipher_suites);
  std::lock_guard<std::mutex> lock(c->mu_);
  c->stamp_ = FileStamp(c->options_.cert_file) + FileStamp(c->options_.key_file);
  auto ctx = c->Build();
  if (!ctx.ok()) return base::MakeError(ctx.error());
  c->current_ = *ctx;
  c->next_check_ = clock.Steady() + c->options_.reload_check_interval;
  return c;
}

base::Result<std::shared_ptr<ssl::context>> ServingCertificates::Build() const {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_default_passwd_cb(native, net::NoPassphrase);  // --tls-private-key-file
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_min_proto_version(
      native, options_.min_version == "VersionTLS13" ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(native, cipher_list_.c_str()) != 1) {
    return base::MakeError("tls: cipher list: " + net::OpenSslError("rejected"));
  }
  if (SSL_CTX_use_certificate_chain_file(native, options_.cert_file.c_str()) != 1) {
    return base::MakeError("tls: load " + options_.cert_file + ": " +
                           net::OpenSslError("cannot load certificate"));
  }
  if (SSL_CTX_use_PrivateKey_file(native, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return base::MakeError("tls: load " + options_.key_file + ": " +
                           net::OpenSslError("cannot load private key"));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return base::MakeError("tls: " + options_.key_file + " does not match " + options_.cert_file);
  }
  // Advertise the CAs we accept client certificates from (authentication verifies them).
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  for (const auto& pem : client_ca_pems_) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(cert)));
      X509_free(cert);
    }
    ERR_clear_error();
    BIO_free(bio);
  }
  SSL_CTX_set_client_CA_list(native, names);
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  static const unsigned char kContext[] = "cpp-metrics-server";
  SSL_CTX_set_session_id_context(native, kContext, sizeof kContext - 1);
  return ctx;
}

std::shared_ptr<ssl::context> ServingCertificates::Current() {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = clock_.Steady();
  if (now >= next_check_) {
    next_check_ = now + options_.reload_check_interval;
    std::string stamp = FileStamp(options_.cert_file) + FileStamp(options_.key_file);
    if (stamp != stamp_) {
      auto ctx = Build();
      if (ctx.ok()) {
        current_ = *ctx;
        stamp_ = stamp;
        spdlog::info("reloaded serving certificate {}", options_.cert_file);
      } else {
        spdlog::warn("serving certificate not reloaded: {}", ctx.error());
      }
    }
  }
  return current_;
}

void ServingCertificates::SetClientCas(std::vector<std::string> ca_pems) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ca_pems == client_ca_pems_) return;
  client_ca_pems_ = std::move(ca_pems);
  auto ctx = Build();
  if (ctx.ok()) current_ = *ctx;
}

base::Status ServingCertificates::Reload() {
  std::lock_guard<std::mutex> lock(mu_);
  auto ctx = Build();
  if (!ctx.ok()) return base::Status::Error(ctx.error());
  current_ = *ctx;
  stamp_ = FileStamp(options_.cert_file) + FileStamp(options_.key_file);
  return base::Status::Ok();
}

}  // namespace apiserver
