#include "jepsen/http_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace rq::jepsen {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using boost::system::error_code;

bool split_address(const std::string& addr, std::string* host, uint16_t* port) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= addr.size()) return false;
  unsigned long p = 0;
  for (size_t i = colon + 1; i < addr.size(); ++i) {
    if (addr[i] < '0' || addr[i] > '9') return false;
    p = p * 10 + static_cast<unsigned long>(addr[i] - '0');
    if (p > 65535) return false;
  }
  *host = addr.substr(0, colon);
  *port = static_cast<uint16_t>(p);
  return true;
}

namespace {

// One request on its own connection.
struct Exchange : std::enable_shared_from_this<Exchange> {
  Exchange(asio::io_context& io, std::function<void(HttpAnswer)> d) : sock(io), timer(io), done(std::move(d)) {}

  tcp::socket sock;
  asio::steady_timer timer;
  http::request<http::string_body> req;
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  std::function<void(HttpAnswer)> done;
  bool connected = false;
  bool finished = false;

  void finish(HttpAnswer a) {
    if (finished) return;
    finished = true;
    timer.cancel();
    error_code ignored;
    sock.close(ignored);
    auto d = std::move(done);
    d(std::move(a));
  }
  void fail(const std::string& why) {
    HttpAnswer a;
    a.error = (connected ? "after connecting: " : "connect: ") + why;
    finish(std::move(a));
  }
};

std::string duration_param(Duration d) {
  return std::to_string(std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(d).count())) + "ms";
}

json::value param_json(const sql::Value& v) {
  switch (v.kind) {
    case sql::Value::Kind::kNull:
      return nullptr;
    case sql::Value::Kind::kInteger:
      return v.integer;
    case sql::Value::Kind::kReal:
      return v.real;
    case sql::Value::Kind::kText:
    case sql::Value::Kind::kBlob:
      return json::value(v.bytes);
  }
  return nullptr;
}

sql::Value value_of(const json::value& v) {
  if (v.is_int64()) return sql::Value::of_int(v.as_int64());
  if (v.is_uint64()) return sql::Value::of_int(static_cast<int64_t>(v.as_uint64()));
  if (v.is_double()) return sql::Value::of_real(v.as_double());
  if (v.is_string()) return sql::Value::of_text(std::string(v.as_string()));
  if (v.is_bool()) return sql::Value::of_int(v.as_bool() ? 1 : 0);
  return sql::Value::null();
}

// Error texts after which the request certainly did not apply.
bool definitely_not_applied(const std::string& e) {
  static const char* const kNotApplied[] = {
      "leader not found",
      "not leader",
      "stale read",
      "disallowed pragma",
      "load in progress",
      "leadership changed before the write committed",
      "leadership transfer in progress or too many writes pending",
  };
  for (const char* m : kNotApplied) {
    if (e == m) return true;
  }
  return false;
}

wl::Response by_error(std::string e) {
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  wl::Response r;
  r.error = e;
  if (e == "leader not found") {
    r.status = wl::Status::kNoLeader;
  } else if (e == "leadership changed before the write committed") {
    r.status = wl::Status::kFailed;
  } else if (definitely_not_applied(e)) {
    r.status = wl::Status::kError;
  } else {
    r.status = wl::Status::kUnknown;
  }
  return r;
}

}  // namespace

HttpClient::HttpClient(asio::io_context& io, HttpClientOptions o)
    : io_(io), o_(std::move(o)), origin_(std::chrono::steady_clock::now()) {}

HttpClient::~HttpClient() = default;

Duration HttpClient::now() const { return std::chrono::steady_clock::now() - origin_; }

void HttpClient::after(Duration d, std::function<void()> fn) {
  auto t = std::make_shared<asio::steady_timer>(io_);
  t->expires_after(d);
  t->async_wait([t, fn = std::move(fn)](const error_code& ec) {
    if (!ec) fn();
  });
}

std::string HttpClient::target_of(const wl::Request& req) {
  std::string t;
  switch (req.endpoint) {
    case wl::Endpoint::kExecute:
      t = "/db/execute";
      break;
    case wl::Endpoint::kQuery:
      t = "/db/query";
      break;
    case wl::Endpoint::kRequest:
      t = "/db/request";
      break;
  }
  t += "?timeout=" + duration_param(req.timeout);
  if (req.endpoint != wl::Endpoint::kExecute) {
    t += std::string("&level=") + wl::level_name(req.level);
    if (req.level == wl::Level::kLinearizable) t += "&linearizable_timeout=" + duration_param(req.timeout);
  }
  if (req.transaction) t += "&transaction";
  if (req.redirect) t += "&redirect";
  return t;
}

std::string HttpClient::body_of(const wl::Request& req) {
  json::array stmts;
  for (const auto& s : req.statements) {
    json::array one;
    one.emplace_back(s.sql);
    for (const auto& p : s.params) one.push_back(param_json(p.value));
    stmts.push_back(std::move(one));
  }
  return json::serialize(stmts);
}

wl::Response HttpClient::response_of(const HttpAnswer& a, const std::vector<std::string>& nodes) {
  wl::Response r;
  if (a.status == 0) {
    r.error = a.error;
    // A connection that was never made carried nothing; one lost later may have.
    r.status = a.error.rfind("connect: ", 0) == 0 ? wl::Status::kError : wl::Status::kUnknown;
    return r;
  }
  if (a.status == 301 || a.status == 302 || a.status == 307 || a.status == 308) {
    r.status = wl::Status::kNotLeader;
    // http://host:port/path...
    std::string loc = a.location;
    if (const size_t s = loc.find("://"); s != std::string::npos) loc = loc.substr(s + 3);
    loc = loc.substr(0, loc.find('/'));
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i] == loc) r.leader = static_cast<int>(i + 1);
    }
    return r;
  }
  error_code ec;
  json::value doc = json::parse(a.body, ec);
  if (ec || !doc.is_object()) {
    if (a.status == 200) {
      r.status = wl::Status::kUnknown;
      r.error = "200 with a body that is not a JSON object";
      return r;
    }
    return by_error(a.body);
  }
  const json::object& o = doc.as_object();
  const json::value* results = o.if_contains("results");
  const json::value* err = o.if_contains("error");
  const bool has_results = results != nullptr && results->is_array() && !results->as_array().empty();
  if (err != nullptr && err->is_string() && !has_results) return by_error(std::string(err->as_string()));
  if (a.status != 200 || results == nullptr || !results->is_array()) {
    r.status = wl::Status::kUnknown;
    r.error = "HTTP " + std::to_string(a.status) + " without results";
    return r;
  }
  for (const json::value& one : results->as_array()) {
    sql::StatementResult s;
    if (!one.is_object()) {
      r.status = wl::Status::kUnknown;
      r.error = "a result that is not an object";
      return r;
    }
    const json::object& so = one.as_object();
    if (const auto* e = so.if_contains("error"); e != nullptr && e->is_string()) s.error = std::string(e->as_string());
    if (const auto* n = so.if_contains("rows_affected"); n != nullptr && n->is_number()) s.rows_affected = n->to_number<int64_t>();
    if (const auto* n = so.if_contains("last_insert_id"); n != nullptr && n->is_number()) {
      s.last_insert_id = n->to_number<int64_t>();
    }
    if (const auto* c = so.if_contains("columns"); c != nullptr && c->is_array()) {
      s.is_query = true;
      for (const auto& x : c->as_array()) s.columns.emplace_back(x.is_string() ? std::string(x.as_string()) : "");
    }
    if (const auto* v = so.if_contains("values"); v != nullptr && v->is_array()) {
      s.is_query = true;
      for (const auto& row : v->as_array()) {
        std::vector<sql::Value> out;
        if (row.is_array()) {
          for (const auto& x : row.as_array()) out.push_back(value_of(x));
        }
        s.rows.push_back(std::move(out));
      }
    }
    r.result.results.push_back(std::move(s));
  }
  r.status = wl::Status::kOk;
  return r;
}

void HttpClient::request(int node, const std::string& method, const std::string& target, const std::string& body,
                         Duration timeout, std::function<void(HttpAnswer)> done) {
  auto ex = std::make_shared<Exchange>(io_, std::move(done));
  std::string host;
  uint16_t port = 0;
  if (node < 1 || static_cast<size_t>(node) > o_.nodes.size() || !split_address(o_.nodes[node - 1], &host, &port)) {
    return ex->fail("no address for node " + std::to_string(node));
  }
  error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return ex->fail("bad address " + host);
  ex->req.method(http::string_to_verb(method));
  ex->req.target(target);
  ex->req.version(11);
  ex->req.set(http::field::host, o_.nodes[node - 1]);
  ex->req.set(http::field::connection, "close");
  if (!body.empty()) {
    ex->req.set(http::field::content_type, "application/json");
    ex->req.body() = body;
  }
  ex->req.prepare_payload();
  ex->parser.body_limit(64u << 20);
  ex->timer.expires_after(timeout);
  ex->timer.async_wait([ex](const error_code& e) {
    if (!e) ex->fail("deadline");
  });
  ex->sock.open(addr.is_v4() ? tcp::v4() : tcp::v6(), ec);
  if (!ec && !o_.source_host.empty()) ex->sock.bind(tcp::endpoint(asio::ip::make_address(o_.source_host, ec), 0), ec);
  if (ec) return ex->fail(ec.message());
  ex->sock.async_connect(tcp::endpoint(addr, port), [ex](const error_code& e) {
    if (ex->finished) return;
    if (e) {
      return ex->fail(e.message());
    }
    ex->connected = true;
    http::async_write(ex->sock, ex->req, [ex](const error_code& e2, size_t) {
      if (ex->finished) return;
      if (e2) return ex->fail(e2.message());
      http::async_read(ex->sock, ex->buf, ex->parser, [ex](const error_code& e3, size_t) {
        if (ex->finished) return;
        if (e3) return ex->fail(e3.message());
        const auto& res = ex->parser.get();
        HttpAnswer a;
        a.status = static_cast<int>(res.result_int());
        a.body = res.body();
        if (auto it = res.find(http::field::location); it != res.end()) a.location = std::string(it->value());
        ex->finish(std::move(a));
      });
    });
  });
}

void HttpClient::send(int node, wl::Request req, Reply reply) {
  // Past the node's own timeout and the runner's: the runner's timer has decided by then.
  const Duration deadline = req.timeout * 4 / 3 + std::chrono::milliseconds(250);
  request(node, "POST", target_of(req), body_of(req), deadline,
          [this, reply = std::move(reply)](HttpAnswer a) {
            if (a.status == 0 && a.error == "after connecting: deadline") return;
            reply(response_of(a, o_.nodes));
          });
}

}  // namespace rq::jepsen
