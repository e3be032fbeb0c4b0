// The harness's own network: a private network namespace (so the host's network is never touched)
// whose loopback carries every node's address, and nftables rules in it that cut links between
// nodes. Nodes are told apart on the wire by their source addresses: each binds its outgoing Raft
// connections to its own 127.0.0.k (net/tcp_transport.h, `source_host`), and the clients connect
// from 127.0.0.100, which no rule names, so a partition never cuts clients off from nodes.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rq::jepsen {

// Moves this process (and every process it starts from now on) into a new network namespace and
// brings its loopback up. Needs root (CAP_SYS_ADMIN); false with `why` otherwise.
bool enter_private_network(std::string* why);

// Runs `nft -f -` with `script`; false with nft's complaint in `why`.
bool nft(const std::string& script, std::string* why);

// One-directional cuts between nodes (1-based). A cut (a, b) drops every packet from node a's
// address to node b's: over TCP, a link cut one way carries nothing useful either way, which is
// what Jepsen's one-way partitions do too.
class Firewall {
 public:
  // Creates the table (the namespace must be private).
  bool init(std::string* why);
  bool ready() const { return ready_; }
  // Replaces `owner`'s cuts with `cuts` (empty: heal them); the rules in force are the union of
  // every owner's (nemesis lanes cut links independently).
  bool set(int owner, const std::set<std::pair<int, int>>& cuts, std::string* why);
  bool heal_all(std::string* why);
  std::set<std::pair<int, int>> cuts() const;

 private:
  bool apply(std::string* why);
  bool ready_ = false;
  std::map<int, std::set<std::pair<int, int>>> by_owner_;
};

}  // namespace rq::jepsen
