// Assertions that stay on in every build type. RQ_ASSERT means "our bug": it aborts with the
// expression, the place and, for the binary forms, both values. Expected outcomes (a lost leader, a
// corrupt file, a bad message) are values, never assertions.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

namespace rq {

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const std::string& detail);

template <class T>
std::string debug_string(const T& v) {
  if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
    return std::to_string(static_cast<long long>(v));
  } else if constexpr (requires { v.v; }) {
    return std::to_string(v.v);
  } else {
    return "?";
  }
}

}  // namespace rq

#define RQ_ASSERT(cond)                                                   \
  do {                                                                    \
    if (!(cond)) [[unlikely]]                                             \
      ::rq::assert_fail(#cond, __FILE__, __LINE__, std::string());        \
  } while (0)

#define RQ_ASSERT_OP_(a, op, b)                                                         \
  do {                                                                                  \
    const auto& rq_a_ = (a);                                                            \
    const auto& rq_b_ = (b);                                                            \
    if (!(rq_a_ op rq_b_)) [[unlikely]]                                                 \
      ::rq::assert_fail(#a " " #op " " #b, __FILE__, __LINE__,                          \
                        ::rq::debug_string(rq_a_) + " vs " + ::rq::debug_string(rq_b_)); \
  } while (0)

#define RQ_ASSERT_EQ(a, b) RQ_ASSERT_OP_(a, ==, b)
#define RQ_ASSERT_NE(a, b) RQ_ASSERT_OP_(a, !=, b)
#define RQ_ASSERT_LE(a, b) RQ_ASSERT_OP_(a, <=, b)
#define RQ_ASSERT_LT(a, b) RQ_ASSERT_OP_(a, <, b)
#define RQ_ASSERT_GE(a, b) RQ_ASSERT_OP_(a, >=, b)
#define RQ_ASSERT_GT(a, b) RQ_ASSERT_OP_(a, >, b)
