#include "kube/client.h"

#include <nlohmann/json.hpp>

#include <utility>

#include "net/file_token_source.h"

namespace kube {

net::TokenProvider RestConfig::MakeTokenProvider() const {
  if (!token_file.empty()) {
    auto source = std::make_shared<net::FileTokenSource>(token_file);
    return source->AsProvider();
  }
  if (!bearer_token.empty()) {
    return [token = bearer_token] { return token; };
  }
  return {};
}

base::Result<std::unique_ptr<ApiClient>> ApiClient::Create(boost::asio::io_context& io,
                                                           const RestConfig& config,
                                                           ApiClientOptions options) {
  std::shared_ptr<boost::asio::ssl::context> tls;
  if (config.endpoint.tls) {
    auto ctx = net::MakeClientContext(config.tls);
    if (!ctx.ok()) {
      return base::MakeError("kube-apiserver client (" + config.source + "): " + ctx.error());
    }
    tls = std::move(ctx.value());
  }
  if (options.pool_size == 0) options.pool_size = 1;
  return std::unique_ptr<ApiClient>(new ApiClient(io, config, options, std::move(tls)));
}

ApiClient::ApiClient(boost::asio::io_context& io, RestConfig config, ApiClientOptions options,
                     std::shared_ptr<boost::asio::ssl::context> tls)
    : io_(io),
      config_(std::move(config)),
      options_(options),
      tls_(std::move(tls)),
      token_(config_.MakeTokenProvider()) {
  for (std::size_t i = 0; i < options_.pool_size; ++i) pool_.push_back(NewConnection());
}

ApiClient::~ApiClient() {
  for (auto& c : pool_) c->Close();
}

net::ClientOptions ApiClient::MakeClientOptions() const {
  net::ClientOptions o;
  o.connect_timeout = options_.connect_timeout;
  o.handshake_timeout = options_.connect_timeout;
  o.token = token_;
  o.user_agent = config_.user_agent;
  return o;
}

std::shared_ptr<net::HttpClient> ApiClient::NewConnection() {
  return net::HttpClient::Create(io_, tls_, config_.endpoint, MakeClientOptions());
}

std::string ApiClient::Target(std::string_view target) const {
  return config_.path_prefix + std::string(target);
}

void ApiClient::Send(net::Request request, std::chrono::milliseconds timeout,
                     std::size_t max_body_bytes,
                     std::function<void(base::Result<net::Response>)> done) {
  request.target = Target(request.target);
  std::size_t i = next_.fetch_add(1, std::memory_order_relaxed) % pool_.size();
  pool_[i]->Send(std::move(request), std::chrono::steady_clock::now() + timeout, max_body_bytes,
                 std::move(done));
}

base::Status ErrorFromResponse(const net::Response& response) {
  if (response.status >= 200 && response.status < 300) return base::Status::Ok();
  auto j = nlohmann::json::parse(response.body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    auto kind = j.find("kind");
    auto message = j.find("message");
    if (kind != j.end() && kind->is_string() && *kind == "Status" && message != j.end() &&
        message->is_string()) {
      return base::Status::Error(std::to_string(response.status) + " " +
                                 message->get<std::string>());
    }
  }
  std::string body = response.body.substr(0, 200);
  for (char& c : body) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return base::Status::Error(std::to_string(response.status) + (body.empty() ? "" : " " + body));
}

}  // namespace kube
