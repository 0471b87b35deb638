// A minimal protobuf wire-format reader for tests: decodes a message into its fields so tests
// can check encoded bytes field by field.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace apiserver::testing {

struct ProtoField {
  uint32_t number = 0;
  int wire_type = 0;
  uint64_t varint = 0;
  std::string bytes;
};

// Decodes `data` into fields in order; returns false on malformed input.
inline bool DecodeProto(std::string_view data, std::vector<ProtoField>* out) {
  size_t i = 0;
  auto varint = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= data.size()) return false;
      uint8_t b = static_cast<uint8_t>(data[i++]);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  while (i < data.size()) {
    uint64_t tag;
    if (!varint(&tag)) return false;
    ProtoField f;
    f.number = static_cast<uint32_t>(tag >> 3);
    f.wire_type = static_cast<int>(tag & 7);
    if (f.wire_type == 0) {
      if (!varint(&f.varint)) return false;
    } else if (f.wire_type == 2) {
      uint64_t len;
      if (!varint(&len) || i + len > data.size()) return false;
      f.bytes = std::string(data.substr(i, len));
      i += len;
    } else {
      return false;
    }
    out->push_back(std::move(f));
  }
  return true;
}

// Fields of a message grouped by number.
inline std::multimap<uint32_t, ProtoField> ProtoFields(std::string_view data) {
  std::vector<ProtoField> fields;
  std::multimap<uint32_t, ProtoField> out;
  if (!DecodeProto(data, &fields)) return out;
  for (auto& f : fields) out.emplace(f.number, std::move(f));
  return out;
}

// The bytes of the first field `n`, or "" when absent.
inline std::string ProtoBytes(std::string_view data, uint32_t n) {
  auto fields = ProtoFields(data);
  auto it = fields.find(n);
  return it == fields.end() ? "" : it->second.bytes;
}
inline uint64_t ProtoVarint(std::string_view data, uint32_t n) {
  auto fields = ProtoFields(data);
  auto it = fields.find(n);
  return it == fields.end() ? 0 : it->second.varint;
}
inline std::vector<std::string> ProtoRepeated(std::string_view data, uint32_t n) {
  std::vector<std::string> out;
  auto fields = ProtoFields(data);
  auto [a, b] = fields.equal_range(n);
  for (auto it = a; it != b; ++it) out.push_back(it->second.bytes);
  return out;
}

}  // namespace apiserver::testing
