// Strong types for the numbers Raft must never mix up, and the time unit used everywhere.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>

#include "core/assert.h"

namespace rq {

// A monotonic count (terms, log indexes). Arithmetic is explicit so a term is never added to an
// index by accident.
template <class Tag>
struct Counter {
  uint64_t v = 0;

  constexpr Counter() = default;
  constexpr explicit Counter(uint64_t x) : v(x) {}

  constexpr Counter operator+(uint64_t d) const { return Counter(v + d); }
  constexpr Counter operator-(uint64_t d) const {
    RQ_ASSERT_LE(d, v);
    return Counter(v - d);
  }
  Counter& operator++() {
    ++v;
    return *this;
  }
  friend constexpr auto operator<=>(const Counter&, const Counter&) = default;
};

struct TermTag;
struct LogIndexTag;
using Term = Counter<TermTag>;
using LogIndex = Counter<LogIndexTag>;

// Distance between two indexes, a >= b.
constexpr uint64_t distance(LogIndex a, LogIndex b) {
  RQ_ASSERT_GE(a.v, b.v);
  return a.v - b.v;
}

struct NodeId {
  uint64_t v = 0;
  constexpr NodeId() = default;
  constexpr explicit NodeId(uint64_t x) : v(x) {}
  friend constexpr auto operator<=>(const NodeId&, const NodeId&) = default;
  constexpr bool valid() const { return v != 0; }
};

inline constexpr NodeId kNoNode{};

// Monotonic time since an arbitrary origin. Only Clock implementations produce it.
using Duration = std::chrono::nanoseconds;
using std::chrono_literals::operator""ms;
using std::chrono_literals::operator""s;
using std::chrono_literals::operator""us;

}  // namespace rq
