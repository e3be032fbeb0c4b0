// Paper tests for log compaction and InstallSnapshot (Raft §7, Figure 13; thesis §5.1), driving
// rq::raft::Raft directly. The test driver moves snapshot bytes the way core/node does: it fills a
// leader's kSnap chunks from the snapshot image, writes a follower's chunks to a file in order,
// and reports the finished file back with snapshot_received().
#include "core/raft/raft.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/core/raft_test_cluster.h"

namespace rq::raft {
namespace {

using namespace test;  // the shared harness: Network, message builders, check_invariants

// ---- helpers ----------------------------------------------------------------------------------

constexpr uint64_t kChunk = 16;
constexpr size_t kInFlight = 3;
constexpr uint64_t kWindow = kChunk * kInFlight;

// Snapshots go in chunks of kChunk bytes, kInFlight at a time.
RaftConfig with_small_chunks(RaftConfig c) {
  c.snapshot_chunk_bytes = kChunk;
  c.snapshot_chunks_in_flight = kInFlight;
  return c;
}

// Node `id` of a cluster whose voters are 1..n_voters (none for 0), with small chunks.
RaftConfig config(uint64_t id, uint64_t n_voters) {
  return with_small_chunks(test::config(id, n_voters));
}

Membership voters_1_to(uint64_t n) {
  std::vector<Member> ms;
  for (uint64_t v = 1; v <= n; ++v) ms.push_back(Member{NodeId{v}, {}, true});
  return Membership(std::move(ms));
}

// The bytes of a snapshot image: distinct per position and per snapshot, so a chunk written at the
// wrong offset or taken from the wrong snapshot shows.
std::string image(uint64_t size, uint64_t salt) {
  std::string s;
  for (uint64_t k = 0; k < size; ++k) s.push_back(static_cast<char>('a' + (k * 7 + salt) % 26));
  return s;
}

// The shared Network with a driver for snapshot files, as core/node's process loop does it:
// messages leave with their kSnap chunks filled from the image, incoming chunks are written to a
// file in order, and finished files are reported with snapshot_received().
class SnapshotNetwork : public Network {
 public:
  // A snapshot image the driver can stream (the leader's file, or what a test sends by hand).
  SnapshotMeta make_snapshot(uint64_t index, uint64_t term, Membership m, uint64_t size) {
    SnapshotMeta meta{LogIndex{index}, Term{term}, std::move(m), size, 0};
    images[index] = image(size, index);
    return meta;
  }

  // Snapshot images by index; the file each node is receiving; every Ready::snapshot each node
  // installed; every finished file each node reported (meta, ok).
  std::map<uint64_t, std::string> images;
  std::map<uint64_t, std::string> files;
  std::map<uint64_t, std::vector<SnapshotMeta>> installed;
  std::map<uint64_t, std::vector<std::pair<SnapshotMeta, bool>>> reported;
  // The next file these nodes finish fails its checksum.
  std::set<uint64_t> corrupt_next;
  // False: finished files are recorded but the test calls snapshot_received() itself.
  bool report_received = true;

 protected:
  RaftConfig node_config(uint64_t id, uint64_t n_voters, const Opts& o) const override {
    return with_small_chunks(Network::node_config(id, n_voters, o));
  }

  void on_ready(uint64_t id, const Ready& rd) override {
    if (!rd.snapshot) return;
    installed[id].push_back(*rd.snapshot);
    EXPECT_EQ(files[id], images[rd.snapshot->index.v])
        << "node " << id << " installs a snapshot it does not hold";
  }

  void send(Message m) override {
    if (m.type == MessageType::kSnap && m.chunk_len > 0) {
      m.chunk = images.at(m.snapshot.index.v).substr(m.offset, m.chunk_len);
    }
    Network::send(std::move(m));
  }

  void on_advanced(uint64_t id, const Ready& rd) override {
    for (const SnapshotChunk& c : rd.snapshot_chunks) write_chunk(id, c);
  }

 private:
  void write_chunk(uint64_t id, const SnapshotChunk& c) {
    std::string& f = files[id];
    if (c.offset == 0) f.clear();
    EXPECT_EQ(c.offset, f.size()) << "node " << id << " was handed a chunk out of order";
    f += c.data;
    if (!c.last) return;
    EXPECT_EQ(f.size(), c.meta.size) << "node " << id;
    const bool ok = corrupt_next.erase(id) == 0 && f == images[c.meta.index.v];
    reported[id].emplace_back(c.meta, ok);
    if (report_received) node(id).snapshot_received(c.meta, ok);
  }
};

// Chunk `offset` (chunk_len bytes, filled) of a snapshot, as a leader's driver sends it.
Message chunk(const SnapshotNetwork& net, const SnapshotMeta& meta, uint64_t from, uint64_t to,
              uint64_t term, uint64_t offset) {
  Message m = msg(MessageType::kSnap, from, to, term);
  m.snapshot = meta;
  m.offset = offset;
  m.chunk_len = std::min(kChunk, meta.size - offset);
  m.chunk = net.images.at(meta.index.v).substr(offset, m.chunk_len);
  return m;
}

bool is_snap_to(const Message& m, uint64_t to) {
  return m.type == MessageType::kSnap && m.to.v == to;
}

class RaftSnapshot : public ClusterTest<SnapshotNetwork> {
 protected:
  // Leader 1 of voters {1, 2, 3} commits `entries` proposals while node 3 is cut off, then
  // snapshots everything it applied and compacts its log up to there. Node 3 is reconnected with
  // an empty log. Returns the leader's snapshot.
  SnapshotMeta lagging_follower(uint64_t entries, uint64_t size) {
    net.add_cluster(3);
    net.isolated = {3};
    EXPECT_TRUE(net.elect(1));
    for (uint64_t k = 0; k < entries; ++k) node(1).propose("e" + std::to_string(k));
    net.take_all();
    net.stabilize();
    const SnapshotMeta meta = leader_snapshot(size);
    net.isolated.clear();
    return meta;
  }

  // The leader's driver snapshots everything applied, makes it durable and compacts.
  SnapshotMeta leader_snapshot(uint64_t size) {
    Raft& r = node(1);
    const LogIndex i = r.log().applied();
    const SnapshotMeta meta = net.make_snapshot(i.v, r.log().term(i)->v, r.membership_at(i), size);
    r.snapshot_written(meta);
    r.compact(i);
    EXPECT_EQ(r.log().floor_index(), i);
    return meta;
  }

  // A heartbeat round with node 3 only: its reply makes the leader look at node 3's next index.
  void heartbeat_round_with_3() {
    net.tick(1);
    ASSERT_TRUE(net.deliver_first(
        [](const Message& m) { return m.type == MessageType::kHeartbeat && m.to.v == 3; }));
    ASSERT_TRUE(net.deliver_first(
        [](const Message& m) { return m.type == MessageType::kHeartbeatResp && m.from.v == 3; }));
  }

  // Up to three heartbeat rounds of leader 1 (each one run until quiet), until node 3 has
  // installed a snapshot.
  void heartbeat_until_3_installs() {
    for (int round = 0; round < 3 && net.installed[3].empty(); ++round) {
      net.tick(1);
      net.stabilize();
    }
  }

  // Leader 1 hands node 2 every chunk of `meta` in order, in `term`; node 2's driver takes each
  // Ready at once.
  void send_chunks_to_2(const SnapshotMeta& meta, uint64_t term) {
    for (uint64_t off = 0; off < meta.size; off += kChunk) {
      node(2).step(chunk(net, meta, 1, 2, term, off));
      net.take_all();
    }
  }

  size_t queued_chunks_to_3() { return of(net.queue, MessageType::kSnap, 3).size(); }
};

// ---- the leader streams a snapshot (Raft §7) --------------------------------------------------

TEST_F(RaftSnapshot, Leader_CompactedNextIndex_SwitchesFollowerToSnapshot) {
  // Raft §7: the leader sends InstallSnapshot to a follower whose next entry it has discarded,
  // in chunks (Figure 13 "offset", "data[]"), a window of them at a time.
  const SnapshotMeta meta = lagging_follower(5, 100);
  ASSERT_EQ(node(1).log().first_index(), meta.index + 1);
  heartbeat_round_with_3();

  const Progress& pr = progress(1, 3);
  EXPECT_EQ(pr.state, ProgressState::kSnapshot);
  EXPECT_EQ(pr.pending_snapshot, meta.index);
  const std::vector<Message> snaps = of(net.queue, MessageType::kSnap, 3);
  ASSERT_EQ(snaps.size(), kInFlight);
  for (size_t k = 0; k < snaps.size(); ++k) {
    EXPECT_EQ(snaps[k].offset, k * kChunk);
    EXPECT_EQ(snaps[k].chunk_len, kChunk);
    EXPECT_EQ(snaps[k].snapshot, meta);
    EXPECT_EQ(snaps[k].term, node(1).term());
  }
  EXPECT_TRUE(of(net.queue, MessageType::kApp, 3).empty());
}

TEST_F(RaftSnapshot, Leader_ChunksInFlight_NeverExceedWindowBeyondAcked) {
  // Figure 13 (offset/data chunks), with flow control: at most snapshot_chunks_in_flight chunks of
  // snapshot_chunk_bytes each beyond what the follower acknowledged; each ack releases one more.
  const SnapshotMeta meta = lagging_follower(5, 100);
  heartbeat_round_with_3();
  ASSERT_EQ(queued_chunks_to_3(), kInFlight);

  ASSERT_TRUE(net.deliver_first([](const Message& m) { return is_snap_to(m, 3); }));
  EXPECT_EQ(queued_chunks_to_3(), kInFlight - 1);
  ASSERT_TRUE(net.deliver_first(
      [](const Message& m) { return m.type == MessageType::kSnapResp && m.from.v == 3; }));
  const std::vector<Message> window = of(net.queue, MessageType::kSnap, 3);
  ASSERT_EQ(window.size(), kInFlight);
  EXPECT_EQ(window.back().offset, kWindow);

  while (net.deliver_one()) {
    EXPECT_LE(queued_chunks_to_3(), kInFlight);
    const Progress& pr = progress(1, 3);
    if (pr.state == ProgressState::kSnapshot) {
      EXPECT_LE(pr.snap_sent - pr.snap_acked, kWindow);
    }
  }

  const std::vector<Message> sent = of(net.trace, MessageType::kSnap, 3);
  ASSERT_EQ(sent.size(), 7u) << "100 bytes in chunks of 16, none resent";
  for (size_t k = 0; k < sent.size(); ++k) {
    EXPECT_EQ(sent[k].offset, k * kChunk);
    EXPECT_LE(sent[k].chunk_len, kChunk);
  }
  EXPECT_EQ(sent.back().chunk_len, 4u);
  EXPECT_EQ(net.installed[3], std::vector<SnapshotMeta>{meta});
  EXPECT_EQ(net.files[3], net.images[meta.index.v]);

  // Replication continues with appends after the snapshot.
  const ProposeResult p = node(1).propose("after");
  ASSERT_EQ(p.status, ProposeStatus::kOk);
  net.take_all();
  net.stabilize();
  EXPECT_EQ(progress(1, 3).state, ProgressState::kReplicate);
  EXPECT_EQ(progress(1, 3).match, p.index);
  EXPECT_EQ(node(3).log().first_index(), meta.index + 1);
  EXPECT_EQ(node(3).log().last_index(), p.index);
}

TEST_F(RaftSnapshot, Leader_RejectedChunk_ResendsFromWantedOffset) {
  // Figure 13 rules 2-3 (chunks written in order): a lost chunk makes the follower ask for its
  // offset again, and the leader goes back to it.
  const SnapshotMeta meta = lagging_follower(5, 100);
  heartbeat_round_with_3();
  ASSERT_TRUE(net.lose_first([](const Message& m) { return is_snap_to(m, 3) && m.offset == 0; }));
  ASSERT_TRUE(net.deliver_first([](const Message& m) { return is_snap_to(m, 3); }));

  const std::vector<Message> resps = of(net.queue, MessageType::kSnapResp, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_TRUE(resps[0].reject);
  EXPECT_EQ(resps[0].offset, 0u);

  const size_t before = net.queue.size();
  ASSERT_TRUE(net.deliver_first(
      [](const Message& m) { return m.type == MessageType::kSnapResp && m.from.v == 3; }));
  const std::vector<Message> resent(net.queue.begin() + static_cast<std::ptrdiff_t>(before - 1),
                                    net.queue.end());
  ASSERT_FALSE(of(resent, MessageType::kSnap, 3).empty());
  EXPECT_EQ(of(resent, MessageType::kSnap, 3).front().offset, 0u);

  net.stabilize();
  EXPECT_EQ(net.installed[3], std::vector<SnapshotMeta>{meta});
  EXPECT_EQ(net.files[3], net.images[meta.index.v]);
}

TEST_F(RaftSnapshot, Leader_StalledTransfer_ResendsFromAcknowledgedByte) {
  // Figure 13, leader side (our flow control): a chunk lost for good is resent from the last
  // acknowledged byte once heartbeats show the transfer stopped moving.
  const SnapshotMeta meta = lagging_follower(5, 100);
  int lost = 0;
  net.drop = [&lost](const Message& m) {
    return is_snap_to(m, 3) && m.offset == 96 && lost++ == 0;
  };
  heartbeat_round_with_3();
  net.stabilize();
  ASSERT_EQ(lost, 1);
  ASSERT_TRUE(net.installed[3].empty());
  EXPECT_EQ(progress(1, 3).snap_acked, 96u);

  heartbeat_until_3_installs();
  EXPECT_EQ(net.installed[3], std::vector<SnapshotMeta>{meta});
  const std::vector<Message> sent = of(net.trace, MessageType::kSnap, 3);
  ASSERT_EQ(sent.size(), 8u);
  EXPECT_EQ(sent.back().offset, 96u) << "resent from the acknowledged byte, not from 0";
}

TEST_F(RaftSnapshot, Leader_NewerSnapshot_SupersedesTheOneInFlight) {
  // Figure 13 rule 5 (a snapshot with a larger index replaces a partial one): a leader that took
  // a newer snapshot mid-transfer restarts the follower on it.
  const SnapshotMeta old_meta = lagging_follower(5, 100);
  heartbeat_round_with_3();
  ASSERT_TRUE(net.deliver_first([](const Message& m) { return is_snap_to(m, 3); }));
  net.isolated = {3};
  node(1).propose("more");
  node(1).propose("more");
  net.take_all();
  net.stabilize();
  const SnapshotMeta meta = leader_snapshot(60);
  ASSERT_GT(meta.index, old_meta.index);
  net.isolated.clear();

  heartbeat_round_with_3();
  EXPECT_EQ(progress(1, 3).pending_snapshot, meta.index);
  const std::vector<Message> fresh = of(net.queue, MessageType::kSnap, 3);
  ASSERT_FALSE(fresh.empty());
  EXPECT_EQ(fresh.front().snapshot, meta);
  EXPECT_EQ(fresh.front().offset, 0u);

  net.stabilize();
  EXPECT_EQ(net.installed[3], std::vector<SnapshotMeta>{meta});
  EXPECT_EQ(node(3).log().first_index(), meta.index + 1);
}

// ---- the follower receives chunks (Figure 13 rules 1-5) ---------------------------------------

TEST_F(RaftSnapshot, Rule1_StaleTerm_AnsweredWithCurrentTerm) {
  // Figure 13 rule 1: reply immediately if term < currentTerm.
  Raft& f = net.add(2, 3, {}, HardState{Term{3}, kNoNode, LogIndex{0}});
  const SnapshotMeta meta = net.make_snapshot(5, 1, voters_1_to(3), 40);
  f.step(chunk(net, meta, 1, 2, 2, 0));
  const Ready rd = net.take(2);
  EXPECT_TRUE(rd.snapshot_chunks.empty());
  EXPECT_TRUE(of(all(rd), MessageType::kSnapResp).empty());
  const std::vector<Message> resps = of(all(rd), MessageType::kAppResp, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_EQ(resps[0].term, Term{3});
  EXPECT_EQ(f.term(), Term{3});
}

TEST_F(RaftSnapshot, Rules2to4_OutOfOrderChunk_AnsweredWithWantedOffset) {
  // Figure 13 rules 2-4: chunks are written at their offset, in order; a gap is answered with
  // the offset wanted next, a repeat is acknowledged without being written twice.
  Raft& f = net.add(2, 3);
  const SnapshotMeta meta = net.make_snapshot(5, 1, voters_1_to(3), 40);

  f.step(chunk(net, meta, 1, 2, 1, 0));
  Ready rd = net.take(2);
  ASSERT_EQ(rd.snapshot_chunks.size(), 1u);
  EXPECT_EQ(rd.snapshot_chunks[0].offset, 0u);
  EXPECT_EQ(rd.snapshot_chunks[0].data, net.images[5].substr(0, kChunk));
  EXPECT_FALSE(rd.snapshot_chunks[0].last);
  std::vector<Message> resps = of(all(rd), MessageType::kSnapResp, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_FALSE(resps[0].reject);
  EXPECT_EQ(resps[0].offset, kChunk);
  EXPECT_EQ(resps[0].snapshot.index, meta.index);

  f.step(chunk(net, meta, 1, 2, 1, 2 * kChunk));
  rd = net.take(2);
  EXPECT_TRUE(rd.snapshot_chunks.empty());
  resps = of(all(rd), MessageType::kSnapResp, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_TRUE(resps[0].reject);
  EXPECT_EQ(resps[0].offset, kChunk);

  f.step(chunk(net, meta, 1, 2, 1, 0));
  rd = net.take(2);
  EXPECT_TRUE(rd.snapshot_chunks.empty());
  resps = of(all(rd), MessageType::kSnapResp, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_FALSE(resps[0].reject);
  EXPECT_EQ(resps[0].offset, kChunk);

  f.step(chunk(net, meta, 1, 2, 1, kChunk));
  rd = net.take(2);
  ASSERT_EQ(rd.snapshot_chunks.size(), 1u);
  EXPECT_EQ(rd.snapshot_chunks[0].offset, kChunk);
  resps = of(all(rd), MessageType::kSnapResp, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_EQ(resps[0].offset, 2 * kChunk);
  EXPECT_EQ(net.files[2], net.images[5].substr(0, 2 * kChunk));
}

TEST_F(RaftSnapshot, Rule2_UnknownSnapshotAtNonZeroOffset_IsRejected) {
  // Figure 13 rule 2: a snapshot file is created only by its first chunk (offset 0); rule 5: a
  // newer snapshot's first chunk replaces a partial one.
  Raft& f = net.add(2, 3);
  const SnapshotMeta a = net.make_snapshot(5, 1, voters_1_to(3), 40);
  const SnapshotMeta b = net.make_snapshot(7, 1, voters_1_to(3), 40);

  f.step(chunk(net, a, 1, 2, 1, kChunk));
  Ready rd = net.take(2);
  EXPECT_TRUE(rd.snapshot_chunks.empty());
  std::vector<Message> resps = of(all(rd), MessageType::kSnapResp, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_TRUE(resps[0].reject);
  EXPECT_EQ(resps[0].offset, 0u);

  f.step(chunk(net, a, 1, 2, 1, 0));
  net.take(2);
  f.step(chunk(net, b, 1, 2, 1, kChunk));
  rd = net.take(2);
  EXPECT_TRUE(rd.snapshot_chunks.empty());
  resps = of(all(rd), MessageType::kSnapResp, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_TRUE(resps[0].reject);
  EXPECT_EQ(resps[0].offset, 0u);
  EXPECT_EQ(resps[0].snapshot.index, b.index);

  f.step(chunk(net, a, 1, 2, 1, kChunk));
  rd = net.take(2);
  ASSERT_EQ(rd.snapshot_chunks.size(), 1u) << "the transfer of the known snapshot goes on";
  EXPECT_EQ(rd.snapshot_chunks[0].meta, a);

  f.step(chunk(net, b, 1, 2, 1, 0));
  rd = net.take(2);
  ASSERT_EQ(rd.snapshot_chunks.size(), 1u);
  EXPECT_EQ(rd.snapshot_chunks[0].meta, b);
  EXPECT_EQ(rd.snapshot_chunks[0].offset, 0u);
  f.step(chunk(net, a, 1, 2, 1, 2 * kChunk));
  rd = net.take(2);
  EXPECT_TRUE(rd.snapshot_chunks.empty()) << "the partial older snapshot was discarded";
}

TEST_F(RaftSnapshot, SnapshotAtOrBelowCommit_IgnoredAndAnsweredWithCommitIndex) {
  // Raft §7 ("if the follower receives a snapshot that describes a prefix of its log"), for a
  // prefix it already committed: nothing to install; tell the leader how far we are.
  Raft& f = net.add(2, 3, log_terms({1, 1, 1, 1, 1, 1}), HardState{Term{1}, kNoNode, LogIndex{6}});
  for (uint64_t index : {4, 6}) {
    const SnapshotMeta meta = net.make_snapshot(index, 1, voters_1_to(3), 40);
    f.step(chunk(net, meta, 1, 2, 1, 0));
    const Ready rd = net.take(2);
    EXPECT_TRUE(rd.snapshot_chunks.empty()) << "snapshot at " << index;
    EXPECT_TRUE(of(all(rd), MessageType::kSnapResp).empty()) << "snapshot at " << index;
    const std::vector<Message> resps = of(all(rd), MessageType::kAppResp, 1);
    ASSERT_EQ(resps.size(), 1u) << "snapshot at " << index;
    EXPECT_FALSE(resps[0].reject);
    EXPECT_EQ(resps[0].index, LogIndex{6});
  }
  EXPECT_EQ(f.log().first_index(), LogIndex{1});
  EXPECT_EQ(f.log().last_index(), LogIndex{6});
  EXPECT_FALSE(f.snapshot().has_value());
  EXPECT_TRUE(net.installed[2].empty());
}

TEST_F(RaftSnapshot, Leader_AckAtOrAfterSnapshot_EndsTransferWithProbeAfterIt) {
  // Raft §7: once the follower holds everything the snapshot covers (it answered with its commit
  // index), the leader resumes AppendEntries right after the snapshot.
  const SnapshotMeta meta = lagging_follower(5, 100);
  heartbeat_round_with_3();
  ASSERT_EQ(progress(1, 3).state, ProgressState::kSnapshot);
  Message ack = msg(MessageType::kAppResp, 3, 1, node(1).term().v);
  ack.index = meta.index;
  node(1).step(ack);
  EXPECT_EQ(progress(1, 3).state, ProgressState::kProbe);
  EXPECT_EQ(progress(1, 3).match, meta.index);
  EXPECT_EQ(progress(1, 3).next, meta.index + 1);
  net.queue.clear();
}

// ---- the follower installs (Figure 13 rules 5-8) ----------------------------------------------

TEST_F(RaftSnapshot, Rule6_MatchingEntry_KeepsFollowingEntriesWithoutInstall) {
  // Figure 13 rule 6: if an existing entry has the snapshot's index and term, keep the entries
  // after it and reply; the state machine is not reset, and the entries are committed.
  Raft& f =
      net.add(2, 3, log_terms({1, 1, 1, 1, 1, 1, 1, 1}), HardState{Term{1}, kNoNode, LogIndex{2}});
  const SnapshotMeta meta = net.make_snapshot(5, 1, voters_1_to(3), 40);
  net.report_received = false;
  send_chunks_to_2(meta, 1);
  ASSERT_EQ(net.reported[2].size(), 1u);
  ASSERT_TRUE(net.reported[2][0].second);

  f.snapshot_received(meta, true);
  const Ready rd = net.take(2);
  EXPECT_FALSE(rd.snapshot.has_value());
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->commit, LogIndex{5});
  EXPECT_EQ(indexes_of(rd.committed_entries), (std::vector<uint64_t>{3, 4, 5}));
  const std::vector<Message> acks = of(rd.messages_after_sync, MessageType::kAppResp, 1);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].reject);
  EXPECT_EQ(acks[0].index, LogIndex{5});

  EXPECT_EQ(f.log().first_index(), LogIndex{1});
  EXPECT_EQ(f.log().last_index(), LogIndex{8});
  EXPECT_EQ(f.log().committed(), LogIndex{5});
  EXPECT_EQ(f.snapshot(), meta);
  EXPECT_TRUE(net.installed[2].empty());
}

TEST_F(RaftSnapshot, Rule7_ConflictingLog_IsDiscarded) {
  // Figure 13 rules 7-8: no entry matches the snapshot's last one: discard the entire log and
  // reset the state machine from the snapshot, durably, before acknowledging.
  Raft& f =
      net.add(2, 3, log_terms({1, 1, 1, 2, 2, 2, 2, 2}), HardState{Term{2}, kNoNode, LogIndex{2}});
  const SnapshotMeta meta = net.make_snapshot(5, 3, voters_1_to(3), 40);
  net.report_received = false;
  send_chunks_to_2(meta, 3);
  ASSERT_EQ(f.log().last_index(), LogIndex{8}) << "nothing changes before the file is complete";

  f.snapshot_received(meta, true);
  const Ready rd = net.take(2);
  EXPECT_EQ(rd.snapshot, meta);
  EXPECT_TRUE(rd.must_sync);
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_TRUE(rd.committed_entries.empty()) << "the snapshot replaces applying entries";
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->commit, LogIndex{5});
  EXPECT_TRUE(of(rd.messages, MessageType::kAppResp).empty());
  const std::vector<Message> acks = of(rd.messages_after_sync, MessageType::kAppResp, 1);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].reject);
  EXPECT_EQ(acks[0].index, LogIndex{5});

  const RaftLog& log = f.log();
  EXPECT_EQ(log.first_index(), LogIndex{6});
  EXPECT_EQ(log.last_index(), LogIndex{5});
  EXPECT_EQ(log.committed(), LogIndex{5});
  EXPECT_EQ(log.applied(), LogIndex{5});
  EXPECT_EQ(log.term(LogIndex{5}), Term{3});
  EXPECT_FALSE(log.term(LogIndex{6}).has_value());
  EXPECT_EQ(f.snapshot(), meta);

  f.step(app(1, 2, 3, 5, 3, {ent(6, 3)}, 6));
  net.take_all();
  EXPECT_EQ(f.log().last_index(), LogIndex{6});
  EXPECT_EQ(f.log().committed(), LogIndex{6});
}

TEST_F(RaftSnapshot, Rule7_LogShorterThanSnapshot_IsReplaced) {
  // Figure 13 rule 7: a log without the snapshot's last entry is discarded as a whole.
  Raft& f = net.add(2, 3, log_terms({1, 1}), HardState{Term{1}, kNoNode, LogIndex{1}});
  const SnapshotMeta meta = net.make_snapshot(10, 1, voters_1_to(3), 20);
  send_chunks_to_2(meta, 1);
  EXPECT_EQ(net.installed[2], std::vector<SnapshotMeta>{meta});
  EXPECT_EQ(f.log().first_index(), LogIndex{11});
  EXPECT_EQ(f.log().last_index(), LogIndex{10});
  EXPECT_EQ(f.log().committed(), LogIndex{10});
  ASSERT_EQ(of(net.queue, MessageType::kAppResp, 1).size(), 1u);
  EXPECT_EQ(of(net.queue, MessageType::kAppResp, 1)[0].index, LogIndex{10});
}

TEST_F(RaftSnapshot, Rule8_SnapshotMembership_BecomesFollowersMembership) {
  // Figure 13 rule 8 ("load snapshot's cluster configuration"): after the log is discarded, the
  // membership in the snapshot is in effect, and later config entries build on it.
  const Membership with9 =
      Membership({Member{NodeId{1}, {}, true}, Member{NodeId{2}, {}, true},
                  Member{NodeId{3}, {}, true}, Member{NodeId{9}, "n9", false}});
  std::vector<Entry> log = log_terms({1, 1});
  log.push_back(Entry{Term{1}, LogIndex{3}, EntryType::kConfig, with9.encode()});
  Raft& f = net.add(2, 3, std::move(log), HardState{Term{1}, kNoNode, LogIndex{2}});
  ASSERT_TRUE(f.membership().contains(NodeId{9}));

  const Membership snap_members({Member{NodeId{1}, "n1", true}, Member{NodeId{2}, "n2", true},
                                 Member{NodeId{4}, "n4", true}, Member{NodeId{5}, "n5", false}});
  const SnapshotMeta meta = net.make_snapshot(6, 2, snap_members, 40);
  send_chunks_to_2(meta, 2);
  ASSERT_EQ(net.installed[2], std::vector<SnapshotMeta>{meta});
  EXPECT_EQ(f.membership(), snap_members);
  EXPECT_EQ(ids(f.voters()), (std::vector<uint64_t>{1, 2, 4}));
  EXPECT_EQ(f.membership_at(LogIndex{6}), snap_members);
  EXPECT_EQ(f.configs().current_index(), LogIndex{6});

  const Membership later =
      *apply_change(snap_members, ConfChange{ConfChangeType::kAddLearner, NodeId{6}, "n6", 0});
  f.step(app(1, 2, 2, 6, 2, {Entry{Term{2}, LogIndex{7}, EntryType::kConfig, later.encode()}}, 6));
  net.take_all();
  EXPECT_EQ(f.membership(), later);
  EXPECT_EQ(f.configs().current_index(), LogIndex{7});
  EXPECT_EQ(f.membership_at(LogIndex{6}), snap_members);
}

TEST_F(RaftSnapshot, SnapshotReceivedNotOk_AbandonsTransfer) {
  // Figure 13 rule 5 only saves a complete, intact file: a transfer whose file failed its
  // checksum changes nothing, and the next chunk must start a new file.
  Raft& f = net.add(2, 3, log_terms({1, 1}), HardState{Term{1}, kNoNode, LogIndex{1}});
  const SnapshotMeta meta = net.make_snapshot(5, 1, voters_1_to(3), 40);
  net.report_received = false;
  send_chunks_to_2(meta, 1);
  net.queue.clear();

  f.snapshot_received(meta, false);
  EXPECT_FALSE(f.has_ready());
  f.snapshot_received(meta, true);
  EXPECT_FALSE(f.has_ready()) << "an abandoned transfer cannot be completed afterwards";
  EXPECT_FALSE(f.snapshot().has_value());
  EXPECT_EQ(f.log().last_index(), LogIndex{2});
  EXPECT_EQ(f.log().committed(), LogIndex{1});

  f.step(chunk(net, meta, 1, 2, 1, kChunk));
  const Ready rd = net.take(2);
  EXPECT_TRUE(rd.snapshot_chunks.empty());
  const std::vector<Message> resps = of(all(rd), MessageType::kSnapResp, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_TRUE(resps[0].reject);
  EXPECT_EQ(resps[0].offset, 0u);
}

TEST_F(RaftSnapshot, SnapshotReceivedNotOk_LeaderStartsOver) {
  // Figure 13 rule 5, end to end: after a corrupt transfer the leader finds the follower still
  // needs the snapshot and sends it again from offset 0.
  const SnapshotMeta meta = lagging_follower(5, 100);
  net.corrupt_next = {3};
  heartbeat_round_with_3();
  net.stabilize();
  ASSERT_EQ(net.reported[3].size(), 1u);
  EXPECT_FALSE(net.reported[3][0].second);
  EXPECT_TRUE(net.installed[3].empty());

  heartbeat_until_3_installs();
  EXPECT_EQ(net.installed[3], std::vector<SnapshotMeta>{meta});
  EXPECT_EQ(node(3).log().first_index(), meta.index + 1);
  const std::vector<Message> sent = of(net.trace, MessageType::kSnap, 3);
  EXPECT_EQ(std::count_if(sent.begin(), sent.end(), [](const Message& m) { return m.offset == 0; }),
            2);
}

TEST_F(RaftSnapshot, LostFinalAck_HeartbeatMovesLeaderToProbeAfterSnapshot) {
  // Figure 13 / Raft §7 with a lost reply: every byte was acknowledged but the follower's
  // acknowledgement of the installed snapshot never came. A heartbeat reply makes the leader
  // probe right after the snapshot; match moves only when an append is acknowledged.
  const SnapshotMeta meta = lagging_follower(5, 100);
  net.drop = [](const Message& m) { return m.type == MessageType::kAppResp && m.from.v == 3; };
  heartbeat_round_with_3();
  net.stabilize();
  ASSERT_EQ(net.installed[3], std::vector<SnapshotMeta>{meta});
  ASSERT_EQ(progress(1, 3).state, ProgressState::kSnapshot);
  ASSERT_EQ(progress(1, 3).snap_acked, meta.size);
  ASSERT_EQ(progress(1, 3).match, LogIndex{0});

  net.drop = nullptr;
  heartbeat_round_with_3();
  const Progress& pr = progress(1, 3);
  EXPECT_EQ(pr.state, ProgressState::kProbe);
  EXPECT_EQ(pr.next, meta.index + 1);
  EXPECT_EQ(pr.match, LogIndex{0}) << "no acknowledgement yet";
  const std::vector<Message> probes = of(net.queue, MessageType::kApp, 3);
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_EQ(probes[0].index, meta.index);
  EXPECT_EQ(probes[0].log_term, meta.term);

  net.stabilize();
  EXPECT_EQ(progress(1, 3).match, node(1).log().last_index());
  EXPECT_EQ(progress(1, 3).state, ProgressState::kReplicate);
}

// ---- compaction (Raft §7) ---------------------------------------------------------------------

TEST_F(RaftSnapshot, Compact_NeverGoesPastTheSnapshotIndex) {
  // Raft §7: only entries a durable snapshot covers may be discarded.
  Raft& r = net.add(1, 1);
  r.campaign();
  ASSERT_EQ(r.role(), Role::kLeader);
  for (int k = 0; k < 5; ++k) r.propose("x");
  net.take_all();
  ASSERT_EQ(r.log().applied(), LogIndex{6});

  r.compact(LogIndex{4});
  EXPECT_EQ(r.log().first_index(), LogIndex{1}) << "no snapshot yet";

  r.snapshot_written(net.make_snapshot(3, 1, voters_1_to(1), 10));
  r.compact(LogIndex{6});
  EXPECT_EQ(r.log().floor_index(), LogIndex{3});
  EXPECT_EQ(r.log().term(LogIndex{3}), Term{1});
  EXPECT_EQ(r.log().last_index(), LogIndex{6});

  r.compact(LogIndex{2});
  EXPECT_EQ(r.log().floor_index(), LogIndex{3});

  r.snapshot_written(net.make_snapshot(2, 1, voters_1_to(1), 10));
  EXPECT_EQ(r.snapshot()->index, LogIndex{3}) << "an older snapshot does not replace a newer";
  r.compact(LogIndex{6});
  EXPECT_EQ(r.log().floor_index(), LogIndex{3});
}

// ---- snapshots meet membership and leadership transfer ----------------------------------------

TEST_F(RaftSnapshot, NewVoter_CaughtUpThroughSnapshot_IsPromotedAfterwards) {
  // Thesis §4.2.1 with Figure 13: a new server whose entries the leader compacted catches up by
  // InstallSnapshot and then AppendEntries, and only then becomes a voter.
  net.add_cluster(3);
  ASSERT_TRUE(net.elect(1));
  for (int k = 0; k < 3; ++k) node(1).propose("e" + std::to_string(k));
  net.take_all();
  net.stabilize();
  const SnapshotMeta meta = leader_snapshot(40);
  RaftConfig c = config(4, 0);
  Raft& fresh = net.add(c, RaftStorage{});

  const ProposeResult r =
      node(1).propose_conf_change(ConfChange{ConfChangeType::kAddVoter, NodeId{4}, "n4", 0});
  ASSERT_EQ(r.status, ProposeStatus::kOk);
  ASSERT_GT(r.index, meta.index);
  net.take_all();
  net.stabilize();

  EXPECT_EQ(net.installed[4], std::vector<SnapshotMeta>{meta});
  EXPECT_EQ(fresh.log().first_index(), meta.index + 1);
  EXPECT_GE(progress(1, 4).match, r.index);
  EXPECT_EQ(ids(node(1).voters()), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_GT(node(1).configs().current_index(), r.index) << "promoted by a later config entry";
  EXPECT_TRUE(fresh.membership().is_voter(NodeId{4}));
}

TEST_F(RaftSnapshot, Transfer_TargetNeedingSnapshot_GetsTimeoutNowOnlyAfterInstall) {
  // Thesis §3.10: the target is first brought up to date, here by InstallSnapshot (Figure 13).
  const SnapshotMeta meta = lagging_follower(5, 100);
  heartbeat_round_with_3();
  ASSERT_EQ(progress(1, 3).state, ProgressState::kSnapshot);
  ASSERT_TRUE(node(1).transfer_leadership(NodeId{3}));
  net.take_all();
  EXPECT_TRUE(of(net.queue, MessageType::kTimeoutNow).empty());

  size_t installed_at = 0;
  size_t timeout_now_at = 0;
  for (size_t k = 1; net.deliver_one() && k < 10000; ++k) {
    if (installed_at == 0 && !net.installed[3].empty()) installed_at = k;
    if (timeout_now_at == 0 && net.trace.back().type == MessageType::kTimeoutNow)
      timeout_now_at = k;
  }
  ASSERT_NE(installed_at, 0u);
  ASSERT_NE(timeout_now_at, 0u);
  EXPECT_LT(installed_at, timeout_now_at);
  EXPECT_EQ(node(3).role(), Role::kLeader);
  EXPECT_EQ(net.installed[3], std::vector<SnapshotMeta>{meta});
}

// A zero-byte image is one empty chunk, sent once: the follower's replies while its driver writes
// the file must not make the leader send it again and again.
TEST_F(RaftSnapshot, EmptySnapshot_SentOnceWhileFollowerWritesIt) {
  // Figure 13 with our flow control: a zero-byte image is one empty chunk; acknowledging it must
  // not make the leader send it again (nothing beyond what was acknowledged is outstanding).
  const SnapshotMeta meta = lagging_follower(5, 0);
  net.report_received = false;
  heartbeat_round_with_3();
  ASSERT_EQ(queued_chunks_to_3(), 1u);
  for (int k = 0; k < 20 && net.deliver_one(); ++k) {
  }
  EXPECT_EQ(of(net.trace, MessageType::kSnap, 3).size(), 1u);
  EXPECT_TRUE(net.queue.empty()) << "leader and follower keep exchanging the empty chunk";

  ASSERT_EQ(net.reported[3].size(), 1u);
  node(3).snapshot_received(meta, true);
  net.take_all();
  net.stabilize();
  EXPECT_EQ(net.installed[3], std::vector<SnapshotMeta>{meta});
}

// ---- the teardown checker must be able to fail ------------------------------------------------

TEST(RaftSnapshotChecker, CatchesDivergentCommittedEntriesAfterCompaction) {
  // STYLE §6: a checker that never fails proves nothing.
  SnapshotNetwork bad;
  const SnapshotMeta meta{LogIndex{2}, Term{1}, voters_1_to(3), 10, 0};
  bad.add(config(1, 3),
          RaftStorage{HardState{Term{1}, kNoNode, LogIndex{3}}, meta, {ent(3, 1)}, LogIndex{3}});
  bad.add(2, 3, log_terms({1, 1, 2}), HardState{Term{2}, kNoNode, LogIndex{3}});
  EXPECT_NONFATAL_FAILURE(check_invariants(bad), "committed different entries at 3");
}

}  // namespace
}  // namespace rq::raft
