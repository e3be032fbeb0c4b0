// rqlited's log lines on stderr: "2026-11-27T13:09:57.123Z [level] component: message".
#pragma once

#include <string_view>

namespace rq::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Lines below this level are dropped (rqlite's -raft-log-level and friends; default WARN for Raft,
// INFO for the rest).
void set_log_level(LogLevel level);
// The "raft" component has its own threshold (rqlite's -raft-log-level, default WARN).
void set_raft_log_level(LogLevel level);
// "DEBUG", "INFO", "WARN" or "ERROR" (case-insensitive); false for anything else.
bool log_level_from_name(std::string_view name, LogLevel* out);
void log(LogLevel level, std::string_view component, std::string_view message);

}  // namespace rq::server
