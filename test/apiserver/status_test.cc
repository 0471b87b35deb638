#include "apiserver/status.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "apiserver/auth.h"
#include "test/apiserver/proto_reader.h"

namespace apiserver {
namespace {

using testing::ProtoBytes;
using testing::ProtoVarint;

TEST(StatusTest, JsonMatchesReference) {
  ApiError e;
  e.code = 404;
  e.reason = "NotFound";
  e.message = "podmetrics.metrics.k8s.io \"default/web-0\" not found";
  e.has_details = true;
  e.details = {"default/web-0", "metrics.k8s.io", "podmetrics", {}};
  EXPECT_EQ(
      EncodeStatus(Format::kJson, e),
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
      R"("message":"podmetrics.metrics.k8s.io \"default/web-0\" not found","reason":"NotFound",)"
      R"("details":{"name":"default/web-0","group":"metrics.k8s.io","kind":"podmetrics"},"code":404})"
      "\n");
  ApiError plain;
  plain.code = 401;
  plain.reason = "Unauthorized";
  plain.message = "Unauthorized";
  EXPECT_EQ(EncodeStatus(Format::kJson, plain),
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
            R"("message":"Unauthorized","reason":"Unauthorized","code":401})"
            "\n");
}

TEST(StatusTest, ProtobufDecodesFieldByField) {
  ApiError e;
  e.code = 404;
  e.reason = "NotFound";
  e.message = "pods \"x\" not found";
  e.has_details = true;
  e.details = {"x", "", "pods", {}};
  std::string body = EncodeStatus(Format::kProtobuf, e);
  ASSERT_GE(body.size(), 6u);
  EXPECT_EQ(body.substr(0, 6), std::string("k8s\0\x0a\x0c", 6));
  const std::string unknown = body.substr(4);
  EXPECT_EQ(ProtoBytes(ProtoBytes(unknown, 1), 1), "v1");
  EXPECT_EQ(ProtoBytes(ProtoBytes(unknown, 1), 2), "Status");
  const std::string raw = ProtoBytes(unknown, 2);
  EXPECT_EQ(ProtoBytes(raw, 2), "Failure");
  EXPECT_EQ(ProtoBytes(raw, 3), "pods \"x\" not found");
  EXPECT_EQ(ProtoBytes(raw, 4), "NotFound");
  EXPECT_EQ(ProtoBytes(ProtoBytes(raw, 5), 1), "x");
  EXPECT_EQ(ProtoBytes(ProtoBytes(raw, 5), 3), "pods");
  EXPECT_EQ(ProtoVarint(raw, 6), 404u);
}

// errors.NewInvalid (k8s.io/apimachinery/pkg/api/errors/errors.go) for ListOptions, as get.go's
// ListResource answers a watch with resourceVersionMatch and no sendInitialEvents.
TEST(StatusTest, InvalidCarriesCausesAsNewInvalid) {
  const FieldError forbidden{"resourceVersionMatch", "FieldValueForbidden",
                             "Forbidden: resourceVersionMatch is forbidden for watch unless "
                             "sendInitialEvents is provided"};
  ApiError e = InvalidError("meta.k8s.io", "ListOptions", "", {forbidden});
  EXPECT_EQ(e.code, 422u);
  EXPECT_EQ(EncodeStatus(Format::kJson, e),
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
            R"("message":"ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: )"
            R"(Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents )"
            R"(is provided","reason":"Invalid","details":{"group":"meta.k8s.io",)"
            R"("kind":"ListOptions","causes":[{"reason":"FieldValueForbidden","message":)"
            R"("Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents )"
            R"(is provided","field":"resourceVersionMatch"}]},"code":422})"
            "\n");
  const FieldError unsupported{"resourceVersionMatch", "FieldValueNotSupported",
                               "Unsupported value: \"Exact\": supported values: \"NotOlderThan\""};
  ApiError two = InvalidError("meta.k8s.io", "ListOptions", "", {forbidden, unsupported});
  EXPECT_EQ(two.message, "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: " +
                             forbidden.body + ", resourceVersionMatch: " + unsupported.body +
                             "]");
  // Protobuf: StatusDetails.causes is field 4, StatusCause {1 reason, 2 message, 3 field}.
  const std::string raw = ProtoBytes(EncodeStatus(Format::kProtobuf, two).substr(4), 2);
  EXPECT_EQ(ProtoBytes(raw, 4), "Invalid");
  const std::string details = ProtoBytes(raw, 5);
  EXPECT_EQ(ProtoBytes(details, 2), "meta.k8s.io");
  EXPECT_EQ(ProtoBytes(details, 3), "ListOptions");
  const std::string cause = ProtoBytes(details, 4);  // the first cause
  EXPECT_EQ(ProtoBytes(cause, 1), "FieldValueForbidden");
  EXPECT_EQ(ProtoBytes(cause, 2), forbidden.body);
  EXPECT_EQ(ProtoBytes(cause, 3), "resourceVersionMatch");
  EXPECT_EQ(ProtoVarint(raw, 6), 422u);
}

TEST(StatusTest, ErrorResponseCarriesCodeBodyAndContentType) {
  HttpResponse json = ErrorResponse(NotFoundError());
  EXPECT_EQ(json.status, 404u);
  EXPECT_EQ(json.content_type, "application/json");
  EXPECT_EQ(json.body, EncodeStatus(Format::kJson, NotFoundError()));
  // Table is written as JSON; only a negotiated protobuf gets the protobuf form.
  EXPECT_EQ(ErrorResponse(NotFoundError(), Format::kTable).body, json.body);
  HttpResponse protobuf = ErrorResponse(NotFoundError(), Format::kProtobuf);
  EXPECT_EQ(protobuf.content_type, "application/vnd.kubernetes.protobuf");
  EXPECT_EQ(protobuf.body, EncodeStatus(Format::kProtobuf, NotFoundError()));
}

// The constructors' bodies, byte for byte: what the handlers and the HTTP layer answered with
// before the errors were gathered here.
TEST(StatusTest, ConstructorsMatchReference) {
  const std::string head =
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)";
  EXPECT_EQ(EncodeStatus(Format::kJson, BadRequestError("malformed HTTP request")),
            head + R"("message":"malformed HTTP request","reason":"BadRequest","code":400})"
                   "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson, UnauthorizedError()),
            head + R"("message":"Unauthorized","reason":"Unauthorized","code":401})"
                   "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson, NotFoundError()),
            head + R"("message":"the server could not find the requested resource",)"
                   R"("reason":"NotFound","details":{},"code":404})"
                   "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson, ObjectNotFoundError("node", "", "node-1")),
            head + R"("message":"node \"node-1\" not found","reason":"NotFound",)"
                   R"("details":{"name":"node-1","kind":"node"},"code":404})"
                   "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson,
                         ObjectNotFoundError("podmetrics", "metrics.k8s.io", "default/web-0")),
            head + R"("message":"podmetrics.metrics.k8s.io \"default/web-0\" not found",)"
                   R"("reason":"NotFound","details":{"name":"default/web-0",)"
                   R"("group":"metrics.k8s.io","kind":"podmetrics"},"code":404})"
                   "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson, MethodNotAllowedError()),
            head + R"("message":"the server does not allow this method on the requested resource",)"
                   R"("reason":"MethodNotAllowed","details":{},"code":405})"
                   "\n");
  EXPECT_EQ(
      EncodeStatus(Format::kJson, MethodNotSupportedError("pods", "metrics.k8s.io", "watch")),
      head + R"("message":"watch is not supported on resources of kind \"pods.metrics.k8s.io\"",)"
             R"("reason":"MethodNotAllowed","details":{"group":"metrics.k8s.io","kind":"pods"},)"
             R"("code":405})"
             "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson, NotAcceptableError(false)),
            head + R"("message":"only the following media types are accepted: application/json",)"
                   R"("reason":"NotAcceptable","code":406})"
                   "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson, NotAcceptableError(true)),
            head + R"("message":"only the following media types are accepted: application/json, )"
                   R"(application/vnd.kubernetes.protobuf","reason":"NotAcceptable","code":406})"
                   "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson, RequestEntityTooLargeError()),
            head + R"("message":"request bodies are not accepted",)"
                   R"("reason":"RequestEntityTooLarge","code":413})"
                   "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson, RequestUriTooLongError("request target too long")),
            head + R"("message":"request target too long","reason":"RequestURITooLong","code":414})"
                   "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson, TooManyRequestsError("Too many requests")),
            head + R"("message":"Too many requests","reason":"TooManyRequests","code":429})"
                   "\n");
  EXPECT_EQ(EncodeStatus(Format::kJson, RequestHeaderFieldsTooLargeError()),
            head + R"("message":"request header fields too large",)"
                   R"("reason":"RequestHeaderFieldsTooLarge","code":431})"
                   "\n");
}

TEST(StatusTest, ForbiddenAndUnauthorized) {
  kube::UserInfo alice{"alice", "", {}, {}};
  auto list = MakeAttributes(
      alice,
      ParseRequestInfo("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", Query("")));
  ApiError e = ForbiddenError(list, "");
  EXPECT_EQ(e.code, 403u);
  EXPECT_EQ(e.reason, "Forbidden");
  EXPECT_EQ(e.message,
            "pods.metrics.k8s.io is forbidden: User \"alice\" cannot list resource \"pods\" in API "
            "group \"metrics.k8s.io\" in the namespace \"default\"");
  auto path = MakeAttributes(alice, ParseRequestInfo("GET", "/metrics", Query("")));
  EXPECT_EQ(ForbiddenError(path, "denied").message,
            "forbidden: User \"alice\" cannot get path \"/metrics\": denied");
  auto body = nlohmann::json::parse(EncodeStatus(Format::kJson, UnauthorizedError()));
  EXPECT_EQ(body["code"], 401);
  EXPECT_EQ(body["reason"], "Unauthorized");
}

}  // namespace
}  // namespace apiserver
