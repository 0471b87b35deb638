#include "net/tls_socket.h"

#include <openssl/bio.h>
#include <sys/socket.h>

#include <cstdint>

namespace net {

namespace asio = boost::asio;

namespace {

// A socket BIO that writes with MSG_NOSIGNAL: OpenSSL's own uses write(), which raises SIGPIPE
// (killing the process by default) when the peer has already closed the connection.
int FdOf(BIO* bio) { return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio))); }

int NoSignalWrite(BIO* bio, const char* data, int len) {
  errno = 0;
  ssize_t n = ::send(FdOf(bio), data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(bio);
  if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n))) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int NoSignalRead(BIO* bio, char* data, int len) {
  errno = 0;
  ssize_t n = ::recv(FdOf(bio), data, static_cast<std::size_t>(len), 0);
  BIO_clear_retry_flags(bio);
  if (n < 0 && BIO_sock_should_retry(static_cast<int>(n))) BIO_set_retry_read(bio);
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

}  // namespace

TlsSocket::State::~State() {
  if (ssl == nullptr) return;
  // Connections end by closing the socket, without close_notify. Unless told the shutdown was
  // orderly, SSL_free marks the session non-resumable, which would defeat resumption.
  // Sessions of connections that failed with a TLS alert were already invalidated by OpenSSL.
  SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl);
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
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(state_->socket.native_handle())));
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
