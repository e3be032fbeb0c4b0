#include "server/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace rq::server {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_raft_level{static_cast<int>(LogLevel::kWarn)};
}  // namespace

void set_raft_log_level(LogLevel level) {
  g_raft_level.store(static_cast<int>(level));
}

void set_log_level(LogLevel level) {
  g_level.store(static_cast<int>(level));
}

bool log_level_from_name(std::string_view name, LogLevel* out) {
  std::string n(name);
  for (char& c : n) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (n == "DEBUG")
    *out = LogLevel::kDebug;
  else if (n == "INFO")
    *out = LogLevel::kInfo;
  else if (n == "WARN" || n == "WARNING")
    *out = LogLevel::kWarn;
  else if (n == "ERROR")
    *out = LogLevel::kError;
  else
    return false;
  return true;
}

void log(LogLevel level, std::string_view component, std::string_view message) {
  const int threshold = component == "raft" ? g_raft_level.load() : g_level.load();
  if (static_cast<int>(level) < threshold) return;
  static const char* const kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  // One fprintf per line: lines from different threads do not interleave.
  std::fprintf(stderr, "%s.%03dZ [%s] %.*s: %.*s\n", stamp, static_cast<int>(ms),
               kNames[static_cast<int>(level)], static_cast<int>(component.size()),
               component.data(), static_cast<int>(message.size()), message.data());
}

}  // namespace rq::server
