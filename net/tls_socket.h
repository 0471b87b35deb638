// A TLS connection, client or server side, in which OpenSSL reads and writes the (non-blocking)
// socket itself.
//
// asio::ssl::stream keeps four 17 KiB buffers per connection (two of its own, two in its BIO
// pair) for the connection's whole life; here OpenSSL owns the only buffers, and with
// SSL_MODE_RELEASE_BUFFERS (set by MakeClientContext) frees them while the connection is idle,
// which is what makes thousands of kept-alive kubelet connections cheap.
//
// Connections go further when their context allows it (EnableRecordLayerHandover, set by
// MakeClientContext and by the metrics server's serving contexts): when the owner calls
// Handover() on an idle TLS 1.3 connection (a client after its first exchange, by which time
// the server's session tickets have come; a server right after its handshake, when its context
// sends no session tickets), the SSL object is freed and the connection continues on
// Tls13Records, which holds the traffic keys and nothing else (~16 KiB less per idle
// connection). A client's session stays available for resumption, as bytes (TakeSession()).
// Until then OpenSSL reads one record at a time, so that the records it took in can be counted.
// Connections that negotiated TLS 1.2 or another suite, a server context that sends session
// tickets (which OpenSSL writes with the application keys before the handshake returns, in a
// number it does not report), or a state OpenSSL could not hand over exactly keep their SSL
// object.
//
// A handed-over connection seals what one write is given into as many records as it takes,
// up to 256 KiB, encrypted from the caller's buffers, and sends them with one system call:
// a large response costs one send per 16 records instead of one per record.
//
// Models Asio's AsyncReadStream and AsyncWriteStream for Beast, with Beast tcp_stream-style
// deadlines: expires_at/expires_after arm a timer; an operation pending or started after it
// fires fails with beast::error::timeout. Reading after the peer's close_notify yields
// asio::error::eof; after a TCP close without close_notify, ssl::error::stream_truncated.
//
// Thread-safety: none; use from one strand (the executor given at construction). Operations
// keep the connection state alive, so the TlsSocket may be destroyed with operations pending
// (they complete with operation_aborted).
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "net/tls13_records.h"

namespace net {

// Lets client TlsSockets made from `ctx` hand an established TLS 1.3 connection over from the
// SSL object to Tls13Records (see above). Installs the context's key log callback, through which
// OpenSSL passes the traffic secrets; the secrets are kept in memory only, as OpenSSL keeps them.
void EnableRecordLayerHandover(SSL_CTX* ctx);

// A resumable TLS session kept between connections, in one of two forms:
//  - Parsed (Keep): OpenSSL's own object, ready to use; for a connection made again at once
//    (a client that closes after each response). ~3 KiB, mostly the server's parsed
//    certificate.
//  - Encoded (Encode): its DER (i2d_SSL_SESSION), 771 bytes with a P-256 certificate; for the
//    session of a kept-alive connection, needed only if that connection breaks. Decoding it
//    costs ~200 µs (OpenSSL 3.0 parses the certificate again), once per reconnect.
// Encoded bytes hold the resumption secret: cleansed when replaced or destroyed. Move-only.
class TlsSession {
 public:
  TlsSession() = default;
  // Both empty when `session` is null or not resumable (or, for Encode, cannot be encoded).
  static TlsSession Keep(SSL_SESSION* session);
  static TlsSession Encode(const SSL_SESSION* session);
  TlsSession(TlsSession&& other) noexcept;
  TlsSession& operator=(TlsSession&& other) noexcept;
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;
  ~TlsSession() { Clear(); }

  bool empty() const { return parsed_ == nullptr && der_.empty(); }
  bool encoded() const { return !der_.empty(); }
  // The encoded size (0 when parsed or empty).
  std::size_t size() const { return der_.size(); }
  // Offers the session for resumption on a connection not yet handshaken (SSL_set_session).
  // False, with nothing set, when empty or when the bytes do not decode.
  bool ApplyTo(SSL* ssl) const;
  void Clear();

 private:
  SSL_SESSION* parsed_ = nullptr;  // owned (one reference)
  std::vector<uint8_t> der_;
};

class TlsSocket {
 public:
  using executor_type = boost::asio::any_io_executor;

  // Takes a connected socket. Fails (null SSL, see ok()) only when OpenSSL cannot allocate.
  TlsSocket(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& context);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  bool ok() const { return state_->ssl != nullptr || state_->records.has_value(); }
  // Null once the connection was handed over to Tls13Records.
  SSL* native_handle() { return state_->ssl; }
  // Whether the connection runs on Tls13Records instead of its SSL object.
  bool handed_over() const { return state_->records.has_value(); }
  // Hands an idle client connection over to Tls13Records when it can be (see above); call
  // between exchanges, with no operation pending. Returns handed_over().
  bool Handover() { return state_->Handover(); }
  // The connection's resumable TLS session (empty before the handshake or when the server
  // offered none): parsed while the SSL object lives, encoded after the handover (moved out:
  // call it when done with the connection, or once handed over).
  TlsSession TakeSession();
  // Frees the buffer of sealed records a handed-over connection keeps between the writes of
  // one response (it is freed anyway when the connection next waits to read); call between
  // writes, for a connection that will be idle without reading (a watch between events).
  void ReleaseBuffers() { state_->ReleaseOut(); }
  // The bytes that buffer holds now (allocated, not necessarily used).
  std::size_t write_buffer_capacity() const { return state_->out_capacity; }
  executor_type get_executor() { return state_->socket.get_executor(); }
  boost::asio::ip::tcp::socket& socket() { return state_->socket; }

  void expires_at(std::chrono::steady_clock::time_point deadline);
  void expires_after(std::chrono::steady_clock::duration d) {
    expires_at(std::chrono::steady_clock::now() + d);
  }
  void expires_never();
  // Closes the socket; pending operations complete with operation_aborted. No TLS shutdown.
  void close();

  // Completion signature of all three: void(error_code, std::size_t).
  template <typename Token>
  auto async_handshake(Token&& token) {
    if (state_->ssl != nullptr) state_->PrepareHandover();
    return Start(
        [](State& s, std::size_t* n, int* wait) {
          *n = 0;
          ERR_clear_error();
          auto ec = SslCall(s, SSL_connect(s.ssl), wait);
          if (!ec && *wait < 0) s.HandshakeDone();
          return ec;
        },
        std::forward<Token>(token));
  }
  // The server side of the handshake, for a socket from an acceptor. Call at most once,
  // instead of async_handshake.
  template <typename Token>
  auto async_server_handshake(Token&& token) {
    if (state_->ssl != nullptr) {
      SSL_set_accept_state(state_->ssl);
      state_->server = true;
      state_->PrepareHandover();
    }
    return Start(
        [](State& s, std::size_t* n, int* wait) {
          *n = 0;
          ERR_clear_error();
          auto ec = SslCall(s, SSL_accept(s.ssl), wait);
          if (!ec && *wait < 0) s.HandshakeDone();
          return ec;
        },
        std::forward<Token>(token));
  }
  // Sends close_notify (without waiting for the peer's); the owner then closes the socket.
  template <typename Token>
  auto async_shutdown(Token&& token) {
    return Start([](State& s, std::size_t* n, int* wait) { return s.Shutdown(n, wait); },
                 std::forward<Token>(token));
  }
  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    boost::asio::mutable_buffer b = First<boost::asio::mutable_buffer>(buffers);
    return Start([b](State& s, std::size_t* n, int* wait) { return s.Read(b, n, wait); },
                 std::forward<Token>(token), b.size() == 0);
  }
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    Gathered g;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && g.count < g.buffers.size(); ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() > 0) g.buffers[g.count++] = b;
    }
    const bool empty = g.count == 0;
    return Start([g](State& s, std::size_t* n,
                     int* wait) { return s.Write(std::span(g.buffers.data(), g.count), n, wait); },
                 std::forward<Token>(token), empty);
  }

 private:
  // Counts the complete TLS records that pass one way through the socket BIO, so that the
  // sequence numbers OpenSSL reached are known when the connection is handed over.
  struct RecordCounter {
    void Add(const uint8_t* bytes, std::size_t n);
    bool at_boundary() const { return header_size == 0 && body_left == 0; }
    uint8_t header[5] = {};
    std::size_t header_size = 0;
    std::size_t body_left = 0;
    uint64_t records = 0;
  };

 public:
  // Internal: the connection state shared with pending operations (and the key log callback).
  struct State {
    explicit State(boost::asio::ip::tcp::socket s)
        : socket(std::move(s)), timer(socket.get_executor()) {}
    ~State();

    // The steps of the operations: each sets `wait` (0 readable, 1 writable) and returns no
    // error when it must wait for the socket, or leaves it at -1 and returns the outcome.
    boost::system::error_code Read(boost::asio::mutable_buffer b, std::size_t* n, int* wait);
    // Writes from the first of `buffers` (through the SSL object) or from as many as fit in one
    // batch of records (handed over).
    boost::system::error_code Write(std::span<const boost::asio::const_buffer> buffers,
                                    std::size_t* n, int* wait);
    boost::system::error_code Shutdown(std::size_t* n, int* wait);
    // Before a handshake: read records one at a time (no read-ahead), counting them.
    void PrepareHandover();
    // After a successful handshake: notes the counts at its end (a client's at the server's
    // Finished, a server's at the client's), or gives the handover up (TLS 1.2, another suite,
    // a server that sent session tickets).
    void HandshakeDone();
    // When everything OpenSSL took in since is accounted for: frees the SSL object.
    bool Handover();
    void KeepSsl();

    boost::system::error_code ReadRecords(boost::asio::mutable_buffer b, std::size_t* n, int* wait);
    boost::system::error_code HandshakeMessages(std::span<const uint8_t> data);
    boost::system::error_code Flush(int* wait);
    // Room for `size` more bytes at the end of `out`; out_size grows by what is used of it.
    uint8_t* OutSpace(std::size_t size);
    // Frees `out` when it holds nothing unsent.
    void ReleaseOut() {
      if (out_size != 0) return;
      out.reset();
      out_capacity = 0;
    }

    boost::asio::ip::tcp::socket socket;
    boost::asio::steady_timer timer;
    SSL* ssl = nullptr;
    bool server = false;  // the server side of the handshake
    bool timed_out = false;
    uint64_t timer_generation = 0;

    // The handover: the socket BIO's counts, the traffic secrets from the key log, the records.
    bool count_records = false;
    std::optional<Tls13Suite> suite;  // set by HandshakeDone when the handover is possible
    RecordCounter read_records, write_records;
    uint64_t read_at_finished = 0, written_at_finished = 0;
    std::vector<uint8_t> client_secret, server_secret;
    std::optional<Tls13Records> records;
    TlsSession session;  // kept from the freed SSL object
    // Received ciphertext and, after Open, the plaintext inside it (allocated while reading).
    std::unique_ptr<uint8_t[]> in;
    std::size_t in_begin = 0, in_end = 0;
    std::span<uint8_t> plain;
    std::vector<uint8_t> handshake;  // an incomplete post-handshake message
    // Sealed records not yet sent (out_size bytes of out_capacity; kept while a response is
    // written, released when the connection waits to read), and how much of the current
    // write's data they carry.
    std::unique_ptr<uint8_t[]> out;
    std::size_t out_size = 0, out_capacity = 0, out_sent = 0, out_data = 0;
    bool peer_closed = false;
    boost::system::error_code read_error;  // after data a read returned (ReadRecords)
    bool close_sent = false;
  };

 private:
  // Maps the outcome `ret` of an SSL_* call (1 = done); sets `wait` when it must wait for the
  // socket to become readable/writable instead.
  static boost::system::error_code SslCall(State& s, int ret, int* wait);
  static boost::system::error_code Classify(SSL* ssl, int ret, int* wait);

  // The buffers one write takes (a write_some of a longer sequence writes what these hold).
  struct Gathered {
    std::array<boost::asio::const_buffer, 64> buffers;
    std::size_t count = 0;
  };

  template <typename Buffer, typename Sequence>
  static Buffer First(const Sequence& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      Buffer b(*it);
      if (b.size() > 0) return b;
    }
    return Buffer();
  }

  template <typename Call>
  struct Op {
    std::shared_ptr<State> state;
    Call call;
    bool empty;
    bool started = false;

    template <typename Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
      const bool first = !started;
      started = true;
      if (!first && ec) {
        if (state->timed_out) ec = boost::beast::error::timeout;
        return self.complete(ec, 0);
      }
      if (state->timed_out) return Finish(self, first, boost::beast::error::timeout, 0);
      if (empty) return Finish(self, first, {}, 0);
      std::size_t n = 0;
      int wait = -1;
      ec = call(*state, &n, &wait);
      if (wait < 0) return Finish(self, first, ec, ec ? 0 : n);
      state->socket.async_wait(wait == 0 ? boost::asio::ip::tcp::socket::wait_read
                                         : boost::asio::ip::tcp::socket::wait_write,
                               std::move(self));
    }

    // Never completes inside the initiating call: a caller looping over read_some would
    // otherwise recurse once per already-buffered record.
    template <typename Self>
    void Finish(Self& self, bool first, boost::system::error_code ec, std::size_t n) {
      if (!first) return self.complete(ec, n);
      auto ex = state->socket.get_executor();
      boost::asio::post(ex, [self = std::move(self), ec, n]() mutable { self.complete(ec, n); });
    }
  };

  template <typename Call, typename Token>
  auto Start(Call call, Token&& token, bool empty = false) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        Op<Call>{state_, std::move(call), empty}, token, state_->socket);
  }

  std::shared_ptr<State> state_;
};

}  // namespace net
