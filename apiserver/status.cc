#include "apiserver/status.h"

#include "apiserver/wire_format.h"
#include "kube/auth.h"

namespace apiserver {
namespace {

ApiError Error(unsigned code, std::string reason, std::string message) {
  ApiError e;
  e.code = code;
  e.reason = std::move(reason);
  e.message = std::move(message);
  return e;
}

std::string EncodeStatusProtobuf(const ApiError& error) {
  std::string raw;
  AppendBytesField(raw, 1, "");  // ListMeta
  AppendBytesField(raw, 2, "Failure");
  AppendBytesField(raw, 3, error.message);
  AppendBytesField(raw, 4, error.reason);
  if (error.has_details) {
    std::string d;
    AppendBytesField(d, 1, error.details.name);
    AppendBytesField(d, 2, error.details.group);
    AppendBytesField(d, 3, error.details.kind);
    for (const StatusCause& c : error.details.causes) {
      std::string cause;
      AppendBytesField(cause, 1, c.reason);
      AppendBytesField(cause, 2, c.message);
      AppendBytesField(cause, 3, c.field);
      AppendBytesField(d, 4, cause);
    }
    AppendVarintField(d, 5, 0);
    AppendBytesField(raw, 5, d);
  }
  AppendVarintField(raw, 6, error.code);
  return WrapProtobuf("v1", "Status", raw);
}

std::string EncodeStatusJson(const ApiError& error) {
  std::string out =
      "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",";
  out.append("\"message\":");
  AppendJsonString(out, error.message);
  if (!error.reason.empty()) {
    out.append(",\"reason\":");
    AppendJsonString(out, error.reason);
  }
  if (error.has_details) {
    out.append(",\"details\":{");
    bool first = true;
    auto field = [&](std::string_view key, const std::string& value) {
      if (value.empty()) return;
      if (!first) out.push_back(',');
      first = false;
      out.push_back('"');
      out.append(key);
      out.append("\":");
      AppendJsonString(out, value);
    };
    field("name", error.details.name);
    field("group", error.details.group);
    field("kind", error.details.kind);
    if (!error.details.causes.empty()) {
      if (!first) out.push_back(',');
      out.append("\"causes\":[");
      for (size_t i = 0; i < error.details.causes.size(); ++i) {
        const StatusCause& c = error.details.causes[i];
        if (i > 0) out.push_back(',');
        out.push_back('{');
        bool first_field = true;
        auto cause_field = [&](std::string_view key, const std::string& value) {
          if (value.empty()) return;
          if (!first_field) out.push_back(',');
          first_field = false;
          out.push_back('"');
          out.append(key);
          out.append("\":");
          AppendJsonString(out, value);
        };
        cause_field("reason", c.reason);
        cause_field("message", c.message);
        cause_field("field", c.field);
        out.push_back('}');
      }
      out.push_back(']');
    }
    out.push_back('}');
  }
  out.append(",\"code\":");
  out.append(std::to_string(error.code));
  out.append("}\n");
  return out;
}

}  // namespace

std::string EncodeStatus(Format format, const ApiError& error) {
  return format == Format::kProtobuf ? EncodeStatusProtobuf(error) : EncodeStatusJson(error);
}

HttpResponse ErrorResponse(const ApiError& error, Format format) {
  const bool protobuf = format == Format::kProtobuf;
  HttpResponse r;
  r.status = error.code;
  r.content_type = std::string(protobuf ? kProtobufContentType : kJsonContentType);
  r.body = EncodeStatus(format, error);
  return r;
}

ApiError BadRequestError(std::string message) {
  return Error(400, "BadRequest", std::move(message));
}

ApiError InvalidError(std::string group, std::string kind, std::string name,
                      const std::vector<FieldError>& errs) {
  // k8s.io/apimachinery/pkg/api/errors NewInvalid; the aggregate's text is the one error, or
  // "[e1, e2, ...]" (util/errors aggregate.Error).
  std::string text;
  for (size_t i = 0; i < errs.size(); ++i) {
    if (i > 0) text.append(", ");
    text.append(errs[i].field + ": " + errs[i].body);
  }
  if (errs.size() > 1) text = "[" + text + "]";
  ApiError e = Error(422, "Invalid",
                     kind + "." + group + " \"" + name + "\" is invalid: " + text);
  e.has_details = true;
  e.details.name = std::move(name);
  e.details.group = std::move(group);
  e.details.kind = std::move(kind);
  for (const FieldError& f : errs) e.details.causes.push_back({f.type, f.body, f.field});
  return e;
}

ApiError UnauthorizedError() { return Error(401, "Unauthorized", "Unauthorized"); }

ApiError ForbiddenError(const kube::Attributes& a, const std::string& reason) {
  ApiError e = Error(403, "Forbidden", "");
  std::string user = "User \"" + a.user.name + "\"";
  if (!a.resource_request) {
    e.message = "forbidden: " + user + " cannot " + a.verb + " path \"" + a.path + "\"";
  } else {
    std::string qualified = a.api_group.empty() ? a.resource : a.resource + "." + a.api_group;
    std::string resource = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
    e.message = qualified + (a.name.empty() ? "" : " \"" + a.name + "\"") +
                " is forbidden: " + user + " cannot " + a.verb + " resource \"" + resource +
                "\" in API group \"" + a.api_group + "\"" +
                (a.namespace_.empty() ? " at the cluster scope"
                                      : " in the namespace \"" + a.namespace_ + "\"");
    e.has_details = true;
    e.details = {a.name, a.api_group, a.resource, {}};
  }
  if (!reason.empty()) e.message += ": " + reason;
  return e;
}

ApiError NotFoundError() {
  ApiError e = Error(404, "NotFound", "the server could not find the requested resource");
  e.has_details = true;
  return e;
}

ApiError ObjectNotFoundError(std::string resource, std::string group, std::string name) {
  const std::string qualified = group.empty() ? resource : resource + "." + group;
  ApiError e = Error(404, "NotFound", qualified + " \"" + name + "\" not found");
  e.has_details = true;
  e.details = {std::move(name), std::move(group), std::move(resource), {}};
  return e;
}

ApiError MethodNotAllowedError() {
  ApiError e = Error(405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource");
  e.has_details = true;
  return e;
}

ApiError MethodNotSupportedError(std::string resource, std::string group, std::string_view action) {
  ApiError e = Error(405, "MethodNotAllowed",
                     std::string(action) + " is not supported on resources of kind \"" + resource +
                         "." + group + "\"");
  e.has_details = true;
  e.details = {"", std::move(group), std::move(resource), {}};
  return e;
}

ApiError NotAcceptableError(bool allow_protobuf) {
  return Error(406, "NotAcceptable",
               allow_protobuf ? "only the following media types are accepted: application/json, "
                                "application/vnd.kubernetes.protobuf"
                              : "only the following media types are accepted: application/json");
}

ApiError ResourceExpiredError(std::string message) {
  return Error(410, "Expired", std::move(message));
}

ApiError RequestEntityTooLargeError() {
  return Error(413, "RequestEntityTooLarge", "request bodies are not accepted");
}

ApiError RequestUriTooLongError(std::string message) {
  return Error(414, "RequestURITooLong", std::move(message));
}

ApiError TooManyRequestsError(std::string message) {
  return Error(429, "TooManyRequests", std::move(message));
}

ApiError RequestHeaderFieldsTooLargeError() {
  return Error(431, "RequestHeaderFieldsTooLarge", "request header fields too large");
}

}  // namespace apiserver
