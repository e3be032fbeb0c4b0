# What rqlited nodes ask each other above the service (core/wire/forward.capnp's Call payload):
# node metadata (rqlite's GET_NODE_META), HTTP requests only the leader can serve (remove,
# stepdown, backup), and the pieces of a large answer. Field numbers are forever.
@0xa74adacd793abbea;

$import "/capnp/c++.capnp".namespace("rq::wire");

struct PeerCall {
  union {
    meta @0 :Void;
    http @1 :HttpCall;
    chunk @2 :ChunkCall;
  }
}

struct HttpCall {
  method @0 :Text;
  path @1 :Text;
  query @2 :Text;
  contentType @3 :Text;
  body @4 :Data;
}

# A piece of a large answer body the answering node keeps in a file for the asker.
struct ChunkCall {
  transfer @0 :UInt64;
  offset @1 :UInt64;
}

struct Header {
  name @0 :Text;
  value @1 :Text;
}

struct NodeMeta {
  name @0 :Text;             # rqlite's node id
  apiAddr @1 :Text;          # the API URL, with scheme ("http://host:4001")
  version @2 :Text;
  commitIndex @3 :UInt64;
}

struct HttpAnswer {
  status @0 :UInt16;
  contentType @1 :Text;
  headers @2 :List(Header);
  body @3 :Data;             # the whole body, unless `transfer` is set
  transfer @4 :UInt64;       # nonzero: the body is `size` bytes, fetched with ChunkCalls
  size @5 :UInt64;
}

struct ChunkAnswer {
  data @0 :Data;             # empty with `error`, or at the end
  error @1 :Text;
}

struct PeerAnswer {
  union {
    meta @0 :NodeMeta;
    http @1 :HttpAnswer;
    chunk @2 :ChunkAnswer;
    error @3 :Text;          # the call could not be understood
  }
}
