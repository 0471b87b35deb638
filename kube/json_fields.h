// Non-throwing access to fields of decoded Kubernetes JSON, shared by this library's decoders.
// Pure functions; thread-safe. Internal to kube/.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "base/result.h"

namespace kube {

// Parses without exceptions; invalid JSON is an error value.
inline base::Result<nlohmann::json> ParseJson(std::string_view text) {
  nlohmann::json j =
      nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return base::MakeError("invalid JSON");
  return j;
}

// The member `key` of an object, or nullptr (absent, or `obj` is not an object).
inline const nlohmann::json* Field(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// The string member `key`, or "" when absent or not a string.
inline std::string StringField(const nlohmann::json& obj, const char* key) {
  const nlohmann::json* f = Field(obj, key);
  return f && f->is_string() ? f->get_ref<const std::string&>() : std::string();
}

// The boolean member `key`; false when absent or not a boolean.
inline bool BoolField(const nlohmann::json& obj, const char* key) {
  const nlohmann::json* f = Field(obj, key);
  return f && f->is_boolean() && f->get<bool>();
}

}  // namespace kube
