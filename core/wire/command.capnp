# A client command in the Raft log: SQL statements with their parameters, stamped by the leader
# with the time and a random seed every replica uses for it. Field numbers are forever.
@0x965e18dc7f135c38;

$import "/capnp/c++.capnp".namespace("rq::wire");

struct Value {
  union {
    null @0 :Void;
    integer @1 :Int64;
    real @2 :Float64;
    text @3 :Text;
    blob @4 :Data;
  }
}

struct Param {
  name @0 :Text;   # empty: positional
  value @1 :Value;
}

struct Statement {
  sql @0 :Text;
  params @1 :List(Param);
}

enum CommandKind {
  execute @0;   # /db/execute: every statement runs as a write
  query @1;     # /db/query at level strong: reads through the log
  request @2;   # /db/request: each statement classified
  load @3;      # /db/load with a SQLite file: one piece of the image (Command.load)
}

# rqlite's LOAD, cut into pieces so that no log entry (and no message carrying one) holds a whole
# database image. A state machine gathers the pieces of one load in order and, once it holds all
# `total` bytes, replaces its database with them. A piece at offset 0 starts a new load (and drops
# any unfinished one); a piece that does not continue the load in progress is refused.
struct LoadChunk {
  id @0 :UInt64;      # names one load (chosen at random by the node that cuts the image)
  offset @1 :UInt64;  # where `data` goes in the image
  total @2 :UInt64;   # the whole image's size
  data @3 :Data;
}

struct Command {
  kind @0 :CommandKind;
  transaction @1 :Bool;
  statements @2 :List(Statement);
  timestampNanos @3 :Int64;   # the leader's wall clock when it proposed: SQL's "now"
  seed @4 :UInt64;            # random() and randomblob() for this entry
  session @5 :UInt64;         # exactly-once retries: a client session (0: none)
  seq @6 :UInt64;             #   and its sequence number
  rollbackOnError @7 :Bool;   # /db/load with an SQL dump: a failed statement rolls back the
                              # transaction the dump opened (rqlite's RollbackOnError)
  load @8 :LoadChunk;         # kind load only
}

struct Row {
  values @0 :List(Value);
}

struct StatementResult {
  isQuery @0 :Bool;
  columns @1 :List(Text);
  types @2 :List(Text);
  rows @3 :List(Row);
  lastInsertId @4 :Int64;
  rowsAffected @5 :Int64;
  error @6 :Text;
}

struct CommandResult {
  results @0 :List(StatementResult);
  error @1 :Text;
}
