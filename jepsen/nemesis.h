// The faults of a run, on schedules drawn from the run's seed: each kind of fault has its own
// lane (so kinds combine, as Jepsen's composed nemeses do: a slow clock on the leader while it is
// cut off), and within a lane one fault at a time starts after a quiet spell, holds for a few
// seconds and is healed; its start and end go to nemesis.log and into the history
// (Runner::note_nemesis).
//
//   kill       SIGKILL one node, the leader or a majority, restarted when the fault ends; or a
//              graceful restart (SIGTERM, then start)
//   pause      SIGSTOP the leader or a random node, SIGCONT when the fault ends
//   partition  random halves, the leader isolated, a majority ring (each node sees a majority, no
//              two the same one), a bridge (two halves and one node that sees both), one way (a
//              node that cannot send, or cannot receive), with nftables (network.h)
//   clock      a node restarted with its clock running fast or slow, or its wall clock (only)
//              jumped, through libfaketime; restarted with the true clock when the fault ends.
//              libfaketime takes its setting at a process's start (its control file proved
//              unreliable for changes while running), so each clock fault is also a restart.
//   lease      the clock fault aimed at leader leases: a follower restarted with its clock at
//              0.12-0.16 of true speed, made leader (POST /leader {"id": ...}), then cut off from
//              every other node while its clients keep reading from it. Its election timer,
//              check-quorum and lease run 6-8 times too slow, so it believes it leads for 5-8 s
//              after the others elected a new leader and committed writes: only reads that
//              confirm leadership (ReadIndex) stay linearizable. Lease reads (`weak`) assume a
//              bounded drift and go stale here, as rqlite's and etcd's do.
// Lanes leave alone the nodes another lane holds down (killed, or restarting for a clock).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/prng.h"
#include "jepsen/network.h"
#include "jepsen/processes.h"

namespace rq::jepsen {

enum class FaultKind { kKill, kPause, kPartition, kClock, kLease };
const char* fault_name(FaultKind k);
// "kill,pause" -> kinds; "none" -> none. False on an unknown name.
bool parse_nemesis(const std::string& s, std::vector<FaultKind>* out, std::string* why);

struct NemesisOptions {
  std::vector<FaultKind> kinds;
  double quiet_min_s = 2, quiet_max_s = 6;  // between faults
  double hold_min_s = 3, hold_max_s = 10;   // how long a fault lasts
};

class Nemesis {
 public:
  // Called with the leader's node number (0: none found), asynchronously.
  using FindLeader = std::function<void(std::function<void(int)>)>;
  // A fault's start or end: the fault's name and what it did.
  using Note = std::function<void(const std::string& f, const std::string& what)>;
  // Asks the leader `from` to hand leadership to node `to`; `done(true)` once it did.
  using Transfer = std::function<void(int from, int to, std::function<void(bool)> done)>;

  Nemesis(boost::asio::io_context& io, Cluster& cluster, Firewall* firewall, Prng prng, NemesisOptions o,
          FindLeader find_leader, Note note, Transfer transfer);

  void start();
  // No more faults; the one in force is healed, and so is everything else: paused nodes resumed,
  // stopped ones started, links restored, true clocks back. `done` runs when that is over.
  void stop_and_heal(std::function<void()> done);
  // A problem the nemesis met (a node that would not start, nft failing): the run cannot be
  // trusted and ends with exit 2.
  const std::string& trouble() const { return trouble_; }
  uint64_t faults() const { return faults_; }

 private:
  struct Lane {
    Lane(boost::asio::io_context& io, FaultKind k, Prng p) : kind(k), timer(io), prng(p) {}
    FaultKind kind;
    boost::asio::steady_timer timer;
    Prng prng;  // the lane's own draws: its schedule depends on the seed, not on the other lanes
    bool active = false;
    std::string what;
    std::vector<int> killed;   // to start again at the end of the fault
    std::vector<int> paused;   // to resume
    std::vector<int> clocked;  // to restart with the true clock
    bool cut = false;          // holds cuts in the firewall (owner: the lane's kind)
    uint64_t epoch = 0;        // bumped when a fault ends: stale steps of an attack stop
  };
  void schedule(Lane& l);
  void begin(Lane& l);
  void apply(Lane& l, int leader);
  void end_fault(Lane& l);
  void lease_attack(Lane& l, int leader);
  static double uniform(Prng& p, double lo, double hi);
  std::vector<int> shuffled(Prng& p) const;
  bool start_node(int k);
  bool held_down(int k) const;  // killed by the kill lane, to be started when its fault ends
  bool partition(Lane& l, const std::string& what, const std::set<std::pair<int, int>>& cuts);
  void cut_between(const std::vector<int>& a, const std::vector<int>& b, std::set<std::pair<int, int>>* cuts);

  boost::asio::io_context& io_;
  Cluster& cluster_;
  Firewall* firewall_;
  Prng prng_;
  NemesisOptions o_;
  FindLeader find_leader_;
  Note note_;
  Transfer transfer_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  bool stopped_ = false;
  std::string trouble_;
  uint64_t faults_ = 0;
};

}  // namespace rq::jepsen
