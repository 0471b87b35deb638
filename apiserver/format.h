// The response formats a client can negotiate with its Accept header (Negotiate, request.h) and
// their media types. Shared by the HTTP layer, the Status encoder (status.h) and the object
// encoders (encoding.h) without any of them including another.
#pragma once

#include <string_view>

namespace apiserver {

inline constexpr std::string_view kJsonContentType = "application/json";
inline constexpr std::string_view kProtobufContentType = "application/vnd.kubernetes.protobuf";

// kTable is metav1.Table, always written as JSON.
enum class Format { kJson, kProtobuf, kTable };

}  // namespace apiserver
