// The small answers every endpoint file builds, written once: rqlite's content types, Go's
// http.Error (plain text and a newline), empty bodies, JSON through Go's encoder.
#pragma once

#include <boost/json/fwd.hpp>
#include <chrono>
#include <string>

#include "server/http_api.h"
#include "server/http_server.h"

namespace rq::server {

inline constexpr const char* kJsonType = "application/json; charset=utf-8";
inline constexpr const char* kTextType = "text/plain; charset=utf-8";

inline HttpResponse text_response(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = kTextType;
  r.body = std::move(body);
  return r;
}

// Go's http.Error: plain text with a trailing newline.
inline HttpResponse http_error(int status, const std::string& msg) {
  return text_response(status, msg + "\n");
}

inline HttpResponse empty_response(int status) {
  HttpResponse r;
  r.status = status;
  return r;
}

inline int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace rq::server
