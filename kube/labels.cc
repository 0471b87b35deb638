#include "kube/labels.h"

#include <cstring>
#include <stdexcept>

namespace kube {

static_assert(sizeof(Labels) == sizeof(std::string), "one buffer per object");

Labels::Labels(std::initializer_list<value_type> labels) {
  for (const auto& [key, value] : labels) {
    if (find(key) == end()) Set(key, value);
  }
}

uint32_t Labels::Word(size_t k) const {
  uint32_t v;
  std::memcpy(&v, data_.data() + 4 * k, sizeof v);
  return v;
}

void Labels::SetWord(size_t k, uint32_t v) { std::memcpy(data_.data() + 4 * k, &v, sizeof v); }

Labels::value_type Labels::At(size_t i) const {
  const size_t key_begin = i == 0 ? 0 : Word(2 * i);
  const size_t key_end = Word(1 + 2 * i);
  const size_t value_end = Word(2 + 2 * i);
  const std::string_view chars = std::string_view(data_).substr(HeaderBytes(size()));
  return {chars.substr(key_begin, key_end - key_begin), chars.substr(key_end, value_end - key_end)};
}

size_t Labels::LowerBound(std::string_view key) const {
  size_t low = 0;
  size_t high = size();
  while (low < high) {
    const size_t mid = low + (high - low) / 2;
    if (At(mid).first < key) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return low;
}

Labels::const_iterator Labels::find(std::string_view key) const {
  const size_t i = LowerBound(key);
  return i < size() && At(i).first == key ? const_iterator(this, i) : end();
}

std::string_view Labels::at(std::string_view key) const {
  auto it = find(key);
  if (it == end()) throw std::out_of_range("no label \"" + std::string(key) + "\"");
  return it->second;
}

void Labels::Set(std::string_view key, std::string_view value) {
  const size_t n = size();
  const size_t i = LowerBound(key);
  if (i < n && At(i).first == key) {
    // Replace the value: shift what follows by the difference in length.
    const size_t begin = Word(1 + 2 * i);
    const size_t old_size = Word(2 + 2 * i) - begin;
    data_.replace(HeaderBytes(n) + begin, old_size, value);
    const int64_t delta = static_cast<int64_t>(value.size()) - static_cast<int64_t>(old_size);
    for (size_t k = 2 + 2 * i; k <= 2 * n; ++k) {
      SetWord(k, static_cast<uint32_t>(static_cast<int64_t>(Word(k)) + delta));
    }
    return;
  }
  // Grown to the exact size unless Reserve made room: the object keeps what it needs, not what
  // std::string's doubling would leave (labels are set a few at a time, then kept long).
  const auto added = static_cast<uint32_t>(key.size() + value.size());
  const size_t need = (n == 0 ? HeaderBytes(1) : data_.size() + 8) + added;
  if (data_.capacity() < need) {
    std::string grown;
    grown.reserve(need);
    grown.assign(data_);
    data_.swap(grown);
  }
  if (n == 0) data_.assign(HeaderBytes(0), '\0');
  // The characters first (their place is known from the header as it is), then the two offsets.
  const size_t at = i == 0 ? 0 : Word(2 * i);
  data_.insert(HeaderBytes(n) + at, key);
  data_.insert(HeaderBytes(n) + at + key.size(), value);
  const uint32_t ends[2] = {static_cast<uint32_t>(at + key.size()),
                            static_cast<uint32_t>(at + added)};
  data_.insert(4 * (1 + 2 * i), reinterpret_cast<const char*>(ends), sizeof ends);
  SetWord(0, static_cast<uint32_t>(n + 1));
  for (size_t k = 3 + 2 * i; k <= 2 * (n + 1); ++k) SetWord(k, Word(k) + added);
}

}  // namespace kube
