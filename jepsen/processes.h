// The rqlited processes of one run: started, killed, paused, resumed and restarted by PID (only
// the processes this harness started). Node k listens on 127.0.0.k (HTTP port 4001, Raft port
// 4002), keeps its data under OUT/nK/data and its output in OUT/nK/rqlited.log (appended to
// across restarts, each start announced in it).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace rq::jepsen {

struct ClusterOptions {
  std::string rqlited;  // the executable
  std::string out;      // the run's directory
  int nodes = 5;
  bool bootstrap_expect = false;  // found with -bootstrap-expect N instead of joining node 1
  std::string faketime_lib;       // libfaketime, for the clock nemesis (empty: none)
  std::vector<std::string> extra_flags;
};

// A node's clock, as libfaketime gives it to the process from its start (libfaketime's FAKETIME
// variable): `spec` empty for the real clock; "+0 x1.5" runs both clocks 1.5 times as fast,
// "+120" moves them forward; `wall_only` leaves the monotonic clock alone (a backward jump of the
// wall clock must never reach the monotonic one).
struct FakeClock {
  std::string spec;
  bool wall_only = false;
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions o);
  ~Cluster();  // kills every process still running
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  int size() const { return o_.nodes; }
  static std::string host(int k) { return "127.0.0." + std::to_string(k); }
  static std::string http_address(int k) { return host(k) + ":4001"; }
  static std::string raft_address(int k) { return host(k) + ":4002"; }
  std::string dir(int k) const;
  std::string log_path(int k) const { return dir(k) + "/rqlited.log"; }

  // Starts node k (it must not be running) with its clock. False with `why` if it could not be
  // spawned (it may still exit at once: reap_exited() tells).
  bool start(int k, std::string* why);
  void kill(int k);       // SIGKILL, and reaped
  bool terminate(int k);  // SIGTERM, waits up to 10 s, then SIGKILL; true if it exited on its own
  void pause(int k);      // SIGSTOP
  void resume(int k);     // SIGCONT
  bool running(int k) const { return nodes_[k - 1].pid > 0; }
  bool paused(int k) const { return nodes_[k - 1].paused; }
  // Reaps nodes that exited on their own and returns them (their logs say why).
  std::vector<int> reap_exited();
  uint64_t starts(int k) const { return nodes_[k - 1].starts; }

  bool clock_controlled() const { return !o_.faketime_lib.empty(); }
  // The clock node k gets at its next start.
  void set_clock(int k, FakeClock c) { nodes_[k - 1].clock = std::move(c); }
  const FakeClock& clock(int k) const { return nodes_[k - 1].clock; }

 private:
  struct Proc {
    pid_t pid = -1;
    bool paused = false;
    uint64_t starts = 0;
    FakeClock clock;
  };
  std::vector<std::string> args(int k) const;

  ClusterOptions o_;
  std::vector<Proc> nodes_;
};

}  // namespace rq::jepsen
