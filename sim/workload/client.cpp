#include "sim/workload/client.h"

namespace rq::wl {

const char* level_name(Level l) {
  switch (l) {
    case Level::kNone:
      return "none";
    case Level::kWeak:
      return "weak";
    case Level::kLinearizable:
      return "linearizable";
    case Level::kStrong:
      return "strong";
  }
  return "?";
}

std::optional<Level> level_from_name(std::string_view s) {
  for (Level l : {Level::kNone, Level::kWeak, Level::kLinearizable, Level::kStrong}) {
    if (s == level_name(l)) return l;
  }
  return std::nullopt;
}

const char* status_name(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kNotLeader:
      return "not leader";
    case Status::kNoLeader:
      return "leader not found";
    case Status::kFailed:
      return "failed";
    case Status::kUnknown:
      return "unknown";
    case Status::kError:
      return "error";
  }
  return "?";
}

}  // namespace rq::wl
