// HTTPS/1.1 server on Boost.Beast in the shape of Beast's advanced server examples: one
// self-owning Session per connection living exactly as long as an async operation holds
// shared_from_this(), all of a session's work on its own strand, a deadline before every
// handshake/read/write, a limit on the request head and on each connection's read buffer (no
// request body is accepted: one announced gets 413 right after the headers, unread), a limit on
// the request target (414), a 400 for a malformed request, keep-alive, a server-wide cap on
// requests being handled at once (excess requests get 429 with Retry-After; health probes are
// exempt), a cap on open connections (at the cap the connection idle the longest between
// requests, if idle for evictable_idle, is closed to make room; otherwise the new connection is
// closed at once), and
// a server-wide budget for response bytes waiting to be written, so clients that stop reading
// cannot hold unbounded memory (a response that does not fit while others are pending gets 429
// instead). When accept fails (out of file descriptors), accepting backs off (5 ms doubling to
// 1 s) instead of spinning.
//
// A response with a stream (HttpResponse::stream, a watch) is written with chunked transfer
// encoding, one HTTP chunk per StreamChunk as the stream produces it, each write bounded by
// write_timeout, and the connection closes when the stream ends; it no longer counts against
// max_requests_in_flight once its headers are produced (watches are long-running requests, as in
// k8s.io/apiserver). Shutdown() ends every stream (terminating chunk, then close). A finite
// stream (HttpResponse::stream_finite, a large list written as it is encoded) is a request like
// any other: written with its Content-Length, its size reserved in the response budget, the
// connection kept alive after it, and Shutdown() lets it finish.
//
// Client certificates are requested but not required; the presented chain is handed to the
// Handler unverified (authentication verifies it against the right CA, so a bad certificate is
// a 401 rather than a failed handshake).
//
// Shutdown() stops accepting, closes idle keep-alive connections, lets in-flight requests finish
// (their connections close after the response), gives connections accepted but not yet used up
// to 5 s to send their first request (served with "Connection: close") and then reports
// "drained".
//
// Thread-safety: public methods may be called from any thread. The io_context, the
// TlsContextProvider and the Handler must outlive the Server and every session (stop the
// io_context and join its threads before destroying them).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "apiserver/request.h"
#include "apiserver/request_limits.h"
#include "base/result.h"

namespace apiserver {

// Supplies the TLS context for each new connection (so certificates can be rotated).
class TlsContextProvider {
 public:
  virtual ~TlsContextProvider() = default;
  // Never null once construction succeeded. Called on accept, from any thread.
  virtual std::shared_ptr<boost::asio::ssl::context> Current() = 0;
};

// Handles one parsed request.
class Handler {
 public:
  virtual ~Handler() = default;
  // Must call `done` exactly once, from any thread, possibly before returning. Must not throw.
  virtual void Handle(HttpRequest request, std::function<void(HttpResponse)> done) = 0;
};

// The local IP address (text form) a TLS connection of a Server was accepted on, for TLS callbacks
// that choose a certificate when the client sent no server name; null for other connections.
// Valid during the handshake.
const std::string* LocalAddressOf(const SSL* ssl);

// Besides its own fields, a ServerOptions carries the request-head limits (RequestLimits:
// header_limit_bytes), which the parser helpers of http_parser.h apply.
struct ServerOptions : RequestLimits {
  // 0.0.0.0 or :: listen on every IPv4 and IPv6 address (one dual-stack socket, as Go servers
  // do; IPv4 alone when the host has no IPv6); another address listens on that address only.
  std::string bind_address = "0.0.0.0";
  uint16_t port = 10250;  // 0 = any free port (tests)
  std::chrono::milliseconds handshake_timeout{10000};
  // From the first byte of a request to its complete headers and body.
  std::chrono::milliseconds read_timeout{30000};
  // Keep-alive: how long an idle connection may wait for its next request.
  std::chrono::milliseconds idle_timeout{90000};
  std::chrono::milliseconds write_timeout{60000};
  uint32_t max_requests_in_flight = 400;
  uint32_t max_connections = 10000;
  // At max_connections a new connection closes the kept-alive one idle the longest, if it has
  // waited this long for its next request: idle keep-alive connections (the issue 14 attack:
  // 10,000 of them, each pinged once per idle period) cannot keep the kubelet's probes out,
  // while clients busy on their connections (an HPA, the aggregator) keep them during a flood of
  // new connections.
  std::chrono::milliseconds evictable_idle{5000};
  // Response bodies written but not yet taken by their clients, summed over connections. A
  // response larger than small_response_bytes that would exceed it while others are pending is
  // replaced by a 429 (one response alone is always sent, whatever its size).
  uint64_t max_response_bytes_pending = 256ull * 1024 * 1024;
  uint64_t small_response_bytes = 64 * 1024;
  // SO_REUSEPORT (--permit-port-sharing): several servers of the same user on one port, the
  // kernel spreading new connections over those that listen. The socket is bound by Listen()
  // (a port held without the option still fails there) but listens only from Start(), so that
  // a server sharing the port takes no connection before it can serve them; others_listening()
  // says whether there is another server to share it with.
  bool reuse_port = false;
};

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options, TlsContextProvider& tls,
         Handler& handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (see ServerOptions::bind_address; with reuse_port it only binds). Fails
  // with `listen <addr>:<port>: <reason>`.
  base::Status Listen();
  // The bound port (useful with port 0). Valid after Listen().
  uint16_t port() const { return port_; }
  // With reuse_port: whether another socket was listening on the port when Listen() bound it
  // (a server already serving there, such as the old pod of a rolling upgrade). False without
  // reuse_port, and with port 0 (a port of its own).
  bool others_listening() const { return others_listening_; }
  // Starts accepting on the io_context (with reuse_port, listens first; a failure to listen,
  // which the bind makes unlikely, is logged and leaves the server not accepting).
  void Start();
  // Stops accepting and drains; `drained` runs once, on an io thread (inline when called on the
  // acceptor's strand with no connection left), once the listener is closed and no connection
  // remains: from then on the port takes no connection of this server's (with reuse_port, a
  // server sharing it gets them all). Idempotent; later callers' callbacks are ignored.
  void Shutdown(std::function<void()> drained);

  size_t connections() const;
  uint32_t requests_in_flight() const;
  // Bytes of response bodies being written (see max_response_bytes_pending).
  uint64_t response_bytes_pending() const;
  // Failed accepts since start (e.g. EMFILE), each followed by a back-off.
  uint64_t accept_errors() const;

 private:
  class Session;
  friend class Session;
  // What sessions share with the server; sessions keep it alive, so a session destroyed with
  // the io_context after the Server is gone still has a registry to leave.
  struct State;
  // Opens, binds and listens on `endpoint`; `error` gets the failing call's error code.
  base::Status Bind(const boost::asio::ip::tcp::endpoint& endpoint, bool dual_stack,
                    boost::system::error_code* error);
  // Whether another socket listens on `endpoint`'s port (probed before Bind binds its own).
  bool OthersListen(const boost::asio::ip::tcp::endpoint& endpoint, bool dual_stack);

  std::shared_ptr<State> state_;  // also owns the acceptor and its pending accept
  uint16_t port_ = 0;
  bool others_listening_ = false;
};

}  // namespace apiserver
