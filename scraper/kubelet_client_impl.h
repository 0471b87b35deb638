// The production KubeletClient: HTTPS (or, behind an explicit flag, plain HTTP) GETs on
// net::HttpClient, one kept-alive connection per node up to max_idle_connections (nodes beyond
// it connect for each scrape, resuming their TLS session, and close after it), CA verification
// with host name / IP SAN check unless --kubelet-insecure-tls, an optional client certificate,
// and a bearer token read (static, or from a file and re-read when it changes).
//
// Thread-safety: Get and Retain may be called from any thread. `io` must outlive the client;
// connections are closed on destruction.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "base/mutex.h"
#include "base/result.h"
#include "kube/config.h"
#include "net/file_token_source.h"
#include "net/http_client.h"
#include "scraper/kubelet_client.h"

namespace scraper {

struct KubeletClientSettings {
  bool plain_http = false;   // no TLS and no credentials at all
  net::TlsClientConfig tls;  // CA, client certificate, insecure_skip_verify
  std::string token_file;    // bearer token file, re-read on change; wins over bearer_token
  std::string bearer_token;  // static bearer token; empty (and no token_file) = no token
  std::chrono::milliseconds token_recheck{1000};      // how often the token file is checked
  std::chrono::milliseconds connect_timeout{5000};    // also bounded by each request deadline
  std::chrono::milliseconds handshake_timeout{5000};  // also bounded by each request deadline
  size_t max_response_bytes = 16 << 20;
  // Ask for /metrics/resource in the protobuf exposition, text as the fallback
  // (kResourceMetricsAccept, --kubelet-request-protobuf=true); false, the default, asks for text
  // only.
  bool request_protobuf = false;
  // Nodes whose connection is kept open between scrapes (--kubelet-max-idle-connections): the
  // first nodes scraped, and others as kept ones leave. Beyond it, a scrape asks the kubelet to
  // close the connection after the response, so the process holds at most this many kubelet
  // connections plus the scrapes in flight. Bounds the descriptors the scraper takes from the
  // open-files limit, which serving needs too.
  size_t max_idle_connections = SIZE_MAX;
};

class KubeletClientImpl final : public KubeletClient {
 public:
  // Fails when the CA, certificate or key cannot be loaded (message names the file).
  static base::Result<std::unique_ptr<KubeletClientImpl>> Create(boost::asio::io_context& io,
                                                                 KubeletClientSettings settings);
  ~KubeletClientImpl() override;

  void Get(std::string_view node, const Target& target,
           std::chrono::steady_clock::time_point deadline, Callback done) override;
  void Retain(const std::vector<std::string>& nodes) override;

  size_t connections() const;  // clients currently held (one per node)
  size_t kept() const;         // of which keep their connection between scrapes

 private:
  KubeletClientImpl(boost::asio::io_context& io, KubeletClientSettings settings,
                    std::shared_ptr<boost::asio::ssl::context> tls);

  struct Entry {
    net::Endpoint endpoint;
    std::shared_ptr<net::HttpClient> client;
    bool kept = false;  // counts against max_idle_connections
  };

  boost::asio::io_context& io_;
  const KubeletClientSettings settings_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::unique_ptr<net::FileTokenSource> token_;
  net::ClientOptions client_options_;

  mutable base::Mutex mu_;
  std::map<std::string, Entry, std::less<>> clients_ GUARDED_BY(mu_);  // by node name
  size_t kept_ GUARDED_BY(mu_) = 0;  // entries with kept == true
  bool warned_beyond_ GUARDED_BY(mu_) = false;  // logged once that a node is beyond the limit
};

}  // namespace scraper
