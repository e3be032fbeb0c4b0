// rqlite's read consistency levels (core/service/service.h says what each one guarantees).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rq::svc {

enum class ReadLevel : uint8_t { kNone, kWeak, kLinearizable, kStrong, kAuto };

const char* to_string(ReadLevel l);
// "none", "weak", "linearizable", "strong", "auto" (rqlite's `level=` values).
std::optional<ReadLevel> read_level_from_name(std::string_view s);

}  // namespace rq::svc
