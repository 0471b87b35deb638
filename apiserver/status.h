// Every error the server answers with, and its body: a metav1.Status as k8s.io/apimachinery
// writes it, so kubectl, client-go and the aggregator read the code, reason, message and details
// they would read from metrics-server. Errors are made here and nowhere else: the handlers
// (404, 405, 406, 400, 401, 403) and the HTTP layer before any handler (400 for malformed HTTP,
// 413, 414, 429, 431) take them from the functions below, named after apimachinery's
// constructors (k8s.io/apimachinery/pkg/api/errors) where one exists.
//
// The body, byte for byte (tests pin both forms):
//   JSON      {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
//              "message":<m>[,"reason":<r>][,"details":{["name":..][,"group":..][,"kind":..]}],
//              "code":<n>}\n
//             reason is left out when empty, details unless has_details, and each detail field
//             when empty (Go's omitempty); strings escaped as Go's encoding/json does.
//   protobuf  "k8s\0" + runtime.Unknown{typeMeta {apiVersion "v1", kind "Status"}, raw =
//             Status{1 ListMeta {}, 2 "Failure", 3 message, 4 reason, [5 details {1 name,
//             2 group, 3 kind, 5 retryAfterSeconds 0}], 6 code}}, as gogo-protobuf writes it.
// A request that negotiated protobuf gets the protobuf form; every other request (JSON, Table,
// or nothing acceptable) gets JSON. The health endpoints are not part of the API and answer in
// plain text, as k8s.io/apiserver's healthz does (health.h).
//
// Thread-safety: values and pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "apiserver/format.h"
#include "apiserver/request.h"

namespace kube {
struct Attributes;
}  // namespace kube

namespace apiserver {

// metav1.StatusCause: one field of an Invalid request, e.g. {"FieldValueForbidden",
// "Forbidden: <detail>", "resourceVersionMatch"}.
struct StatusCause {
  std::string reason;
  std::string message;
  std::string field;
};

// metav1.StatusDetails: what the error is about.
struct StatusDetails {
  std::string name;
  std::string group;
  std::string kind;  // the resource, e.g. "pods" or "podmetrics"
  std::vector<StatusCause> causes;
};

// A failure Status: HTTP code, reason (e.g. "NotFound"), message, optional details.
struct ApiError {
  unsigned code = 500;
  std::string reason;
  std::string message;
  bool has_details = false;
  StatusDetails details;
};

// The Status body of `error` in `format` (protobuf only for kProtobuf, JSON otherwise).
std::string EncodeStatus(Format format, const ApiError& error);

// The response carrying `error`: its code, its Status body in `format` (as EncodeStatus) and the
// matching Content-Type.
HttpResponse ErrorResponse(const ApiError& error, Format format = Format::kJson);

// 400 BadRequest with `message` (a bad selector or query value; malformed HTTP).
ApiError BadRequestError(std::string message);

// One field error of k8s.io/apimachinery/pkg/util/validation/field: its path, type
// ("FieldValueForbidden", "FieldValueNotSupported") and ErrorBody() text ("Forbidden: <detail>",
// "Unsupported value: \"x\": supported values: \"NotOlderThan\"").
struct FieldError {
  std::string field;
  std::string type;
  std::string body;
};

// 422 Invalid, as errors.NewInvalid(schema.GroupKind{group, kind}, name, errs) builds it: message
// `<kind>.<group> "<name>" is invalid: <field>: <body>` (several errors: `[e1, e2]`), details
// {name, group, kind, causes one per error}. `errs` is not empty.
ApiError InvalidError(std::string group, std::string kind, std::string name,
                      const std::vector<FieldError>& errs);

// 401 Unauthorized: an authenticator failed (why is logged, never sent).
ApiError UnauthorizedError();

// 403 Forbidden for `attributes`, in k8s.io/apiserver's words ("pods.metrics.k8s.io is
// forbidden: User \"alice\" cannot list resource ..."); `reason` (the authorizer's, may be empty)
// is appended after ": ". Resource requests carry details {name, group, kind = resource}.
ApiError ForbiddenError(const kube::Attributes& attributes, const std::string& reason);

// 404 NotFound for a path nothing serves, with empty details.
ApiError NotFoundError();

// 404 NotFound for the object `name` of `resource` in `group` (empty for the core group):
// `<resource>[.<group>] "<name>" not found`, details {name, group, kind = resource}.
ApiError ObjectNotFoundError(std::string resource, std::string group, std::string name);

// 405 MethodNotAllowed for a method other than GET on a served path, with empty details.
ApiError MethodNotAllowedError();

// 405 MethodNotAllowed for `action` (e.g. "watch") on `resource` of `group`:
// `<action> is not supported on resources of kind "<resource>.<group>"`, details {group, kind}.
ApiError MethodNotSupportedError(std::string resource, std::string group, std::string_view action);

// 406 NotAcceptable listing what is served: JSON, and protobuf if `allow_protobuf`.
ApiError NotAcceptableError(bool allow_protobuf);

// 410 Expired (apimachinery's NewResourceExpired) with `message`, e.g. "too old resource
// version: 5 (9)": the client relists.
ApiError ResourceExpiredError(std::string message);

// 413 RequestEntityTooLarge: a request announced a body (no endpoint takes one).
ApiError RequestEntityTooLargeError();

// 414 RequestURITooLong with `message` (the target, or the whole request line, is too long).
ApiError RequestUriTooLongError(std::string message);

// 429 TooManyRequests with `message` (the server's caps; the caller adds Retry-After).
ApiError TooManyRequestsError(std::string message);

// 431 RequestHeaderFieldsTooLarge: the request head is over the header limit.
ApiError RequestHeaderFieldsTooLargeError();

}  // namespace apiserver
