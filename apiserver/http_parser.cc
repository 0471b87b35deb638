#include "apiserver/http_parser.h"

#include "apiserver/status.h"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

#include <algorithm>

namespace apiserver {

namespace http = boost::beast::http;

void ApplyLimits(const RequestLimits& limits, RequestParser& parser) {
  parser.header_limit(limits.header_limit_bytes);
  // A non-zero Content-Length fails the head itself with body_limit; chunked bodies are
  // refused by RefuseHead before the parser sees a byte of them.
  parser.body_limit(0);
}

std::size_t ReadBufferLimit(const RequestLimits& limits) { return limits.header_limit_bytes; }

std::optional<HttpResponse> RefuseHead(const RequestParser& parser) {
  const RequestMessage& message = parser.get();
  if (message.count(http::field::transfer_encoding) > 0 ||
      parser.content_length().value_or(0) > 0 || !parser.is_done()) {
    return ErrorResponse(RequestEntityTooLargeError());
  }
  if (message.target().size() > kMaxTargetBytes) {
    return ErrorResponse(RequestUriTooLongError("request target too long"));
  }
  return std::nullopt;
}

bool IsHealthProbe(http::verb method, std::string_view target) {
  if (method != http::verb::get && method != http::verb::head) return false;
  const std::string_view path = target.substr(0, target.find('?'));
  for (std::string_view probe : {"/healthz", "/livez", "/readyz"}) {
    if (path.substr(0, probe.size()) != probe) continue;
    if (path.size() == probe.size() || path[probe.size()] == '/') return true;
  }
  return false;
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

std::optional<HttpResponse> ReadErrorResponse(boost::beast::error_code ec,
                                              const RequestParser& parser,
                                              std::string_view unparsed) {
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    // Beast parses the request line on its own only when it arrives whole in the first read;
    // otherwise the unparsed bytes start with it.
    if (parser.get().target().empty() &&
        std::min(unparsed.find('\n'), unparsed.size()) > kMaxTargetBytes) {
      return ErrorResponse(RequestUriTooLongError("request line too long"));
    }
    return ErrorResponse(RequestHeaderFieldsTooLargeError());
  }
  if (ec == http::error::body_limit) {
    return ErrorResponse(RequestEntityTooLargeError());
  }
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == http::error::need_more) {
    return std::nullopt;
  }
  if (ec.category() == make_error_code(http::error::bad_method).category()) {
    return ErrorResponse(BadRequestError("malformed HTTP request"));
  }
  return std::nullopt;
}

}  // namespace apiserver
