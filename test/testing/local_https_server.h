// A real HTTP/1.1 server on 127.0.0.1 (or ::1), by default on a free port, TLS or plain, for
// integration tests.
//
// It runs its own io_context on one thread. Every request goes to a handler that returns a
// Reply; besides ordinary responses a Reply can ask for the misbehaviour tests need (delays,
// trickling, huge bodies, garbage, closed or reset connections, chunked streams fed by the
// test). The server records what it saw. Every server-side I/O has a timeout, and the
// destructor stops everything, so a confused client can never hang a test.
//
// Thread-safety: public methods may be called from any thread. The handler runs on the server
// thread, one request at a time; it must not block (ask for `delay` instead).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "net/http_client.h"
#include "net/pki.h"

namespace testing_support {

struct SeenRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent
  std::string body;
  std::string client_cn;       // CN of the verified client certificate, "" if none
  std::string sni;             // server name the client sent in its TLS hello, "" if none
  bool resumed = false;        // the TLS connection resumed an earlier session
  std::size_t connection = 0;  // 1-based index of the TCP connection it arrived on

  // The first header named `name` (case-insensitive), "" if absent.
  std::string Header(const std::string& name) const;
};

// Chunks pushed by the test and written by the server as a chunked response, for watch tests.
// Thread-safe.
class ChunkFeed {
 public:
  void Push(std::string chunk);  // sent as one chunk
  void End();                    // sends the terminating chunk; the connection stays usable
  void Abort();                  // closes the connection without the terminating chunk

  struct Item {
    enum Kind { kNone, kChunk, kEnd, kAbort } kind = kNone;
    std::string data;
  };
  Item Pop();  // kNone when nothing is queued

 private:
  base::Mutex mu_;
  std::deque<Item> items_ GUARDED_BY(mu_);
};

struct Reply {
  enum class Action {
    kRespond,  // send the response described below
    kClose,    // close the connection without responding
    kReset,    // reset the connection (RST) without responding
  };
  Action action = Action::kRespond;
  unsigned status = 200;
  std::string content_type = "text/plain";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::size_t huge_body_bytes = 0;  // when > 0, a body of this many 'x' (streamed, not stored)
  std::string raw;                  // when non-empty, written verbatim instead of a response
  // After `raw`: `filler` repeated until `filler_bytes` bytes are written (streamed, not stored),
  // for a hostile peer's endless chunk-size line, header or trailer section.
  std::string filler;
  std::size_t filler_bytes = 0;
  std::chrono::milliseconds delay{0};    // wait before writing anything
  std::chrono::milliseconds trickle{0};  // when > 0, write in `trickle_bytes` pieces this apart
  std::size_t trickle_bytes = 1;
  bool close_after = false;           // "Connection: close" and close after the response
  std::shared_ptr<ChunkFeed> stream;  // when set, a chunked response fed from here

  static Reply Ok(std::string body, std::string content_type = "text/plain") {
    Reply r;
    r.body = std::move(body);
    r.content_type = std::move(content_type);
    return r;
  }
  static Reply Status(unsigned status, std::string body = "") {
    Reply r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

struct ServerOptions {
  bool tls = true;
  bool ipv6 = false;            // listen on ::1 instead of 127.0.0.1
  net::CertAndKey certificate;  // serving certificate (required with tls)
  std::string client_ca_pem;    // when set, client certificates are requested and verified
  bool require_client_cert = false;
  bool stall_handshake = false;  // accept TCP, then never read or write (handshake hangs)
  std::chrono::milliseconds io_timeout{10000};  // per server read/write and keep-alive idle
  std::size_t max_request_body = 1 << 20;
  uint16_t port = 0;            // 0 = any free port
  bool record_requests = true;  // false: requests() stays empty (long-running stand-ins)
};

class LocalHttpsServer {
 public:
  using Handler = std::function<Reply(const SeenRequest&)>;

  // Starts listening at once. Throws std::runtime_error when it cannot.
  LocalHttpsServer(ServerOptions options, Handler handler);
  ~LocalHttpsServer();
  LocalHttpsServer(const LocalHttpsServer&) = delete;
  LocalHttpsServer& operator=(const LocalHttpsServer&) = delete;

  uint16_t port() const { return port_; }
  // An endpoint for the client; `host` defaults to the listening address.
  net::Endpoint endpoint(std::string host = "") const;

  std::vector<SeenRequest> requests() const;
  std::size_t connections_accepted() const;
  // Bytes written after `raw` (Reply::filler) over all connections so far.
  std::size_t filler_bytes_written() const;
  // Waits until at least `n` requests were seen; false on timeout.
  bool WaitForRequests(std::size_t n, std::chrono::milliseconds timeout) const;
  // Closes every connection that is waiting for its next request (as a server's idle timeout
  // would) and returns how many it closed. Connections still finishing a response are given up
  // to 2 s to become idle first. Returns after the sockets are closed.
  std::size_t CloseIdleConnections();

 private:
  struct Connection;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace testing_support
