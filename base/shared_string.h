// An immutable string whose copies share one buffer, counted by reference.
//
// The names of pods and containers are held by the scraper's store from tick to tick and by
// every window built from it (one per tick, several alive while readers hold older ones). As
// std::string each holder kept its own 32 bytes plus, past 15 characters, its own heap copy; a
// SharedString is one pointer, and a copy costs an atomic increment instead of an allocation.
// The empty string holds no buffer.
//
// Thread-safety: as for std::shared_ptr: distinct SharedStrings that share a buffer may be
// copied and destroyed on any threads at once; one SharedString is not to be assigned while
// another thread reads it.
#pragma once

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <type_traits>

namespace base {

class SharedString {
 public:
  SharedString() = default;
  // Copies `s` into a new buffer (none when empty). Implicit, so that a name is assigned from
  // a literal, a std::string or a view as before.
  SharedString(std::string_view s);  // NOLINT(google-explicit-constructor)
  SharedString(const std::string& s) : SharedString(std::string_view(s)) {}  // NOLINT
  SharedString(const char* s) : SharedString(std::string_view(s)) {}         // NOLINT

  SharedString(const SharedString& other) noexcept : rep_(other.rep_) { Ref(); }
  SharedString(SharedString&& other) noexcept : rep_(other.rep_) { other.rep_ = nullptr; }
  SharedString& operator=(const SharedString& other) noexcept {
    SharedString copy(other);
    Swap(copy);
    return *this;
  }
  SharedString& operator=(SharedString&& other) noexcept {
    SharedString moved(std::move(other));
    Swap(moved);
    return *this;
  }
  ~SharedString() { Unref(); }

  std::string_view view() const {
    return rep_ == nullptr ? std::string_view() : std::string_view(chars(), rep_->size);
  }
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
  std::string str() const { return std::string(view()); }
  const char* data() const { return rep_ == nullptr ? "" : chars(); }
  size_t size() const { return rep_ == nullptr ? 0 : rep_->size; }
  bool empty() const { return rep_ == nullptr; }
  int compare(std::string_view other) const { return view().compare(other); }

  // True when both hold the same buffer (not merely equal characters).
  bool SharesBufferWith(const SharedString& other) const {
    return rep_ != nullptr && rep_ == other.rep_;
  }

  // How many SharedStrings hold this buffer (0 when empty). Exact only while no other thread
  // copies or drops one of them: for a table that interns strings, whose entries nothing else
  // can copy once the table holds the last one (a count of 1).
  uint32_t use_count() const {
    return rep_ == nullptr ? 0 : rep_->refs.load(std::memory_order_acquire);
  }

  void Swap(SharedString& other) noexcept { std::swap(rep_, other.rep_); }

  // Compared by characters, with each other and with anything that converts to a view (a
  // std::string, a literal), on either side. The second form is a template so that a literal
  // binds to it exactly instead of converting to a SharedString.
  friend bool operator==(const SharedString& a, const SharedString& b) {
    return a.rep_ == b.rep_ || a.view() == b.view();
  }
  friend std::strong_ordering operator<=>(const SharedString& a, const SharedString& b) {
    return a.view() <=> b.view();
  }
  template <typename T>
  requires(std::is_convertible_v<const T&, std::string_view> &&
           !std::is_same_v<T, SharedString>) friend bool
  operator==(const SharedString& a, const T& b) {
    return a.view() == std::string_view(b);
  }
  template <typename T>
  requires(std::is_convertible_v<const T&, std::string_view> &&
           !std::is_same_v<T, SharedString>) friend std::strong_ordering
  operator<=>(const SharedString& a, const T& b) {
    return a.view() <=> std::string_view(b);
  }

 private:
  struct Rep {
    std::atomic<uint32_t> refs;
    uint32_t size;
    // The characters follow, then a terminating NUL.
  };

  const char* chars() const { return reinterpret_cast<const char*>(rep_ + 1); }
  void Ref() const {
    if (rep_ != nullptr) rep_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  void Unref() noexcept;

  Rep* rep_ = nullptr;
};
static_assert(sizeof(SharedString) == sizeof(void*));

std::ostream& operator<<(std::ostream& out, const SharedString& s);

}  // namespace base

template <>
struct std::hash<base::SharedString> {
  size_t operator()(const base::SharedString& s) const noexcept {
    return std::hash<std::string_view>()(s.view());
  }
};
