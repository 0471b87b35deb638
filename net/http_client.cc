#include "net/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <deque>
#include <future>
#include <optional>

#include "net/pki.h"
#include "net/tls_socket.h"

namespace net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Size of the buffer streamed bodies are decoded into (allocated on the first Stream call).
constexpr std::size_t kStreamChunk = 16 * 1024;
// What one read of a chunked body asks for at least: a whole TLS record's plaintext (16 KiB, and
// up to 256 bytes of padding) fits, so it is decrypted straight into the read buffer.
constexpr std::size_t kFramedRead = 17 * 1024;
// The most a chunked body's string reserves ahead of reading it (from the last such body).
constexpr std::size_t kMaxBodyHint = 1 << 20;
// A kept-alive connection's read buffer larger than this is released between requests.
constexpr std::size_t kMaxIdleBuffer = 8 * 1024;

// The most raw bytes a response body may take on the wire (chunk-size lines, extensions and
// trailers included) for a decoded limit of `max_body` (0 = no limit): the limit plus an eighth
// for framing (Go servers write chunks of about 2 KiB, 0.3 % of framing) plus a read buffer.
std::size_t WireBodyLimit(std::size_t max_body, std::size_t read_buffer) {
  if (max_body == 0) return 0;
  return max_body + max_body / 8 + read_buffer;
}

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string Millis(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

base::Status ContextError(const std::string& what, const boost::system::error_code& ec) {
  std::string reason = ec.message();
  return base::Status::Error(what + ": " + reason);
}

}  // namespace

std::string Endpoint::HostPort() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

base::Result<std::shared_ptr<ssl::context>> MakeClientContext(const TlsClientConfig& config) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_default_passwd_cb(native, NoPassphrase);  // client-key-data / client-key
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
    return base::MakeError(OpenSslError("setting minimum TLS version"));
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  // AES-128-GCM first, as Go servers (kubelets, the apiserver) prefer it with AES-NI; OpenSSL's
  // default order puts AES-256-GCM first, which costs 14 AES rounds per block instead of 10.
  if (SSL_CTX_set_ciphersuites(
          native, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") !=
      1)
    return base::MakeError(OpenSslError("setting TLS 1.3 cipher suites"));
  // Thousands of idle kept-alive connections must not each hold OpenSSL's record buffers.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  // Read whatever the socket holds in one recv() instead of a record header and then its body
  // (two system calls per record otherwise).
  SSL_CTX_set_read_ahead(native, 1);
  // Established TLS 1.3 connections drop their SSL object (net/tls_socket.h).
  EnableRecordLayerHandover(native);
  boost::system::error_code ec;

  if (config.insecure_skip_verify) {
    ctx->set_verify_mode(ssl::verify_none);
  } else {
    ctx->set_verify_mode(ssl::verify_peer);
    if (!config.ca_data.empty()) {
      ctx->add_certificate_authority(asio::buffer(config.ca_data), ec);
      if (ec) return ContextError("ca_data", ec);
    }
    if (!config.ca_file.empty()) {
      ctx->load_verify_file(config.ca_file, ec);
      if (ec) return ContextError("ca_file " + config.ca_file, ec);
    }
    if (config.ca_data.empty() && config.ca_file.empty()) {
      ctx->set_default_verify_paths(ec);
      if (ec) return ContextError("system trust roots", ec);
    }
    if (!config.server_name.empty()) {
      // Stored on the context so every connection made with it verifies this name instead of
      // the endpoint's host (see ConfigureTls).
      X509_VERIFY_PARAM* param = SSL_CTX_get0_param(native);
      int ok = IsIpLiteral(config.server_name)
                   ? X509_VERIFY_PARAM_set1_ip_asc(param, config.server_name.c_str())
                   : X509_VERIFY_PARAM_set1_host(param, config.server_name.c_str(), 0);
      if (ok != 1)
        return base::MakeError(OpenSslError(("server_name " + config.server_name).c_str()));
    }
  }

  bool has_file = !config.cert_file.empty() || !config.key_file.empty();
  bool has_data = !config.cert_data.empty() || !config.key_data.empty();
  if (has_file && has_data)
    return base::MakeError("client certificate given both as files and as data");
  if (has_file) {
    if (config.cert_file.empty() || config.key_file.empty())
      return base::MakeError("cert_file and key_file must be given together");
    ctx->use_certificate_chain_file(config.cert_file, ec);
    if (ec) return ContextError("cert_file " + config.cert_file, ec);
    ctx->use_private_key_file(config.key_file, ssl::context::pem, ec);
    if (ec) return ContextError("key_file " + config.key_file, ec);
  } else if (has_data) {
    if (config.cert_data.empty() || config.key_data.empty())
      return base::MakeError("cert_data and key_data must be given together");
    ctx->use_certificate_chain(asio::buffer(config.cert_data), ec);
    if (ec) return ContextError("cert_data", ec);
    ctx->use_private_key(asio::buffer(config.key_data), ssl::context::pem, ec);
    if (ec) return ContextError("key_data", ec);
  }
  if ((has_file || has_data) && SSL_CTX_check_private_key(native) != 1)
    return base::MakeError(OpenSslError("client key does not match client certificate"));
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// HttpClient

namespace {

// A response body held in a std::string that Beast's parser appends to. http::string_body
// resizes the string (zero-filling it) before copying each decoded piece in, which for a chunked
// body means a fill and a copy per chunk and a reallocation per doubling.
struct AppendedStringBody {
  using value_type = std::string;

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      ec = {};
      if (!length) return;
      if (*length > body_.max_size()) {
        ec = http::error::buffer_overflow;
        return;
      }
      body_.reserve(static_cast<std::size_t>(*length));
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      ec = {};
      std::size_t n = 0;
      for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
           ++it) {
        const asio::const_buffer b(*it);
        if (b.size() > body_.max_size() - body_.size()) {
          ec = http::error::buffer_overflow;
          return n;
        }
        body_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      return n;
    }

    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

class HttpClientImpl final : public HttpClient {
 public:
  HttpClientImpl(asio::io_context& io, std::shared_ptr<ssl::context> tls, Endpoint endpoint,
                 ClientOptions options)
      : strand_(asio::make_strand(io)),
        tls_(std::move(tls)),
        endpoint_(std::move(endpoint)),
        options_(std::move(options)),
        host_port_(endpoint_.HostPort()),
        host_is_ip_(IsIpLiteral(endpoint_.host)),
        resolver_(strand_),
        resolve_timer_(strand_) {
    buffer_.max_size(options_.max_header_bytes);
  }

  void Send(Request request, Clock::time_point deadline, std::size_t max_body_bytes,
            std::function<void(base::Result<Response>)> done) override {
    Call call;
    call.request = std::move(request);
    call.deadline = deadline;
    call.max_body_bytes = max_body_bytes;
    call.send_done = std::move(done);
    Enqueue(std::move(call));
  }

  void Stream(Request request, std::chrono::milliseconds connect_deadline,
              std::chrono::milliseconds idle_timeout, std::size_t max_body_bytes,
              StreamHandlers handlers, std::function<void(base::Status)> done) override {
    Call call;
    call.is_stream = true;
    call.request = std::move(request);
    call.connect_budget = connect_deadline;
    call.idle_timeout = idle_timeout;
    call.max_body_bytes = max_body_bytes;
    call.handlers = std::move(handlers);
    call.stream_done = std::move(done);
    Enqueue(std::move(call));
  }

  void Close() override {
    asio::post(strand_, [self = Self()] {
      ++self->epoch_;
      std::deque<Call> queued;
      queued.swap(self->queue_);
      for (Call& call : queued) self->Finish(call, self->Cancelled());
      // The running call (if any) sees its operation aborted and reports "cancelled".
      self->resolver_.cancel();
      self->resolve_timer_.cancel();
      self->AbortConnection();
    });
  }

 private:
  struct Call {
    bool is_stream = false;
    Request request;
    Clock::time_point deadline;                  // Send: the overall deadline
    std::chrono::milliseconds connect_budget{};  // Stream: connect..headers budget
    std::chrono::milliseconds idle_timeout{};    // Stream: per read
    std::size_t max_body_bytes = 0;
    StreamHandlers handlers;
    std::function<void(base::Result<Response>)> send_done;
    std::function<void(base::Status)> stream_done;
    uint64_t epoch = 0;
  };

  // An error in one phase; `retryable` when a reused connection was found closed before any
  // response byte arrived.
  struct Failure {
    std::string phase;
    std::string cause;
    bool retryable = false;
  };

  std::shared_ptr<HttpClientImpl> Self() {
    return std::static_pointer_cast<HttpClientImpl>(shared_from_this());
  }

  void Enqueue(Call call) {
    asio::post(strand_, [self = Self(), call = std::move(call)]() mutable {
      call.epoch = self->epoch_;
      self->queue_.push_back(std::move(call));
      if (!self->running_) {
        self->running_ = true;
        asio::co_spawn(self->strand_, self->Run(self), asio::detached);
      }
    });
  }

  base::Status Cancelled() const { return base::Status::Error(host_port_ + ": cancelled"); }

  base::Status Error(const Failure& f) const {
    return base::Status::Error(host_port_ + ": " + f.phase + ": " + f.cause);
  }

  // Runs exactly once per call; user callbacks must not throw, but a throwing one must not
  // wedge the client either.
  void Finish(Call& call, const base::Status& status, Response* response = nullptr) {
    try {
      if (call.is_stream) {
        if (call.stream_done) call.stream_done(status);
      } else if (call.send_done) {
        if (status.ok() && response != nullptr)
          call.send_done(std::move(*response));
        else
          call.send_done(status.ok() ? base::Status::Error(host_port_ + ": no response") : status);
      }
    } catch (...) {
    }
  }

  // The worker: drains the queue in order, one call at a time, on the strand. Holds `self`.
  awaitable<void> Run(std::shared_ptr<HttpClientImpl> /*self: keeps the client alive*/) {
    while (!queue_.empty()) {
      Call call = std::move(queue_.front());
      queue_.pop_front();
      try {
        if (call.is_stream) {
          base::Status st = co_await DoStream(call);
          Finish(call, call.epoch != epoch_ ? Cancelled() : st);
        } else {
          Response response;
          base::Status st = co_await DoSend(call, response);
          Finish(call, call.epoch != epoch_ ? Cancelled() : st, &response);
        }
      } catch (const std::exception& e) {
        ResetConnection();
        Finish(call, base::Status::Error(host_port_ + ": internal error: " + e.what()));
      }
    }
    running_ = false;
  }

  // --- connection management -----------------------------------------------------------------

  bool Connected() const { return connected_; }

  // Closes the socket so pending operations complete with an error; the worker cleans up.
  void AbortConnection() {
    if (tls_stream_) tls_stream_->close();
    if (tcp_stream_) tcp_stream_->close();
    connected_ = false;
  }

  // Drops the connection objects; only called by the worker between operations. `clean` when
  // the connection ends after a complete exchange (not after an error).
  void ResetConnection(bool clean = false) {
    if (clean && tls_stream_ && tls_stream_->ok()) {
      // Keep the session (TLS 1.3 ticket) so the next connection can resume it and skip the
      // certificate exchange and verification; parsed, as a connection that ends after each
      // response reconnects at the next call (a handed-over connection gave its session at
      // Idle()).
      if (TlsSession session = tls_stream_->TakeSession(); !session.empty()) {
        session_ = std::move(session);
      }
    }
    AbortConnection();
    tls_stream_.reset();
    tcp_stream_.reset();
    buffer_.clear();
    if (buffer_.capacity() > kMaxIdleBuffer) buffer_.shrink_to_fit();
  }

  // A connection kept between calls: a TLS 1.3 one drops its SSL object (net/tls_socket.h), and
  // its session, taken now in its compact encoded form (needed only if the connection breaks),
  // replaces the one it may have resumed: one session kept per client.
  void Idle() {
    if (!connected_ || !tls_stream_ || tls_stream_->handed_over() || !tls_stream_->Handover())
      return;
    if (TlsSession session = tls_stream_->TakeSession(); !session.empty())
      session_ = std::move(session);
  }

  // No timer stays armed on an idle connection, so nothing runs for this client between calls.
  void DisarmTimers() {
    if (tls_stream_) tls_stream_->expires_never();
    if (tcp_stream_) tcp_stream_->expires_never();
  }

  static Clock::time_point Earlier(Clock::time_point deadline, std::chrono::milliseconds d) {
    return std::min(deadline, Clock::now() + d);
  }

  static std::string Cause(const boost::system::error_code& ec) {
    if (ec == beast::error::timeout) return "timed out";
    return ec.message();
  }

  // Resolves, connects and (for TLS) handshakes, leaving a connected stream.
  awaitable<std::optional<Failure>> Connect(Clock::time_point deadline) {
    ResetConnection();
    // Resolve (skipped for IP literals, the usual case for kubelets).
    tcp::resolver::results_type endpoints;
    if (host_is_ip_) {
      endpoints = tcp::resolver::results_type::create(
          tcp::endpoint(asio::ip::make_address(endpoint_.host), endpoint_.port), endpoint_.host,
          std::to_string(endpoint_.port));
    } else {
      resolve_timer_.expires_at(Earlier(deadline, options_.connect_timeout));
      uint64_t generation = ++resolve_generation_;
      resolve_timed_out_ = false;
      resolve_timer_.async_wait([self = Self(), generation](const boost::system::error_code& ec) {
        // A late expiry must not touch a later resolve.
        if (!ec && generation == self->resolve_generation_) {
          self->resolve_timed_out_ = true;
          self->resolver_.cancel();
        }
      });
      auto [ec, results] =
          co_await resolver_.async_resolve(endpoint_.host, std::to_string(endpoint_.port), kTuple);
      ++resolve_generation_;
      resolve_timer_.cancel();
      if (ec) co_return Failure{"resolve", resolve_timed_out_ ? "timed out" : ec.message()};
      endpoints = std::move(results);
    }

    tcp_stream_.emplace(strand_);
    tcp_stream_->expires_at(Earlier(deadline, options_.connect_timeout));
    auto [cec, ep] = co_await tcp_stream_->async_connect(endpoints, kTuple);
    if (cec) co_return Failure{"connect", Cause(cec)};
    boost::system::error_code ignored;
    tcp_stream_->socket().set_option(tcp::no_delay(true), ignored);

    if (endpoint_.tls) {
      if (!tls_) co_return Failure{"handshake", "no TLS context"};
      tls_stream_.emplace(tcp_stream_->release_socket(), *tls_);
      tcp_stream_.reset();
      if (!tls_stream_->ok()) co_return Failure{"handshake", OpenSslError("creating TLS session")};
      if (auto f = ConfigureTls(tls_stream_->native_handle())) co_return f;
      session_.ApplyTo(tls_stream_->native_handle());
      tls_stream_->expires_at(Earlier(deadline, options_.handshake_timeout));
      auto [hec, hn] = co_await tls_stream_->async_handshake(kTuple);
      if (hec) {
        session_.Clear();
        std::string cause = Cause(hec);
        long verify = SSL_get_verify_result(tls_stream_->native_handle());
        if (verify != X509_V_OK)
          cause += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
        co_return Failure{"handshake", cause};
      }
    }
    DisarmTimers();
    connected_ = true;
    co_return std::nullopt;
  }

  // Sets the name or address to verify and the SNI for one connection.
  std::optional<Failure> ConfigureTls(SSL* ssl) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    const char* configured_host = X509_VERIFY_PARAM_get0_host(param, 0);
    char* configured_ip = X509_VERIFY_PARAM_get1_ip_asc(param);
    bool configured = configured_host != nullptr || configured_ip != nullptr;
    OPENSSL_free(configured_ip);
    std::string sni;
    if (configured) {
      // TlsClientConfig::server_name, inherited from the context.
      if (configured_host != nullptr) sni = configured_host;
    } else if (host_is_ip_) {
      // IP literals verify against IP SANs and send no SNI (RFC 6066).
      if (X509_VERIFY_PARAM_set1_ip_asc(param, endpoint_.host.c_str()) != 1)
        return Failure{"handshake", OpenSslError("setting IP to verify")};
    } else {
      if (X509_VERIFY_PARAM_set1_host(param, endpoint_.host.c_str(), 0) != 1)
        return Failure{"handshake", OpenSslError("setting host name to verify")};
      sni = endpoint_.host;
    }
    if (!sni.empty() && SSL_set_tlsext_host_name(ssl, sni.c_str()) != 1)
      return Failure{"handshake", OpenSslError("setting SNI")};
    return std::nullopt;
  }

  // --- one exchange ----------------------------------------------------------------------------

  static bool HasLineBreak(std::string_view s) {
    return s.find_first_of("\r\n") != std::string_view::npos;
  }

  // Serializes the request head and body into request_bytes_ (storage reused across calls).
  std::optional<Failure> BuildRequest(const Request& in) {
    std::string& out = request_bytes_;
    out.clear();
    if (in.target.empty() || HasLineBreak(in.target) || in.target.find(' ') != std::string::npos)
      return Failure{"write", "invalid request target"};
    std::string_view method = http::to_string(in.method);
    out.append(method.data(), method.size()).append(" ").append(in.target).append(" HTTP/1.1\r\n");
    out.append("Host: ").append(host_port_).append("\r\n");
    if (!options_.user_agent.empty())
      out.append("User-Agent: ").append(options_.user_agent).append("\r\n");
    if (options_.token) {
      std::string token = options_.token();
      if (HasLineBreak(token)) return Failure{"write", "bearer token contains a line break"};
      if (!token.empty()) out.append("Authorization: Bearer ").append(token).append("\r\n");
    }
    for (const auto& [name, value] : in.headers) {
      if (name.empty() || HasLineBreak(name) || HasLineBreak(value) ||
          name.find(':') != std::string::npos)
        return Failure{"write", "invalid header \"" + name + "\""};
      out.append(name).append(": ").append(value).append("\r\n");
    }
    bool has_body = !in.body.empty() || in.method == http::verb::post ||
                    in.method == http::verb::put || in.method == http::verb::patch;
    if (!in.body.empty() && !in.content_type.empty()) {
      if (HasLineBreak(in.content_type)) return Failure{"write", "invalid content type"};
      out.append("Content-Type: ").append(in.content_type).append("\r\n");
    }
    if (has_body)
      out.append("Content-Length: ").append(std::to_string(in.body.size())).append("\r\n");
    if (!in.keep_alive) out.append("Connection: close\r\n");
    out.append("\r\n").append(in.body);
    return std::nullopt;
  }

  static bool ClosedBeforeResponse(const boost::system::error_code& ec, bool got_some) {
    if (got_some) return false;
    return ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == ssl::error::stream_truncated;
  }

  std::string ReadCause(const boost::system::error_code& ec, std::size_t max_body) const {
    if (ec == http::error::body_limit)
      return "body exceeds limit of " + std::to_string(max_body) + " bytes";
    if (ec == http::error::header_limit)
      return "response header exceeds limit of " + std::to_string(options_.max_header_bytes) +
             " bytes";
    if (ec == http::error::buffer_overflow) {
      return "chunk header or trailer exceeds " + std::to_string(buffer_.max_size()) + " bytes";
    }
    if (ec == http::error::end_of_stream) return "connection closed before response";
    if (ec == http::error::partial_message) return "connection closed mid-response";
    if (ec.category() == beast::http::make_error_code(http::error::bad_version).category())
      return "malformed response (" + ec.message() + ")";
    return Cause(ec);
  }

  template <typename S>
  awaitable<std::optional<Failure>> WriteRequest(S& stream, Clock::time_point deadline,
                                                 bool reused) {
    beast::get_lowest_layer(stream).expires_at(deadline);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(request_bytes_), kTuple);
    if (ec) co_return Failure{"write", Cause(ec), reused && ClosedBeforeResponse(ec, false)};
    co_return std::nullopt;
  }

  template <typename S>
  awaitable<std::optional<Failure>> Exchange(S& stream, Call& call, bool reused, Response& out) {
    if (auto f = co_await WriteRequest(stream, call.deadline, reused)) co_return f;
    http::response_parser<AppendedStringBody> parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    if (call.max_body_bytes > 0)
      parser.body_limit(call.max_body_bytes);
    else
      parser.body_limit(boost::none);
    beast::get_lowest_layer(stream).expires_at(call.deadline);
    auto [ec, n] = co_await http::async_read_header(stream, buffer_, parser, kTuple);
    if (ec) {
      co_return Failure{"read", ReadCause(ec, call.max_body_bytes),
                        reused && ClosedBeforeResponse(ec, parser.got_some())};
    }
    if (auto length = parser.content_length(); length && !parser.is_done()) {
      // The usual case: read the body straight into the response, not through buffer_ and the
      // parser (one copy instead of two, and reads as large as the TLS records).
      if (auto f = co_await ReadBody(stream, *length, call.max_body_bytes, out.body)) co_return f;
    } else {
      if (auto f = co_await ReadFramedBody(stream, parser, call.max_body_bytes)) co_return f;
      out.body = std::move(parser.get().body());
    }
    auto& msg = parser.get();
    out.status = msg.result_int();
    auto ct = msg.find(http::field::content_type);
    if (ct != msg.end()) out.content_type = std::string(ct->value());
    bool keep = parser.keep_alive() && call.request.keep_alive;
    if (!keep) {
      ResetConnection(/*clean=*/true);
    } else if (buffer_.capacity() > kMaxIdleBuffer) {
      buffer_.shrink_to_fit();
    }
    co_return std::nullopt;
  }

  // Reads a chunked body (as Go servers, kubelets among them, send what they stream) or one
  // delimited by the end of the connection: each read takes what the stream has (a TLS record
  // or more) into buffer_, and Beast's parser then decodes all of it in one go (eager), instead
  // of one Beast read operation per chunk-size line and per piece of chunk data. A chunk-size
  // line (with its extensions) or the trailer section must fit in buffer_, and the bytes on the
  // wire are counted, so framing cannot grow past the limit either.
  template <typename S>
  awaitable<std::optional<Failure>> ReadFramedBody(
      S& stream, http::response_parser<AppendedStringBody>& parser, std::size_t max_body) {
    const std::size_t wire_limit = WireBodyLimit(max_body, buffer_.max_size());
    std::size_t wire = 0;
    bool eof = false;
    parser.eager(true);
    // Room for a body as large as the last one read this way and an eighth more, so that one
    // copy of each chunk is all it costs (kubelets answer every scrape with about the same);
    // at most kMaxBodyHint, so that one large list does not make every later answer reserve
    // as much.
    std::size_t hint = std::min(framed_body_hint_ + framed_body_hint_ / 8, kMaxBodyHint);
    if (max_body > 0) hint = std::min(hint, max_body);
    parser.get().body().reserve(hint);
    for (;;) {
      while (buffer_.size() > 0 && !parser.is_done()) {
        boost::system::error_code ec;
        const std::size_t used = parser.put(buffer_.data(), ec);
        buffer_.consume(used);
        if (ec == http::error::need_more) break;
        if (ec) co_return Failure{"read", ReadCause(ec, max_body)};
        if (used == 0) break;
      }
      if (parser.is_done()) {
        framed_body_hint_ = parser.get().body().size();
        co_return std::nullopt;
      }
      if (eof) {
        boost::system::error_code ec;
        parser.put_eof(ec);  // completes a body delimited by the close; else partial_message
        if (ec) co_return Failure{"read", ReadCause(ec, max_body)};
        framed_body_hint_ = parser.get().body().size();
        co_return std::nullopt;
      }
      const std::size_t room = buffer_.max_size() - buffer_.size();
      if (room == 0) co_return Failure{"read", ReadCause(http::error::buffer_overflow, max_body)};
      const std::size_t want =
          std::min(room, std::max(kFramedRead, buffer_.capacity() - buffer_.size()));
      auto [ec, n] = co_await stream.async_read_some(buffer_.prepare(want), kTuple);
      buffer_.commit(n);
      wire += n;
      if (wire_limit > 0 && wire > wire_limit)
        co_return Failure{"read", ReadCause(http::error::body_limit, max_body)};
      if (ec == asio::error::eof) {
        eof = true;
      } else if (ec) {
        co_return Failure{"read", ReadCause(ec, max_body)};
      }
    }
  }

  // Reads a body of exactly `length` bytes into `body`: first what buffer_ holds past the
  // header, then the rest from the stream. Bytes past the body stay in buffer_.
  template <typename S>
  awaitable<std::optional<Failure>> ReadBody(S& stream, std::uint64_t length, std::size_t max_body,
                                             std::string& body) {
    if (max_body > 0 && length > max_body)
      co_return Failure{"read", "body exceeds limit of " + std::to_string(max_body) + " bytes"};
    body.resize(static_cast<std::size_t>(length));
    std::size_t buffered = std::min(body.size(), buffer_.size());
    asio::buffer_copy(asio::buffer(body), buffer_.data(), buffered);
    buffer_.consume(buffered);
    if (buffered == body.size()) co_return std::nullopt;
    auto [ec, n] = co_await asio::async_read(
        stream, asio::buffer(body.data() + buffered, body.size() - buffered), kTuple);
    if (!ec) co_return std::nullopt;
    body.clear();
    if (ec == asio::error::eof || ec == ssl::error::stream_truncated)
      co_return Failure{"read", "connection closed mid-response"};
    co_return Failure{"read", Cause(ec)};
  }

  awaitable<base::Status> DoSend(Call& call, Response& out) {
    if (auto f = BuildRequest(call.request)) co_return Error(*f);
    if (Clock::now() >= call.deadline)
      co_return Error(Failure{"queue", "deadline passed while waiting for earlier calls"});
    for (int attempt = 0;; ++attempt) {
      bool reused = Connected();
      if (!reused) {
        if (auto f = co_await Connect(call.deadline)) {
          ResetConnection();
          co_return Error(*f);
        }
      }
      if (call.epoch != epoch_) co_return Cancelled();
      std::optional<Failure> f;
      if (tls_stream_)
        f = co_await Exchange(*tls_stream_, call, reused, out);
      else
        f = co_await Exchange(*tcp_stream_, call, reused, out);
      DisarmTimers();
      if (!f) {
        Idle();
        co_return base::Status::Ok();
      }
      ResetConnection();
      if (f->retryable && attempt == 0 && call.epoch == epoch_) continue;
      co_return Error(*f);
    }
  }

  // --- streaming -------------------------------------------------------------------------------

  template <typename S>
  awaitable<std::optional<Failure>> StreamExchange(S& stream, Call& call, bool reused,
                                                   Clock::time_point deadline, bool& stopped) {
    if (auto f = co_await WriteRequest(stream, deadline, reused)) co_return f;
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    parser.body_limit(boost::none);  // enforced below, over decoded bytes
    beast::get_lowest_layer(stream).expires_at(deadline);
    auto [ec, n] = co_await http::async_read_header(stream, buffer_, parser, kTuple);
    if (ec) {
      co_return Failure{"read", ReadCause(ec, call.max_body_bytes),
                        reused && ClosedBeforeResponse(ec, parser.got_some())};
    }
    const auto& head = parser.get();
    auto ct = head.find(http::field::content_type);
    std::string_view content_type = ct != head.end()
                                        ? std::string_view(ct->value().data(), ct->value().size())
                                        : std::string_view();
    if (call.handlers.on_headers && !call.handlers.on_headers(head.result_int(), content_type)) {
      stopped = true;
      co_return std::nullopt;
    }
    if (!stream_buffer_) stream_buffer_ = std::make_unique<char[]>(kStreamChunk);
    std::size_t total = 0;
    const std::size_t wire_limit = WireBodyLimit(call.max_body_bytes, buffer_.max_size());
    std::size_t wire = 0;
    while (!parser.is_done()) {
      parser.get().body().data = stream_buffer_.get();
      parser.get().body().size = kStreamChunk;
      beast::get_lowest_layer(stream).expires_after(call.idle_timeout);
      auto [rec, rn] = co_await http::async_read_some(stream, buffer_, parser, kTuple);
      if (rec == http::error::need_buffer) rec = {};
      std::size_t got = kStreamChunk - parser.get().body().size;
      wire += rn;
      total += got;
      if (call.max_body_bytes > 0 && (total > call.max_body_bytes || wire > wire_limit)) {
        co_return Failure{
            "read", "body exceeds limit of " + std::to_string(call.max_body_bytes) + " bytes"};
      }
      if (got > 0) {
        if (call.handlers.on_data &&
            !call.handlers.on_data(std::string_view(stream_buffer_.get(), got))) {
          stopped = true;
          co_return std::nullopt;
        }
      }
      if (rec) {
        if (rec == beast::error::timeout)
          co_return Failure{"read", "idle timeout after " + Millis(call.idle_timeout)};
        co_return Failure{"read", ReadCause(rec, call.max_body_bytes)};
      }
    }
    if (!parser.keep_alive()) stopped = true;
    co_return std::nullopt;
  }

  awaitable<base::Status> DoStream(Call& call) {
    if (auto f = BuildRequest(call.request)) co_return Error(*f);
    Clock::time_point deadline = Clock::now() + call.connect_budget;
    for (int attempt = 0;; ++attempt) {
      bool reused = Connected();
      if (!reused) {
        if (auto f = co_await Connect(deadline)) {
          ResetConnection();
          co_return Error(*f);
        }
      }
      if (call.epoch != epoch_) co_return Cancelled();
      bool stopped = false;
      std::optional<Failure> f;
      if (tls_stream_)
        f = co_await StreamExchange(*tls_stream_, call, reused, deadline, stopped);
      else
        f = co_await StreamExchange(*tcp_stream_, call, reused, deadline, stopped);
      DisarmTimers();
      if (!f) {
        // A stream stopped early leaves unread bytes on the connection: never reuse it.
        if (stopped) ResetConnection(/*clean=*/true);
        Idle();
        co_return base::Status::Ok();
      }
      ResetConnection();
      if (f->retryable && attempt == 0 && call.epoch == epoch_) continue;
      co_return Error(*f);
    }
  }

  asio::strand<asio::io_context::executor_type> strand_;
  const std::shared_ptr<ssl::context> tls_;
  const Endpoint endpoint_;
  const ClientOptions options_;
  const std::string host_port_;
  const bool host_is_ip_;

  // Everything below is touched only on strand_.
  tcp::resolver resolver_;
  asio::steady_timer resolve_timer_;
  uint64_t resolve_generation_ = 0;
  bool resolve_timed_out_ = false;
  std::optional<beast::tcp_stream> tcp_stream_;  // plain connection, or TCP before the handshake
  std::optional<TlsSocket> tls_stream_;
  TlsSession session_;  // the last resumable TLS session
  bool connected_ = false;
  // Read buffer, kept across requests; at most max_header_bytes, which bounds what a response
  // head, a chunk-size line with its extensions and a trailer section can each take.
  beast::flat_buffer buffer_;
  std::size_t framed_body_hint_ = 0;  // the size of the last chunked or close-delimited body
  std::string request_bytes_;  // the serialized request being sent, storage reused
  std::unique_ptr<char[]> stream_buffer_;
  std::deque<Call> queue_;
  bool running_ = false;
  uint64_t epoch_ = 0;  // bumped by Close(); calls from an older epoch are cancelled
};

}  // namespace

std::shared_ptr<HttpClient> HttpClient::Create(asio::io_context& io,
                                               std::shared_ptr<ssl::context> tls, Endpoint endpoint,
                                               ClientOptions options) {
  return std::make_shared<HttpClientImpl>(io, std::move(tls), std::move(endpoint),
                                          std::move(options));
}

base::Result<Response> HttpClient::SendSync(Request request, std::chrono::milliseconds timeout,
                                            std::size_t max_body_bytes) {
  auto promise = std::make_shared<std::promise<base::Result<Response>>>();
  auto future = promise->get_future();
  Send(std::move(request), Clock::now() + timeout, max_body_bytes,
       [promise](base::Result<Response> r) { promise->set_value(std::move(r)); });
  // The client enforces `timeout`; the margin only guards against an io_context nobody runs.
  if (future.wait_for(timeout + std::chrono::seconds(5)) != std::future_status::ready)
    return base::MakeError("no result within " + Millis(timeout) + " (is the io_context running?)");
  return future.get();
}

}  // namespace net
