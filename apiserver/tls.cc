#include "apiserver/tls.h"

#include "net/tls_socket.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <openssl/x509v3.h>

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

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::vector<std::string> SplitOn(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

// What k8s.io/apiserver serves a certificate for when no names are given with it: the
// CommonName if it is a DNS name (not an IP), then the DNS and IP SANs.
std::vector<std::string> CertificateNames(X509* cert) {
  std::vector<std::string> names;
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) {
    std::string name = Lower(cn);
    boost::system::error_code not_ip;
    boost::asio::ip::make_address(name, not_ip);
    const std::string host = name.rfind("*.", 0) == 0 ? name.substr(2) : name;
    const bool dns_like =
        name == "*" ||
        (!host.empty() &&
         host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") == std::string::npos);
    if (not_ip && dns_like) names.push_back(name);
  }
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
    if (n->type == GEN_DNS) {
      const auto* s = n->d.dNSName;
      names.push_back(Lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                        static_cast<size_t>(ASN1_STRING_length(s)))));
    } else if (n->type == GEN_IPADD) {
      const auto* s = n->d.iPAddress;
      const unsigned char* b = ASN1_STRING_get0_data(s);
      if (ASN1_STRING_length(s) == 4) {
        boost::asio::ip::address_v4::bytes_type bytes;
        std::copy(b, b + 4, bytes.begin());
        names.push_back(boost::asio::ip::address_v4(bytes).to_string());
      } else if (ASN1_STRING_length(s) == 16) {
        boost::asio::ip::address_v6::bytes_type bytes;
        std::copy(b, b + 16, bytes.begin());
        names.push_back(boost::asio::ip::address_v6(bytes).to_string());
      }
    }
  }
  GENERAL_NAMES_free(sans);
  return names;
}

// The default context plus the --tls-sni-cert-key contexts and the name → context table its
// servername callback reads. Handed out as an aliasing shared_ptr to `main`, so a connection's
// context keeps the whole table alive.
struct ContextBundle {
  ssl::context main{ssl::context::tls_server};
  std::vector<std::unique_ptr<ssl::context>> sni;
  std::map<std::string, SSL_CTX*> by_name;  // lower-case name or IP → one of sni
};

// Chooses the certificate by the requested server name, or, without one, by the local address
// the client connected to; exact names before wildcards ("*.foo.com", then "*.*.com", ...).
int SelectSniCertificate(SSL* ssl, int*, void* arg) {
  const auto& by_name = static_cast<const ContextBundle*>(arg)->by_name;
  std::string name;
  if (const char* sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
    name = Lower(sn);
  } else if (const std::string* local = LocalAddressOf(ssl)) {
    name = *local;
  }
  if (name.empty()) return SSL_TLSEXT_ERR_OK;
  auto it = by_name.find(name);
  if (it == by_name.end()) {
    std::vector<std::string> labels = SplitOn(name, '.');
    for (size_t i = 0; i < labels.size() && it == by_name.end(); ++i) {
      labels[i] = "*";
      std::string candidate;
      for (const auto& l : labels) candidate += (candidate.empty() ? "" : ".") + l;
      it = by_name.find(candidate);
    }
  }
  if (it != by_name.end()) SSL_set_SSL_CTX(ssl, it->second);
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

base::Result<SniCertKey> ParseSniCertKey(const std::string& value) {
  SniCertKey out;
  std::string pair = value;
  if (auto colon = value.find(':'); colon != std::string::npos) {
    pair = value.substr(0, colon);
    for (auto& n : SplitOn(value.substr(colon + 1), ',')) {
      if (!n.empty()) out.names.push_back(Lower(n));
    }
  }
  auto files = SplitOn(pair, ',');
  if (files.size() != 2 || files[0].empty() || files[1].empty()) {
    return base::MakeError("--tls-sni-cert-key \"" + value +
                           "\": expected \"cert,key\" or \"cert,key:name,...\"");
  }
  out.cert_file = files[0];
  out.key_file = files[1];
  return out;
}

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
  for (const auto& value : o.sni_cert_keys) {
    if (auto sni = ParseSniCertKey(value); !sni.ok()) errors.push_back(sni.error());
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
  for (const auto& value : c->options_.sni_cert_keys) c->sni_.push_back(*ParseSniCertKey(value));
  base::MutexLock lock(c->mu_);
  c->stamp_ = c->FilesStamp();
  auto ctx = c->Build();
  if (!ctx.ok()) return base::MakeError(ctx.error());
  c->current_ = *ctx;
  c->next_check_ = clock.Steady() + c->options_.reload_check_interval;
  return c;
}

std::string ServingCertificates::FilesStamp() const {
  std::string stamp = FileStamp(options_.cert_file) + FileStamp(options_.key_file);
  for (const auto& sni : sni_) stamp += FileStamp(sni.cert_file) + FileStamp(sni.key_file);
  return stamp;
}

base::Status ServingCertificates::Configure(ssl::context& ctx, const std::string& cert_file,
                                            const std::string& key_file) const {
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_default_passwd_cb(native, net::NoPassphrase);  // --tls-private-key-file
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_min_proto_version(
      native, options_.min_version == "VersionTLS13" ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(native, cipher_list_.c_str()) != 1) {
    return base::Status::Error("tls: cipher list: " + net::OpenSslError("rejected"));
  }
  if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1) {
    return base::Status::Error("tls: load " + cert_file + ": " +
                               net::OpenSslError("cannot load certificate"));
  }
  if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return base::Status::Error("tls: load " + key_file + ": " +
                               net::OpenSslError("cannot load private key"));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return base::Status::Error("tls: " + key_file + " does not match " + cert_file);
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
  // TLS 1.3 connections are handed over to net::Tls13Records after the handshake (see
  // net/tls_socket.h), which needs the traffic secrets and a server that sends no session
  // tickets (OpenSSL does not say how many records they took). Clients of this server (the
  // kube-apiserver's proxy, client-go) keep no TLS session cache, so tickets went unused;
  // TLS 1.2 clients still resume by session ID. OpenSSL's buffers are freed while a connection
  // that keeps its SSL object is idle.
  SSL_CTX_set_num_tickets(native, 0);
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  net::EnableRecordLayerHandover(native);
  static const unsigned char kContext[] = "cpp-metrics-server";
  SSL_CTX_set_session_id_context(native, kContext, sizeof kContext - 1);
  return base::Status::Ok();
}

base::Result<std::shared_ptr<ssl::context>> ServingCertificates::Build() const {
  auto bundle = std::make_shared<ContextBundle>();
  if (auto s = Configure(bundle->main, options_.cert_file, options_.key_file); !s.ok()) {
    return base::MakeError(s.message());
  }
  if (!sni_.empty()) {
    // As k8s.io/apiserver: names taken from the certificates first, then the explicit ones
    // over them; within each kind, the earlier flag wins.
    std::vector<SSL_CTX*> natives;
    for (const auto& sni : sni_) {
      auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
      if (auto s = Configure(*ctx, sni.cert_file, sni.key_file); !s.ok()) {
        return base::MakeError("--tls-sni-cert-key: " + s.message());
      }
      natives.push_back(ctx->native_handle());
      bundle->sni.push_back(std::move(ctx));
    }
    for (size_t i = sni_.size(); i-- > 0;) {
      if (!sni_[i].names.empty()) continue;
      for (auto& n : CertificateNames(SSL_CTX_get0_certificate(natives[i]))) {
        bundle->by_name[n] = natives[i];
      }
    }
    for (size_t i = sni_.size(); i-- > 0;) {
      for (const auto& n : sni_[i].names) bundle->by_name[n] = natives[i];
    }
    SSL_CTX_set_tlsext_servername_callback(bundle->main.native_handle(), SelectSniCertificate);
    SSL_CTX_set_tlsext_servername_arg(bundle->main.native_handle(), bundle.get());
  }
  return std::shared_ptr<ssl::context>(bundle, &bundle->main);
}

std::shared_ptr<ssl::context> ServingCertificates::Current() {
  base::MutexLock lock(mu_);
  auto now = clock_.Steady();
  if (now >= next_check_) {
    next_check_ = now + options_.reload_check_interval;
    std::string stamp = FilesStamp();
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
  base::MutexLock lock(mu_);
  if (ca_pems == client_ca_pems_) return;
  client_ca_pems_ = std::move(ca_pems);
  auto ctx = Build();
  if (ctx.ok()) current_ = *ctx;
}

base::Status ServingCertificates::Reload() {
  base::MutexLock lock(mu_);
  auto ctx = Build();
  if (!ctx.ok()) return base::Status::Error(ctx.error());
  current_ = *ctx;
  stamp_ = FilesStamp();
  return base::Status::Ok();
}

}  // namespace apiserver
