#include "test/testing/local_https_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <strings.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <atomic>
#include <future>
#include <optional>
#include <stdexcept>

namespace testing_support {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string SeenRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  return "";
}

void ChunkFeed::Push(std::string chunk) {
  base::MutexLock lock(mu_);
  items_.push_back({Item::kChunk, std::move(chunk)});
}
void ChunkFeed::End() {
  base::MutexLock lock(mu_);
  items_.push_back({Item::kEnd, {}});
}
void ChunkFeed::Abort() {
  base::MutexLock lock(mu_);
  items_.push_back({Item::kAbort, {}});
}
ChunkFeed::Item ChunkFeed::Pop() {
  base::MutexLock lock(mu_);
  if (items_.empty()) return {};
  Item item = std::move(items_.front());
  items_.pop_front();
  return item;
}

// Per-connection bookkeeping, touched only on the server thread.
struct LocalHttpsServer::Connection {
  tcp::socket* socket = nullptr;  // lowest layer, valid while the session runs
  bool idle = false;
};

struct LocalHttpsServer::Impl {
  ServerOptions options;
  Handler handler;
  std::unique_ptr<asio::ssl::context> ssl;
  std::unique_ptr<asio::io_context> io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> filler_written{0};

  mutable base::Mutex mu;
  mutable base::CondVar cv;
  std::vector<SeenRequest> seen GUARDED_BY(mu);
  std::size_t accepted GUARDED_BY(mu) = 0;
  std::list<std::shared_ptr<Connection>> connections;  // server thread only

  awaitable<void> Accept();
  awaitable<void> Session(tcp::socket socket, std::size_t index);
  template <typename Stream>
  awaitable<void> Serve(Stream& stream, Connection& conn, std::size_t index,
                        const std::string& client_cn, const std::string& sni, bool resumed);
  template <typename Stream>
  awaitable<bool> Respond(Stream& stream, const Reply& reply, bool keep_alive);
  template <typename Stream>
  awaitable<bool> WriteAll(Stream& stream, std::string_view data, const Reply& reply);
  awaitable<void> Sleep(std::chrono::milliseconds d) {
    asio::steady_timer timer(*io, d);
    co_await timer.async_wait(kTuple);
  }
};

namespace {

std::string PeerCommonName(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return "";
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  X509_free(cert);
  return buf;
}

template <typename Stream>
tcp::socket& Socket(Stream& s) {
  return beast::get_lowest_layer(s).socket();
}

}  // namespace

awaitable<void> LocalHttpsServer::Impl::Accept() {
  std::size_t index = 0;
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(kTuple);
    if (ec || stopping) co_return;
    {
      base::MutexLock lock(mu);
      index = ++accepted;
    }
    cv.NotifyAll();
    asio::co_spawn(*io, Session(std::move(socket), index), asio::detached);
  }
}

awaitable<void> LocalHttpsServer::Impl::Session(tcp::socket socket, std::size_t index) {
  auto conn = std::make_shared<Connection>();
  connections.push_back(conn);
  auto it = std::prev(connections.end());
  try {
    if (options.stall_handshake) {
      // Hold the socket open without reading, until the server stops or io_timeout passes.
      co_await Sleep(options.io_timeout);
    } else if (options.tls) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *ssl);
      conn->socket = &Socket(stream);
      beast::get_lowest_layer(stream).expires_after(options.io_timeout);
      auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
      if (!ec) {
        const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
        co_await Serve(stream, *conn, index, PeerCommonName(stream.native_handle()),
                       sni != nullptr ? sni : "", SSL_session_reused(stream.native_handle()) == 1);
      }
    } else {
      beast::tcp_stream stream(std::move(socket));
      conn->socket = &Socket(stream);
      co_await Serve(stream, *conn, index, "", "", false);
    }
  } catch (const std::exception&) {
    // A test server never lets an exception escape; the connection just ends.
  }
  connections.erase(it);
}

template <typename Stream>
awaitable<void> LocalHttpsServer::Impl::Serve(Stream& stream, Connection& conn, std::size_t index,
                                              const std::string& client_cn, const std::string& sni,
                                              bool resumed) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.max_request_body);
    beast::get_lowest_layer(stream).expires_after(options.io_timeout);
    conn.idle = true;
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
    conn.idle = false;
    if (ec || stopping) co_return;
    auto& msg = parser.get();
    SeenRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& field : msg)
      req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    req.body = msg.body();
    req.client_cn = client_cn;
    req.sni = sni;
    req.resumed = resumed;
    req.connection = index;
    Reply reply;
    try {
      reply = handler(req);
    } catch (const std::exception& e) {
      reply = Reply::Status(500, std::string("handler threw: ") + e.what());
    }
    if (options.record_requests) {
      base::MutexLock lock(mu);
      seen.push_back(std::move(req));
    }
    cv.NotifyAll();
    bool keep = co_await Respond(stream, reply, msg.keep_alive());
    if (!keep || stopping) co_return;
  }
}

template <typename Stream>
awaitable<bool> LocalHttpsServer::Impl::WriteAll(Stream& stream, std::string_view data,
                                                 const Reply& reply) {
  std::size_t piece =
      reply.trickle.count() > 0 ? std::max<std::size_t>(1, reply.trickle_bytes) : data.size();
  while (!data.empty()) {
    std::size_t n = std::min(piece, data.size());
    beast::get_lowest_layer(stream).expires_after(options.io_timeout);
    auto [ec, written] = co_await asio::async_write(stream, asio::buffer(data.data(), n), kTuple);
    if (ec || stopping) co_return false;
    data.remove_prefix(n);
    if (reply.trickle.count() > 0 && !data.empty()) co_await Sleep(reply.trickle);
  }
  co_return true;
}

template <typename Stream>
awaitable<bool> LocalHttpsServer::Impl::Respond(Stream& stream, const Reply& reply,
                                                bool keep_alive) {
  tcp::socket& socket = Socket(stream);
  if (reply.delay.count() > 0) co_await Sleep(reply.delay);
  if (stopping) co_return false;
  boost::system::error_code ignored;
  switch (reply.action) {
    case Reply::Action::kClose:
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      co_return false;
    case Reply::Action::kReset:
      socket.set_option(asio::socket_base::linger(true, 0), ignored);
      socket.close(ignored);
      co_return false;
    case Reply::Action::kRespond:
      break;
  }
  if (!reply.raw.empty()) {
    bool ok = co_await WriteAll(stream, reply.raw, reply);
    if (ok && !reply.filler.empty() && reply.filler_bytes > 0) {
      std::string piece;
      while (piece.size() < 64 * 1024) piece += reply.filler;
      for (std::size_t left = reply.filler_bytes; left > 0 && ok;) {
        std::size_t n = std::min(left, piece.size());
        ok = co_await WriteAll(stream, std::string_view(piece).substr(0, n), reply);
        if (ok) filler_written += n;
        left -= n;
      }
    }
    socket.close(ignored);
    co_return false;
  }
  bool close = reply.close_after || !keep_alive;
  std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                     std::string(http::obsolete_reason(http::int_to_status(reply.status))) + "\r\n";
  if (!reply.content_type.empty()) head += "Content-Type: " + reply.content_type + "\r\n";
  for (const auto& [k, v] : reply.headers) head += k + ": " + v + "\r\n";
  if (close) head += "Connection: close\r\n";
  if (reply.stream) {
    head += "Transfer-Encoding: chunked\r\n\r\n";
    if (!co_await WriteAll(stream, head, reply)) co_return false;
    for (;;) {
      if (stopping) co_return false;
      ChunkFeed::Item item = reply.stream->Pop();
      switch (item.kind) {
        case ChunkFeed::Item::kNone:
          co_await Sleep(std::chrono::milliseconds(2));
          continue;
        case ChunkFeed::Item::kChunk: {
          if (item.data.empty()) continue;  // an empty chunk would end the stream
          char size[32];
          snprintf(size, sizeof size, "%zx\r\n", item.data.size());
          std::string chunk = size + item.data + "\r\n";
          if (!co_await WriteAll(stream, chunk, reply)) co_return false;
          continue;
        }
        case ChunkFeed::Item::kEnd:
          if (!co_await WriteAll(stream, "0\r\n\r\n", reply)) co_return false;
          co_return !close;
        case ChunkFeed::Item::kAbort:
          socket.close(ignored);
          co_return false;
      }
    }
  }
  std::size_t length = reply.huge_body_bytes > 0 ? reply.huge_body_bytes : reply.body.size();
  head += "Content-Length: " + std::to_string(length) + "\r\n\r\n";
  if (reply.huge_body_bytes == 0) {
    head += reply.body;
    if (!co_await WriteAll(stream, head, reply)) co_return false;
  } else {
    if (!co_await WriteAll(stream, head, reply)) co_return false;
    const std::string piece(64 * 1024, 'x');
    for (std::size_t left = length; left > 0;) {
      std::size_t n = std::min(left, piece.size());
      if (!co_await WriteAll(stream, std::string_view(piece).substr(0, n), reply)) co_return false;
      left -= n;
    }
  }
  if (close) {
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    co_return false;
  }
  co_return true;
}

LocalHttpsServer::LocalHttpsServer(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  impl_->io = std::make_unique<asio::io_context>(1);
  const ServerOptions& o = impl_->options;
  if (o.tls) {
    impl_->ssl = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    auto& ctx = *impl_->ssl;
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    ctx.use_certificate_chain(asio::buffer(o.certificate.cert_pem), ec);
    if (!ec) ctx.use_private_key(asio::buffer(o.certificate.key_pem), asio::ssl::context::pem, ec);
    if (!ec && !o.client_ca_pem.empty()) {
      ctx.add_certificate_authority(asio::buffer(o.client_ca_pem), ec);
      ctx.set_verify_mode(asio::ssl::verify_peer |
                          (o.require_client_cert ? asio::ssl::verify_fail_if_no_peer_cert : 0));
    }
    if (ec) throw std::runtime_error("LocalHttpsServer TLS setup: " + ec.message());
  }
  tcp::endpoint ep(o.ipv6 ? asio::ip::make_address("::1") : asio::ip::make_address("127.0.0.1"),
                   o.port);
  impl_->acceptor = std::make_unique<tcp::acceptor>(*impl_->io, ep, /*reuse_addr=*/true);
  port_ = impl_->acceptor->local_endpoint().port();
  asio::co_spawn(*impl_->io, impl_->Accept(), asio::detached);
  impl_->thread = std::thread([io = impl_->io.get()] { io->run(); });
}

LocalHttpsServer::~LocalHttpsServer() {
  impl_->stopping = true;
  impl_->io->stop();
  impl_->thread.join();
  // Destroying the io_context destroys suspended sessions; it must go before what they use.
  impl_->acceptor.reset();
  impl_->io.reset();
}

net::Endpoint LocalHttpsServer::endpoint(std::string host) const {
  net::Endpoint ep;
  ep.tls = impl_->options.tls;
  ep.host = host.empty() ? (impl_->options.ipv6 ? "::1" : "127.0.0.1") : std::move(host);
  ep.port = port_;
  return ep;
}

std::vector<SeenRequest> LocalHttpsServer::requests() const {
  base::MutexLock lock(impl_->mu);
  return impl_->seen;
}

std::size_t LocalHttpsServer::connections_accepted() const {
  base::MutexLock lock(impl_->mu);
  return impl_->accepted;
}

std::size_t LocalHttpsServer::filler_bytes_written() const { return impl_->filler_written; }

bool LocalHttpsServer::WaitForRequests(std::size_t n, std::chrono::milliseconds timeout) const {
  base::MutexLock lock(impl_->mu);
  return impl_->cv.WaitFor(impl_->mu, timeout,
                           [&]() REQUIRES(impl_->mu) { return impl_->seen.size() >= n; });
}

std::size_t LocalHttpsServer::CloseIdleConnections() {
  // A connection that just sent a response becomes idle a moment later, when the server is
  // back to reading; wait (bounded) for busy connections to settle before closing.
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    bool last_try = std::chrono::steady_clock::now() >= give_up;
    auto done = std::make_shared<std::promise<std::optional<std::size_t>>>();
    auto result = done->get_future();
    asio::post(*impl_->io, [impl = impl_.get(), done, last_try] {
      bool busy = false;
      for (auto& conn : impl->connections) busy = busy || (!conn->idle && conn->socket != nullptr);
      if (busy && !last_try) return done->set_value(std::nullopt);
      std::size_t closed = 0;
      for (auto& conn : impl->connections) {
        if (conn->idle && conn->socket != nullptr && conn->socket->is_open()) {
          boost::system::error_code ignored;
          conn->socket->shutdown(tcp::socket::shutdown_both, ignored);
          conn->socket->close(ignored);
          ++closed;
        }
      }
      done->set_value(closed);
    });
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
      throw std::runtime_error("LocalHttpsServer: server thread unresponsive");
    if (auto closed = result.get()) return *closed;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace testing_support
