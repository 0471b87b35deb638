// Decoding of the extension-apiserver-authentication ConfigMap.
#include <nlohmann/json.hpp>

#include "kube/authentication_config.h"

namespace kube {
namespace {

using nlohmann::json;

// A data key holding a JSON array of strings in a string; absent = empty.
base::Status StringListKey(const json& data, const char* key, std::vector<std::string>* out) {
  auto it = data.find(key);
  if (it == data.end() || it->is_null()) return base::Status::Ok();
  if (!it->is_string()) return base::Status::Error(std::string("data.") + key + ": not a string");
  const std::string& text = it->get_ref<const std::string&>();
  if (text.empty()) return base::Status::Ok();
  json list = json::parse(text, nullptr, false);
  if (list.is_discarded() || !list.is_array()) {
    return base::Status::Error(std::string("data.") + key + ": not a JSON array: " + text);
  }
  for (const json& v : list) {
    if (!v.is_string()) {
      return base::Status::Error(std::string("data.") + key + ": not a list of strings: " + text);
    }
    out->push_back(v.get<std::string>());
  }
  return base::Status::Ok();
}

}  // namespace

base::Result<AuthenticationConfig> ParseAuthenticationConfigMap(std::string_view text) {
  const std::string what = "ConfigMap extension-apiserver-authentication";
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return base::MakeError(what + ": invalid JSON");
  auto kind = j.find("kind");
  if (kind != j.end() && (!kind->is_string() || kind->get<std::string>() != "ConfigMap")) {
    return base::MakeError(what + ": not a ConfigMap");
  }
  AuthenticationConfig config;
  if (auto meta = j.find("metadata"); meta != j.end() && meta->is_object()) {
    if (auto rv = meta->find("resourceVersion"); rv != meta->end() && rv->is_string()) {
      config.resource_version = rv->get<std::string>();
    }
  }
  auto data_it = j.find("data");
  if (data_it == j.end() || data_it->is_null()) return config;
  if (!data_it->is_object()) return base::MakeError(what + ": data is not an object");
  const json& data = *data_it;
  auto pem = [&](const char* key, std::string* out) -> base::Status {
    auto it = data.find(key);
    if (it == data.end() || it->is_null()) return base::Status::Ok();
    if (!it->is_string()) return base::Status::Error(std::string("data.") + key + ": not a string");
    *out = it->get<std::string>();
    return base::Status::Ok();
  };
  for (base::Status s :
       {pem("client-ca-file", &config.client_ca_pem),
        pem("requestheader-client-ca-file", &config.requestheader_client_ca_pem),
        StringListKey(data, "requestheader-allowed-names", &config.allowed_names),
        StringListKey(data, "requestheader-username-headers", &config.username_headers),
        StringListKey(data, "requestheader-uid-headers", &config.uid_headers),
        StringListKey(data, "requestheader-group-headers", &config.group_headers),
        StringListKey(data, "requestheader-extra-headers-prefix", &config.extra_headers_prefix)}) {
    if (!s.ok()) return base::MakeError(what + ": " + s.message());
  }
  return config;
}

}  // namespace kube
