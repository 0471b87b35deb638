// TokenReview and SubjectAccessReview JSON (authentication.k8s.io/v1, authorization.k8s.io/v1).
#include <nlohmann/json.hpp>

#include "kube/auth.h"
#include "kube/json_fields.h"

namespace kube {
namespace {

using nlohmann::json;

std::vector<std::string> StringList(const json* arr) {
  std::vector<std::string> out;
  if (!arr || !arr->is_array()) return out;
  for (const json& v : *arr) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

std::string EncodeTokenReview(const std::string& token, const std::vector<std::string>& audiences) {
  json spec = {{"token", token}};
  if (!audiences.empty()) spec["audiences"] = audiences;
  json review = {{"apiVersion", "authentication.k8s.io/v1"},
                 {"kind", "TokenReview"},
                 {"metadata", {{"creationTimestamp", nullptr}}},
                 {"spec", spec},
                 {"status", {{"user", json::object()}}}};
  return review.dump(-1, ' ', false, json::error_handler_t::replace);
}

base::Result<std::optional<UserInfo>> DecodeTokenReview(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return base::MakeError("TokenReview: invalid JSON");
  if (StringField(j, "kind") != "TokenReview") {
    return base::MakeError("TokenReview: unexpected kind \"" + StringField(j, "kind") + "\"");
  }
  const json* status = Field(j, "status");
  if (!status || !status->is_object()) return base::MakeError("TokenReview: no status");
  if (!BoolField(*status, "authenticated")) {
    // A rejected token; status.error (if any) explains why but is not a failure of the review.
    return std::optional<UserInfo>();
  }
  const json* user = Field(*status, "user");
  UserInfo info;
  if (user) {
    info.name = StringField(*user, "username");
    info.uid = StringField(*user, "uid");
    info.groups = StringList(Field(*user, "groups"));
    if (const json* extra = Field(*user, "extra"); extra && extra->is_object()) {
      for (auto it = extra->begin(); it != extra->end(); ++it) {
        info.extra[it.key()] = StringList(&it.value());
      }
    }
  }
  if (info.name.empty()) return base::MakeError("TokenReview: authenticated without a username");
  return std::optional<UserInfo>(std::move(info));
}

std::string EncodeSubjectAccessReview(const Attributes& a) {
  json spec = json::object();
  if (a.resource_request) {
    json ra = json::object();
    // Go's omitempty: only non-empty fields, in the struct's order.
    auto put = [&](const char* k, const std::string& v) {
      if (!v.empty()) ra[k] = v;
    };
    put("namespace", a.namespace_);
    put("verb", a.verb);
    put("group", a.api_group);
    put("version", a.api_version);
    put("resource", a.resource);
    put("subresource", a.subresource);
    put("name", a.name);
    spec["resourceAttributes"] = ra;
  } else {
    spec["nonResourceAttributes"] = {{"path", a.path}, {"verb", a.verb}};
  }
  if (!a.user.name.empty()) spec["user"] = a.user.name;
  if (!a.user.groups.empty()) spec["groups"] = a.user.groups;
  if (!a.user.extra.empty()) spec["extra"] = a.user.extra;
  if (!a.user.uid.empty()) spec["uid"] = a.user.uid;
  json review = {
      {"apiVersion", "authorization.k8s.io/v1"}, {"kind", "SubjectAccessReview"}, {"spec", spec}};
  return review.dump(-1, ' ', false, json::error_handler_t::replace);
}

base::Result<Decision> DecodeSubjectAccessReview(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return base::MakeError("SubjectAccessReview: invalid JSON");
  }
  if (StringField(j, "kind") != "SubjectAccessReview") {
    return base::MakeError("SubjectAccessReview: unexpected kind \"" + StringField(j, "kind") +
                           "\"");
  }
  const json* status = Field(j, "status");
  if (!status || !status->is_object()) return base::MakeError("SubjectAccessReview: no status");
  bool allowed = BoolField(*status, "allowed");
  bool denied = BoolField(*status, "denied");
  Decision d;
  d.reason = StringField(*status, "reason");
  std::string evaluation_error = StringField(*status, "evaluationError");
  if (allowed && denied) {
    return base::MakeError("SubjectAccessReview: both allowed and denied" +
                           (d.reason.empty() ? "" : ": " + d.reason));
  }
  d.allowed = allowed;  // denied or no opinion both end in 403
  if (!allowed && d.reason.empty() && !evaluation_error.empty()) d.reason = evaluation_error;
  return d;
}

}  // namespace kube
