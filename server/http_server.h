// A small HTTP/1.1 server on Boost.Beast: keep-alive connections, bounded bodies, a bounded
// number of connections, idle timeouts. It knows nothing of rqlite: each request goes to a
// handler as plain data, and the handler answers (at once or later) through a callback on the
// io_context's thread. All of Beast stays in http_server.cpp (heavy to compile).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/types.h"

namespace boost::asio {
class io_context;
}

namespace rq::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // target before '?', percent-decoding not applied
  std::string query;   // after '?', raw
  std::string content_type;
  std::string authorization;
  std::string body;
  std::string remote;  // peer address
};

struct HttpResponse {
  int status = 200;
  std::string content_type;  // empty: no Content-Type header
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
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
};

struct HttpServerStats {
  uint64_t connections = 0;
  uint64_t requests = 0;
  uint64_t refused_connections = 0;  // over max_connections
  uint64_t bad_requests = 0;         // unparsable HTTP
  uint64_t too_large = 0;            // bodies over the limit
};

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
