// Result types for expected failures.
//
// Module boundaries return `Status` (no value) or `Result<T>` (a value or an error message with
// context) instead of throwing. Messages read like `node-3 10.0.0.5:10250: handshake: certificate
// verify failed`: outermost context first, cause last. Both types are cheap to move and are not
// thread-safe (they are values).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace base {

// The outcome of an operation that yields no value.
class [[nodiscard]] Status {
 public:
  Status() = default;  // success
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message), 0); }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  // The error message; empty on success.
  const std::string& message() const {
    static const std::string kEmpty;
    return error_ ? *error_ : kEmpty;
  }
  // Returns this error with `context: ` in front. No-op on success.
  Status Wrap(std::string_view context) const& {
    if (ok()) return *this;
    return Error(std::string(context) + ": " + *error_);
  }

 private:
  Status(std::string message, int) : error_(std::move(message)) {}
  std::optional<std::string> error_;
};

// Marker that converts into a failed Result<T> of any T.
struct Error {
  std::string message;
};
inline Error MakeError(std::string message) { return Error{std::move(message)}; }

// A value of type T, or an error message.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error.message)) {}  // NOLINT
  Result(const Status& failed) : v_(std::in_place_index<1>, failed.message()) {  // NOLINT
    assert(!failed.ok());
  }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Requires ok().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // Requires !ok().
  const std::string& error() const { return std::get<1>(v_); }
  Status status() const { return ok() ? Status::Ok() : Status::Error(error()); }

 private:
  std::variant<T, std::string> v_;
};

}  // namespace base
