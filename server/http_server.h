// A small HTTP/1.1 server on Boost.Beast: keep-alive connections, bounded bodies, a bounded
// number of connections, idle timeouts. It knows nothing of rqlite: each request goes to a
// handler as plain data, and the handler answers (at once or later) through a callback on the
// io_context's thread. All of Beast stays in http_server.cpp (heavy to compile).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/types.h"

namespace boost::asio {
class io_context;
}

namespace rq::server {

// A file holding a body: a request body the server wrote to disk (HttpServerOptions::spool_body),
// or a response body to send from disk (HttpResponse::body_file) without reading it into memory.
// The file is removed when the last reference goes (a response's as soon as it is open for
// sending).
class BodyFile {
 public:
  explicit BodyFile(std::string path) : path_(std::move(path)) {}
  ~BodyFile();
  BodyFile(const BodyFile&) = delete;
  BodyFile& operator=(const BodyFile&) = delete;
  const std::string& path() const { return path_; }
  // The file's size now (0 if it cannot be read).
  uint64_t size() const;

 private:
  std::string path_;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // target before '?', percent-decoding not applied
  std::string query;   // after '?', raw
  std::string content_type;
  std::string authorization;
  std::string body;
  std::string remote;  // peer address
  // Set instead of `body` when the body was spooled to a file (HttpServerOptions::spool_body).
  std::shared_ptr<BodyFile> body_file = nullptr;
  // Sent on by another node (server/peers.h): answered here or refused, never forwarded again.
  bool forwarded = false;
};

struct HttpResponse {
  int status = 200;
  std::string content_type;  // empty: no Content-Type header
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is this file's contents instead of `body`, streamed from disk.
  std::shared_ptr<BodyFile> body_file = nullptr;
};

using HttpReply = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest, HttpReply)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 4001;  // 0: any free port (see port())
  uint64_t max_body_bytes = 64ull << 20;
  size_t max_connections = 1024;
  Duration idle_timeout = std::chrono::seconds(120);
  // Headers every response carries (X-RQLITE-VERSION, CORS).
  std::vector<std::pair<std::string, std::string>> common_headers;
  // Requests whose body goes to a new file in `spool_dir` instead of memory (database images),
  // decided from the method and path once the header is in; such a body may be up to
  // max_spooled_body_bytes and reaches the handler as HttpRequest::body_file. Unset: every body
  // is read into memory (max_body_bytes).
  std::function<bool(std::string_view method, std::string_view path)> spool_body;
  std::string spool_dir;
  uint64_t max_spooled_body_bytes = uint64_t{1} << 40;
};

struct HttpServerStats {
  uint64_t connections = 0;
  uint64_t requests = 0;
  uint64_t refused_connections = 0;  // over max_connections
  uint64_t bad_requests = 0;         // unparsable HTTP
  uint64_t too_large = 0;            // bodies over the limit
  uint64_t spooled = 0;              // request bodies written to files
  uint64_t files_sent = 0;           // response bodies streamed from files
};

// What a connection makes of the bytes a client sent, without a socket (tests and fuzzing): the
// requests it would hand the handler, in order (the peer address left empty), and how it ends.
// The same parsers, limits and conversion as a connection, reading from memory `read_size` bytes
// at a time (a socket delivers any split). A request whose body the server would spool to a file
// (HttpServerOptions::spool_body) is read into memory here: the spooling branch is not covered.
struct ParsedConnection {
  std::vector<HttpRequest> requests;
  // After the last request: 0 when the connection closes without another answer (the client
  // asked to close, the bytes ended, or ended mid-request), else the status the server answers
  // before closing (400 malformed HTTP, 413 a body over the limit).
  int status = 0;
};
ParsedConnection parse_connection(std::string_view bytes, const HttpServerOptions& opts,
                                  size_t read_size);

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpServerOptions opts, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting; the error says why binding failed.
  Status start();
  // Stops accepting and closes every connection.
  void stop();
  uint16_t port() const;
  const HttpServerStats& stats() const;

  struct Impl;  // public so the .cpp's sessions can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace rq::server
