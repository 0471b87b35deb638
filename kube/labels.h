// The labels of one Kubernetes object, sorted by key, every key and value in one buffer.
//
// A cache holds one per pod and node (300,000 pods at 10,000 nodes), so the layout is what
// matters: a std::map<std::string, std::string> costs a tree node of ~112 bytes per label plus a
// heap block for every key or value longer than 15 characters (most qualified keys, e.g.
// "app.kubernetes.io/name"); here a label costs its characters and 8 bytes of offsets, in one
// allocation per object (none without labels). Iteration yields pair<string_view, string_view> in
// key order, as the map did, so encoders and selectors read them the same way.
//
// The buffer is shared by copies (base::SharedString) and immutable: a change makes a new one.
// The pod cache keeps one buffer per distinct label set (the pods of a ReplicaSet have the same
// labels), so a pod's labels cost a pointer (kube::LabelSetTable).
//
// Thread-safety: a plain value; const member functions may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "base/shared_string.h"

namespace kube {

class Labels {
 public:
  using value_type = std::pair<std::string_view, std::string_view>;

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Labels::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = value_type;

    // For it->first / it->second: the pair lives in the proxy.
    struct Arrow {
      value_type pair;
      const value_type* operator->() const { return &pair; }
    };

    const_iterator() = default;
    value_type operator*() const { return labels_->At(index_); }
    Arrow operator->() const { return {labels_->At(index_)}; }
    const_iterator& operator++() {
      ++index_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator before = *this;
      ++index_;
      return before;
    }
    bool operator==(const const_iterator& o) const { return index_ == o.index_; }

   private:
    friend class Labels;
    const_iterator(const Labels* labels, size_t index) : labels_(labels), index_(index) {}
    const Labels* labels_ = nullptr;
    size_t index_ = 0;
  };
  using iterator = const_iterator;

  Labels() = default;
  // As std::map's: for a key given twice, the first value wins.
  Labels(std::initializer_list<value_type> labels);

  // Adds `key` with `value`, or replaces the value of `key`: copies the labels into a new
  // buffer. To set several at once, use a Builder.
  void Set(std::string_view key, std::string_view value);

  // Builds labels in a buffer of its own, made shared once by Build().
  class Builder {
   public:
    // Room for `labels` labels of `bytes` characters in all, so that Set does not grow the
    // buffer again. Appending keys in increasing order (as a JSON object's members arrive from
    // the decoder) moves nothing.
    void Reserve(size_t labels, size_t bytes) { data_.reserve(HeaderBytes(labels) + bytes); }
    void Set(std::string_view key, std::string_view value) { Labels::SetIn(data_, key, value); }
    Labels Build() const;

   private:
    std::string data_;
  };

  void clear() { data_ = base::SharedString(); }

  size_t size() const { return CountIn(data_.view()); }
  bool empty() const { return data_.empty(); }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size()}; }
  // The label `key`, or end().
  const_iterator find(std::string_view key) const;
  // The value of `key`; throws std::out_of_range when absent (as std::map::at).
  std::string_view at(std::string_view key) const;

  // The same labels (sorted, so the same bytes).
  bool operator==(const Labels& o) const { return data_ == o.data_; }  // same buffer first
  // True when both hold the same buffer (an interned label set).
  bool SharesBufferWith(const Labels& o) const { return data_.SharesBufferWith(o.data_); }

 private:
  friend class LabelSetTable;
  // Sets `key` to `value` in the layout below, held in `data`.
  static void SetIn(std::string& data, std::string_view key, std::string_view value);

  value_type At(size_t i) const { return AtIn(data_.view(), i); }
  // The first label whose key is not less than `key`.
  size_t LowerBound(std::string_view key) const { return LowerBoundIn(data_.view(), key); }
  // The same on labels laid out in `data` (as data_, below), for the builders.
  static size_t CountIn(std::string_view data) { return data.empty() ? 0 : WordOf(data, 0); }
  static value_type AtIn(std::string_view data, size_t i);
  static size_t LowerBoundIn(std::string_view data, std::string_view key);

  // The bytes before the characters of `labels` labels: the count and two offsets per label.
  static size_t HeaderBytes(size_t labels) { return 4 * (1 + 2 * labels); }
  // The 32-bit word `k` of `data` (host order).
  static uint32_t WordOf(std::string_view data, size_t k);
  static void SetWord(std::string& data, size_t k, uint32_t v);

  // Empty without labels; otherwise the label count n, then for each label i the end offset of
  // its key (word 1 + 2i) and of its value (word 2 + 2i) among the characters, then the
  // characters: key 0, value 0, key 1, value 1, ... without separators.
  base::SharedString data_;
};

// One buffer per distinct label set among the objects of a cache: Intern() makes an object's
// labels share the buffer of equal labels seen before. Sets no object holds any more are
// dropped by Sweep(), which the cache calls as it changes (amortized: Intern() asks for one once
// the table has doubled since the last).
//
// Thread-safety: none; the owner serializes every call (the cache's writer lock), and readers
// of the objects only copy or read their labels.
class LabelSetTable {
 public:
  // Makes `labels` share the buffer of an equal set already in the table, or adds its buffer.
  // Returns true when a sweep is due.
  bool Intern(Labels& labels);
  // Drops the sets only the table holds.
  void Sweep();
  size_t size() const { return sets_.size(); }

 private:
  std::unordered_set<base::SharedString> sets_;
  size_t size_after_sweep_ = 0;
};

}  // namespace kube
