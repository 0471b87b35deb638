#include "kube/labels.h"

#include <stdexcept>

namespace kube {

Labels::Labels(std::initializer_list<value_type> labels) {
  for (const auto& [key, value] : labels) {
    if (find(key) == end()) Set(key, value);
  }
}

Labels::value_type Labels::At(size_t i) const {
  const size_t key_begin = i == 0 ? 0 : ends_[2 * i - 1];
  const size_t key_end = ends_[2 * i];
  const size_t value_end = ends_[2 * i + 1];
  std::string_view data(data_);
  return {data.substr(key_begin, key_end - key_begin), data.substr(key_end, value_end - key_end)};
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
  const size_t i = LowerBound(key);
  if (i < size() && At(i).first == key) {
    // Replace the value: shift what follows by the difference in length.
    const size_t begin = ends_[2 * i];
    const size_t old_size = ends_[2 * i + 1] - begin;
    data_.replace(begin, old_size, value);
    const int64_t delta = static_cast<int64_t>(value.size()) - static_cast<int64_t>(old_size);
    for (size_t k = 2 * i + 1; k < ends_.size(); ++k)
      ends_[k] = static_cast<uint32_t>(static_cast<int64_t>(ends_[k]) + delta);
    return;
  }
  const size_t at = i == 0 ? 0 : ends_[2 * i - 1];
  const uint32_t added = static_cast<uint32_t>(key.size() + value.size());
  data_.insert(at, key);
  data_.insert(at + key.size(), value);
  ends_.insert(ends_.begin() + static_cast<std::ptrdiff_t>(2 * i),
               {static_cast<uint32_t>(at + key.size()), static_cast<uint32_t>(at + added)});
  for (size_t k = 2 * i + 2; k < ends_.size(); ++k) ends_[k] += added;
}

}  // namespace kube
