// Value formatting shared by every encoder: Kubernetes Quantity canonical strings, metav1.Time
// (RFC 3339, whole seconds, UTC), JSON string escaping as Go's encoding/json writes it, the
// protobuf wire primitives and Kubernetes' protobuf envelope. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"

namespace apiserver {

// Quantity.String() of `mantissa` × 10^`exponent` in DecimalSI form, e.g. (500000000, -9) →
// "500m", (0, x) → "0". Appends to `out`.
void AppendDecimalSI(std::string& out, int64_t mantissa, int32_t exponent);
// Quantity.String() of a BinarySI value in base units (bytes): < 1024 as DecimalSI ("1k" for
// 1000), otherwise the largest exact power of 1024 ("1578392Ki", "1Mi"), else the plain integer.
void AppendBinarySI(std::string& out, int64_t value);

// CPU as metrics-server builds it: NewScaledQuantity(nanocores, -9).
std::string FormatCpu(uint64_t nanocores);
// Memory as metrics-server builds it: NewQuantity(bytes, BinarySI).
std::string FormatMemory(uint64_t bytes);

// metav1.Time JSON text without quotes: "2025-01-09T13:45:39Z" (sub-second part truncated).
std::string FormatTime(base::UnixNanos t);
// Appends FormatTime(t) to `out` without a temporary (it is written once per served object).
void AppendTime(std::string& out, base::UnixNanos t);
// Whole seconds since the epoch, rounded towards negative infinity (as Go's Time.Unix()).
int64_t UnixSeconds(base::UnixNanos t);

// Appends `s` as a JSON string literal with quotes, escaping as Go's encoding/json does
// (including <, >, & and U+2028/U+2029). Invalid UTF-8 bytes become U+FFFD.
void AppendJsonString(std::string& out, std::string_view s);
// The bytes AppendJsonString appends for `s` (quotes included).
size_t JsonStringSize(std::string_view s);

// Protobuf wire primitives (proto2, as gogo-protobuf generates for Kubernetes types).
void AppendVarint(std::string& out, uint64_t v);
// Tag for a length-delimited field followed by the length and the bytes.
void AppendBytesField(std::string& out, uint32_t field, std::string_view bytes);
// Tag for a varint field followed by the value.
void AppendVarintField(std::string& out, uint32_t field, uint64_t v);
// Number of bytes AppendVarint would write.
size_t VarintSize(uint64_t v);

// A length-delimited field written in place: BeginField appends the tag and a one-byte length
// placeholder and returns where the contents start; EndField(out, start) fills in the length
// (widening the placeholder when the contents reach 128 bytes). Nested fields must be ended
// innermost first. This avoids a temporary string per nested message.
size_t BeginField(std::string& out, uint32_t field);
void EndField(std::string& out, size_t start);

// The first bytes of every Kubernetes protobuf body; a runtime.Unknown message follows.
inline constexpr std::string_view kProtobufMagic("k8s\0", 4);
// `raw` (an encoded object of `kind` in `api_version`) in the envelope: kProtobufMagic +
// runtime.Unknown{typeMeta {apiVersion, kind}, raw, contentEncoding "", contentType ""}.
std::string WrapProtobuf(std::string_view api_version, std::string_view kind, std::string_view raw);

}  // namespace apiserver
