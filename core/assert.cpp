#include "core/assert.h"

#include <cstdio>
#include <cstdlib>

namespace rq {

void assert_fail(const char* expr, const char* file, int line, const std::string& detail) {
  if (detail.empty()) {
    std::fprintf(stderr, "assertion failed: %s at %s:%d\n", expr, file, line);
  } else {
    std::fprintf(stderr, "assertion failed: %s (%s) at %s:%d\n", expr, detail.c_str(), file, line);
  }
  std::fflush(stderr);
  std::abort();
}

}  // namespace rq
