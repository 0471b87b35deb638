#include "apiserver/http_parser.h"

#include <boost/beast/http/error.hpp>

namespace apiserver {

namespace http = boost::beast::http;

void ApplyLimits(const ServerOptions& options, RequestParser& parser) {
  parser.header_limit(options.header_limit_bytes);
  parser.body_limit(options.body_limit_bytes);
}

HttpRequest ToHttpRequest(const RequestMessage& message,
                          std::shared_ptr<const PeerCertificates> peer) {
  HttpRequest req;
  req.method = std::string(message.method_string());
  req.target = std::string(message.target());
  req.headers.reserve(8);
  for (const auto& field : message) {
    req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  req.peer = std::move(peer);
  return req;
}

std::optional<HttpResponse> LimitResponse(boost::beast::error_code ec) {
  if (ec != http::error::header_limit && ec != http::error::body_limit) return std::nullopt;
  HttpResponse r;
  r.status = ec == http::error::header_limit ? 431 : 413;
  r.content_type = "text/plain; charset=utf-8";
  r.body = ec == http::error::header_limit ? "request header fields too large\n"
                                           : "request body too large\n";
  return r;
}

}  // namespace apiserver
