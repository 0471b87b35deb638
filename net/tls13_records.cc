#include "net/tls13_records.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include <cstring>
#include <memory>
#include <string_view>

namespace net {

namespace {

struct CipherFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherFree>;

// Fetched once: an implicit fetch by name at every record would cost a lookup each time.
const EVP_CIPHER* CipherOf(Tls13Suite suite) {
  static const EVP_CIPHER* const aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static const EVP_CIPHER* const aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static const EVP_CIPHER* const chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  switch (suite) {
    case Tls13Suite::kAes128GcmSha256:
      return aes128;
    case Tls13Suite::kAes256GcmSha384:
      return aes256;
    case Tls13Suite::kChaCha20Poly1305Sha256:
      return chacha;
  }
  return nullptr;
}

const EVP_MD* HashOf(Tls13Suite suite) {
  return suite == Tls13Suite::kAes256GcmSha384 ? EVP_sha384() : EVP_sha256();
}

std::size_t KeySize(Tls13Suite suite) { return suite == Tls13Suite::kAes128GcmSha256 ? 16 : 32; }

}  // namespace

boost::system::error_code SslReasonError(int reason) {
  // The messages are OpenSSL's reason strings, loaded with libssl's initialization.
  static const bool loaded = OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS, nullptr) == 1;
  (void)loaded;
  return boost::system::error_code(static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, reason)),
                                   boost::asio::error::get_ssl_category());
}

std::optional<Tls13Suite> Tls13SuiteOf(uint16_t protocol_id) {
  switch (protocol_id) {
    case 0x1301:
      return Tls13Suite::kAes128GcmSha256;
    case 0x1302:
      return Tls13Suite::kAes256GcmSha384;
    case 0x1303:
      return Tls13Suite::kChaCha20Poly1305Sha256;
    default:
      return std::nullopt;
  }
}

std::size_t Tls13SecretSize(Tls13Suite suite) {
  return suite == Tls13Suite::kAes256GcmSha384 ? 48 : 32;
}

bool Tls13ExpandLabel(Tls13Suite suite, std::span<const uint8_t> secret, std::string_view label,
                      std::span<uint8_t> out) {
  // HkdfLabel: uint16 length, opaque label<7..255> = "tls13 " + label, opaque context<0..255>.
  constexpr std::string_view kPrefix = "tls13 ";
  const std::size_t hash_size = Tls13SecretSize(suite);
  if (out.size() > hash_size || kPrefix.size() + label.size() > 255) return false;
  uint8_t info[2 + 1 + 255 + 1 + 1];
  std::size_t n = 0;
  info[n++] = static_cast<uint8_t>(out.size() >> 8);
  info[n++] = static_cast<uint8_t>(out.size());
  info[n++] = static_cast<uint8_t>(kPrefix.size() + label.size());
  std::memcpy(info + n, kPrefix.data(), kPrefix.size());
  n += kPrefix.size();
  std::memcpy(info + n, label.data(), label.size());
  n += label.size();
  info[n++] = 0;  // empty context
  // HKDF-Expand for one block: T(1) = HMAC(secret, info || 0x01).
  info[n++] = 1;
  uint8_t block[EVP_MAX_MD_SIZE];
  unsigned int block_size = 0;
  if (HMAC(HashOf(suite), secret.data(), static_cast<int>(secret.size()), info, n, block,
           &block_size) == nullptr ||
      block_size != hash_size) {
    return false;
  }
  std::memcpy(out.data(), block, out.size());
  OPENSSL_cleanse(block, sizeof block);
  return true;
}

std::optional<Tls13Records> Tls13Records::Create(Tls13Suite suite,
                                                 std::span<const uint8_t> write_secret,
                                                 std::span<const uint8_t> read_secret,
                                                 uint64_t write_sequence, uint64_t read_sequence) {
  const std::size_t size = Tls13SecretSize(suite);
  if (write_secret.size() != size || read_secret.size() != size || CipherOf(suite) == nullptr)
    return std::nullopt;
  Tls13Records records(suite);
  std::memcpy(records.write_.secret.data(), write_secret.data(), size);
  std::memcpy(records.read_.secret.data(), read_secret.data(), size);
  if (!records.Derive(&records.write_) || !records.Derive(&records.read_)) return std::nullopt;
  records.write_.sequence = write_sequence;
  records.read_.sequence = read_sequence;
  return records;
}

Tls13Records::Tls13Records(Tls13Records&& other) noexcept
    : suite_(other.suite_), write_(other.write_), read_(other.read_) {
  OPENSSL_cleanse(&other.write_, sizeof other.write_);
  OPENSSL_cleanse(&other.read_, sizeof other.read_);
}

Tls13Records& Tls13Records::operator=(Tls13Records&& other) noexcept {
  if (this != &other) {
    suite_ = other.suite_;
    write_ = other.write_;
    read_ = other.read_;
    OPENSSL_cleanse(&other.write_, sizeof other.write_);
    OPENSSL_cleanse(&other.read_, sizeof other.read_);
  }
  return *this;
}

Tls13Records::~Tls13Records() {
  OPENSSL_cleanse(&write_, sizeof write_);
  OPENSSL_cleanse(&read_, sizeof read_);
}

bool Tls13Records::Derive(Direction* d) const {
  std::span<const uint8_t> secret(d->secret.data(), Tls13SecretSize(suite_));
  d->sequence = 0;
  return Tls13ExpandLabel(suite_, secret, "key", std::span(d->key.data(), KeySize(suite_))) &&
         Tls13ExpandLabel(suite_, secret, "iv", d->iv);
}

bool Tls13Records::Update(Direction* d) const {
  const std::size_t size = Tls13SecretSize(suite_);
  std::array<uint8_t, 48> next{};
  if (!Tls13ExpandLabel(suite_, std::span(d->secret.data(), size), "traffic upd",
                        std::span(next.data(), size))) {
    return false;
  }
  d->secret = next;
  OPENSSL_cleanse(next.data(), next.size());
  return Derive(d);
}

bool Tls13Records::UpdateWriteKeys() { return Update(&write_); }
bool Tls13Records::UpdateReadKeys() { return Update(&read_); }

// The per-record nonce: the IV XORed with the 64-bit sequence number, left-padded to 12 bytes
// (RFC 8446 section 5.3).
void Tls13Records::Nonce(const Direction& d, uint8_t out[12]) const {
  std::memcpy(out, d.iv.data(), 12);
  for (int i = 0; i < 8; ++i) out[11 - i] ^= static_cast<uint8_t>(d.sequence >> (8 * i));
}

boost::system::error_code Tls13Records::Seal(uint8_t type, std::span<const uint8_t> data,
                                             uint8_t* out, std::size_t* size) {
  const std::span<const uint8_t> parts[1] = {data};
  return Seal(type, parts, out, size);
}

boost::system::error_code Tls13Records::Seal(uint8_t type,
                                             std::span<const std::span<const uint8_t>> parts,
                                             uint8_t* out, std::size_t* size) {
  std::size_t data_size = 0;
  for (std::span<const uint8_t> p : parts) data_size += p.size();
  if (data_size > kMaxPlaintext) return SslReasonError(SSL_R_DATA_LENGTH_TOO_LONG);
  if (write_.sequence == UINT64_MAX) return SslReasonError(SSL_R_BAD_KEY_UPDATE);
  const std::size_t inner = data_size + 1;
  const std::size_t length = inner + kTagSize;
  uint8_t* header = out;
  header[0] = kApplicationData;  // opaque_type
  header[1] = 0x03;              // legacy_record_version 0x0303
  header[2] = 0x03;
  header[3] = static_cast<uint8_t>(length >> 8);
  header[4] = static_cast<uint8_t>(length);
  uint8_t* body = out + kHeaderSize;

  uint8_t nonce[12];
  Nonce(write_, nonce);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  bool ok =
      ctx &&
      EVP_EncryptInit_ex2(ctx.get(), CipherOf(suite_), write_.key.data(), nonce, nullptr) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, header, kHeaderSize) == 1;
  // TLSInnerPlaintext: the content, its type, no padding; encrypted from where the parts are
  // (GCM and ChaCha20-Poly1305 take it in pieces) straight into the record.
  uint8_t* at = body;
  for (std::span<const uint8_t> p : parts) {
    if (!ok || p.empty()) continue;
    ok = EVP_EncryptUpdate(ctx.get(), at, &n, p.data(), static_cast<int>(p.size())) == 1;
    at += n;
  }
  ok = ok && EVP_EncryptUpdate(ctx.get(), at, &n, &type, 1) == 1;
  at += ok ? n : 0;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), at, &n) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kTagSize, body + inner) == 1;
  if (!ok) {
    ERR_clear_error();
    return SslReasonError(ERR_R_INTERNAL_ERROR);
  }
  ++write_.sequence;
  *size = kHeaderSize + length;
  return {};
}

boost::system::error_code Tls13Records::RecordSize(std::span<const uint8_t> bytes,
                                                   std::size_t* size) {
  if (bytes.size() < kHeaderSize) return SslReasonError(SSL_R_BAD_LENGTH);
  // After the handshake every record is protected (opaque_type application_data); a plaintext
  // alert or change_cipher_spec here is a protocol violation.
  if (bytes[0] != kApplicationData) return SslReasonError(SSL_R_UNEXPECTED_RECORD);
  const std::size_t length = (std::size_t{bytes[3]} << 8) | bytes[4];
  if (length > kMaxCiphertext) return SslReasonError(SSL_R_ENCRYPTED_LENGTH_TOO_LONG);
  if (length < 1 + kTagSize) return SslReasonError(SSL_R_BAD_LENGTH);
  *size = kHeaderSize + length;
  return {};
}

boost::system::error_code Tls13Records::Open(std::span<uint8_t> record, Opened* opened) {
  return Open(record, record.data() + kHeaderSize, opened);
}

boost::system::error_code Tls13Records::Open(std::span<uint8_t> record, uint8_t* out,
                                             Opened* opened) {
  std::size_t size = 0;
  if (auto ec = RecordSize(record, &size)) return ec;
  if (size != record.size()) return SslReasonError(SSL_R_BAD_LENGTH);
  if (read_.sequence == UINT64_MAX) return SslReasonError(SSL_R_BAD_KEY_UPDATE);
  const uint8_t* body = record.data() + kHeaderSize;
  const std::size_t inner = InnerSize(record);

  uint8_t nonce[12];
  Nonce(read_, nonce);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  if (!ctx ||
      EVP_DecryptInit_ex2(ctx.get(), CipherOf(suite_), read_.key.data(), nonce, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kTagSize,
                          const_cast<uint8_t*>(body + inner)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, record.data(), kHeaderSize) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out, &n, body, static_cast<int>(inner)) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out + n, &n) != 1) {
    ERR_clear_error();
    return SslReasonError(SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC);
  }
  ++read_.sequence;
  // TLSInnerPlaintext: content, then the type, then zero padding.
  std::size_t end = inner;
  while (end > 0 && out[end - 1] == 0) --end;
  if (end == 0) return SslReasonError(SSL_R_BAD_RECORD_TYPE);
  const uint8_t type = out[end - 1];
  const std::size_t content = end - 1;
  if (content > kMaxPlaintext) return SslReasonError(SSL_R_DATA_LENGTH_TOO_LONG);
  opened->type = type;
  opened->data = std::span(out, content);
  return {};
}

}  // namespace net
