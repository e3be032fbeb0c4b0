// What a connection makes of a client's bytes (server/http_server.h parse_connection): the
// parsers, limits and conversion a live connection uses, fed from memory.
#include "server/http_server.h"

#include <gtest/gtest.h>

#include <string>

namespace rq::server {
namespace {

ParsedConnection parse(std::string_view bytes, size_t read_size = 4096) {
  HttpServerOptions opts;
  opts.max_body_bytes = 16;
  return parse_connection(bytes, opts, read_size);
}

TEST(ParseConnection, PipelinedRequests_SplitIntoTheHandlersView) {
  const std::string bytes =
      "POST /db/execute?pretty&timings HTTP/1.1\r\nContent-Type: application/json\r\n"
      "Authorization: Basic eDp5\r\nContent-Length: 12\r\n\r\n[\"SELECT 1\"]"
      "GET /status HTTP/1.1\r\nConnection: close\r\n\r\n"
      "GET /never HTTP/1.1\r\n\r\n";
  for (size_t read_size : {1, 7, 4096}) {
    const ParsedConnection c = parse(bytes, read_size);
    EXPECT_EQ(c.status, 0);
    ASSERT_EQ(c.requests.size(), 2u) << "read size " << read_size;  // closed after the second
    const HttpRequest& a = c.requests[0];
    EXPECT_EQ(a.method, "POST");
    EXPECT_EQ(a.target, "/db/execute?pretty&timings");
    EXPECT_EQ(a.path, "/db/execute");
    EXPECT_EQ(a.query, "pretty&timings");
    EXPECT_EQ(a.content_type, "application/json");
    EXPECT_EQ(a.authorization, "Basic eDp5");
    EXPECT_EQ(a.body, "[\"SELECT 1\"]");
    EXPECT_EQ(c.requests[1].path, "/status");
    EXPECT_EQ(c.requests[1].query, "");
  }
}

TEST(ParseConnection, ChunkedBody) {
  const ParsedConnection c = parse(
      "POST /db/request HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\n[\"S\r\n3\r\n1\"]\r\n0\r\n\r\n");
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].body, "[\"S1\"]");
}

TEST(ParseConnection, BodiesOverTheLimit_413) {
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n").status, 413);
  const ParsedConnection chunked = parse(
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n01234567890123456\r\n0\r\n\r\n");
  EXPECT_TRUE(chunked.requests.empty());
  EXPECT_EQ(chunked.status, 413);
}

TEST(ParseConnection, MalformedIs400_CutShortClosesWithoutAnAnswer) {
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n").status, 400);
  EXPECT_EQ(parse("NOT HTTP\r\n\r\n").status, 400);
  const ParsedConnection cut = parse("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_TRUE(cut.requests.empty());
  EXPECT_EQ(cut.status, 0);
  EXPECT_EQ(parse("").status, 0);
}

// Found by tests/fuzz/fuzz_http_request: Beast 1.81 asserted (and rqlited, whose assertions stay
// on, aborted) when an empty chunked body's last chunk "0\r\n" had arrived and one more byte came
// on its own: the parser resumed with 4 bytes where it assumed 5.
TEST(ParseConnection, EmptyChunkedBodyArrivingByteByByte_NoAbort) {
  const std::string empty_body =
      "POST /db/execute HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  for (size_t read_size = 1; read_size <= 8; ++read_size) {
    const ParsedConnection c = parse(empty_body, read_size);
    ASSERT_EQ(c.requests.size(), 1u) << "read size " << read_size;
    EXPECT_EQ(c.requests[0].body, "");
  }
  // The fuzzer's input, minimised: cut short after the byte that tripped the assertion.
  const ParsedConnection cut = parse("$ y HTTP/1.1\r\nTransfer-Encoding:chunked\r\n\r\n0\r\n\r", 1);
  EXPECT_TRUE(cut.requests.empty());
  EXPECT_EQ(cut.status, 0);
}

}  // namespace
}  // namespace rq::server
