// The server's HTTP/1.1 request parsing, apart from the connection: a Beast request parser
// with the server's limits (RequestLimits, request_limits.h), the bound on a connection's read
// buffer, the check every request head passes before anything else looks at it, the
// HttpRequest made from a parsed message, and the response to a request that breaks a limit or
// the syntax (a JSON Status made by status.h). Shared by Server's sessions and the http_request
// fuzzer, so the fuzzer parses exactly what a connection would.
//
// No endpoint takes a request body, so no body byte is ever parsed: a request whose head
// announces one is refused right after its headers. Everything a peer can make a connection
// hold before its request is handled is therefore the read buffer (at most
// ReadBufferLimit(), the header limit) and the parsed head (at most the header limit again).
//
// Thread-safety: pure functions.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

#include "apiserver/request.h"
#include "apiserver/request_limits.h"

namespace apiserver {

using RequestMessage = boost::beast::http::request<boost::beast::http::string_body>;
using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Applies `limits`' header limit and a body limit of zero to a fresh parser.
void ApplyLimits(const RequestLimits& limits, RequestParser& parser);

// The most bytes a connection's read buffer may hold (bytes): one request head at the header
// limit. A connection that needs more to complete a head fails with header_limit or
// buffer_overflow (431) instead of growing its buffer.
std::size_t ReadBufferLimit(const RequestLimits& limits);

// Called when a request's headers are complete: the response refusing the request, or nullopt
// when it may be handled (the parser is then done: the request has no body). Refused: any
// Transfer-Encoding or a non-zero Content-Length (413; the body is never read), a target longer
// than kMaxTargetBytes (414). The connection closes after a refusal.
std::optional<HttpResponse> RefuseHead(const RequestParser& parser);

// True for GET or HEAD of /healthz, /livez, /readyz or one of their checks (/livez/<name>):
// requests that are cheap (answered inline, never reviewed) and must not be starved by others,
// since the kubelet restarts the pod when its liveness probe fails.
bool IsHealthProbe(boost::beast::http::verb method, std::string_view target);

// The request handed to the Handler: method, target and headers as received, and `peer`.
HttpRequest ToHttpRequest(const RequestMessage& message,
                          std::shared_ptr<const PeerCertificates> peer);

// The response to a failed read of a request head, from the error, the parser that read it and
// the bytes the read left unparsed (the head so far, less a request line already parsed): 414
// when the request line is longer than kMaxTargetBytes, 431 for any other head over the limit
// (header_limit, buffer_overflow), 413 for body_limit (a non-zero Content-Length), 400 for any
// other HTTP syntax error; nullopt for errors of the connection itself (end of stream, timeout,
// TLS). The connection then closes.
std::optional<HttpResponse> ReadErrorResponse(boost::beast::error_code ec,
                                              const RequestParser& parser,
                                              std::string_view unparsed);

}  // namespace apiserver
