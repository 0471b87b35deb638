// HTTP(S) client on Boost.Beast/Asio, shared by the kubelet scraper and the Kubernetes-API
// library.
//
// One HttpClient talks to one host:port over at most one kept-alive connection and runs one
// request at a time on its own strand (callers that want parallelism use several clients).
// Every phase has a deadline and every response a size limit. TLS verifies the peer chain and
// the host name or IP address unless the TlsClientConfig says otherwise.
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
base::Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(
    const TlsClientConfig& config);

// Supplies the bearer token for each request; returns "" for none. Called on the client's strand.
using TokenProvider = std::function<std::string()>;

// Reads a bearer token from a file and re-reads it when the file changes (service-account token
// rotation). Thread-safe. The file is checked at most once per `recheck` interval.
class FileTokenSource {
 public:
  explicit FileTokenSource(std::string path,
                           std::chrono::milliseconds recheck = std::chrono::seconds(1));
  ~FileTokenSource();
  // The current token (trimmed), or the error from the last read if none was ever read.
  base::Result<std::string> Token();
  TokenProvider AsProvider();  // "" when the file cannot be read

 private:
  struct State;
  std::shared_ptr<State> state_;
};

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
};

struct Response {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds handshake_timeout{5000};
  std::size_t max_header_bytes = 64 * 1024;
  TokenProvider token;          // adds "Authorization: Bearer ..." when it returns non-empty
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
  // handshake, write, read); `max_body_bytes` caps the body. A kept-alive connection is reused
  // and replaced transparently when the server closed it. Calls queued while one is in flight
  // run in order. Errors read "<host:port>: <phase>: <cause>", e.g.
  // "10.0.0.5:10250: handshake: certificate verify failed".
  virtual void Send(Request request, std::chrono::steady_clock::time_point deadline,
                    std::size_t max_body_bytes,
                    std::function<void(base::Result<Response>)> done) = 0;

  // Like Send, for long responses read as they arrive. `idle_timeout` bounds the wait for each
  // read; `max_body_bytes` caps the whole stream (0 = no cap). `done` gets Ok when the server
  // ended the stream cleanly or a handler returned false, else the error.
  virtual void Stream(Request request, std::chrono::milliseconds connect_deadline,
                      std::chrono::milliseconds idle_timeout, std::size_t max_body_bytes,
                      StreamHandlers handlers, std::function<void(base::Status)> done) = 0;

  // Closes the connection and fails pending calls with "cancelled". Idempotent.
  virtual void Close() = 0;

  // Blocking convenience for threads that are not running `io`: waits for Send's result.
  base::Result<Response> SendSync(Request request, std::chrono::milliseconds timeout,
                                  std::size_t max_body_bytes);
};

}  // namespace net
