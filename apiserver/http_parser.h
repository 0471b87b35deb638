// The server's HTTP/1.1 request parsing, apart from the connection: a Beast request parser
// with the server's limits, the HttpRequest made from a parsed message, and the response to a
// request over a limit. Shared by Server's sessions and the http_request fuzzer, so the fuzzer
// parses exactly what a connection would.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <optional>

#include "apiserver/request.h"
#include "apiserver/server.h"

namespace apiserver {

using RequestMessage = boost::beast::http::request<boost::beast::http::string_body>;
using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Applies `options`' header and body limits to a fresh parser.
void ApplyLimits(const ServerOptions& options, RequestParser& parser);

// The request handed to the Handler: method, target and headers as received, and `peer`.
HttpRequest ToHttpRequest(const RequestMessage& message,
                          std::shared_ptr<const PeerCertificates> peer);

// 431 for header_limit, 413 for body_limit (the connection then closes); nullopt for any other
// read error.
std::optional<HttpResponse> LimitResponse(boost::beast::error_code ec);

}  // namespace apiserver
