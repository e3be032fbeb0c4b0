# Raft messages and log entries on the wire. Field numbers are forever: add, never renumber.
@0xb997a0a64b608731;

$import "/capnp/c++.capnp".namespace("rq::wire");

enum EntryType {
  normal @0;
  noop @1;
  config @2;
}

struct Entry {
  term @0 :UInt64;
  index @1 :UInt64;
  type @2 :EntryType;
  data @3 :Data;
}

enum MessageType {
  preVote @0;
  preVoteResp @1;
  vote @2;
  voteResp @3;
  app @4;
  appResp @5;
  heartbeat @6;
  heartbeatResp @7;
  snap @8;
  snapResp @9;
  timeoutNow @10;
}

struct Member {
  id @0 :UInt64;
  address @1 :Text;
  voter @2 :Bool;
  staged @3 :Bool;
  incarnation @4 :UInt64;
  name @5 :Text;             # rqlite's node id (a string); may be empty
}

struct SnapshotMeta {
  index @0 :UInt64;
  term @1 :UInt64;
  members @2 :List(Member);
  size @3 :UInt64;
  crc @4 :UInt32;
}

struct Message {
  type @0 :MessageType;
  from @1 :UInt64;
  to @2 :UInt64;
  term @3 :UInt64;
  logTerm @4 :UInt64;
  index @5 :UInt64;
  entries @6 :List(Entry);
  commit @7 :UInt64;
  reject @8 :Bool;
  rejectHint @9 :UInt64;
  transfer @10 :Bool;
  snapshot @11 :SnapshotMeta;
  offset @12 :UInt64;
  chunkLen @13 :UInt64;
  chunk @14 :Data;
  fromIncarnation @15 :UInt64;
  round @16 :UInt64;
}

# Everything one node sends another: a Raft message, or a message of the cluster layer above Raft
# (request forwarding: core/service), opaque at this level.
struct Envelope {
  union {
    raft @0 :Message;
    cluster @1 :Data;
  }
}
