// Expected outcomes as values: Result<T> holds a T or an Error (a code and a message). No
// exceptions cross the core's boundary.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "core/assert.h"

namespace rq {

enum class ErrorCode {
  kIo,          // the disk said no (failed write, failed sync, missing file)
  kCorrupt,     // bytes that fail a checksum or a structural check
  kNotFound,
  kExists,
  kInvalid,     // malformed input
  kTimeout,     // no answer in time (the other side may have acted)
};

struct Error {
  ErrorCode code = ErrorCode::kIo;
  std::string message;
};

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error e) : v_(std::move(e)) {}      // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & {
    RQ_ASSERT(ok());
    return std::get<0>(v_);
  }
  // By value from a temporary, so `for (auto& x : f().value())` does not dangle.
  T value() && {
    RQ_ASSERT(ok());
    return std::get<0>(std::move(v_));
  }
  const T& value() const& {
    RQ_ASSERT(ok());
    return std::get<0>(v_);
  }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  const Error& error() const {
    RQ_ASSERT(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

// Status is a Result with nothing in it.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace rq
