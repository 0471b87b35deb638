#include "apiserver/server.h"

#include "apiserver/http_parser.h"

#include <spdlog/spdlog.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace apiserver {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Server::State {
  State(asio::io_context& i, ServerOptions o, TlsContextProvider& t, Handler& h)
      : io(i), acceptor(asio::make_strand(i)), options(std::move(o)), tls(t), handler(h) {}
  asio::io_context& io;
  // Owned here rather than by Server: a pending accept holds the State, so its completion can
  // never run on a destroyed Server.
  tcp::acceptor acceptor;
  const ServerOptions options;
  TlsContextProvider& tls;
  Handler& handler;  // used only while the io_context runs
  std::atomic<uint32_t> in_flight{0};
  std::atomic<bool> draining_flag{false};

  std::mutex mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // guarded by mu
  bool draining = false;                                          // guarded by mu
  std::function<void()> drained;                                  // guarded by mu

  size_t Connections() {
    std::lock_guard<std::mutex> lock(mu);
    return sessions.size();
  }
  static void Accept(std::shared_ptr<State> self);
  void Register(Session* raw, const std::shared_ptr<Session>& s) {
    std::lock_guard<std::mutex> lock(mu);
    sessions.emplace(raw, s);
  }
  void Unregister(Session* s) {
    std::function<void()> done;
    {
      std::lock_guard<std::mutex> lock(mu);
      sessions.erase(s);
      if (draining && sessions.empty() && drained) done = std::move(drained);
    }
    if (done) done();
  }
};

class Server::Session : public std::enable_shared_from_this<Server::Session> {
 public:
  Session(std::shared_ptr<State> state, tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx)
      : server_(*state),
        state_(std::move(state)),
        ctx_(std::move(ctx)),
        stream_(beast::tcp_stream(std::move(socket)), *ctx_) {
    // Request (not require) a client certificate; authentication verifies it.
    SSL_set_verify(stream_.native_handle(), SSL_VERIFY_PEER,
                   [](int, X509_STORE_CTX*) { return 1; });
  }
  ~Session() { state_->Unregister(this); }

  void Run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::Handshake, shared_from_this()));
  }

  // Called on Shutdown(): closes the connection unless a request is being handled.
  void Drain() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) beast::get_lowest_layer(self->stream_).close();
    });
  }

 private:
  void Handshake() {
    beast::get_lowest_layer(stream_).expires_after(server_.options.handshake_timeout);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            beast::bind_front_handler(&Session::OnHandshake, shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) return Fail(ec, "handshake");
    X509* leaf = SSL_get1_peer_certificate(stream_.native_handle());
    if (leaf != nullptr) {
      peer_ = std::make_shared<const PeerCertificates>(
          leaf, SSL_get_peer_cert_chain(stream_.native_handle()));
      X509_free(leaf);
    }
    Read(true);
  }

  void Read(bool first) {
    if (server_.draining_flag.load()) return Close();
    parser_.emplace();
    ApplyLimits(server_.options, *parser_);
    // An idle keep-alive connection gets the idle timeout; a request, once started, is bounded
    // by the read timeout as a whole (the shorter of both applies to the first request).
    beast::get_lowest_layer(stream_).expires_after(first ? server_.options.read_timeout
                                                         : server_.options.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec) return ReadFailed(ec);
    beast::get_lowest_layer(stream_).expires_after(server_.options.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void ReadFailed(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == asio::ssl::error::stream_truncated || ec == beast::error::timeout) {
      return Close();
    }
    if (auto r = LimitResponse(ec)) {
      keep_alive_ = false;
      return Write(std::move(*r), false);
    }
    Fail(ec, "read");
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) return ReadFailed(ec);
    RequestMessage msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    head_ = msg.method() == http::verb::head;
    HttpRequest req = ToHttpRequest(msg, peer_);
    busy_ = true;
    beast::get_lowest_layer(stream_).expires_never();
    if (server_.in_flight.fetch_add(1) >= server_.options.max_requests_in_flight) {
      server_.in_flight.fetch_sub(1);
      ApiError e;
      e.code = 429;
      e.reason = "TooManyRequests";
      e.message = "Too many requests, please try again later.";
      HttpResponse r = ErrorResponse(e);
      r.headers.emplace_back("Retry-After", "1");
      return Write(std::move(r), false);
    }
    server_.handler.Handle(std::move(req), [self = shared_from_this()](HttpResponse r) {
      asio::post(self->stream_.get_executor(),
                 [self, r = std::move(r)]() mutable { self->Write(std::move(r), true); });
    });
  }

  void Write(HttpResponse r, bool counted) {
    // The request is handled once its response exists; writing it no longer counts.
    if (counted) server_.in_flight.fetch_sub(1);
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(r.status);
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-cache, private");
    res->set("X-Content-Type-Options", "nosniff");
    for (auto& [k, v] : r.headers) res->insert(k, v);
    const bool keep = keep_alive_ && !server_.draining_flag.load();
    res->keep_alive(keep);
    const size_t size = r.body.size();
    if (!head_) res->body() = std::move(r.body);
    res->prepare_payload();
    if (head_) res->content_length(size);
    response_ = res;
    beast::get_lowest_layer(stream_).expires_after(server_.options.write_timeout);
    if (head_) {
      auto sr = std::make_shared<http::response_serializer<http::string_body>>(*res);
      serializer_ = sr;
      http::async_write_header(
          stream_, *sr, beast::bind_front_handler(&Session::OnWrite, shared_from_this(), keep));
      return;
    }
    http::async_write(stream_, *res,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this(), keep));
  }

  void OnWrite(bool keep, beast::error_code ec, std::size_t) {
    busy_ = false;
    response_.reset();
    serializer_.reset();
    if (ec) return Fail(ec, "write");
    if (!keep) return Close();
    Read(false);
  }

  void Close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown(beast::bind_front_handler(&Session::OnShutdown, shared_from_this()));
  }

  void OnShutdown(beast::error_code) { beast::get_lowest_layer(stream_).close(); }

  void Fail(beast::error_code ec, const char* what) {
    if (ec == asio::error::operation_aborted || ec == beast::error::timeout ||
        ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      return;
    }
    spdlog::debug("https connection: {}: {}", what, ec.message());
  }

  State& server_;                            // == *state_
  std::shared_ptr<State> state_;             // keeps the registry alive for the destructor
  std::shared_ptr<asio::ssl::context> ctx_;  // must outlive stream_
  asio::ssl::stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  std::shared_ptr<const PeerCertificates> peer_;
  std::shared_ptr<void> response_;
  std::shared_ptr<void> serializer_;
  bool keep_alive_ = true;
  bool head_ = false;
  bool busy_ = false;
};

Server::Server(asio::io_context& io, ServerOptions options, TlsContextProvider& tls,
               Handler& handler)
    : state_(std::make_shared<State>(io, std::move(options), tls, handler)) {}

Server::~Server() {
  // Stop accepting; the pending accept completes with operation_aborted on the acceptor's
  // strand and releases the State.
  asio::dispatch(state_->acceptor.get_executor(), [state = state_] {
    beast::error_code ec;
    state->acceptor.close(ec);
  });
}

base::Status Server::Listen() {
  const ServerOptions& options = state_->options;
  tcp::acceptor& acceptor = state_->acceptor;
  const std::string where = "listen " + options.bind_address + ":" + std::to_string(options.port);
  beast::error_code ec;
  auto address = asio::ip::make_address(options.bind_address, ec);
  if (ec) return base::Status::Error(where + ": invalid address: " + ec.message());
  tcp::endpoint endpoint(address, options.port);
  if (acceptor.open(endpoint.protocol(), ec); ec) {
    return base::Status::Error(where + ": open: " + ec.message());
  }
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) {
    return base::Status::Error(where + ": set_option: " + ec.message());
  }
  if (acceptor.bind(endpoint, ec); ec)
    return base::Status::Error(where + ": bind: " + ec.message());
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return base::Status::Error(where + ": listen: " + ec.message());
  }
  port_ = acceptor.local_endpoint().port();
  return base::Status::Ok();
}

void Server::Start() {
  asio::dispatch(state_->acceptor.get_executor(), [state = state_] { State::Accept(state); });
}

void Server::State::Accept(std::shared_ptr<State> self) {
  tcp::acceptor& acceptor = self->acceptor;
  auto strand = asio::make_strand(self->io);  // before `self` is moved into the handler
  acceptor.async_accept(std::move(strand), [self = std::move(self)](beast::error_code ec,
                                                                    tcp::socket socket) mutable {
    if (self->draining_flag.load() || !self->acceptor.is_open() ||
        ec == asio::error::operation_aborted) {
      return;
    }
    if (ec) {
      spdlog::warn("accept: {}", ec.message());
    } else if (self->Connections() >= self->options.max_connections) {
      socket.close(ec);
    } else {
      socket.set_option(tcp::no_delay(true), ec);
      auto session = std::make_shared<Session>(self, std::move(socket), self->tls.Current());
      self->Register(session.get(), session);
      session->Run();
    }
    Accept(std::move(self));
  });
}

size_t Server::connections() const { return state_->Connections(); }

uint32_t Server::requests_in_flight() const { return state_->in_flight.load(); }

void Server::Shutdown(std::function<void()> drained) {
  std::vector<std::shared_ptr<Session>> live;
  bool call_now = false;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->draining) return;
    state_->draining = true;
    state_->draining_flag.store(true);
    for (auto& [ptr, weak] : state_->sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    if (state_->sessions.empty()) {
      call_now = true;
    } else {
      state_->drained = std::move(drained);
    }
  }
  asio::dispatch(state_->acceptor.get_executor(), [state = state_] {
    beast::error_code ec;
    state->acceptor.close(ec);
  });
  for (auto& s : live) s->Drain();
  live.clear();
  if (call_now && drained) drained();
}

}  // namespace apiserver
