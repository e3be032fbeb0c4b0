// The HTTP layer (server/http_server.h parse_connection): what a client's bytes on one
// connection become, through the same Boost.Beast parsers, limits and conversion to HttpRequest
// as a live connection. The first byte sets how many bytes each read delivers (1-256).
#include "server/http_server.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [selector, bytes] = rq::fuzz::select(data, size);
  rq::server::HttpServerOptions opts;
  opts.max_body_bytes = 64 << 10;  // small, so the 413 paths are reachable
  const auto conn = rq::server::parse_connection(bytes, opts, size_t{selector} + 1);
  RQ_ASSERT(conn.status == 0 || conn.status == 400 || conn.status == 413);
  for (const rq::server::HttpRequest& req : conn.requests) {
    RQ_ASSERT(!req.method.empty());
    RQ_ASSERT_LE(req.body.size(), opts.max_body_bytes);
    // The target splits at its first '?' into path and raw query.
    const std::string joined =
        req.target.find('?') == std::string::npos ? req.path : req.path + "?" + req.query;
    RQ_ASSERT(joined == req.target);
    RQ_ASSERT(req.path.find('?') == std::string::npos);
  }
  return 0;
}
