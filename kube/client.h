// A connection factory for one kube-apiserver: builds net::HttpClients from a RestConfig and
// adds the path prefix, bearer token and user agent. Informers take a dedicated client per watch
// (a watch holds its connection for minutes); short requests (lists, reviews) share a small pool.
//
// Thread-safety: all methods may be called from any thread. The io_context must outlive the
// ApiClient; the ApiClient must outlive the informers and reviewers using it.
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "kube/config.h"
#include "net/http_client.h"

namespace kube {

struct ApiClientOptions {
  std::size_t pool_size = 4;  // connections for short requests
  std::chrono::milliseconds connect_timeout{5000};
};

class ApiClient {
 public:
  // Fails when the TLS settings cannot be loaded (bad CA/cert/key), naming the field.
  static base::Result<std::unique_ptr<ApiClient>> Create(boost::asio::io_context& io,
                                                         const RestConfig& config,
                                                         ApiClientOptions options = {});
  ~ApiClient();  // closes all connections

  // Sends `request` (target relative to the server, e.g. "/api/v1/nodes") on a pooled
  // connection. Completes with the response whatever its status (see ErrorFromResponse), or
  // the transport error. `done` runs on a client strand, exactly once.
  void Send(net::Request request, std::chrono::milliseconds timeout, std::size_t max_body_bytes,
            std::function<void(base::Result<net::Response>)> done);

  // A fresh connection for a long-running watch; the caller Close()s it when done.
  std::shared_ptr<net::HttpClient> NewConnection();

  // `target` with the server's path prefix in front.
  std::string Target(std::string_view target) const;

  boost::asio::io_context& io() { return io_; }
  const RestConfig& config() const { return config_; }

 private:
  ApiClient(boost::asio::io_context& io, RestConfig config, ApiClientOptions options,
            std::shared_ptr<boost::asio::ssl::context> tls);
  net::ClientOptions MakeClientOptions() const;

  boost::asio::io_context& io_;
  const RestConfig config_;
  const ApiClientOptions options_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  net::TokenProvider token_;
  std::vector<std::shared_ptr<net::HttpClient>> pool_;
  std::atomic<std::size_t> next_{0};
};

// For a non-2xx response: the metav1.Status message if the body is one, else
// "<code> <first 200 bytes of the body>". Ok for 2xx.
base::Status ErrorFromResponse(const net::Response& response);

}  // namespace kube
