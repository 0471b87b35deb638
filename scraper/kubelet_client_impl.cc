#include "scraper/kubelet_client_impl.h"

#include <spdlog/spdlog.h>
#include <boost/beast/http/status.hpp>

#include <algorithm>

#include "scraper/resource_metrics.h"

namespace scraper {

base::Result<std::unique_ptr<KubeletClientImpl>> KubeletClientImpl::Create(
    boost::asio::io_context& io, KubeletClientSettings settings) {
  std::shared_ptr<boost::asio::ssl::context> tls;
  if (!settings.plain_http) {
    auto made = net::MakeClientContext(settings.tls);
    if (!made.ok()) return base::MakeError("kubelet TLS: " + made.error());
    tls = std::move(made.value());
  }
  return std::unique_ptr<KubeletClientImpl>(
      new KubeletClientImpl(io, std::move(settings), std::move(tls)));
}

KubeletClientImpl::KubeletClientImpl(boost::asio::io_context& io, KubeletClientSettings settings,
                                     std::shared_ptr<boost::asio::ssl::context> tls)
    : io_(io), settings_(std::move(settings)), tls_(std::move(tls)) {
  client_options_.connect_timeout = settings_.connect_timeout;
  client_options_.handshake_timeout = settings_.handshake_timeout;
  if (!settings_.plain_http && !settings_.token_file.empty()) {
    token_ = std::make_unique<net::FileTokenSource>(settings_.token_file, settings_.token_recheck);
    client_options_.token = token_->AsProvider();
  } else if (!settings_.plain_http && !settings_.bearer_token.empty()) {
    client_options_.token = [token = settings_.bearer_token] { return token; };
  }
}

KubeletClientImpl::~KubeletClientImpl() {
  base::MutexLock lock(mu_);
  for (auto& [name, entry] : clients_) entry.client->Close();
}

void KubeletClientImpl::Get(std::string_view node, const Target& target,
                            std::chrono::steady_clock::time_point deadline, Callback done) {
  if (target.tls && !tls_) {
    done(base::MakeError(target.HostPort() + ": TLS target but kubelets are reached over HTTP"));
    return;
  }
  std::shared_ptr<net::HttpClient> client;
  bool keep_alive = true;
  {
    base::MutexLock lock(mu_);
    auto it = clients_.find(node);
    bool same = it != clients_.end() && it->second.endpoint.host == target.host &&
                it->second.endpoint.port == target.port && it->second.endpoint.tls == target.tls;
    if (!same) {
      bool kept = false;
      if (it != clients_.end()) {
        it->second.client->Close();  // the node moved
        kept = it->second.kept;
      }
      net::Endpoint endpoint;
      endpoint.tls = target.tls;
      endpoint.host = target.host;
      endpoint.port = target.port;
      Entry entry{
          endpoint,
          net::HttpClient::Create(io_, target.tls ? tls_ : nullptr, endpoint, client_options_),
          kept};
      it = clients_.insert_or_assign(std::string(node), std::move(entry)).first;
    }
    if (!it->second.kept && kept_ < settings_.max_idle_connections) {
      it->second.kept = true;  // a free place: this node's connection stays open from now on
      ++kept_;
    }
    client = it->second.client;
    keep_alive = it->second.kept;
    if (!keep_alive && !warned_beyond_) {
      warned_beyond_ = true;
      spdlog::warn(
          "more kubelets than --kubelet-max-idle-connections={}: the nodes beyond it reconnect "
          "for every scrape (resuming TLS), which costs CPU; raise the open-files limit or the "
          "flag",
          settings_.max_idle_connections);
    }
  }
  net::Request request;
  request.target = target.path;
  request.keep_alive = keep_alive;
  // /metrics/resource: protobuf (what Prometheus asks for first), then the classic text format,
  // never OpenMetrics, and anything last: some servers (kwok) answer 406 to an Accept without a
  // wildcard. The summary API keeps the text-first header it always had (it answers JSON).
  const bool resource = target.path != kSummaryPath;
  request.headers.emplace_back("Accept", resource && settings_.request_protobuf
                                             ? kResourceMetricsAccept
                                             : kResourceMetricsTextAccept);
  client->Send(
      std::move(request), deadline, settings_.max_response_bytes,
      [done = std::move(done)](base::Result<net::Response> response) {
        if (!response.ok()) {
          done(base::MakeError(response.error()));
          return;
        }
        if (response->status != 200) {
          std::string reason(boost::beast::http::obsolete_reason(
              static_cast<boost::beast::http::status>(response->status)));
          done(base::MakeError("request failed, status: \"" + std::to_string(response->status) +
                               " " + reason + "\""));
          return;
        }
        done(KubeletResponse{std::move(response->body), std::move(response->content_type)});
      });
}

void KubeletClientImpl::Retain(const std::vector<std::string>& nodes) {
  base::MutexLock lock(mu_);
  // `nodes` is sorted (the manager sorts it); fall back to a lookup otherwise.
  bool sorted = std::is_sorted(nodes.begin(), nodes.end());
  for (auto it = clients_.begin(); it != clients_.end();) {
    bool keep = sorted ? std::binary_search(nodes.begin(), nodes.end(), it->first)
                       : std::find(nodes.begin(), nodes.end(), it->first) != nodes.end();
    if (keep) {
      ++it;
    } else {
      it->second.client->Close();
      if (it->second.kept) --kept_;
      it = clients_.erase(it);
    }
  }
}

size_t KubeletClientImpl::connections() const {
  base::MutexLock lock(mu_);
  return clients_.size();
}

size_t KubeletClientImpl::kept() const {
  base::MutexLock lock(mu_);
  return kept_;
}

}  // namespace scraper
