# The cluster layer above Raft: a client request a follower forwards to the leader, and the
# answer. Carried inside Envelope.cluster (raft.capnp). Field numbers are forever.
@0xd4f0c3b5a7e91a62;

$import "/capnp/c++.capnp".namespace("rq::wire");

struct ForwardRequest {
  id @0 :UInt64;             # the forwarding node's id for this request (echoed in the reply)
  origin @1 :UInt64;         # the node the reply goes back to
  command @2 :Data;          # kind, transaction, statements, session, seq (command.capnp Command)
  level @3 :UInt8;           # svc::ReadLevel
  freshnessNanos @4 :Int64;
  timeoutNanos @5 :Int64;    # what is left of the client's deadline (clocks are not shared)
  hops @6 :UInt32;           # forwards so far, this one included
  qualifyColumns @7 :Bool;   # reads: table.column names
  dbTimeoutNanos @8 :Int64;  # reads: per-statement timeout (0: none)
}

struct ForwardReply {
  id @0 :UInt64;
  status @1 :UInt8;          # svc::Status
  result @2 :Data;           # command.capnp CommandResult
  raftIndex @3 :UInt64;
  raftTerm @4 :UInt64;
  leader @5 :UInt64;
  leaderAddress @6 :Text;
  error @7 :Text;
}

# rqlite's join: a node asks any member to add it; a follower answers with the leader.
struct JoinRequest {
  id @0 :UInt64;             # the joiner's id for this request (echoed in the reply)
  node @1 :UInt64;           # the joiner's node id (where the reply goes)
  address @2 :Text;          # the joiner's advertised Raft address
  voter @3 :Bool;
  incarnation @4 :UInt64;    # the joiner's incarnation (its data directory's life)
  name @5 :Text;             # the joiner's rqlite node id (a string)
}

struct JoinReply {
  id @0 :UInt64;
  status @1 :UInt8;          # rq::MembershipResult::Status
  leader @2 :UInt64;         # who leads, as far as the answering node knows (0: unknown)
  leaderAddress @3 :Text;
  error @4 :Text;
  index @5 :UInt64;          # kProposed: where the change went
  term @6 :UInt64;
}

# A request to the layer above the service (rqlited: node metadata, API calls forwarded to the
# leader, backup chunks), opaque here, answered by one CallReply.
struct Call {
  id @0 :UInt64;             # the caller's id for this call (echoed in the reply)
  origin @1 :UInt64;         # the node the reply goes back to
  payload @2 :Data;
}

struct CallReply {
  id @0 :UInt64;
  payload @1 :Data;
}

# rqlite's NOTIFY (-bootstrap-expect): "I am here and could found the cluster with you".
struct NotifyRequest {
  node @0 :UInt64;
  address @1 :Text;          # its advertised Raft address
  name @2 :Text;             # its rqlite node id
  incarnation @3 :UInt64;
  blank @4 :Bool;            # it has never been part of a cluster (only such nodes found one)
  founders @5 :Data;         # a founder's answer to a blank founder: the founding membership
}

struct ClusterMessage {
  union {
    request @0 :ForwardRequest;
    reply @1 :ForwardReply;
    joinRequest @2 :JoinRequest;
    joinReply @3 :JoinReply;
    call @4 :Call;
    callReply @5 :CallReply;
    notify @6 :NotifyRequest;
  }
}
