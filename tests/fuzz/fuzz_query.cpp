// rqlite's query string (server/http_api.h parse_query, split_tables): the part of every
// request's target after '?', as the client sent it.
#include "server/http_api.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw = rq::fuzz::text_of(data, size);
  auto q = rq::server::parse_query(raw);
  if (q.ok()) {
    // http_api.h: `q` is never empty when present.
    if (q->q) RQ_ASSERT(!q->q->empty());
    for (const std::string& t : rq::server::split_tables(q->tables)) RQ_ASSERT(!t.empty());
  } else {
    RQ_ASSERT(!q.error().message.empty());
  }
  for (const std::string& t : rq::server::split_tables(raw)) RQ_ASSERT(!t.empty());
  return 0;
}
