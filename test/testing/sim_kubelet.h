// Simulated kubelets for benchmarks and the simulated fleet: many TLS listeners on one io_context,
// each answering `GET /metrics/resource` with a body rendered per request (fresh timestamps),
// keep-alive.
//
// Built for thousands of kept-alive connections in one process: sessions use net::TlsSocket
// (OpenSSL's own record buffers, released while idle under SSL_MODE_RELEASE_BUFFERS), and the
// response buffer lives only while it is being written. Like a kubelet it answers 404 to other
// paths, negotiates the exposition as promhttp does (the delimited protobuf form when the Accept
// header prefers it, else the Prometheus text format), gzip-compresses only when asked to, and
// closes connections idle for 90 s.
//
// Thread-safety: Listen() before the io_context runs, or on its thread; the rest is driven by
// the io_context (run it on one thread).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "net/pki.h"

namespace testing_support {

// A TLS 1.2+ server context presenting `cert`, with SSL_MODE_RELEASE_BUFFERS.
base::Result<std::shared_ptr<boost::asio::ssl::context>> MakeKubeletServerContext(
    const net::CertAndKey& cert);

class SimKubelets {
 public:
  // Appends node `node`'s /metrics/resource body for a request at `now_ms` (Unix ms) to `body`.
  using Render = std::function<void(int node, int64_t now_ms, std::string* body)>;

  // With `gzip`, bodies are gzip-compressed (fastest level) for requests that accept it, as a
  // kubelet's Prometheus handler does for Go clients. With `summary`, `GET /stats/summary`
  // answers its JSON body (application/json); without, 404 as for any other path. Without
  // `protobuf`, the text format is served whatever the Accept header says. `render` writes text;
  // the protobuf form is converted from it (AppendAsDelimitedProtobuf).
  //
  // With `go_framing`, /metrics/resource bodies are framed as a kubelet frames them:
  // Prometheus' handler streams its output without a Content-Length, so Go's net/http sends
  // anything past its 2 KiB buffer chunked (net/http `bufferBeforeChunkingSize`), in chunks of
  // up to 4 KiB (the text encoder's bufio.Writer), and writes the connection through a 4 KiB
  // buffer, each flush of which crypto/tls seals as one record and sends with one write (after
  // a connection's first 128 KB; `maxPayloadSizeForWrite`). Without it, one Content-Length
  // response sealed in records of up to 16 KiB.
  SimKubelets(boost::asio::io_context& io, std::shared_ptr<boost::asio::ssl::context> tls,
              Render render, bool gzip = false, Render summary = nullptr, bool protobuf = true,
              bool go_framing = false);
  ~SimKubelets();

  // Listens on 127.0.0.1:`port` (0 = any free port) as node `node`; returns the bound port.
  base::Result<uint16_t> Listen(int node, uint16_t port);
  // Stops accepting (open connections finish on their own).
  void Close();

  uint64_t responses() const { return responses_->load(std::memory_order_relaxed); }

  class Gzip;

 private:
  void Accept(std::size_t index);

  boost::asio::io_context& io_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::shared_ptr<const Render> render_;
  std::shared_ptr<const Render> summary_;  // may hold an empty function
  std::shared_ptr<std::atomic<uint64_t>> responses_;
  std::shared_ptr<Gzip> gzip_;
  bool protobuf_;
  bool go_framing_;
  struct Listener {
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    int node;
  };
  std::vector<Listener> listeners_;
};

}  // namespace testing_support
