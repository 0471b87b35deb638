#include "apiserver/server.h"

#include "apiserver/http_parser.h"
#include "apiserver/status.h"
#include "base/mutex.h"
#include "net/tls_socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cstdio>
#include <list>
#include <optional>

namespace apiserver {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// How long a connection accepted before Shutdown() may take to send its first request.
constexpr std::chrono::milliseconds kDrainFirstRequest{5000};
// A read buffer that grew beyond this for one large request head is released once that
// request is answered; ordinary heads fit in it, so it is not reallocated for every request.
constexpr std::size_t kKeptReadBuffer = 4 * 1024;

namespace {
int LocalAddressIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d; name it as it connected.
std::string AddressText(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

// The answer to a request refused by one of the server's caps: 429 with Retry-After.
HttpResponse TooManyRequests(std::string message) {
  HttpResponse r = ErrorResponse(TooManyRequestsError(std::move(message)));
  r.headers.emplace_back("Retry-After", "1");
  return r;
}
}  // namespace

const std::string* LocalAddressOf(const SSL* ssl) {
  return static_cast<const std::string*>(SSL_get_ex_data(ssl, LocalAddressIndex()));
}

struct Server::State {
  State(asio::io_context& i, ServerOptions o, TlsContextProvider& t, Handler& h)
      : io(i),
        acceptor(asio::make_strand(i)),
        accept_retry(acceptor.get_executor()),
        options(std::move(o)),
        tls(t),
        handler(h) {}
  asio::io_context& io;
  // Owned here rather than by Server: a pending accept holds the State, so its completion can
  // never run on a destroyed Server.
  tcp::acceptor acceptor;
  // Back-off after a failed accept (on the acceptor's strand, like accept_delay).
  asio::steady_timer accept_retry;
  std::chrono::milliseconds accept_delay{0};
  std::atomic<uint64_t> accept_errors{0};
  const ServerOptions options;
  TlsContextProvider& tls;
  Handler& handler;  // used only while the io_context runs
  std::atomic<uint32_t> in_flight{0};
  std::atomic<uint64_t> response_bytes{0};  // bodies being written (max_response_bytes_pending)
  std::atomic<bool> draining_flag{false};

  struct Entry {
    std::weak_ptr<Session> session;
    bool idle = false;
    std::list<Session*>::iterator idle_at;             // its place in `idle` while idle
    std::chrono::steady_clock::time_point idle_since;  // while idle
  };
  base::Mutex mu;
  std::unordered_map<Session*, Entry> sessions GUARDED_BY(mu);
  // Kept-alive sessions waiting for their next request, the longest waiting first.
  std::list<Session*> idle GUARDED_BY(mu);
  bool draining GUARDED_BY(mu) = false;
  bool listener_closed GUARDED_BY(mu) = false;  // by Shutdown, on the acceptor's strand
  std::function<void()> drained GUARDED_BY(mu);

  size_t Connections() {
    base::MutexLock lock(mu);
    return sessions.size();
  }
  static void Accept(std::shared_ptr<State> self);
  void Register(Session* raw, const std::shared_ptr<Session>& s) {
    base::MutexLock lock(mu);
    Entry entry;
    entry.session = s;
    sessions.emplace(raw, std::move(entry));
  }
  void Unregister(Session* s) {
    std::function<void()> done;
    {
      base::MutexLock lock(mu);
      auto it = sessions.find(s);
      if (it != sessions.end()) {
        if (it->second.idle) idle.erase(it->second.idle_at);
        sessions.erase(it);
      }
      if (draining && listener_closed && sessions.empty() && drained) done = std::move(drained);
    }
    if (done) done();
  }
  // Shutdown closed the listener: drained once no connection remains (now, if none does).
  void ListenerClosed() {
    std::function<void()> done;
    {
      base::MutexLock lock(mu);
      listener_closed = true;
      if (sessions.empty() && drained) done = std::move(drained);
    }
    if (done) done();
  }
  // Moves a session onto or off the idle list.
  void SetIdle(Session* s, bool is_idle) {
    base::MutexLock lock(mu);
    auto it = sessions.find(s);
    if (it == sessions.end() || it->second.idle == is_idle) return;
    if (is_idle) {
      it->second.idle_at = idle.insert(idle.end(), s);
      it->second.idle_since = std::chrono::steady_clock::now();
    } else {
      idle.erase(it->second.idle_at);
    }
    it->second.idle = is_idle;
  }
  // The session idle the longest, taken off the idle list; null when none has been idle for
  // options.evictable_idle.
  std::shared_ptr<Session> TakeLongestIdle() {
    base::MutexLock lock(mu);
    const auto idle_before = std::chrono::steady_clock::now() - options.evictable_idle;
    while (!idle.empty()) {
      Entry& entry = sessions.at(idle.front());
      if (entry.idle_since > idle_before) return nullptr;  // the longest idle is too recent
      idle.pop_front();
      entry.idle = false;
      if (auto session = entry.session.lock()) return session;
    }
    return nullptr;
  }
};

class Server::Session : public std::enable_shared_from_this<Server::Session> {
 public:
  Session(std::shared_ptr<State> state, tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx)
      : server_(*state),
        state_(std::move(state)),
        ctx_(std::move(ctx)),
        executor_(socket.get_executor()),
        tcp_(std::move(socket)),
        buffer_(ReadBufferLimit(server_.options)) {}
  ~Session() {
    if (body_stream_) body_stream_->Cancel();
    ReleaseResponseBytes();
    state_->Unregister(this);
  }

  void Run() {
    asio::dispatch(executor_,
                   beast::bind_front_handler(&Session::WaitForHello, shared_from_this()));
  }

  // Called on Shutdown(): closes the connection if it is an idle keep-alive one (its client
  // retries on a new connection, as HTTP allows). A connection that has not carried a request
  // yet was accepted before the listener closed and its request may be on the way: it gets
  // kDrainFirstRequest to arrive and is then served with "Connection: close", as Go's
  // http.Server.Shutdown does for new connections. A request being handled finishes.
  // Called at the connection limit on the session idle the longest: closes the connection if it
  // still waits for its next request and none of that request has arrived (its client
  // reconnects when it next needs to, as after the idle timeout); a request that began
  // meanwhile is served.
  void Evict() {
    asio::dispatch(executor_, [self = shared_from_this()] {
      if (self->busy_ || !self->awaiting_next_ || self->buffer_.size() > 0) return;
      self->CloseSocket();
    });
  }

  void Drain() {
    asio::dispatch(executor_, [self = shared_from_this()] {
      // A stream (a watch) ends: its terminating chunk is written and the connection closes.
      // A finite stream (a large list) is a request being handled: it finishes, then closes.
      if (self->body_stream_ && !self->stream_finite_) return self->body_stream_->Cancel();
      if (self->busy_) return;
      if (self->served_) return self->CloseSocket();
      if (!self->stream_) {
        // Still waiting for the first bytes: the hello timer bounds that wait.
        if (self->hello_timer_ &&
            self->hello_timer_->expiry() - asio::steady_timer::clock_type::now() >
                kDrainFirstRequest) {
          self->ArmHelloTimer(kDrainFirstRequest);
        }
        return;
      }
      self->ExpiresAfter(kDrainFirstRequest);
    });
  }

 private:
  // The connection's socket: tcp_ until the first bytes arrive, then stream_'s.
  void ExpiresAfter(asio::steady_timer::duration d) {
    if (stream_) return stream_->expires_after(d);
    tcp_.expires_after(d);
  }
  void ExpiresNever() {
    if (stream_) return stream_->expires_never();
    tcp_.expires_never();
  }
  void CloseSocket() {
    if (stream_) return stream_->close();
    tcp_.close();
  }

  // While a finite stream is written, its TLS records (a socket write of up to 16 records on a
  // handed-over connection, of one through an SSL object) leave in full segments instead of
  // one packet per write: fewer packets for the kernel to send and the client to take.
  // Uncorking sends what is held at once.
  void Cork(bool on) {
    const int value = on ? 1 : 0;
    const int fd = stream_ ? stream_->socket().native_handle() : tcp_.socket().native_handle();
    ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
  }

  // Until the client's first bytes arrive the session holds only its socket and a timer: the
  // TLS state (an SSL object, ~16 KiB, and OpenSSL's buffers during the handshake) is made
  // when there is a handshake to do, so a flood of idle TCP connections costs little memory.
  // Both count against max_connections and end at the handshake timeout.
  void WaitForHello() {
    hello_timer_.emplace(executor_);
    ArmHelloTimer(server_.options.handshake_timeout);
    tcp_.socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
          const auto left = self->hello_timer_->expiry() - asio::steady_timer::clock_type::now();
          self->hello_timer_.reset();  // cancels its wait
          if (ec || !self->tcp_.socket().is_open()) return;
          self->Handshake(left);
        });
  }

  // (Re)starts the wait for the first bytes; a pending wait ends with operation_aborted.
  void ArmHelloTimer(asio::steady_timer::duration timeout) {
    hello_timer_->expires_after(timeout);
    hello_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && !self->stream_) self->tcp_.close();
    });
  }

  void Handshake(asio::steady_timer::duration left) {
    beast::error_code ec;
    const auto local = tcp_.socket().local_endpoint(ec);
    if (!ec) local_address_ = AddressText(local.address());
    stream_.emplace(tcp_.release_socket(), *ctx_);
    if (!stream_->ok()) {
      spdlog::error("https connection: cannot allocate its TLS state; closing it");
      return stream_->close();
    }
    SSL_set_ex_data(stream_->native_handle(), LocalAddressIndex(), &local_address_);
    // Request (not require) a client certificate; authentication verifies it.
    SSL_set_verify(stream_->native_handle(), SSL_VERIFY_PEER,
                   [](int, X509_STORE_CTX*) { return 1; });
    // The handshake timeout covers the wait for the first byte too.
    ExpiresAfter(std::max<asio::steady_timer::duration>(left, std::chrono::milliseconds(1)));
    stream_->async_server_handshake(
        beast::bind_front_handler(&Session::OnHandshake, shared_from_this()));
  }

  void OnHandshake(beast::error_code ec, std::size_t) {
    if (ec) return Fail(ec, "handshake");
    X509* leaf = SSL_get1_peer_certificate(stream_->native_handle());
    if (leaf != nullptr) {
      peer_ = std::make_shared<const PeerCertificates>(
          leaf, SSL_get_peer_cert_chain(stream_->native_handle()));
      X509_free(leaf);
    }
    // A TLS 1.3 connection continues on its traffic keys alone (net::TlsSocket): no SSL object
    // while it is idle, and a large response leaves in batches of records.
    stream_->Handover();
    Read(true);
  }

  void Read(bool first) {
    const bool draining = server_.draining_flag.load();
    // A kept-alive connection about to wait for its next request is an idle one: closed at
    // once, as Drain() closes it when it comes first. (A TLS shutdown here would wait up to 5 s
    // for the close_notify of a client that is not reading, and only because Shutdown() came
    // between the write and its completion.)
    if (draining && !first) return CloseSocket();
    if (!first) {
      awaiting_next_ = true;
      server_.SetIdle(this, true);
    }
    parser_.emplace();
    ApplyLimits(server_.options, *parser_);
    head_ = false;
    // An idle keep-alive connection gets the idle timeout; a request, once started, is bounded
    // by the read timeout as a whole (the shorter of both applies to the first request).
    auto timeout = first ? server_.options.read_timeout : server_.options.idle_timeout;
    if (draining) timeout = std::min<std::chrono::milliseconds>(timeout, kDrainFirstRequest);
    ExpiresAfter(timeout);
    http::async_read_header(*stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  // The head is complete. No endpoint takes a body, so a request that announces one is refused
  // here, before any byte of it is read; every other request is complete already.
  void OnHeader(beast::error_code ec, std::size_t) {
    if (awaiting_next_) {
      awaiting_next_ = false;
      server_.SetIdle(this, false);
    }
    if (ec) return ReadFailed(ec);
    if (auto refused = RefuseHead(*parser_)) {
      keep_alive_ = false;
      return Write(std::move(*refused), false);
    }
    RequestMessage msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    head_ = msg.method() == http::verb::head;
    HttpRequest req = ToHttpRequest(msg, peer_);
    busy_ = true;
    ExpiresNever();
    // Health probes bypass the in-flight cap: requests waiting on reviews must not make the
    // kubelet's liveness probe fail and restart the pod.
    const bool counted = !IsHealthProbe(msg.method(), req.target);
    if (counted && server_.in_flight.fetch_add(1) >= server_.options.max_requests_in_flight) {
      server_.in_flight.fetch_sub(1);
      return Write(TooManyRequests("Too many requests, please try again later."), false);
    }
    server_.handler.Handle(std::move(req), [self = shared_from_this(), counted](HttpResponse r) {
      // Admitted where it was produced, before it waits for the strand: a large body that does
      // not fit the budget is dropped at once instead of queueing with many others.
      self->Admit(r);
      asio::post(self->executor_, [self, counted, r = std::move(r)]() mutable {
        self->Write(std::move(r), counted);
      });
    });
  }

  void ReadFailed(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == asio::ssl::error::stream_truncated || ec == beast::error::timeout) {
      return Close();
    }
    const auto unparsed = buffer_.data();
    if (auto r = ReadErrorResponse(
            ec, *parser_,
            std::string_view(static_cast<const char*>(unparsed.data()), unparsed.size()))) {
      keep_alive_ = false;
      buffer_.clear();
      return Write(std::move(*r), false);
    }
    Fail(ec, "read");
  }

  // Reserves the body's bytes in the server-wide budget; false when it does not fit (a body of
  // at most small_response_bytes, or the only one pending, always fits).
  bool ReserveResponseBytes(uint64_t size) {
    const uint64_t before = server_.response_bytes.fetch_add(size);
    if (size > server_.options.small_response_bytes && before > 0 &&
        before + size > server_.options.max_response_bytes_pending) {
      server_.response_bytes.fetch_sub(size);
      return false;
    }
    reserved_bytes_ = size;
    return true;
  }
  void ReleaseResponseBytes() {
    if (reserved_bytes_ != 0) server_.response_bytes.fetch_sub(reserved_bytes_);
    reserved_bytes_ = 0;
  }

  // Reserves the response's body in the budget, or replaces it by a 429 when it does not fit.
  // Once per response (admitted_ tells Write it was done); the session is busy meanwhile, so
  // nothing else touches its members.
  void Admit(HttpResponse& r) {
    admitted_ = true;
    if (head_ || ReserveResponseBytes(r.stream ? r.stream_size : r.body_size())) return;
    if (r.stream) r.stream->Cancel();
    r = TooManyRequests("Too many large responses pending, please try again later.");
    ReserveResponseBytes(r.body.size());  // small: always fits
  }

  void Write(HttpResponse r, bool counted) {
    // The request is handled once its response exists; writing it no longer counts.
    if (counted) server_.in_flight.fetch_sub(1);
    if (!admitted_) Admit(r);
    admitted_ = false;
    if (r.stream) {
      if (!head_ && (r.stream_finite || !server_.draining_flag.load())) {
        return WriteStreamHead(std::move(r));
      }
      // HEAD, or shutting down: the headers alone, then close (a finite stream's HEAD gives
      // its length and keeps the connection, as any other response's).
      r.stream->Cancel();
      r.stream.reset();
      if (!r.stream_finite) keep_alive_ = false;
    }
    const bool keep = keep_alive_ && !server_.draining_flag.load();
    if (r.shared_body && !head_) return WriteShared(std::move(r), keep);
    auto res = std::make_shared<http::response<http::string_body>>();
    SetHead(*res, r);
    res->keep_alive(keep);
    const size_t size = r.stream_finite ? r.stream_size : r.body_size();
    if (!head_) res->body() = std::move(r.body);
    res->prepare_payload();
    if (head_) res->content_length(size);
    response_ = res;
    ExpiresAfter(server_.options.write_timeout);
    if (head_) {
      auto sr = std::make_shared<http::response_serializer<http::string_body>>(*res);
      serializer_ = sr;
      http::async_write_header(
          *stream_, *sr, beast::bind_front_handler(&Session::OnWrite, shared_from_this(), keep));
      return;
    }
    http::async_write(*stream_, *res,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this(), keep));
  }

  // A response whose body is a shared buffer: written from the buffer, which the response
  // holds until the write ends.
  struct SharedBodyResponse {
    std::shared_ptr<const std::string> owner;
    http::response<http::span_body<const char>> message;
  };
  void WriteShared(HttpResponse r, bool keep) {
    auto res = std::make_shared<SharedBodyResponse>();
    res->owner = std::move(r.shared_body);
    SetHead(res->message, r);
    res->message.keep_alive(keep);
    res->message.body() = {res->owner->data(), res->owner->size()};
    res->message.prepare_payload();
    response_ = res;
    ExpiresAfter(server_.options.write_timeout);
    http::async_write(*stream_, res->message,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this(), keep));
  }

  // The status line and the headers every response carries, plus the handler's own.
  template <class Body>
  static void SetHead(http::response<Body>& res, const HttpResponse& r) {
    res.version(11);
    res.result(r.status);
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-cache, private");
    res.set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : r.headers) res.insert(k, v);
  }

  // A streamed body: the headers with chunked transfer encoding, then one HTTP chunk per
  // StreamChunk as the stream produces them, each write bounded by the write timeout; between
  // chunks the connection waits without a deadline (a watch lasts as long as its stream). A
  // finite stream instead has a Content-Length, its chunks come at once and written as they are
  // (WriteFiniteChunk), and the connection is kept alive after it.
  void WriteStreamHead(HttpResponse r) {
    body_stream_ = std::move(r.stream);
    stream_finite_ = r.stream_finite;
    auto res = std::make_shared<http::response<http::empty_body>>();
    SetHead(*res, r);
    stream_keep_ = stream_finite_ && keep_alive_ && !server_.draining_flag.load();
    res->keep_alive(stream_keep_);
    if (stream_finite_) {
      res->content_length(r.stream_size);
      stream_left_ = r.stream_size;
      Cork(true);
    } else {
      res->chunked(true);
    }
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    response_ = res;
    serializer_ = sr;
    ExpiresAfter(server_.options.write_timeout);
    http::async_write_header(*stream_, *sr,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               self->response_.reset();
                               self->serializer_.reset();
                               if (ec) return self->StreamFailed(ec);
                               self->NextChunk();
                             });
  }

  void NextChunk() {
    if (stream_finite_) {
      ExpiresAfter(server_.options.write_timeout);
    } else {
      // A watch waits for its next window: it keeps no buffer of sealed records meanwhile
      // (a finite stream's next chunk follows at once and reuses it).
      stream_->ReleaseBuffers();
      ExpiresNever();
    }
    body_stream_->Next([self = shared_from_this()](StreamChunk chunk) {
      asio::post(self->executor_, [self, chunk = std::move(chunk)]() mutable {
        self->WriteChunk(std::move(chunk));
      });
    });
  }

  void WriteChunk(StreamChunk chunk) {
    if (!body_stream_) return;  // the connection failed meanwhile
    if (stream_finite_) return WriteFiniteChunk(std::move(chunk));
    chunk_ = std::move(chunk);
    std::vector<asio::const_buffer> buffers;
    if (chunk_.end) {
      static constexpr std::string_view kLast = "0\r\n\r\n";
      buffers.emplace_back(kLast.data(), kLast.size());
    } else {
      size_t size = 0;
      for (std::string_view p : chunk_.parts) size += p.size();
      char hex[20];
      const int n = std::snprintf(hex, sizeof hex, "%zx\r\n", size);
      chunk_head_.assign(hex, static_cast<size_t>(n));
      buffers.reserve(chunk_.parts.size() + 2);
      buffers.emplace_back(chunk_head_.data(), chunk_head_.size());
      for (std::string_view p : chunk_.parts) {
        if (!p.empty()) buffers.emplace_back(p.data(), p.size());
      }
      buffers.emplace_back("\r\n", 2);
    }
    ExpiresAfter(server_.options.write_timeout);
    asio::async_write(*stream_, buffers,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        const bool end = self->chunk_.end;
                        self->chunk_ = StreamChunk{};
                        if (ec) return self->StreamFailed(ec);
                        if (end) {
                          self->body_stream_.reset();
                          self->busy_ = false;
                          self->served_ = true;
                          return self->Close();
                        }
                        self->NextChunk();
                      });
  }

  // A finite stream's chunk: its bytes as they are (the head gave the Content-Length). A stream
  // that ends short of that length or goes past it has broken the framing: the connection
  // closes (the client sees a truncated body) instead of carrying another response.
  void WriteFiniteChunk(StreamChunk chunk) {
    size_t size = 0;
    for (std::string_view p : chunk.parts) size += p.size();
    if (chunk.end || size > stream_left_) {
      Cork(false);
      body_stream_->Cancel();
      body_stream_.reset();
      stream_finite_ = false;
      if (!chunk.end || stream_left_ != 0) {
        spdlog::error(
            "https connection: a response stream {} its Content-Length ({} bytes left, "
            "{} more given); closing the connection",
            chunk.end ? "ended short of" : "went past", stream_left_, size);
        busy_ = false;
        ReleaseResponseBytes();
        return CloseSocket();
      }
      // As any response's end (a shutdown meanwhile closes the now idle connection in Read).
      return OnWrite(stream_keep_, {}, 0);
    }
    stream_left_ -= size;
    chunk_ = std::move(chunk);
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(chunk_.parts.size());
    for (std::string_view p : chunk_.parts) {
      if (!p.empty()) buffers.emplace_back(p.data(), p.size());
    }
    ExpiresAfter(server_.options.write_timeout);
    asio::async_write(*stream_, buffers,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->chunk_ = StreamChunk{};
                        if (ec) return self->StreamFailed(ec);
                        self->NextChunk();
                      });
  }

  void StreamFailed(beast::error_code ec) {
    // Lets go of the stream's callbacks, which hold this session.
    if (body_stream_) body_stream_->Cancel();
    body_stream_.reset();
    stream_finite_ = false;
    busy_ = false;
    ReleaseResponseBytes();
    Fail(ec, "write");
  }

  void OnWrite(bool keep, beast::error_code ec, std::size_t) {
    busy_ = false;
    served_ = true;
    response_.reset();
    serializer_.reset();
    ReleaseResponseBytes();
    if (ec) return Fail(ec, "write");
    if (!keep) return Close();
    if (buffer_.capacity() > kKeptReadBuffer) buffer_.shrink_to_fit();
    Read(false);
  }

  void Close() {
    ExpiresAfter(std::chrono::seconds(5));
    stream_->async_shutdown(beast::bind_front_handler(&Session::OnShutdown, shared_from_this()));
  }

  void OnShutdown(beast::error_code, std::size_t) { CloseSocket(); }

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
  std::string local_address_;                // LocalAddressOf(); must outlive stream_
  asio::any_io_executor executor_;           // the session's strand
  beast::tcp_stream tcp_;                    // until the first bytes; then moved into stream_
  std::optional<asio::steady_timer> hello_timer_;
  std::optional<net::TlsSocket> stream_;
  beast::flat_buffer buffer_;  // at most ReadBufferLimit() bytes
  std::optional<RequestParser> parser_;
  std::shared_ptr<const PeerCertificates> peer_;
  std::shared_ptr<void> response_;
  std::shared_ptr<void> serializer_;
  std::shared_ptr<ResponseStream> body_stream_;  // a streamed response being written
  bool stream_finite_ = false;                   // body_stream_ is HttpResponse::stream_finite
  bool stream_keep_ = false;                     // its head kept the connection alive
  uint64_t stream_left_ = 0;                     // its bytes still to write (finite)
  StreamChunk chunk_;                            // the chunk being written
  std::string chunk_head_;                       // its size line
  uint64_t reserved_bytes_ = 0;  // of State::response_bytes, while a response is written
  bool admitted_ = false;        // the response being written has been through Admit()
  bool keep_alive_ = true;
  bool head_ = false;
  bool busy_ = false;
  bool served_ = false;         // a response was written: the connection is a kept-alive one
  bool awaiting_next_ = false;  // kept alive and reading its next request (on the idle list)
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
    state->accept_retry.cancel();
  });
}

base::Status Server::Listen() {
  const ServerOptions& options = state_->options;
  beast::error_code ec;
  auto address = asio::ip::make_address(options.bind_address, ec);
  if (ec) {
    return base::Status::Error("listen " + options.bind_address + ":" +
                               std::to_string(options.port) + ": invalid address: " + ec.message());
  }
  if (address.is_unspecified()) {
    // Both families on one socket, as Go's net.Listen("tcp", ":port") does.
    auto s = Bind(tcp::endpoint(asio::ip::address_v6::any(), options.port), true, &ec);
    const bool no_ipv6 = ec == asio::error::address_family_not_supported ||
                         ec == boost::system::errc::address_not_available;
    if (s.ok() || !no_ipv6) return s;
    spdlog::info("no IPv6 on this host ({}): listening on IPv4 only", s.message());
    return Bind(tcp::endpoint(asio::ip::address_v4::any(), options.port), false, &ec);
  }
  return Bind(tcp::endpoint(address, options.port), false, &ec);
}

// Whether a socket listens on `endpoint`'s port: one without SO_REUSEPORT cannot bind it then.
// With SO_REUSEADDR, so that the connections of an earlier process left in TIME_WAIT, or a
// socket that is bound but not listening, do not count. A probe that fails otherwise (no
// socket left) counts as no listener.
bool Server::OthersListen(const asio::ip::tcp::endpoint& endpoint, bool dual_stack) {
  tcp::acceptor probe(state_->acceptor.get_executor());
  beast::error_code ec;
  if (probe.open(endpoint.protocol(), ec); ec) return false;
  if (endpoint.address().is_v6()) probe.set_option(asio::ip::v6_only(!dual_stack), ec);
  probe.set_option(asio::socket_base::reuse_address(true), ec);
  probe.bind(endpoint, ec);
  return ec == asio::error::address_in_use;
}

base::Status Server::Bind(const asio::ip::tcp::endpoint& endpoint, bool dual_stack,
                          beast::error_code* error) {
  tcp::acceptor& acceptor = state_->acceptor;
  const bool v6 = endpoint.address().is_v6();
  const std::string where = "listen " + std::string(v6 ? "[" : "") +
                            endpoint.address().to_string() + (v6 ? "]" : "") + ":" +
                            std::to_string(endpoint.port());
  beast::error_code& ec = *error;
  ec.clear();
  auto fail = [&](const char* what) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return base::Status::Error(where + ": " + what + ": " + ec.message());
  };
  if (acceptor.open(endpoint.protocol(), ec); ec) return fail("open");
  if (v6) {
    // Explicit either way: the system default (net.ipv6.bindv6only) varies.
    if (acceptor.set_option(asio::ip::v6_only(!dual_stack), ec); ec) return fail("set_option");
  }
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) {
    return fail("set_option");
  }
  if (state_->options.reuse_port) {
    others_listening_ = endpoint.port() != 0 && OthersListen(endpoint, dual_stack);
    using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    if (acceptor.set_option(reuse_port(true), ec); ec) return fail("set_option SO_REUSEPORT");
  }
  if (acceptor.bind(endpoint, ec); ec) return fail("bind");
  // Sharing the port, a socket that listened now would take its share of the connections
  // before Start(): they would wait in its backlog, or be answered before there is data.
  if (!state_->options.reuse_port) {
    if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
  }
  port_ = acceptor.local_endpoint().port();
  return base::Status::Ok();
}

void Server::Start() {
  // Listening here, on the caller's thread, so that connections made after Start() returns
  // are accepted; Start() comes before any Shutdown().
  if (state_->options.reuse_port && state_->acceptor.is_open()) {
    beast::error_code ec;
    if (state_->acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
      spdlog::critical("listen on port {}: {}", port_, ec.message());
      return;
    }
  }
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
      // Typically EMFILE/ENFILE: retrying at once would spin (the pending connection stays in
      // the backlog), so back off as Go's http.Server does: 5 ms, doubling, at most 1 s.
      self->accept_errors.fetch_add(1);
      using std::chrono::milliseconds;
      self->accept_delay = std::min(milliseconds(1000), self->accept_delay == milliseconds(0)
                                                            ? milliseconds(5)
                                                            : self->accept_delay * 2);
      spdlog::warn("accept: {}; retrying in {} ms", ec.message(), self->accept_delay.count());
      asio::steady_timer& retry = self->accept_retry;
      retry.expires_after(self->accept_delay);
      retry.async_wait([self = std::move(self)](beast::error_code wait_ec) mutable {
        if (wait_ec == asio::error::operation_aborted) return;
        Accept(std::move(self));
      });
      return;
    }
    self->accept_delay = std::chrono::milliseconds(0);
    bool admit = self->Connections() < self->options.max_connections;
    if (!admit) {
      // At the limit the connection idle the longest makes room, as nginx does when its
      // connections run out: otherwise idle keep-alive connections (cheap to hold open) could
      // keep every new client out, the kubelet's probes included.
      if (auto victim = self->TakeLongestIdle()) {
        victim->Evict();
        admit = true;
      }
    }
    if (!admit) {
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

uint64_t Server::response_bytes_pending() const { return state_->response_bytes.load(); }

uint64_t Server::accept_errors() const { return state_->accept_errors.load(); }

void Server::Shutdown(std::function<void()> drained) {
  std::vector<std::shared_ptr<Session>> live;
  {
    base::MutexLock lock(state_->mu);
    if (state_->draining) return;
    state_->draining = true;
    state_->draining_flag.store(true);
    for (auto& [ptr, entry] : state_->sessions) {
      if (auto s = entry.session.lock()) live.push_back(std::move(s));
    }
    state_->drained = std::move(drained);
  }
  // `drained` waits for the listener to be closed too: until then the kernel may still queue a
  // new connection on it (with reuse_port, one a server sharing the port would have served),
  // and closing the listener resets what it queued.
  asio::dispatch(state_->acceptor.get_executor(), [state = state_] {
    beast::error_code ec;
    state->acceptor.close(ec);
    state->accept_retry.cancel();
    state->ListenerClosed();
  });
  for (auto& s : live) s->Drain();
}

}  // namespace apiserver
