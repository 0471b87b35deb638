// The seam between the scrape loop and the network: fetch one node's resource metrics.
// KubeletClientImpl (kubelet_client_impl.h) is the production implementation on net::HttpClient;
// tests fake it.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "scraper/target.h"

namespace scraper {

// A 200 response: its body and its Content-Type (empty when the server sent none).
struct KubeletResponse {
  std::string body;
  std::string content_type;
};

class KubeletClient {
 public:
  using Callback = std::function<void(base::Result<KubeletResponse> response)>;
  virtual ~KubeletClient() = default;

  // GETs `target` for node `node` and calls `done` exactly once, on any thread, with the body
  // and content type of a 200 response or an error naming the cause ("connect: connection refused",
  // "request failed, status: \"500 Internal Server Error\"", "deadline exceeded"). Must finish
  // by `deadline` (a time of the steady clock the caller's base::Clock reports).
  virtual void Get(std::string_view node, const Target& target,
                   std::chrono::steady_clock::time_point deadline, Callback done) = 0;

  // Releases per-node resources (connections) of every node not in `nodes`. Called once per
  // tick with the names about to be scraped.
  virtual void Retain(const std::vector<std::string>& nodes) = 0;
};

}  // namespace scraper
