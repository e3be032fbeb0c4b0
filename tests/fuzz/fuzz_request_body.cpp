// Request bodies (server/http_api.h): /db/execute, /db/query and /db/request statements as JSON
// and as text/plain, DELETE /remove's body and POST /leader's. Every decoder reads every input.
#include <algorithm>

#include "server/http_api.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// parse_statements' error messages are the 400 bodies rqlite sends: http_api.h lists them.
bool known_error(const std::string& m) {
  return m == "invalid JSON body" || m == "invalid request" || m == "no statements" ||
         m == "unsupported type" || m.starts_with("invalid number ");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rq::server;
  const std::string_view body = rq::fuzz::text_of(data, size);

  auto json = parse_statements(body, false);
  if (json.ok()) {
    // Statements with empty SQL are dropped.
    RQ_ASSERT(
        std::none_of(json->begin(), json->end(), [](const auto& s) { return s.sql.empty(); }));
  } else {
    RQ_ASSERT(known_error(json.error().message));
  }

  auto plain = parse_statements(body, true);
  RQ_ASSERT(plain.ok());
  RQ_ASSERT_EQ(plain->size(), body.empty() ? 0u : 1u);
  if (!body.empty()) RQ_ASSERT(plain->front().sql == body && plain->front().params.empty());

  (void)parse_remove_body(body);
  (void)parse_stepdown_body(body, "application/json");
  // Any other content type: the body is not read.
  auto ignored = parse_stepdown_body(body, "text/plain");
  RQ_ASSERT(ignored.has_value() && ignored->empty());
  return 0;
}
