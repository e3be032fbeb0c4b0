// The Jepsen harness's side of the workload's client interface (sim/workload/client.h): rqlite's
// HTTP API of real rqlited processes, over Boost.Beast, on one single-threaded io_context.
//
// Each request is its own connection, made from `source_host` (an address no partition rule
// names, so the nemesis cuts nodes off from each other, never from the clients). How an answer
// becomes a status, as an rqlite user must read it:
//   connection refused or not made           error: the request never left (not applied)
//   200 with results                         ok (a statement's own error is among the results)
//   200 / 500 with "error": <text>           by the text: "leader not found", "stale read",
//                                            "disallowed pragma", "load in progress", "not
//                                            leader", "leadership changed before the write
//                                            committed", "leadership transfer in progress or too
//                                            many writes pending" did not apply; anything else
//                                            ("timeout", "leadership lost while committing log")
//                                            may have
//   503 "leader not found"                   no leader (not applied)
//   301 / 307 with Location                  not the leader: the node at Location
//   lost connection after the request left   unknown
//   no answer by the deadline                nothing: the caller's own timer decides
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/workload/client.h"

namespace boost::asio {
class io_context;
}

namespace rq::jepsen {

struct HttpClientOptions {
  std::vector<std::string> nodes;  // node k's HTTP address "host:port" is nodes[k - 1]
  std::string source_host = "127.0.0.100";
};

// A plain answer for the harness's own requests (status pages, readiness).
struct HttpAnswer {
  int status = 0;  // 0: no answer (refused, reset, timed out)
  std::string body;
  std::string location;
  std::string error;  // why there was no answer
};

class HttpClient final : public wl::Client {
 public:
  HttpClient(boost::asio::io_context& io, HttpClientOptions o);
  ~HttpClient() override;

  Duration now() const override;
  void after(Duration d, std::function<void()> fn) override;
  void send(int node, wl::Request req, Reply reply) override;
  bool exactly_once() const override { return false; }

  // Any request to node `node`; `done` runs once, by `timeout` at the latest.
  void request(int node, const std::string& method, const std::string& target, const std::string& body,
               Duration timeout, std::function<void(HttpAnswer)> done);

  // The rqlite API pieces, public for tests.
  static std::string target_of(const wl::Request& req);
  static std::string body_of(const wl::Request& req);
  static wl::Response response_of(const HttpAnswer& a, const std::vector<std::string>& nodes);

 private:
  boost::asio::io_context& io_;
  HttpClientOptions o_;
  std::chrono::steady_clock::time_point origin_;
};

// "127.0.0.1:4001" -> host and port.
bool split_address(const std::string& addr, std::string* host, uint16_t* port);

}  // namespace rq::jepsen
