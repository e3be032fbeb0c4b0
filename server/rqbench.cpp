// rqbench: load for an rqlite-compatible HTTP API, in the spirit of rqlite's own rqbench.
//   rqbench [-a host:port] [-c clients] [-n requests | -d seconds] [-b statements per request]
//           [-p path] [-l level] [-x] [-q] [-o "SQL run once first"] "SQL"
// The SQL may contain {i}: replaced by a number unique across the whole run (unique keys).
// Each client is one thread with one keep-alive connection and one request outstanding (closed
// loop). A request counts as an error unless it gets 200 and a body without "error".
// Prints one line per figure: requests, statements, seconds, req/s, stmt/s, p50/p90/p99/max in us.
// Loopback only (it refuses other addresses): see docs/performance.md.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 4001;
  int clients = 1;
  long requests = 100;  // total, unless duration is set
  double duration = 0;  // seconds
  int batch = 1;
  std::string path = "/db/execute";
  std::string level;
  bool tx = false;
  bool queue = false;
  std::string once;
  std::string sql = "INSERT INTO foo(name) VALUES('fiona')";
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "rqbench: %s\nusage: rqbench [-a host:port] [-c clients] [-n requests | -d seconds] "
               "[-b statements per request] [-p path] [-l level] [-x] [-q] [-o SQL-once] SQL\n",
               why);
  std::exit(2);
}

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
    s.replace(p, from.size(), to);
  return s;
}

class Conn {
 public:
  bool connect(const Options& o) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(o.port));
    if (::inet_pton(AF_INET, o.host.c_str(), &a.sin_addr) != 1) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  // One request, one response (Content-Length bodies only, which is what rqlited sends).
  bool roundtrip(const std::string& req, int* status, std::string* body) {
    for (size_t off = 0; off < req.size();) {
      const ssize_t n = ::send(fd_, req.data() + off, req.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    std::string buf;
    char tmp[65536];
    size_t header_end;
    while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
    }
    *status = std::atoi(buf.c_str() + 9);
    size_t len = 0;
    std::string head = buf.substr(0, header_end);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t cl = head.find("content-length:");
    if (cl != std::string::npos) len = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
    while (buf.size() < header_end + 4 + len) {
      const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
    }
    *body = buf.substr(header_end + 4, len);
    return true;
  }

 private:
  int fd_ = -1;
};

std::string request_for(const Options& o, const std::string& body) {
  std::string q;
  auto add = [&q](const std::string& p) { q += (q.empty() ? "?" : "&") + p; };
  if (!o.level.empty()) add("level=" + o.level);
  if (o.tx) add("transaction");
  if (o.queue) add("queue");
  return "POST " + o.path + q + " HTTP/1.1\r\nHost: " + o.host +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "-a") {
      const std::string addr = next();
      const size_t c = addr.rfind(':');
      if (c == std::string::npos) usage("address must be host:port");
      o.host = addr.substr(0, c) == "localhost" ? "127.0.0.1" : addr.substr(0, c);
      o.port = std::atoi(addr.c_str() + c + 1);
    } else if (a == "-c") {
      o.clients = std::max(1, std::atoi(next().c_str()));
    } else if (a == "-n") {
      o.requests = std::max(1L, std::atol(next().c_str()));
    } else if (a == "-d") {
      o.duration = std::atof(next().c_str());
    } else if (a == "-b") {
      o.batch = std::max(1, std::atoi(next().c_str()));
    } else if (a == "-p") {
      o.path = next();
    } else if (a == "-l") {
      o.level = next();
    } else if (a == "-x") {
      o.tx = true;
    } else if (a == "-q") {
      o.queue = true;
    } else if (a == "-o") {
      o.once = next();
    } else if (a == "-h" || a == "--help") {
      usage("help");
    } else if (!a.empty() && a[0] == '-') {
      usage(("unknown flag " + a).c_str());
    } else {
      rest.push_back(a);
    }
  }
  if (!rest.empty()) o.sql = rest.back();
  if (o.host.rfind("127.", 0) != 0) usage("only loopback addresses (127.x.x.x) are allowed");

  if (!o.once.empty()) {
    Conn c;
    int st = 0;
    std::string body;
    Options once = o;
    once.path = "/db/execute";
    once.level.clear();
    once.queue = false;
    if (!c.connect(o) ||
        !c.roundtrip(request_for(once, "[" + json_string(o.once) + "]"), &st, &body) || st != 200) {
      std::fprintf(stderr, "rqbench: the one-time statement failed (%d): %s\n", st, body.c_str());
      return 1;
    }
  }

  std::atomic<long> next_req{0};
  std::atomic<long> next_key{0};
  std::atomic<long> errors{0};
  std::mutex mu;
  std::vector<double> lat_us;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                  std::chrono::duration<double>(o.duration > 0 ? o.duration : 3600));
  std::vector<std::thread> threads;
  for (int t = 0; t < o.clients; ++t) {
    threads.emplace_back([&] {
      Conn c;
      if (!c.connect(o)) {
        errors++;
        return;
      }
      std::vector<double> mine;
      for (;;) {
        if (o.duration > 0 ? std::chrono::steady_clock::now() >= deadline
                           : next_req.fetch_add(1) >= o.requests)
          break;
        std::string body = "[";
        for (int b = 0; b < o.batch; ++b) {
          if (b > 0) body += ",";
          body += json_string(replace_all(o.sql, "{i}", std::to_string(next_key.fetch_add(1))));
        }
        body += "]";
        const auto t0 = std::chrono::steady_clock::now();
        int st = 0;
        std::string resp;
        if (!c.roundtrip(request_for(o, body), &st, &resp)) {
          errors++;
          break;
        }
        mine.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count());
        if (st != 200 || resp.find("\"error\"") != std::string::npos) {
          if (errors.fetch_add(1) == 0)
            std::fprintf(stderr, "rqbench: first error (%d): %.300s\n", st, resp.c_str());
        }
      }
      std::lock_guard<std::mutex> l(mu);
      lat_us.insert(lat_us.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(lat_us.begin(), lat_us.end());
  auto pct = [&](double p) {
    return lat_us.empty()
               ? 0.0
               : lat_us[std::min(lat_us.size() - 1, static_cast<size_t>(p * lat_us.size()))];
  };
  const double n = static_cast<double>(lat_us.size());
  std::printf(
      "requests %zu\nstatements %.0f\nerrors %ld\nseconds %.3f\nreq_per_s %.1f\nstmt_per_s %.1f\n",
      lat_us.size(), n * o.batch, errors.load(), secs, n / secs, n * o.batch / secs);
  std::printf("p50_us %.0f\np90_us %.0f\np99_us %.0f\nmax_us %.0f\n", pct(0.5), pct(0.9), pct(0.99),
              lat_us.empty() ? 0.0 : lat_us.back());
  return errors.load() == 0 ? 0 : 1;
}
