#include "net/tls_socket.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

namespace net {

namespace asio = boost::asio;

namespace {

using State = TlsSocket::State;

// Two records' worth: a response of several records is read with fewer system calls.
constexpr std::size_t kInCapacity = 2 * (Tls13Records::kHeaderSize + Tls13Records::kMaxCiphertext);
// Post-handshake messages are a session ticket or a key update; nothing legitimate is larger.
constexpr std::size_t kMaxHandshakeMessage = 1 << 16;
// The plaintext a handed-over connection seals for one send: 16 records.
constexpr std::size_t kWriteBatch = 16 * Tls13Records::kMaxPlaintext;
// The pieces one record is sealed from (several small buffers make one record).
constexpr std::size_t kMaxRecordParts = 16;

boost::system::error_code Errno() {
  return boost::system::error_code(errno, boost::system::system_category());
}

// A socket BIO that writes with MSG_NOSIGNAL: OpenSSL's own uses write(), which raises SIGPIPE
// (killing the process by default) when the peer has already closed the connection. It also
// counts the records that pass while a handover is prepared.
State* StateOf(BIO* bio) { return static_cast<State*>(BIO_get_data(bio)); }

int NoSignalWrite(BIO* bio, const char* data, int len) {
  State* state = StateOf(bio);
  errno = 0;
  ssize_t n =
      ::send(state->socket.native_handle(), data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(bio);
  if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n))) BIO_set_retry_write(bio);
  if (n > 0 && state->count_records)
    state->write_records.Add(reinterpret_cast<const uint8_t*>(data), static_cast<std::size_t>(n));
  return static_cast<int>(n);
}

int NoSignalRead(BIO* bio, char* data, int len) {
  State* state = StateOf(bio);
  errno = 0;
  ssize_t n = ::recv(state->socket.native_handle(), data, static_cast<std::size_t>(len), 0);
  BIO_clear_retry_flags(bio);
  if (n < 0 && BIO_sock_should_retry(static_cast<int>(n))) BIO_set_retry_read(bio);
  if (n > 0 && state->count_records)
    state->read_records.Add(reinterpret_cast<const uint8_t*>(data), static_cast<std::size_t>(n));
  return static_cast<int>(n);
}

long NoSignalCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

const BIO_METHOD* NoSignalSocketMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "socket-nosigpipe");
    if (m == nullptr) return static_cast<BIO_METHOD*>(nullptr);
    BIO_meth_set_write(m, NoSignalWrite);
    BIO_meth_set_read(m, NoSignalRead);
    BIO_meth_set_ctrl(m, NoSignalCtrl);
    return m;
  }();
  return method;
}

int StateIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

void Cleanse(std::vector<uint8_t>* v) {
  if (!v->empty()) OPENSSL_cleanse(v->data(), v->size());
  v->clear();
  v->shrink_to_fit();
}

// The key log line "<LABEL> <client random hex> <secret hex>" for the two application traffic
// secrets of a connection preparing its handover; the others are not needed.
void KeyLog(const SSL* ssl, const char* line) {
  auto* state = static_cast<State*>(SSL_get_ex_data(ssl, StateIndex()));
  if (state == nullptr || !state->count_records) return;
  std::string_view text(line);
  std::vector<uint8_t>* secret = nullptr;
  if (text.starts_with("CLIENT_TRAFFIC_SECRET_0 "))
    secret = &state->client_secret;
  else if (text.starts_with("SERVER_TRAFFIC_SECRET_0 "))
    secret = &state->server_secret;
  else
    return;
  // The secret's hex digits run to the end of the line (no copy of them is made).
  const char* hex = line + text.rfind(' ') + 1;
  const std::size_t digits = text.size() - static_cast<std::size_t>(hex - line);
  Cleanse(secret);
  secret->resize(digits / 2);
  std::size_t size = 0;
  if (digits > 2 * 64 ||
      OPENSSL_hexstr2buf_ex(secret->data(), secret->size(), &size, hex, '\0') != 1 ||
      size != secret->size()) {
    Cleanse(secret);
  }
}

}  // namespace

void EnableRecordLayerHandover(SSL_CTX* ctx) { SSL_CTX_set_keylog_callback(ctx, KeyLog); }

TlsSession TlsSession::Keep(SSL_SESSION* session) {
  TlsSession out;
  if (session != nullptr && SSL_SESSION_is_resumable(session) == 1 &&
      SSL_SESSION_up_ref(session) == 1) {
    out.parsed_ = session;
  }
  return out;
}

TlsSession TlsSession::Encode(const SSL_SESSION* session) {
  TlsSession out;
  if (session == nullptr || SSL_SESSION_is_resumable(session) != 1) return out;
  const int size = i2d_SSL_SESSION(session, nullptr);
  if (size <= 0) return out;
  out.der_.resize(static_cast<std::size_t>(size));
  unsigned char* p = out.der_.data();
  if (i2d_SSL_SESSION(session, &p) != size) out.Clear();
  return out;
}

TlsSession::TlsSession(TlsSession&& other) noexcept
    : parsed_(std::exchange(other.parsed_, nullptr)), der_(std::move(other.der_)) {
  other.der_.clear();
}

TlsSession& TlsSession::operator=(TlsSession&& other) noexcept {
  if (this != &other) {
    Clear();
    parsed_ = std::exchange(other.parsed_, nullptr);
    der_ = std::move(other.der_);
    other.der_.clear();
  }
  return *this;
}

bool TlsSession::ApplyTo(SSL* ssl) const {
  if (parsed_ != nullptr) return SSL_set_session(ssl, parsed_) == 1;
  if (der_.empty()) return false;
  const unsigned char* p = der_.data();
  SSL_SESSION* session = d2i_SSL_SESSION(nullptr, &p, static_cast<long>(der_.size()));
  if (session == nullptr) {
    ERR_clear_error();
    return false;
  }
  const bool set = SSL_set_session(ssl, session) == 1;
  SSL_SESSION_free(session);
  return set;
}

void TlsSession::Clear() {
  if (parsed_ != nullptr) SSL_SESSION_free(parsed_);
  parsed_ = nullptr;
  Cleanse(&der_);
}

void TlsSocket::RecordCounter::Add(const uint8_t* bytes, std::size_t n) {
  while (n > 0) {
    if (body_left > 0) {
      std::size_t take = std::min(body_left, n);
      body_left -= take;
      bytes += take;
      n -= take;
      if (body_left == 0) ++records;
      continue;
    }
    std::size_t take = std::min(sizeof header - header_size, n);
    std::memcpy(header + header_size, bytes, take);
    header_size += take;
    bytes += take;
    n -= take;
    if (header_size == sizeof header) {
      header_size = 0;
      body_left = (std::size_t{header[3]} << 8) | header[4];
      if (body_left == 0) ++records;
    }
  }
}

TlsSocket::State::~State() {
  Cleanse(&client_secret);
  Cleanse(&server_secret);
  if (ssl == nullptr) return;
  // Connections end by closing the socket, without close_notify. Unless told the shutdown was
  // orderly, SSL_free marks the session non-resumable, which would defeat resumption.
  // Sessions of connections that failed with a TLS alert were already invalidated by OpenSSL.
  SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl);
}

void TlsSocket::State::PrepareHandover() {
  if (SSL_CTX_get_keylog_callback(SSL_get_SSL_CTX(ssl)) != KeyLog) return;
  if (SSL_set_ex_data(ssl, StateIndex(), this) != 1) return;
  // With read-ahead, OpenSSL could read the records after the server's Finished into its
  // buffer during the handshake, and their count would be unknown.
  SSL_set_read_ahead(ssl, 0);
  count_records = true;
}

void TlsSocket::State::KeepSsl() {
  count_records = false;
  SSL_set_read_ahead(ssl, SSL_CTX_get_read_ahead(SSL_get_SSL_CTX(ssl)));
  Cleanse(&client_secret);
  Cleanse(&server_secret);
}

void TlsSocket::State::HandshakeDone() {
  if (!count_records) return;
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  if (cipher != nullptr) suite = Tls13SuiteOf(SSL_CIPHER_get_protocol_id(cipher));
  // A server's session tickets went out with the application keys before SSL_accept returned,
  // in a number OpenSSL does not report: the write sequence would be unknown.
  if (SSL_version(ssl) != TLS1_3_VERSION || !suite || !read_records.at_boundary() ||
      !write_records.at_boundary() || (server && SSL_get_num_tickets(ssl) != 0)) {
    suite.reset();
    return KeepSsl();
  }
  // Without read-ahead OpenSSL has read exactly up to the end of the peer's last handshake
  // message (a client: the server's Finished; a server: the client's); every record after it is
  // protected with the application traffic keys.
  read_at_finished = read_records.records;
  written_at_finished = write_records.records;
}

bool TlsSocket::State::Handover() {
  if (records) return true;
  if (!count_records || !suite || ssl == nullptr) return false;
  // Everything OpenSSL read is accounted for (no partial record or unread data in its buffer)
  // and so is what it wrote. A key update OpenSSL took in or answered before the handover would
  // leave the keys below stale: the next record would then fail to open at one end, an error
  // and a reconnect, never wrong data. Servers send none before any data.
  if (SSL_has_pending(ssl) == 1 || !read_records.at_boundary() || !write_records.at_boundary())
    return false;
  records = Tls13Records::Create(
      *suite, server ? server_secret : client_secret, server ? client_secret : server_secret,
      write_records.records - written_at_finished, read_records.records - read_at_finished);
  if (!records) {
    KeepSsl();
    return false;
  }
  session = TlsSession::Encode(SSL_get0_session(ssl));
  count_records = false;
  Cleanse(&client_secret);
  Cleanse(&server_secret);
  SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl);
  ssl = nullptr;
  return true;
}

boost::system::error_code TlsSocket::State::Read(asio::mutable_buffer b, std::size_t* n,
                                                 int* wait) {
  if (records) return ReadRecords(b, n, wait);
  ERR_clear_error();
  return SslCall(*this, SSL_read_ex(ssl, b.data(), b.size(), n), wait);
}

boost::system::error_code TlsSocket::State::Write(std::span<const asio::const_buffer> buffers,
                                                  std::size_t* n, int* wait) {
  if (!records) {
    ERR_clear_error();
    const asio::const_buffer b = buffers.empty() ? asio::const_buffer() : buffers.front();
    return SslCall(*this, SSL_write_ex(ssl, b.data(), b.size(), n), wait);
  }
  if (out_data == 0) {
    // First step of this write: seal up to a batch of it after what is still unsent, a record
    // at a time, each from the pieces of the buffers it covers.
    std::size_t i = 0, offset = 0, sealed = 0;
    while (i < buffers.size() && sealed < kWriteBatch) {
      std::span<const uint8_t> parts[kMaxRecordParts];
      std::size_t count = 0, size = 0;
      while (i < buffers.size() && count < kMaxRecordParts && size < Tls13Records::kMaxPlaintext) {
        const std::size_t take =
            std::min(buffers[i].size() - offset, Tls13Records::kMaxPlaintext - size);
        parts[count++] = std::span(static_cast<const uint8_t*>(buffers[i].data()) + offset, take);
        size += take;
        offset += take;
        if (offset == buffers[i].size()) {
          ++i;
          offset = 0;
        }
      }
      uint8_t* record = OutSpace(Tls13Records::kHeaderSize + size + Tls13Records::kSealOverhead);
      std::size_t record_size = 0;
      if (auto ec = records->Seal(Tls13Records::kApplicationData, std::span(parts, count), record,
                                  &record_size)) {
        return ec;
      }
      out_size += record_size;
      sealed += size;
    }
    out_data = sealed;
  }
  if (auto ec = Flush(wait); ec || *wait >= 0) return ec;
  *n = out_data;
  out_data = 0;
  return {};
}

boost::system::error_code TlsSocket::State::Shutdown(std::size_t* n, int* wait) {
  *n = 0;
  if (!records) {
    ERR_clear_error();
    const int ret = SSL_shutdown(ssl);
    if (ret >= 0) return {};  // 0: sent, the peer's not awaited
    return Classify(ssl, ret, wait);
  }
  if (!close_sent) {
    const uint8_t alert[2] = {1, 0};  // warning, close_notify
    uint8_t* record =
        OutSpace(Tls13Records::kHeaderSize + sizeof alert + Tls13Records::kSealOverhead);
    std::size_t size = 0;
    if (auto ec = records->Seal(Tls13Records::kAlert, alert, record, &size)) return ec;
    out_size += size;
    close_sent = true;
  }
  return Flush(wait);
}

uint8_t* TlsSocket::State::OutSpace(std::size_t size) {
  if (out_capacity - out_size < size) {
    const std::size_t capacity =
        std::max(out_size + size, std::min(2 * out_capacity, kWriteBatch + 1024));
    auto grown = std::make_unique_for_overwrite<uint8_t[]>(capacity);
    if (out_size > 0) std::memcpy(grown.get(), out.get(), out_size);
    out = std::move(grown);
    out_capacity = capacity;
  }
  return out.get() + out_size;
}

boost::system::error_code TlsSocket::State::Flush(int* wait) {
  while (out_sent < out_size) {
    ssize_t sent =
        ::send(socket.native_handle(), out.get() + out_sent, out_size - out_sent, MSG_NOSIGNAL);
    if (sent > 0) {
      out_sent += static_cast<std::size_t>(sent);
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *wait = 1;
      return {};
    } else {
      return Errno();
    }
  }
  // The buffer is kept for the next write of the same response; a connection that waits to
  // read releases it (ReadRecords).
  out_size = 0;
  out_sent = 0;
  return {};
}

boost::system::error_code TlsSocket::State::ReadRecords(asio::mutable_buffer b, std::size_t* n,
                                                        int* wait) {
  // Fills `b` with the plaintext of as many complete records as are held and fit (one read for
  // the several records a peer sent in small writes); reads the socket only when nothing was
  // taken yet. An error or the end of the stream after some data is reported by the next read.
  uint8_t* const dst = static_cast<uint8_t*>(b.data());
  std::size_t done = 0;
  const auto finish = [&]() -> boost::system::error_code {
    if (plain.empty() && in_begin == in_end) {
      in.reset();  // idle connections keep no buffers
      in_begin = in_end = 0;
    }
    *n = done;
    return {};
  };
  // An error after data: this read returns the data, the next one the error.
  const auto fail = [&](boost::system::error_code ec) -> boost::system::error_code {
    if (done == 0) return ec;
    read_error = ec;
    return finish();
  };
  for (;;) {
    if (!plain.empty()) {
      const std::size_t take = std::min(plain.size(), b.size() - done);
      std::memcpy(dst + done, plain.data(), take);
      plain = plain.subspan(take);
      done += take;
    }
    if (done == b.size()) return finish();
    if (read_error) return done > 0 ? finish() : read_error;
    if (peer_closed) return done > 0 ? finish() : asio::error::eof;
    const std::size_t held = in_end - in_begin;
    if (held >= Tls13Records::kHeaderSize) {
      std::size_t size = 0;
      std::span<uint8_t> bytes(in.get() + in_begin, held);
      if (auto ec = Tls13Records::RecordSize(bytes, &size)) return fail(ec);
      if (held >= size) {
        // A record whose plaintext fits in what is left of the caller's buffer is decrypted
        // straight into it; otherwise in place, and handed out from here a piece at a time.
        std::span<uint8_t> record = bytes.first(size);
        uint8_t* direct = b.size() - done >= Tls13Records::InnerSize(record) ? dst + done : nullptr;
        Tls13Records::Opened opened;
        if (auto ec =
                direct ? records->Open(record, direct, &opened) : records->Open(record, &opened)) {
          return fail(ec);
        }
        in_begin += size;
        switch (opened.type) {
          case Tls13Records::kApplicationData:
            if (direct == nullptr) {
              plain = opened.data;  // may be empty: then read on
            } else {
              done += opened.data.size();
            }
            continue;
          case Tls13Records::kHandshake:
            if (auto ec = HandshakeMessages(opened.data)) return fail(ec);
            continue;
          case Tls13Records::kAlert:
            if (opened.data.size() != 2) return fail(SslReasonError(SSL_R_INVALID_ALERT));
            if (opened.data[1] == 0) {  // close_notify
              peer_closed = true;
              continue;
            }
            return fail(SslReasonError(SSL_AD_REASON_OFFSET + opened.data[1]));
          default:
            return fail(SslReasonError(SSL_R_UNEXPECTED_RECORD));
        }
      }
    }
    if (done > 0) return finish();
    if (!in) {
      in = std::make_unique_for_overwrite<uint8_t[]>(kInCapacity);
      in_begin = in_end = 0;
    } else if (in_begin > 0) {
      std::memmove(in.get(), in.get() + in_begin, held);
      in_begin = 0;
      in_end = held;
    }
    ssize_t got = ::recv(socket.native_handle(), in.get() + in_end, kInCapacity - in_end, 0);
    if (got > 0) {
      in_end += static_cast<std::size_t>(got);
    } else if (got == 0) {
      return asio::ssl::error::stream_truncated;  // TCP closed without close_notify
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (in_end == 0) in.reset();
      ReleaseOut();  // idle connections keep no buffers
      *wait = 0;
      return {};
    } else {
      return Errno();
    }
  }
}

// The messages a peer may send after the handshake (RFC 8446 section 4.6): a server's session
// tickets, ignored here (resumption uses the session OpenSSL kept at the handover), and key
// updates.
boost::system::error_code TlsSocket::State::HandshakeMessages(std::span<const uint8_t> data) {
  handshake.insert(handshake.end(), data.begin(), data.end());
  std::size_t at = 0;
  while (handshake.size() - at >= 4) {
    const uint8_t type = handshake[at];
    const std::size_t length = (std::size_t{handshake[at + 1]} << 16) |
                               (std::size_t{handshake[at + 2]} << 8) | handshake[at + 3];
    if (length > kMaxHandshakeMessage) return SslReasonError(SSL_R_EXCESSIVE_MESSAGE_SIZE);
    if (handshake.size() - at - 4 < length) break;
    const uint8_t* body = handshake.data() + at + 4;
    at += 4 + length;
    switch (type) {
      case 4:  // new_session_ticket
        if (server) return SslReasonError(SSL_R_UNEXPECTED_MESSAGE);
        break;
      case 24: {  // key_update
        if (length != 1 || body[0] > 1) return SslReasonError(SSL_R_BAD_KEY_UPDATE);
        // It must end its record: the records after it use the next keys.
        if (at != handshake.size()) return SslReasonError(SSL_R_NOT_ON_RECORD_BOUNDARY);
        const bool update_requested = body[0] == 1;
        if (!records->UpdateReadKeys()) return SslReasonError(ERR_R_INTERNAL_ERROR);
        if (update_requested) {
          // Answer with our own update (update_not_requested), sealed with the current keys,
          // after whatever is still unsent, then switch to the next ones.
          const uint8_t message[5] = {24, 0, 0, 1, 0};
          uint8_t* record =
              OutSpace(Tls13Records::kHeaderSize + sizeof message + Tls13Records::kSealOverhead);
          std::size_t size = 0;
          if (auto ec = records->Seal(Tls13Records::kHandshake, message, record, &size)) return ec;
          out_size += size;
          if (!records->UpdateWriteKeys()) return SslReasonError(ERR_R_INTERNAL_ERROR);
          int ignored = -1;  // what cannot be sent now goes before the next write's data
          if (auto ec = Flush(&ignored)) return ec;
        }
        break;
      }
      default:
        return SslReasonError(SSL_R_UNEXPECTED_MESSAGE);
    }
  }
  handshake.erase(handshake.begin(), handshake.begin() + static_cast<std::ptrdiff_t>(at));
  if (handshake.size() > kMaxHandshakeMessage) return SslReasonError(SSL_R_EXCESSIVE_MESSAGE_SIZE);
  if (handshake.empty()) handshake.shrink_to_fit();
  return {};
}

TlsSocket::TlsSocket(asio::ip::tcp::socket socket, asio::ssl::context& context)
    : state_(std::make_shared<State>(std::move(socket))) {
  boost::system::error_code ec;
  state_->socket.non_blocking(true, ec);
  if (ec) return;
  SSL* ssl = SSL_new(context.native_handle());
  if (ssl == nullptr) return;
  const BIO_METHOD* method = NoSignalSocketMethod();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl);
    return;
  }
  BIO_set_data(bio, state_.get());
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);  // the SSL owns the BIO
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_connect_state(ssl);
  state_->ssl = ssl;
}

TlsSocket::~TlsSocket() {
  // Pending operations hold the state; make them finish now.
  close();
}

void TlsSocket::expires_at(std::chrono::steady_clock::time_point deadline) {
  state_->timed_out = false;
  uint64_t generation = ++state_->timer_generation;
  state_->timer.expires_at(deadline);
  state_->timer.async_wait(
      [weak = std::weak_ptr<State>(state_), generation](const boost::system::error_code& ec) {
        auto state = weak.lock();
        if (ec || !state || state->timer_generation != generation) return;
        state->timed_out = true;
        boost::system::error_code ignored;
        state->socket.cancel(ignored);
      });
}

void TlsSocket::expires_never() {
  ++state_->timer_generation;
  state_->timed_out = false;
  state_->timer.cancel();
}

void TlsSocket::close() {
  ++state_->timer_generation;
  state_->timer.cancel();
  boost::system::error_code ignored;
  state_->socket.close(ignored);
}

TlsSession TlsSocket::TakeSession() {
  if (state_->ssl != nullptr) return TlsSession::Keep(SSL_get0_session(state_->ssl));
  return std::move(state_->session);
}

boost::system::error_code TlsSocket::SslCall(State& s, int ret, int* wait) {
  if (ret == 1) return {};
  return Classify(s.ssl, ret, wait);
}

boost::system::error_code TlsSocket::Classify(SSL* ssl, int ret, int* wait) {
  int err = SSL_get_error(ssl, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      *wait = 0;
      return {};
    case SSL_ERROR_WANT_WRITE:
      *wait = 1;
      return {};
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;
    case SSL_ERROR_SYSCALL: {
      int saved = errno;
      if (ERR_peek_error() == 0 && saved != 0)
        return boost::system::error_code(saved, boost::system::system_category());
      ERR_clear_error();
      return asio::ssl::error::stream_truncated;
    }
    default: {
      unsigned long code = ERR_get_error();
      ERR_clear_error();
      if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
          ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return asio::ssl::error::stream_truncated;
      if (code == 0) return asio::ssl::error::unspecified_system_error;
      return boost::system::error_code(static_cast<int>(code), asio::error::get_ssl_category());
    }
  }
}

}  // namespace net
