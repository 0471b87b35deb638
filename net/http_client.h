// HTTP(S) client on Boost.Beast/Asio, shared by the kubelet scraper and the Kubernetes-API
// library.
//
// One HttpClient talks to one host:port over at most one kept-alive connection and runs one
// request at a time on its own strand (callers that want parallelism use several clients).
// Every phase has a deadline and every response a size limit. TLS verifies the peer chain and
// the host name or IP address unless the TlsClientConfig says otherwise.
//
// Cost (see test/net/http_client_bench.cc): a kept-alive TLS connection is OpenSSL talking to
// the socket directly (net/tls_socket.h), whose record buffers are released while idle; the
// read buffer and request storage are reused across calls. A reconnect resumes the previous TLS
// session when the server allows it (skipping certificate exchange and verification).
//
// Thread-safety: all public methods may be called from any thread. Callbacks run on the client's
// strand, exactly once per call, and must not throw. The io_context must outlive the client;
// pending operations keep the client alive (shared_from_this).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace net {

// TLS settings for talking to one kind of peer (kubelets, the kube-apiserver).
struct TlsClientConfig {
  std::string ca_file;    // PEM bundle to verify the server; empty and no ca_data = system roots
  std::string ca_data;    // PEM bundle in memory (kubeconfig certificate-authority-data)
  std::string cert_file;  // client certificate (PEM), optional
  std::string key_file;
  std::string cert_data;  // client certificate in memory, optional
  std::string key_data;
  bool insecure_skip_verify = false;  // no chain or name check; only behind explicit flags
  std::string server_name;  // name to verify and send as SNI instead of the host; optional
};

// Builds an OpenSSL client context (TLS 1.2+). Fails with a message naming the bad file/field.
// Every connection made with the context verifies the peer chain (unless insecure_skip_verify)
// and the peer identity: `server_name` when set, else the endpoint host. DNS names are matched
// against DNS SANs and sent as SNI; IP literals are matched against IP SANs, without SNI.
// The context is immutable once built and may be shared by any number of clients.
base::Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(
    const TlsClientConfig& config);

// Supplies the bearer token for each request; returns "" for none. Called on the client's strand.
using TokenProvider = std::function<std::string()>;

struct Endpoint {
  bool tls = true;
  std::string host;  // DNS name or IP literal; IPv6 without brackets
  uint16_t port = 0;
  std::string HostPort() const;  // "host:port", IPv6 bracketed
};

struct Request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;  // path and query, e.g. "/metrics/resource"
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Accept", "..."}
  std::string body;
  std::string content_type;  // set when body is non-empty
  // false: ask the server to close ("Connection: close") and close the connection after the
  // response, keeping the TLS session to resume on the next call. The client then holds no
  // socket, no TLS state and no buffers between calls.
  bool keep_alive = true;
};

struct Response {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds handshake_timeout{5000};
  // The response head; also the most the read buffer holds, so a chunk-size line with its
  // extensions, or a trailer section, longer than this fails the read.
  std::size_t max_header_bytes = 64 * 1024;
  TokenProvider token;  // adds "Authorization: Bearer ..." when it returns non-empty
  std::string user_agent = "cpp-metrics-server";
};

// Handlers for a streamed response (watches). on_headers runs once with the status and content
// type; returning false ends the stream. on_data receives body bytes in arrival order (chunk
// boundaries are arbitrary); returning false ends the stream.
struct StreamHandlers {
  std::function<bool(unsigned status, std::string_view content_type)> on_headers;
  std::function<bool(std::string_view data)> on_data;
};

class HttpClient : public std::enable_shared_from_this<HttpClient> {
 public:
  // `tls` may be null only when endpoint.tls is false.
  static std::shared_ptr<HttpClient> Create(boost::asio::io_context& io,
                                            std::shared_ptr<boost::asio::ssl::context> tls,
                                            Endpoint endpoint, ClientOptions options);
  virtual ~HttpClient() = default;

  // Sends `request` and reads the whole response. `deadline` bounds everything (connect,
  // handshake, write, read; connect and handshake are further bounded by their ClientOptions
  // timeouts); `max_body_bytes` caps the body (0 = no cap): the decoded body, and the bytes on
  // the wire after the head (chunk-size lines, extensions and trailers included) at the cap plus
  // an eighth plus max_header_bytes. A kept-alive connection is reused;
  // when a reused connection turns out to be closed by the server before any byte of the
  // response arrived, the request is sent once more on a fresh connection (for any method).
  // Calls queued while one is in flight run in order. Any status code is a successful
  // Response. Errors read "<host:port>: <phase>: <cause>" with phase one of resolve, connect,
  // handshake, write, read, e.g. "10.0.0.5:10250: handshake: certificate verify failed
  // (hostname mismatch)", "10.0.0.5:10250: read: timed out",
  // "10.0.0.5:10250: read: body exceeds limit of 1048576 bytes",
  // "10.0.0.5:10250: read: chunk header or trailer exceeds 65536 bytes"; a cancelled call gets
  // "<host:port>: cancelled".
  virtual void Send(Request request, std::chrono::steady_clock::time_point deadline,
                    std::size_t max_body_bytes,
                    std::function<void(base::Result<Response>)> done) = 0;

  // Like Send, for long responses read as they arrive (e.g. chunked watch streams; handlers get
  // the decoded body). `connect_deadline` bounds, from when the call starts running, everything
  // up to and including the response headers; `idle_timeout` bounds the wait for each read of
  // the body ("read: idle timeout after Nms"); `max_body_bytes` caps the whole decoded stream
  // (0 = no cap) and its bytes on the wire as for Send; the read buffer bounds the framing
  // either way. `done` gets Ok when the server ended the stream cleanly or a handler returned
  // false, else the error. A stream occupies the client's connection until it ends (queued
  // calls wait), so watches want a client of their own. A stream stopped by a handler closes
  // the connection.
  virtual void Stream(Request request, std::chrono::milliseconds connect_deadline,
                      std::chrono::milliseconds idle_timeout, std::size_t max_body_bytes,
                      StreamHandlers handlers, std::function<void(base::Status)> done) = 0;

  // Closes the connection and fails the running and queued calls with "<host:port>: cancelled"
  // (asynchronously, on the strand). Idempotent. The client stays usable: calls made after
  // Close() returns open a new connection.
  virtual void Close() = 0;

  // Blocking convenience for threads that are not running `io`: waits for Send's result.
  // Must not be called from a thread running `io` (it would wait on itself).
  base::Result<Response> SendSync(Request request, std::chrono::milliseconds timeout,
                                  std::size_t max_body_bytes);
};

}  // namespace net
