#include "server/http_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <set>

namespace rq::server {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

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

  void read() {
    parser_.emplace();
    parser_->body_limit(server_->opts.max_body_bytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(server_->opts.idle_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
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
  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == boost::asio::error::operation_aborted || ec == boost::asio::error::connection_reset ||
        ec == boost::asio::error::eof) {
      close();
      return;
    }
    if (ec == http::error::body_limit) {
      ++server_->stats.too_large;
      keep_alive_ = false;
      HttpResponse r;
      r.status = 413;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "request body too large\n";
      send(std::move(r));
      return;
    }
    if (ec) {
      ++server_->stats.bad_requests;
      keep_alive_ = false;
      HttpResponse r;
      r.status = 400;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "malformed HTTP request\n";
      send(std::move(r));
      return;
    }
    ++server_->stats.requests;
    auto& m = parser_->get();
    keep_alive_ = m.keep_alive();
    HttpRequest req;
    req.method = std::string(m.method_string());
    req.target = std::string(m.target());
    const size_t q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    req.content_type = std::string(m[http::field::content_type]);
    req.authorization = std::string(m[http::field::authorization]);
    req.body = std::move(m.body());
    beast::error_code pec;
    const auto peer = stream_.socket().remote_endpoint(pec);
    if (!pec) req.remote = peer.address().to_string();
    head_ = m.method() == http::verb::head;
    version_ = m.version();
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

  void send(HttpResponse r) {
    pending_.reset();
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_);
    for (const auto& [k, v] : server_->opts.common_headers) res->set(k, v);
    for (const auto& [k, v] : r.headers) res->set(k, v);
    if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
    res->keep_alive(keep_alive_ && !server_->stopped);
    res->body() = std::move(r.body);
    res->prepare_payload();
    if (head_) res->body().clear();
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

}  // namespace rq::server
