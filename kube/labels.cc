#include "kube/labels.h"

#include <cstring>
#include <stdexcept>

namespace kube {

static_assert(sizeof(Labels) == sizeof(void*), "one shared buffer per object");

Labels::Labels(std::initializer_list<value_type> labels) {
  std::string data;
  for (const auto& [key, value] : labels) {
    const size_t i = LowerBoundIn(data, key);
    if (i == CountIn(data) || AtIn(data, i).first != key) SetIn(data, key, value);
  }
  data_ = base::SharedString(data);
}

Labels Labels::Builder::Build() const {
  Labels labels;
  labels.data_ = base::SharedString(data_);
  return labels;
}

uint32_t Labels::WordOf(std::string_view data, size_t k) {
  uint32_t v;
  std::memcpy(&v, data.data() + 4 * k, sizeof v);
  return v;
}

void Labels::SetWord(std::string& data, size_t k, uint32_t v) {
  std::memcpy(data.data() + 4 * k, &v, sizeof v);
}

Labels::value_type Labels::AtIn(std::string_view data, size_t i) {
  const size_t key_begin = i == 0 ? 0 : WordOf(data, 2 * i);
  const size_t key_end = WordOf(data, 1 + 2 * i);
  const size_t value_end = WordOf(data, 2 + 2 * i);
  const std::string_view chars = data.substr(HeaderBytes(CountIn(data)));
  return {chars.substr(key_begin, key_end - key_begin), chars.substr(key_end, value_end - key_end)};
}

size_t Labels::LowerBoundIn(std::string_view data, std::string_view key) {
  size_t low = 0;
  size_t high = CountIn(data);
  while (low < high) {
    const size_t mid = low + (high - low) / 2;
    if (AtIn(data, mid).first < key) {
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
  std::string data(data_.view());
  SetIn(data, key, value);
  data_ = base::SharedString(data);
}

void Labels::SetIn(std::string& data, std::string_view key, std::string_view value) {
  auto word = [&data](size_t k) { return WordOf(data, k); };
  const size_t n = CountIn(data);
  const size_t i = LowerBoundIn(data, key);
  if (i < n && AtIn(data, i).first == key) {
    // Replace the value: shift what follows by the difference in length.
    const size_t begin = word(1 + 2 * i);
    const size_t old_size = word(2 + 2 * i) - begin;
    data.replace(HeaderBytes(n) + begin, old_size, value);
    const int64_t delta = static_cast<int64_t>(value.size()) - static_cast<int64_t>(old_size);
    for (size_t k = 2 + 2 * i; k <= 2 * n; ++k) {
      SetWord(data, k, static_cast<uint32_t>(static_cast<int64_t>(word(k)) + delta));
    }
    return;
  }
  // Grown to the exact size unless Reserve made room.
  const auto added = static_cast<uint32_t>(key.size() + value.size());
  const size_t need = (n == 0 ? HeaderBytes(1) : data.size() + 8) + added;
  if (data.capacity() < need) {
    std::string grown;
    grown.reserve(need);
    grown.assign(data);
    data.swap(grown);
  }
  if (n == 0) data.assign(HeaderBytes(0), '\0');
  // The characters first (their place is known from the header as it is), then the two offsets.
  const size_t at = i == 0 ? 0 : word(2 * i);
  data.insert(HeaderBytes(n) + at, key);
  data.insert(HeaderBytes(n) + at + key.size(), value);
  const uint32_t ends[2] = {static_cast<uint32_t>(at + key.size()),
                            static_cast<uint32_t>(at + added)};
  data.insert(4 * (1 + 2 * i), reinterpret_cast<const char*>(ends), sizeof ends);
  SetWord(data, 0, static_cast<uint32_t>(n + 1));
  for (size_t k = 3 + 2 * i; k <= 2 * (n + 1); ++k) SetWord(data, k, word(k) + added);
}

bool LabelSetTable::Intern(Labels& labels) {
  if (labels.empty()) return false;
  auto [it, added] = sets_.insert(labels.data_);
  if (!added) labels.data_ = *it;
  return sets_.size() > 2 * size_after_sweep_ + 64;
}

void LabelSetTable::Sweep() {
  std::erase_if(sets_, [](const base::SharedString& s) { return s.use_count() == 1; });
  size_after_sweep_ = sets_.size();
}

}  // namespace kube
