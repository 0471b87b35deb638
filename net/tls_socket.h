// A TLS connection (client side; server side for test doubles) in which OpenSSL reads and writes
// the (non-blocking) socket itself.
//
// asio::ssl::stream keeps four 17 KiB buffers per connection (two of its own, two in its BIO
// pair) for the connection's whole life; here OpenSSL owns the only buffers, and with
// SSL_MODE_RELEASE_BUFFERS (set by MakeClientContext) frees them while the connection is idle,
// which is what makes thousands of kept-alive kubelet connections cheap.
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

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <memory>

namespace net {

class TlsSocket {
 public:
  using executor_type = boost::asio::any_io_executor;

  // Takes a connected socket. Fails (null SSL, see ok()) only when OpenSSL cannot allocate.
  TlsSocket(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& context);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  bool ok() const { return state_->ssl != nullptr; }
  SSL* native_handle() { return state_->ssl; }
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
    return Start(
        [](SSL* ssl, std::size_t* n) {
          *n = 0;
          return SSL_connect(ssl);
        },
        std::forward<Token>(token));
  }
  // The server side of the handshake, for a socket from an acceptor (simulated kubelets in
  // benchmarks). Call at most once, instead of async_handshake.
  template <typename Token>
  auto async_server_handshake(Token&& token) {
    if (state_->ssl != nullptr) SSL_set_accept_state(state_->ssl);
    return Start(
        [](SSL* ssl, std::size_t* n) {
          *n = 0;
          return SSL_accept(ssl);
        },
        std::forward<Token>(token));
  }
  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    boost::asio::mutable_buffer b = First<boost::asio::mutable_buffer>(buffers);
    return Start([b](SSL* ssl, std::size_t* n) { return SSL_read_ex(ssl, b.data(), b.size(), n); },
                 std::forward<Token>(token), b.size() == 0);
  }
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    boost::asio::const_buffer b = First<boost::asio::const_buffer>(buffers);
    return Start([b](SSL* ssl, std::size_t* n) { return SSL_write_ex(ssl, b.data(), b.size(), n); },
                 std::forward<Token>(token), b.size() == 0);
  }

 private:
  struct State {
    explicit State(boost::asio::ip::tcp::socket s)
        : socket(std::move(s)), timer(socket.get_executor()) {}
    ~State();
    boost::asio::ip::tcp::socket socket;
    boost::asio::steady_timer timer;
    SSL* ssl = nullptr;
    bool timed_out = false;
    uint64_t timer_generation = 0;
  };

  // Maps the outcome of an SSL_* call that did not succeed; sets `wait` when it must wait for
  // the socket to become readable/writable instead.
  static boost::system::error_code Classify(SSL* ssl, int ret, int* wait);

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
      ERR_clear_error();
      std::size_t n = 0;
      int ret = call(state->ssl, &n);
      if (ret == 1) return Finish(self, first, {}, n);
      int wait = -1;
      ec = Classify(state->ssl, ret, &wait);
      if (wait < 0) return Finish(self, first, ec, 0);
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
