// rqjepsen: a Jepsen-style test of real rqlited processes (docs/jepsen.md). It starts a cluster in
// a private network namespace, runs one of the simulator's workloads (sim/workload/) against it
// over HTTP while a nemesis kills, pauses, partitions and skews clocks, heals everything, requires
// a leader and a served write, reads the final state from every node, and judges the history with
// the same checker rqsim uses.
//
// Exit 0: the history is valid; 1: it is not (or the cluster did not recover, or a node died on
// its own); 2: the test could not run (not root, no nft, a node that never started).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include "jepsen/http_client.h"
#include "jepsen/nemesis.h"
#include "jepsen/network.h"
#include "jepsen/processes.h"
#include "sim/workload/runner.h"
#include "sim/workload/workload.h"

namespace {

using namespace rq;
using namespace rq::jepsen;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string workload = "register";
  std::string level = "linearizable";
  std::string nemesis = "kill,pause,partition";
  int nodes = 5;
  double time_s = 60;
  uint64_t seed = 0;
  bool seed_given = false;
  std::string out;
  std::string rqlited;
  int clients_per_node = 2;
  bool bootstrap_expect = false;
  double liveness_s = 30;
  std::vector<std::string> node_flags;
};

std::string beside_me(const char* argv0, const std::string& name) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) self = std::filesystem::absolute(argv0);
  return (self.parent_path() / name).string();
}

std::string find_faketime() {
  for (const char* p : {"/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                        "/usr/lib/faketime/libfaketime.so.1"}) {
    if (::access(p, R_OK) == 0) return p;
  }
  return {};
}

// Everything one run holds, driven by one io_context on this thread.
class Run {
 public:
  Run(const Args& a, wl::Kind kind, wl::Level level, std::vector<FaultKind> kinds, const std::string& faketime)
      : a_(a),
        cluster_(ClusterOptions{a.rqlited, a.out, a.nodes, a.bootstrap_expect, faketime, a.node_flags}),
        workload_(wl::Workload::make(kind)),
        level_(level),
        kinds_(std::move(kinds)),
        tick_(io_) {
    HttpClientOptions ho;
    for (int k = 1; k <= a.nodes; ++k) ho.nodes.push_back(Cluster::http_address(k));
    http_ = std::make_unique<HttpClient>(io_, ho);
    nemesis_log_ = std::fopen((a.out + "/nemesis.log").c_str(), "w");
  }
  ~Run() {
    if (nemesis_log_ != nullptr) std::fclose(nemesis_log_);
  }

  // 0, 1 or 2 as the program's exit status.
  int go();

 private:
  void log(const std::string& line) {
    const double t = std::chrono::duration<double>(Clock::now() - t0_).count();
    std::printf("[%8.3f] %s\n", t, line.c_str());
    std::fflush(stdout);
  }
  void nemesis_note(const std::string& f, const std::string& what) {
    const double t = std::chrono::duration<double>(Clock::now() - t0_).count();
    if (nemesis_log_ != nullptr) {
      std::fprintf(nemesis_log_, "%.3f %s %s\n", t, f.c_str(), what.c_str());
      std::fflush(nemesis_log_);
    }
    log("nemesis " + f + ": " + what);
    if (runner_) runner_->note_nemesis(f, what);
  }
  // Runs the io_context until `pred` holds or `limit` passes; false on timeout.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (!pred()) {
      if (Clock::now() >= end) return false;
      io_.run_for(std::chrono::milliseconds(20));
      if (io_.stopped()) io_.restart();
    }
    return true;
  }
  void find_leader(std::function<void(int)> done);
  void transfer(int from, int to, std::function<void(bool)> done);
  bool form_cluster(std::string* why);
  void watch_processes();
  bool liveness(std::string* why);
  void write_outputs(const std::optional<wl::Finding>& f, const std::string& result, double secs);

  Args a_;
  boost::asio::io_context io_;
  Cluster cluster_;
  Firewall firewall_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<wl::Workload> workload_;
  wl::Level level_;
  std::vector<FaultKind> kinds_;
  std::unique_ptr<wl::Runner> runner_;
  std::unique_ptr<Nemesis> nemesis_;
  boost::asio::steady_timer tick_;
  std::FILE* nemesis_log_ = nullptr;
  Clock::time_point t0_ = Clock::now();
  std::vector<std::string> died_;  // nodes that exited on their own
  double liveness_s_ = -1;
};

void Run::find_leader(std::function<void(int)> done) {
  struct Poll {
    int pending = 0;
    int leader = 0;
    uint64_t term = 0;
    std::function<void(int)> done;
  };
  auto p = std::make_shared<Poll>();
  p->done = std::move(done);
  for (int k = 1; k <= cluster_.size(); ++k) {
    if (!cluster_.running(k) || cluster_.paused(k)) continue;
    ++p->pending;
    http_->request(k, "GET", "/status", "", std::chrono::seconds(1), [p, k](HttpAnswer a) {
      if (a.status == 200) {
        boost::system::error_code ec;
        json::value v = json::parse(a.body, ec);
        if (!ec && v.is_object()) {
          const json::value* st = v.as_object().if_contains("store");
          const json::value* raft = st != nullptr && st->is_object() ? st->as_object().if_contains("raft") : nullptr;
          if (raft != nullptr && raft->is_object()) {
            const json::object& r = raft->as_object();
            const json::value* state = r.if_contains("state");
            const json::value* term = r.if_contains("term");
            if (state != nullptr && state->is_string() && state->as_string() == "Leader") {
              const uint64_t t = term != nullptr && term->is_number() ? term->to_number<uint64_t>() : 0;
              if (p->leader == 0 || t > p->term) {
                p->leader = k;
                p->term = t;
              }
            }
          }
        }
      }
      if (--p->pending == 0) p->done(p->leader);
    });
  }
  if (p->pending == 0) boost::asio::post(io_, [p] { p->done(0); });
}

void Run::transfer(int from, int to, std::function<void(bool)> done) {
  http_->request(from, "POST", "/leader?wait&timeout=5s", "{\"id\":\"n" + std::to_string(to) + "\"}",
                 std::chrono::seconds(7), [this, to, done = std::move(done)](HttpAnswer a) {
                   if (a.status != 200) return done(false);
                   find_leader([to, done](int l) { done(l == to); });
                 });
}

bool Run::form_cluster(std::string* why) {
  for (int k = 1; k <= cluster_.size(); ++k) {
    if (!cluster_.start(k, why)) return false;
    if (!a_.bootstrap_expect && k == 1) {
      // The others join node 1: wait until it leads its one-node cluster.
      int leader = 0;
      bool asked = false;
      const bool ok = run_until(
          [&] {
            if (leader == 1) return true;
            if (!asked) {
              asked = true;
              find_leader([&](int l) {
                leader = l;
                asked = false;
              });
            }
            return false;
          },
          std::chrono::seconds(30));
      if (!ok) {
        *why = "node 1 did not become leader of its cluster within 30 s (see " + cluster_.log_path(1) + ")";
        return false;
      }
    }
  }
  // Every node is a voter the leader knows, and every node knows the leader.
  int ready = 0;
  bool asking = false;
  const bool ok = run_until(
      [&] {
        for (int k : cluster_.reap_exited()) {
          *why = "node " + std::to_string(k) + " exited while the cluster formed (see " + cluster_.log_path(k) + ")";
          return true;
        }
        if (ready == cluster_.size()) return true;
        if (!asking) {
          asking = true;
          auto count = std::make_shared<int>(0);
          auto left = std::make_shared<int>(cluster_.size());
          for (int k = 1; k <= cluster_.size(); ++k) {
            http_->request(k, "GET", "/nodes", "", std::chrono::seconds(1), [&, count, left](HttpAnswer a) {
              if (a.status == 200) {
                boost::system::error_code ec;
                json::value v = json::parse(a.body, ec);
                if (!ec && v.is_object() && static_cast<int>(v.as_object().size()) == cluster_.size()) {
                  bool has_leader = false;
                  for (const auto& [id, n] : v.as_object()) {
                    if (n.is_object()) {
                      const json::value* l = n.as_object().if_contains("leader");
                      if (l != nullptr && l->is_bool() && l->as_bool()) has_leader = true;
                    }
                  }
                  if (has_leader) ++*count;
                }
              }
              if (--*left == 0) {
                ready = *count;
                asking = false;
              }
            });
          }
        }
        return false;
      },
      std::chrono::seconds(60));
  if (!why->empty()) return false;
  if (!ok) {
    *why = "the cluster did not form within 60 s (" + std::to_string(ready) + " of " + std::to_string(cluster_.size()) +
           " nodes list every node and a leader)";
    return false;
  }
  return true;
}

void Run::watch_processes() {
  for (int k : cluster_.reap_exited()) {
    died_.push_back("node " + std::to_string(k));
    log("node " + std::to_string(k) + " exited on its own (see " + cluster_.log_path(k) + ")");
  }
  tick_.expires_after(std::chrono::milliseconds(200));
  tick_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) watch_processes();
  });
}

bool Run::liveness(std::string* why) {
  // After the heal: a leader, and a write it serves, within the bound. The state is shared with
  // the callbacks, which may outlive this call (a timer still pending when it returns).
  struct State {
    bool served = false, busy = false;
    std::string last = "no leader";
  };
  auto st = std::make_shared<State>();
  const auto start = Clock::now();
  const bool ok = run_until(
      [&] {
        if (st->served) return true;
        if (st->busy) return false;
        st->busy = true;
        find_leader([this, st](int l) {
          if (l == 0) {
            st->last = "no leader";
            http_->after(std::chrono::milliseconds(200), [st] { st->busy = false; });
            return;
          }
          http_->request(l, "POST", "/db/execute?timeout=2s",
                         "[\"CREATE TABLE IF NOT EXISTS rqjepsen_liveness (t INTEGER)\",\"INSERT INTO rqjepsen_liveness VALUES (1)\"]",
                         std::chrono::seconds(3), [this, st, l](HttpAnswer a) {
                           if (a.status == 200 && a.body.find("\"error\"") == std::string::npos) {
                             st->served = true;
                           } else {
                             st->last = "node " + std::to_string(l) + " answered " + std::to_string(a.status) + " " +
                                        (a.status == 0 ? a.error : a.body.substr(0, 200));
                           }
                           http_->after(std::chrono::milliseconds(200), [st] { st->busy = false; });
                         });
        });
        return false;
      },
      std::chrono::milliseconds(static_cast<int64_t>(a_.liveness_s * 1000)));
  liveness_s_ = std::chrono::duration<double>(Clock::now() - start).count();
  if (!ok) *why = "no leader served a write within " + std::to_string(static_cast<int>(a_.liveness_s)) + " s of the heal: " + st->last;
  return ok;
}

void Run::write_outputs(const std::optional<wl::Finding>& f, const std::string& result, double secs) {
  const auto& events = runner_->events();
  {
    std::ofstream o(a_.out + "/history.jsonl");
    o << wl::history_to_jsonl(events);
  }
  {
    std::ofstream o(a_.out + "/history.edn");
    o << wl::history_to_edn(events, workload_->kind());
  }
  const wl::RunnerStats& s = runner_->stats();
  json::object r;
  r["result"] = result;
  r["workload"] = a_.workload;
  r["level"] = a_.level;
  r["nemesis"] = a_.nemesis;
  r["nodes"] = a_.nodes;
  r["seed"] = a_.seed;
  r["time_s"] = a_.time_s;
  r["wall_s"] = secs;
  r["bootstrap_expect"] = a_.bootstrap_expect;
  r["ops"] = s.invoked;
  r["ok"] = s.ok;
  r["info"] = s.unknown;
  r["fail"] = s.failed;
  r["attempts"] = s.attempts;
  r["redirects"] = s.redirects;
  r["no_leader"] = s.no_leader;
  r["faults"] = nemesis_ ? nemesis_->faults() : 0;
  r["liveness_s"] = liveness_s_;
  json::array died;
  for (const auto& d : died_) died.emplace_back(d);
  r["nodes_died"] = died;
  if (f) {
    r["anomaly"] = json::object{{"reason", f->reason}, {"detail", f->detail}};
  }
  std::ofstream o(a_.out + "/results.json");
  o << json::serialize(r) << "\n";
}

int Run::go() {
  std::string why;
  const auto has = [&](FaultKind k) { return std::find(kinds_.begin(), kinds_.end(), k) != kinds_.end(); };
  if (has(FaultKind::kPartition) || has(FaultKind::kLease)) {
    if (!firewall_.init(&why)) {
      std::fprintf(stderr, "rqjepsen: %s\n", why.c_str());
      return 2;
    }
  }
  log("starting " + std::to_string(a_.nodes) + " nodes (" + (a_.bootstrap_expect ? "-bootstrap-expect" : "-join") + ")");
  if (!form_cluster(&why)) {
    std::fprintf(stderr, "rqjepsen: %s\n", why.c_str());
    return 2;
  }
  log("cluster formed");
  watch_processes();

  wl::RunnerOptions ro;
  ro.level = level_;
  ro.nodes = static_cast<size_t>(a_.nodes);
  ro.clients = static_cast<size_t>(a_.nodes * a_.clients_per_node);
  ro.bound = true;
  ro.think = std::chrono::milliseconds(10);
  ro.attempt_timeout = std::chrono::seconds(5);
  ro.op_timeout = std::chrono::seconds(15);
  ro.final_timeout = std::chrono::seconds(30);
  runner_ = std::make_unique<wl::Runner>(*http_, *workload_, Prng(a_.seed ^ 0x776f726b6c6f6164ULL), ro);
  NemesisOptions no;
  no.kinds = kinds_;
  nemesis_ = std::make_unique<Nemesis>(
      io_, cluster_, firewall_.ready() ? &firewall_ : nullptr, Prng(a_.seed), no,
      [this](std::function<void(int)> done) { find_leader(std::move(done)); },
      [this](const std::string& f, const std::string& w) { nemesis_note(f, w); },
      [this](int from, int to, std::function<void(bool)> done) { transfer(from, to, std::move(done)); });

  const auto t_start = Clock::now();
  runner_->start();
  nemesis_->start();
  run_until([] { return false; }, std::chrono::milliseconds(static_cast<int64_t>(a_.time_s * 1000)));
  runner_->stop();
  bool healed = false;
  nemesis_->stop_and_heal([&] { healed = true; });
  run_until([&] { return healed; }, std::chrono::seconds(60));
  log("healed; waiting for operations in flight");
  run_until([&] { return runner_->in_flight() == 0; }, std::chrono::seconds(30));

  std::optional<wl::Finding> finding;
  std::string trouble = nemesis_->trouble();
  if (!trouble.empty()) {
    std::fprintf(stderr, "rqjepsen: %s\n", trouble.c_str());
  }
  std::string lwhy;
  if (!liveness(&lwhy)) {
    finding = wl::Finding{"liveness", lwhy};
    log(lwhy);
  } else {
    log("liveness: a leader served a write " + std::to_string(liveness_s_).substr(0, 5) + " s after the heal");
  }
  if (!finding) {
    std::vector<int> all;
    for (int k = 1; k <= cluster_.size(); ++k) {
      if (cluster_.running(k)) all.push_back(k);
    }
    bool finals_done = false, finals_ok = false;
    runner_->final_reads(all, [&](bool ok) {
      finals_done = true;
      finals_ok = ok;
    });
    run_until([&] { return finals_done; }, std::chrono::seconds(40 * a_.nodes));
    // Healed and with a leader that serves writes, every running node must answer: a node that
    // cannot is a liveness failure, and without final reads the set, append and bank checkers
    // could not look for lost elements at all.
    if (!finals_done || !finals_ok) {
      finding = wl::Finding{"final-reads", "not every running node answered its final reads within " +
                                               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(ro.final_timeout).count()) +
                                               " s of the heal"};
      log(finding->detail);
    }
  }
  if (!finding && runner_->finding()) finding = runner_->finding();
  if (!finding) finding = runner_->check();
  if (!finding && !died_.empty()) {
    std::string list;
    for (const auto& d : died_) list += (list.empty() ? "" : ", ") + d;
    finding = wl::Finding{"node-died", list + " exited on its own"};
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t_start).count();
  tick_.cancel();
  const bool could_not_run = !trouble.empty();
  const std::string result = could_not_run ? "error" : finding ? "fail" : "pass";
  write_outputs(finding, result, secs);
  // Stop the nodes gracefully so their logs end cleanly; the destructor kills what is left.
  for (int k = 1; k <= cluster_.size(); ++k) cluster_.terminate(k);
  if (finding) std::printf("anomaly: %s: %s\n", finding->reason.c_str(), finding->detail.c_str());
  const wl::RunnerStats& s = runner_->stats();
  std::printf("result=%s workload=%s level=%s nemesis=%s ops=%llu ok=%llu info=%llu fail=%llu anomalies=%d\n", result.c_str(),
              a_.workload.c_str(), a_.level.c_str(), a_.nemesis.c_str(), static_cast<unsigned long long>(s.invoked),
              static_cast<unsigned long long>(s.ok), static_cast<unsigned long long>(s.unknown),
              static_cast<unsigned long long>(s.failed), finding ? 1 : 0);
  if (could_not_run) return 2;
  return finding ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"rqjepsen: real rqlited processes under kill, pause, partition and clock faults, judged by rqsim's workloads and checker"};
  app.add_option("--workload", a.workload, "register, multi-register, bank, append or set")->capture_default_str();
  app.add_option("--level", a.level, "read consistency: none, weak, linearizable or strong")->capture_default_str();
  app.add_option("--nemesis", a.nemesis, "comma-separated faults: kill, pause, partition, clock, lease; or none")->capture_default_str();
  app.add_option("--nodes", a.nodes, "cluster size (3 to 9)")->capture_default_str()->check(CLI::Range(3, 9));
  app.add_option("--time", a.time_s, "seconds of workload and faults")->capture_default_str()->check(CLI::Range(1.0, 86400.0));
  auto* seed_opt = app.add_option("--seed", a.seed, "the nemesis schedule and the workload's choices (default: random, printed)");
  app.add_option("--out", a.out, "the run's directory (default: jepsen-out/<workload>-<level>-<seed>)");
  app.add_option("--rqlited", a.rqlited, "the rqlited executable (default: beside rqjepsen)");
  app.add_option("--clients-per-node", a.clients_per_node, "clients bound to each node")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_flag("--bootstrap-expect", a.bootstrap_expect, "form the cluster with -bootstrap-expect N instead of -join");
  app.add_option("--liveness", a.liveness_s, "seconds after the heal within which a leader must serve a write")->capture_default_str();
  app.add_option("--node-flag", a.node_flags, "an extra rqlited flag for every node (repeatable)");
  CLI11_PARSE(app, argc, argv);
  // A reader of our output that goes away (a campaign stopped with Ctrl-C) must not kill the run
  // half-way with SIGPIPE: it finishes, heals, writes its results and stops its nodes.
  std::signal(SIGPIPE, SIG_IGN);

  a.seed_given = seed_opt->count() > 0;
  if (!a.seed_given) a.seed = std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
  std::printf("seed=%llu\n", static_cast<unsigned long long>(a.seed));
  std::fflush(stdout);

  const auto kind = wl::kind_from_name(a.workload);
  const auto level = wl::level_from_name(a.level);
  std::vector<FaultKind> kinds;
  std::string why;
  if (!kind) {
    std::fprintf(stderr, "rqjepsen: unknown workload %s\n", a.workload.c_str());
    return 2;
  }
  if (!level) {
    std::fprintf(stderr, "rqjepsen: unknown level %s\n", a.level.c_str());
    return 2;
  }
  if (!parse_nemesis(a.nemesis, &kinds, &why)) {
    std::fprintf(stderr, "rqjepsen: %s\n", why.c_str());
    return 2;
  }
  if (a.rqlited.empty()) a.rqlited = beside_me(argv[0], "rqlited");
  if (::access(a.rqlited.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "rqjepsen: no rqlited at %s (give --rqlited PATH)\n", a.rqlited.c_str());
    return 2;
  }
  std::string faketime;
  if (std::find(kinds.begin(), kinds.end(), FaultKind::kClock) != kinds.end() ||
      std::find(kinds.begin(), kinds.end(), FaultKind::kLease) != kinds.end()) {
    faketime = find_faketime();
    if (faketime.empty()) {
      std::fprintf(stderr, "rqjepsen: the clock nemesis needs libfaketime (Debian package libfaketime)\n");
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "rqjepsen: must run as root: it makes a private network namespace for its nodes (unshare -n)\n");
    return 2;
  }
  if (a.out.empty()) a.out = "jepsen-out/" + a.workload + "-" + a.level + "-" + std::to_string(a.seed);
  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  if (ec) {
    std::fprintf(stderr, "rqjepsen: cannot create %s: %s\n", a.out.c_str(), ec.message().c_str());
    return 2;
  }
  a.out = std::filesystem::canonical(a.out).string();
  if (std::filesystem::exists(a.out + "/n1", ec)) {
    // Nodes with data from an earlier run would not form a new cluster.
    std::fprintf(stderr, "rqjepsen: %s holds an earlier run (n1/): give a new --out directory\n", a.out.c_str());
    return 2;
  }
  if (!enter_private_network(&why)) {
    std::fprintf(stderr, "rqjepsen: %s\n", why.c_str());
    return 2;
  }
  Run run(a, *kind, *level, kinds, faketime);
  return run.go();
}
