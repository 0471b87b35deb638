// The record protection of an established TLS 1.3 connection (RFC 8446 sections 5.2-5.4 and
// 7.1-7.3): application traffic keys derived from the traffic secrets, AEAD sealing and opening
// of records with per-direction sequence numbers, and key updates.
//
// OpenSSL does the handshake (certificate verification, key exchange); TlsSocket then carries an
// established connection (the scraper's to kubelets, the server's from its clients) on with
// this object instead of the SSL object, which is the
// largest part of what an idle connection costs: in OpenSSL 3.0 the SSL structure alone is
// 7.6 KiB, and with its cipher contexts, key share and certificate copies about 16 KiB per
// connection, against the ~200 bytes here. The AEAD itself is OpenSSL's (EVP).
//
// Thread-safety: none; one connection's object is used by one strand.
#pragma once

#include <boost/system/error_code.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace net {

// The TLS 1.3 cipher suites (RFC 8446 appendix B.4) this layer carries; a connection that
// negotiated another one keeps its SSL object.
enum class Tls13Suite { kAes128GcmSha256, kAes256GcmSha384, kChaCha20Poly1305Sha256 };

// The suite of an IANA cipher suite value (SSL_CIPHER_get_protocol_id), if carried here.
std::optional<Tls13Suite> Tls13SuiteOf(uint16_t protocol_id);

// The hash length of a suite: the length of its traffic secrets.
std::size_t Tls13SecretSize(Tls13Suite suite);

// HKDF-Expand-Label(secret, label, "", length) with the suite's hash (RFC 8446 section 7.1),
// for length <= the hash length. Exposed for tests (RFC 8448's traces).
bool Tls13ExpandLabel(Tls13Suite suite, std::span<const uint8_t> secret, std::string_view label,
                      std::span<uint8_t> out);

// OpenSSL's libssl `reason` (SSL_R_..., or SSL_AD_REASON_OFFSET + an alert) as an error in
// Asio's ssl category, with OpenSSL's message, as a failing SSL_read reports it.
boost::system::error_code SslReasonError(int reason);

// Errors are OpenSSL's reasons in Asio's ssl category (the same codes and messages a failing
// SSL_read gives), except for the peer's close_notify: asio::error::eof.
class Tls13Records {
 public:
  static constexpr std::size_t kHeaderSize = 5;
  static constexpr std::size_t kMaxPlaintext = 1 << 14;
  // Sealed records carry one content-type byte and a 16-byte tag; RFC 8446 allows 256 bytes of
  // expansion for records received.
  static constexpr std::size_t kTagSize = 16;
  static constexpr std::size_t kSealOverhead = 1 + kTagSize;
  static constexpr std::size_t kMaxCiphertext = kMaxPlaintext + 256;
  static constexpr uint8_t kApplicationData = 23;
  static constexpr uint8_t kHandshake = 22;
  static constexpr uint8_t kAlert = 21;

  // `write_secret` and `read_secret`: this side's and the peer's current application traffic
  // secrets, each Tls13SecretSize(suite) bytes; the sequence numbers of the next record sealed
  // and opened with them. Empty when a secret has the wrong size or OpenSSL cannot provide the
  // cipher.
  static std::optional<Tls13Records> Create(Tls13Suite suite, std::span<const uint8_t> write_secret,
                                            std::span<const uint8_t> read_secret,
                                            uint64_t write_sequence = 0,
                                            uint64_t read_sequence = 0);
  Tls13Records(Tls13Records&& other) noexcept;
  Tls13Records& operator=(Tls13Records&& other) noexcept;
  ~Tls13Records();  // the secrets and keys are cleansed

  // Seals `data` (at most kMaxPlaintext bytes) as one record of `type` into `out`, which must
  // hold kHeaderSize + data.size() + kSealOverhead bytes; returns the record's size. `data`
  // may be where the record's content goes (out + kHeaderSize), or not overlap `out` at all.
  boost::system::error_code Seal(uint8_t type, std::span<const uint8_t> data, uint8_t* out,
                                 std::size_t* size);
  // The same for content in several pieces (at most kMaxPlaintext bytes in all), encrypted
  // where they are: one record, no copy of them first.
  boost::system::error_code Seal(uint8_t type, std::span<const std::span<const uint8_t>> parts,
                                 uint8_t* out, std::size_t* size);

  // The size of the record starting at `bytes` (at least kHeaderSize of them): header included;
  // record_overflow when its length field exceeds kMaxCiphertext, unexpected_message when it is
  // not a protected record (every record after the handshake is).
  static boost::system::error_code RecordSize(std::span<const uint8_t> bytes, std::size_t* size);

  // Opens the complete record `record` (as sized by RecordSize) in place: its inner content
  // type and plaintext, which points into `record`.
  struct Opened {
    uint8_t type = 0;
    std::span<uint8_t> data;
  };
  boost::system::error_code Open(std::span<uint8_t> record, Opened* opened);
  // The same, decrypting into `out` instead: room for InnerSize(record) bytes, where the record's
  // content is or not overlapping `record`; `opened->data` then points into `out`. On an error
  // what `out` holds is unspecified.
  boost::system::error_code Open(std::span<uint8_t> record, uint8_t* out, Opened* opened);
  // The size of a record's inner plaintext (content, type and padding): its size less the
  // header and the tag. `record` is at least kHeaderSize + kTagSize bytes, as RecordSize allows.
  static std::size_t InnerSize(std::span<const uint8_t> record) {
    return record.size() - kHeaderSize - kTagSize;
  }

  // Key updates (RFC 8446 section 4.6.3): the next traffic secret, keys and sequence 0.
  bool UpdateWriteKeys();
  bool UpdateReadKeys();

  uint64_t write_sequence() const { return write_.sequence; }
  uint64_t read_sequence() const { return read_.sequence; }

 private:
  struct Direction {
    std::array<uint8_t, 48> secret{};
    std::array<uint8_t, 32> key{};
    std::array<uint8_t, 12> iv{};
    uint64_t sequence = 0;
  };
  explicit Tls13Records(Tls13Suite suite) : suite_(suite) {}
  bool Derive(Direction* d) const;
  bool Update(Direction* d) const;
  void Nonce(const Direction& d, uint8_t out[12]) const;

  Tls13Suite suite_;
  Direction write_;
  Direction read_;
};

}  // namespace net
