#include "server/http_server.h"

// Boost's assertions in this file (Beast's, Asio's) report through boost::assertion_failed below,
// which aborts as assert() does, except for one assertion of Beast's that is wrong (see there).
#define BOOST_ENABLE_ASSERT_HANDLER

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>

// Beast 1.81's basic_parser::parse_chunk_header asserts `n >= 5` when it resumes after a final
// chunk's size line, assuming the CRLF that ends a previous chunk sits in front of it. A chunked
// body whose only chunk is the final one has no such CRLF: "0\r\n" then one more byte on its own
// ("0\r\n\r", 4 bytes) tripped it, and rqlited, built without NDEBUG, aborted on one client's
// request (found by tests/fuzz/fuzz_http_request). The code after the assertion handles those
// bytes right (it asks for more); Beast fixed the assertion itself in Boost 1.86 (PR #2861).
// Beast is compiled in this file only.
namespace boost {

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  const std::string_view where(file);
  if (std::string_view(expr) == "n >= 5" &&
      where.ends_with("boost/beast/http/impl/basic_parser.ipp")) {
    return;
  }
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
  std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file,
                          long line) {
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr, msg);
  std::abort();
}

}  // namespace boost

namespace rq::server {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

BodyFile::~BodyFile() {
  ::unlink(path_.c_str());
}

uint64_t BodyFile::size() const {
  struct stat st {};
  return ::stat(path_.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

namespace {

// A response body read from an open file descriptor in large pieces (Beast's file_body reads
// 4 KiB at a time: a 100 MB backup would take 25,600 writes).
struct FdBody {
  struct Fd {
    int fd = -1;
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  };
  struct value_type {
    std::shared_ptr<Fd> file;
    uint64_t size = 0;
  };
  static uint64_t size(const value_type& v) { return v.size; }

  class writer {
   public:
    using const_buffers_type = boost::asio::const_buffer;
    template <bool isRequest, class Fields>
    writer(http::header<isRequest, Fields>&, const value_type& body) : body_(body) {}
    void init(beast::error_code& ec) { ec = {}; }
    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      ec = {};
      if (sent_ >= body_.size) return boost::none;
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buf_.size(), body_.size - sent_));
      ssize_t n;
      do {
        n = ::pread(body_.file->fd, buf_.data(), want, static_cast<off_t>(sent_));
      } while (n < 0 && errno == EINTR);
      if (n <= 0) {
        // The file shrank or cannot be read: the connection is closed mid-body.
        ec = n == 0 ? beast::error_code(boost::asio::error::eof)
                    : beast::error_code(errno, boost::system::generic_category());
        return boost::none;
      }
      sent_ += static_cast<uint64_t>(n);
      return {{const_buffers_type(buf_.data(), static_cast<size_t>(n)), sent_ < body_.size}};
    }

   private:
    const value_type& body_;
    uint64_t sent_ = 0;
    std::vector<char> buf_ = std::vector<char>(size_t{256} << 10);
  };
};

// What a connection does with a read that failed.
enum class ReadFailure : uint8_t { kNone, kClose, kTooLarge, kMalformed };

ReadFailure classify(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
      ec == boost::asio::error::operation_aborted || ec == boost::asio::error::connection_reset ||
      ec == boost::asio::error::eof || ec == http::error::partial_message) {
    return ReadFailure::kClose;
  }
  if (ec == http::error::body_limit) return ReadFailure::kTooLarge;
  if (ec) return ReadFailure::kMalformed;
  return ReadFailure::kNone;
}

// The header parser of each request: the header is bounded, and so is a declared body (by the
// spooling limit when some bodies may go to files; memory bodies are checked again below).
void limit_header(http::request_parser<http::empty_body>& p, const HttpServerOptions& opts) {
  p.header_limit(64 * 1024);
  p.body_limit(opts.spool_body ? opts.max_spooled_body_bytes : opts.max_body_bytes);
}

// The Content-Length the parser accepted (it refuses malformed ones); none when chunked.
template <class Message>
std::optional<uint64_t> declared_length(const Message& m) {
  const auto v = m[http::field::content_length];
  if (v.empty()) return std::nullopt;
  return std::strtoull(std::string(v).c_str(), nullptr, 10);
}

// A body read into memory: a declared length was checked against the header parser's
// (spooling) limit only; chunks are checked against this one as they come. False: the declared
// length (`*length`, none when chunked) is over the limit (413).
bool limit_memory_body(http::request_parser<http::string_body>& p, const HttpServerOptions& opts,
                       std::optional<uint64_t>* length) {
  p.body_limit(opts.max_body_bytes);
  *length = declared_length(p.get());
  return !*length || **length <= opts.max_body_bytes;
}

// What of a parsed request the connection keeps for its answer.
struct RequestHead {
  bool keep_alive = true;
  bool head = false;
  unsigned version = 11;
};

// The handler's view of a request (the body aside).
template <class Message>
RequestHead fill_request(HttpRequest& req, Message& m) {
  req.method = std::string(m.method_string());
  req.target = std::string(m.target());
  const size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  req.content_type = std::string(m[http::field::content_type]);
  req.authorization = std::string(m[http::field::authorization]);
  return RequestHead{m.keep_alive(), m.method() == http::verb::head, m.version()};
}

}  // namespace

class Session;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(boost::asio::io_context& io, HttpServerOptions o, HttpHandler h)
      : io(io), opts(std::move(o)), handler(std::move(h)), acceptor(io) {}
  void accept();
  boost::asio::io_context& io;
  HttpServerOptions opts;
  HttpHandler handler;
  tcp::acceptor acceptor;
  std::set<Session*> sessions;
  HttpServerStats stats;
  bool stopped = false;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(s)), server_(std::move(server)) {
    server_->sessions.insert(this);
  }
  ~Session() { server_->sessions.erase(this); }

  // The header first: it decides where the body goes (memory or a file) and how it is read.
  void read() {
    stream_.expires_after(server_->opts.idle_timeout);
    header_parser_.emplace();
    limit_header(*header_parser_, server_->opts);
    http::async_read_header(
        stream_, buffer_, *header_parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // Answers "too busy" and closes: over the connection limit.
  void refuse() {
    HttpResponse r;
    r.status = 503;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "too many connections\n";
    keep_alive_ = false;
    send(std::move(r));
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    // An answer that never comes (the server is stopping) must not keep the session alive.
    // Last statement: this may destroy the session.
    std::shared_ptr<Session> drop = std::move(pending_);
  }

 private:
  // Whether a read error ends the exchange (answered or closed); false when there was none.
  bool read_failed(beast::error_code ec) {
    switch (classify(ec)) {
      case ReadFailure::kNone:
        return false;
      case ReadFailure::kClose:
        file_parser_.reset();
        spooled_.reset();
        close();
        return true;
      case ReadFailure::kTooLarge:
        ++server_->stats.too_large;
        fail(413, "request body too large");
        return true;
      case ReadFailure::kMalformed:
        ++server_->stats.bad_requests;
        fail(400, "malformed HTTP request");
        return true;
    }
    return false;
  }

  // Answers and closes: the rest of the request cannot be read.
  void fail(int status, const char* why) {
    file_parser_.reset();
    spooled_.reset();
    keep_alive_ = false;
    HttpResponse r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::string(why) + "\n";
    send(std::move(r));
  }

  void on_header(beast::error_code ec) {
    if (read_failed(ec)) return;
    auto& h = header_parser_->get();
    version_ = h.version();
    if (server_->opts.spool_body &&
        server_->opts.spool_body(std::string_view(h.method_string()), path_of(h.target()))) {
      file_parser_.emplace(std::move(*header_parser_));
      header_parser_.reset();
      std::string tmpl = server_->opts.spool_dir + "/body-XXXXXX";
      const int fd = ::mkstemp(tmpl.data());
      if (fd < 0) {
        fail(500, "cannot store the request body");
        return;
      }
      ::close(fd);
      spooled_ = std::make_shared<BodyFile>(tmpl);
      beast::error_code oec;
      file_parser_->get().body().open(tmpl.c_str(), beast::file_mode::write, oec);
      if (oec) {
        fail(500, "cannot store the request body");
        return;
      }
      ++server_->stats.spooled;
      read_big_body();
      continue_then([self = shared_from_this()] { self->read_spooled_body(); });
      return;
    }
    parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    std::optional<uint64_t> length;
    if (!limit_memory_body(*parser_, server_->opts, &length)) {
      ++server_->stats.too_large;
      fail(413, "request body too large");
      return;
    }
    if (!length || *length > kBigBody) read_big_body();
    continue_then([self = shared_from_this()] {
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       [self](beast::error_code ec, size_t) { self->on_read(ec); });
    });
  }

  // A spooled body may take longer than the idle timeout to arrive (a multi-GB /boot): the
  // timeout is for each read, not for the whole body.
  void read_spooled_body() {
    if (file_parser_->is_done()) return on_read({});  // no body, or an empty one
    stream_.expires_after(server_->opts.idle_timeout);
    http::async_read_some(stream_, buffer_, *file_parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (!ec && !self->file_parser_->is_done())
                              return self->read_spooled_body();
                            self->on_read(ec);
                          });
  }

  // Beast reads as much as the buffer has room for (at least 512 bytes, at most 64 KiB), and a
  // body the parser hands on leaves the buffer as small as it was: a large body would come in
  // 512 bytes a read (200,000 reads for 100 MB). Room for 64 KiB makes them 128 times fewer.
  static constexpr size_t kBigBody = 64 << 10;
  void read_big_body() {
    if (buffer_.capacity() < buffer_.size() + kBigBody) buffer_.reserve(buffer_.size() + kBigBody);
  }

  // `Expect: 100-continue` (curl sends it for large uploads, then waits a second for it).
  template <class Next>
  void continue_then(Next next) {
    const auto& h = file_parser_ ? file_parser_->get().base() : parser_->get().base();
    if (!beast::iequals(h[http::field::expect], "100-continue")) return next();
    auto res =
        std::make_shared<http::response<http::empty_body>>(http::status::continue_, version_);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, next](beast::error_code ec, size_t) {
                        if (ec) {
                          self->spooled_.reset();
                          self->close();
                          return;
                        }
                        next();
                      });
  }

  static std::string_view path_of(beast::string_view target) {
    const size_t q = target.find('?');
    return std::string_view(target.data(), q == beast::string_view::npos ? target.size() : q);
  }

  void on_read(beast::error_code ec) {
    if (read_failed(ec)) return;
    ++server_->stats.requests;
    HttpRequest req;
    if (file_parser_) {
      auto& m = file_parser_->get();
      fill(req, m);
      m.body().close();
      file_parser_.reset();
      req.body_file = std::move(spooled_);
    } else {
      auto& m = parser_->get();
      fill(req, m);
      req.body = std::move(m.body());
    }
    beast::error_code pec;
    const auto peer = stream_.socket().remote_endpoint(pec);
    if (!pec) req.remote = peer.address().to_string();
    // No timeout while the handler works (a write may wait for its commit); the handler bounds it.
    stream_.expires_never();
    // The handler's callback holds only a weak reference: the session keeps itself alive until
    // it answers (set before the call: the handler may answer at once, and send() clears it).
    pending_ = shared_from_this();
    std::weak_ptr<Session> weak = pending_;
    server_->handler(std::move(req), [weak](HttpResponse r) {
      if (auto self = weak.lock()) self->send(std::move(r));
    });
  }

  template <class Message>
  void fill(HttpRequest& req, Message& m) {
    const RequestHead h = fill_request(req, m);
    keep_alive_ = h.keep_alive;
    head_ = h.head;
    version_ = h.version;
  }

  void send(HttpResponse r) {
    pending_.reset();
    if (r.body_file) return send_file(std::move(r));
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_);
    set_headers(*res, r);
    res->body() = std::move(r.body);
    res->prepare_payload();
    if (head_) res->body().clear();
    write(res);
  }

  // A body streamed from a file: opened now, then the file's name is dropped (the open
  // descriptor keeps the bytes until they are sent, and nothing is left behind on disk).
  void send_file(HttpResponse r) {
    auto fd = std::make_shared<FdBody::Fd>();
    fd->fd = ::open(r.body_file->path().c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd->fd < 0 || ::fstat(fd->fd, &st) != 0) {
      HttpResponse e;
      e.status = 500;
      e.content_type = "text/plain; charset=utf-8";
      e.body = "cannot read the response body\n";
      return send(std::move(e));
    }
    r.body_file.reset();
    ++server_->stats.files_sent;
    const auto size = static_cast<uint64_t>(st.st_size);
    if (head_) {
      auto res = std::make_shared<http::response<http::empty_body>>(
          static_cast<http::status>(r.status), version_);
      set_headers(*res, r);
      res->content_length(size);
      return write(res);
    }
    auto res =
        std::make_shared<http::response<FdBody>>(static_cast<http::status>(r.status), version_);
    set_headers(*res, r);
    res->body().file = std::move(fd);
    res->body().size = size;
    res->prepare_payload();
    write(res);
  }

  template <class Response>
  void set_headers(Response& res, const HttpResponse& r) {
    for (const auto& [k, v] : server_->opts.common_headers) res.set(k, v);
    for (const auto& [k, v] : r.headers) res.set(k, v);
    if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
    res.keep_alive(keep_alive_ && !server_->stopped);
  }

  template <class Response>
  void write(std::shared_ptr<Response> res) {
    stream_.expires_after(server_->opts.idle_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) {
                          self->close();
                          return;
                        }
                        self->read();
                      });
  }

  beast::tcp_stream stream_;
  std::shared_ptr<HttpServer::Impl> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::file_body>> file_parser_;
  std::shared_ptr<BodyFile> spooled_;  // the file file_parser_ writes to
  std::shared_ptr<Session> pending_;
  bool keep_alive_ = true;
  bool head_ = false;
  unsigned version_ = 11;
};

void HttpServer::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
    if (self->stopped) return;
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      ++self->stats.connections;
      auto session = std::make_shared<Session>(std::move(s), self);
      if (self->sessions.size() > self->opts.max_connections) {
        ++self->stats.refused_connections;
        session->refuse();
      } else {
        session->read();
      }
    }
    self->accept();
  });
}

HttpServer::HttpServer(boost::asio::io_context& io, HttpServerOptions opts, HttpHandler handler)
    : impl_(std::make_shared<Impl>(io, std::move(opts), std::move(handler))) {}

HttpServer::~HttpServer() {
  stop();
}

Status HttpServer::start() {
  beast::error_code ec;
  const auto addr = boost::asio::ip::make_address(impl_->opts.host, ec);
  tcp::endpoint ep;
  if (ec) {
    // A host name (e.g. localhost): resolve it, first address wins.
    tcp::resolver resolver(impl_->io);
    auto results = resolver.resolve(impl_->opts.host, std::to_string(impl_->opts.port), ec);
    if (ec || results.empty())
      return make_error(ErrorCode::kInvalid, "cannot resolve " + impl_->opts.host);
    ep = results.begin()->endpoint();
  } else {
    ep = tcp::endpoint(addr, impl_->opts.port);
  }
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot listen on " + impl_->opts.host + ":" +
                                          std::to_string(impl_->opts.port) + ": " + ec.message());
  }
  impl_->accept();
  return ok_status();
}

void HttpServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  // Sessions remove themselves when their last handler finishes.
  for (Session* s : std::vector<Session*>(impl_->sessions.begin(), impl_->sessions.end()))
    s->close();
}

uint16_t HttpServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

const HttpServerStats& HttpServer::stats() const {
  return impl_->stats;
}

namespace {

// Beast's SyncReadStream over bytes in memory, at most `piece` bytes a read; then end of file.
class MemoryStream {
 public:
  MemoryStream(std::string_view bytes, size_t piece)
      : bytes_(bytes), piece_(std::max<size_t>(piece, 1)) {}

  template <class Buffers>
  size_t read_some(const Buffers& buffers, beast::error_code& ec) {
    ec = {};
    if (bytes_.empty()) {
      ec = boost::asio::error::eof;
      return 0;
    }
    const size_t n = boost::asio::buffer_copy(
        buffers, boost::asio::const_buffer(bytes_.data(), std::min(bytes_.size(), piece_)));
    bytes_.remove_prefix(n);
    return n;
  }
  template <class Buffers>
  size_t read_some(const Buffers& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  std::string_view bytes_;
  size_t piece_;
};

int answer_for(ReadFailure f) {
  switch (f) {
    case ReadFailure::kTooLarge:
      return 413;
    case ReadFailure::kMalformed:
      return 400;
    case ReadFailure::kNone:
    case ReadFailure::kClose:
      break;
  }
  return 0;
}

}  // namespace

// A Session's loop (read(), on_header(), on_read()) with the socket replaced by memory.
ParsedConnection parse_connection(std::string_view bytes, const HttpServerOptions& opts,
                                  size_t read_size) {
  MemoryStream stream(bytes, read_size);
  beast::flat_buffer buffer;
  ParsedConnection out;
  while (true) {
    http::request_parser<http::empty_body> header;
    limit_header(header, opts);
    beast::error_code ec;
    http::read_header(stream, buffer, header, ec);
    if (const ReadFailure f = classify(ec); f != ReadFailure::kNone) {
      out.status = answer_for(f);
      return out;
    }
    http::request_parser<http::string_body> parser(std::move(header));
    std::optional<uint64_t> length;
    if (!limit_memory_body(parser, opts, &length)) {
      out.status = 413;
      return out;
    }
    http::read(stream, buffer, parser, ec);
    if (const ReadFailure f = classify(ec); f != ReadFailure::kNone) {
      out.status = answer_for(f);
      return out;
    }
    HttpRequest req;
    const RequestHead head = fill_request(req, parser.get());
    req.body = std::move(parser.get().body());
    out.requests.push_back(std::move(req));
    if (!head.keep_alive) return out;
  }
}

}  // namespace rq::server
