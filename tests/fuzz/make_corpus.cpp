// Writes the seed corpus of every fuzz target into DIR/<target>/ (tests/fuzz/corpus in the
// repository): binary seeds made by the real encoders and stores, text seeds taken from the
// unit tests' inputs, history seeds from the Porcupine corpus (shared/testdata). Run once by
// hand when a format changes, and commit what it writes:
//   build-fuzz/bin/fuzz_make_corpus tests/fuzz/corpus ../shared/testdata/linearizability/porcupine
#include <capnp/message.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/prng.h"
#include "core/raft/membership.h"
#include "core/service/forward_codec.h"
#include "core/sqlite/command_codec.h"
#include "core/storage/log_store.h"
#include "core/storage/snapshot_store.h"
#include "core/wire/capnp_bytes.h"
#include "core/wire/codec.h"
#include "server/peers.capnp.h"
#include "sim/sim_disk.h"

namespace {

using namespace rq;
namespace fs = std::filesystem;

fs::path g_out;

void seed(const std::string& target, const std::string& name, std::string_view bytes) {
  const fs::path dir = g_out / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// One seed per string, named prefix0, prefix1, ...
template <size_t N>
void seed_each(const std::string& target, const std::string& prefix, const char* const (&inputs)[N]) {
  for (size_t k = 0; k < N; ++k) seed(target, prefix + std::to_string(k), inputs[k]);
}

std::string with_selector(uint8_t selector, std::string_view rest) {
  return std::string(1, static_cast<char>(selector)) + std::string(rest);
}

// ---- text: the unit tests' inputs (tests/server/http_api_test.cpp) ----------------------------

void query_seeds() {
  const char* queries[] = {
      "",
      "pretty",
      "timings&pretty",
      "q=SELECT%20*%20FROM%20foo&level=strong",
      "q=SELECT+1&associative&blob_array",
      "level=linearizable&linearizable_timeout=2s",
      "level=none&freshness=1m30s&freshness_strict",
      "timeout=1.5h&db_timeout=300ms&retries=3",
      "transaction&raft_index&queue&wait&timeout=10s",
      "redirect&noleader&nonvoters&ver=2",
      "fmt=sql&tables=a,%20b,,c&key=k",
      "trailing_logs=100&sync&compress&vacuum",
      "q=%zz",
      "a=1;b=2",
      "timeout=-5us",
      "q=&level=weak",
      "norwrandom&norwtime&noparse&bypass&qualify_columns",
  };
  seed_each("fuzz_query", "q", queries);
}

void body_seeds() {
  const char* bodies[] = {
      R"j(["CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT)"])j",
      R"j(["INSERT INTO foo(name) VALUES(\"fiona\")", "SELECT * FROM foo"])j",
      R"j([["INSERT INTO foo(name, age) VALUES(?, ?)", "fiona", 20]])j",
      R"j([["S", {"a":1,"b":2,"a":3}]])j",
      R"j(["SELECT 1", ["S", 1, {"n":"x"}, 2], ["SELECT 2"]])j",
      R"j([["S", 9223372036854775807, -9223372036854775808, 9223372036854775808, 1.5, true, null]])j",
      R"j([["S", 1e-400, -1e-400, 5e-324]])j",
      R"j([["S", [1, 2, 255]], ["S", {"a": [1, 2]}]])j",
      R"j(["", ["", 1], "SELECT 1"])j",
      R"j(["\u00e9\n\"\\\/"])j",
      R"j(["SELECT 1"] trailing garbage)j",
      R"j({"id": "node2"})j",
      R"j({"ID": null, "other": 1})j",
      "null",
      "SELECT * FROM foo WHERE id = 1",
  };
  seed_each("fuzz_request_body", "b", bodies);
}

void http_seeds() {
  const char* requests[] = {
      "GET /db/query?q=SELECT%201&pretty HTTP/1.1\r\nHost: localhost:4001\r\n\r\n",
      "POST /db/execute?timings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 12\r\n\r\n[\"SELECT 1\"]",
      "POST /db/request HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\n[\"SEL\r\n7\r\nECT 1\"]\r\n0\r\n\r\n",
      "DELETE /remove HTTP/1.1\r\nContent-Length: 13\r\nConnection: "
      "close\r\n\r\n{\"id\":\"n2\"}\r\n",
      "GET /status?pretty HTTP/1.0\r\n\r\n",
      "HEAD /readyz HTTP/1.1\r\nAuthorization: Basic Zm9vOmJhcg==\r\n\r\n"
      "GET /nodes?nonvoters HTTP/1.1\r\nConnection: close\r\n\r\n",
      "POST /db/load HTTP/1.1\r\nExpect: 100-continue\r\nContent-Type: text/plain\r\n"
      "Content-Length: 9\r\n\r\nSELECT 1;",
      "GET / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
  };
  int k = 0;
  for (const char* r : requests) {
    seed("fuzz_http_request", "r" + std::to_string(k), with_selector(255, r));
    seed("fuzz_http_request", "r" + std::to_string(k) + "-split7", with_selector(6, r));
    ++k;
  }
}

// ---- Cap'n Proto messages, by the real encoders ------------------------------------------------

sql::Command sample_command() {
  sql::Command c;
  c.kind = sql::CommandKind::kExecute;
  c.transaction = true;
  c.timestamp_ns = 1'700'000'000'000'000'000;
  c.seed = 42;
  c.session = 7;
  c.seq = 3;
  c.statements.push_back({"CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)", {}});
  c.statements.push_back({"INSERT INTO foo VALUES(?, :name)",
                          {{"", sql::Value::of_int(1)},
                           {"name", sql::Value::of_text("fiona")},
                           {"", sql::Value::of_real(2.5)},
                           {"", sql::Value::of_blob(std::string("\x00\x01\xff", 3))},
                           {"", sql::Value::null()}}});
  return c;
}

sql::CommandResult sample_result() {
  sql::CommandResult r;
  sql::StatementResult q;
  q.is_query = true;
  q.columns = {"id", "name"};
  q.types = {"integer", "text"};
  q.rows = {{sql::Value::of_int(1), sql::Value::of_text("fiona")},
            {sql::Value::of_int(2), sql::Value::null()}};
  r.results.push_back(q);
  sql::StatementResult w;
  w.last_insert_id = 2;
  w.rows_affected = 1;
  r.results.push_back(w);
  sql::StatementResult e;
  e.error = "no such table: bar";
  r.results.push_back(e);
  return r;
}

raft::Membership sample_membership() {
  return raft::Membership({raft::Member{NodeId(1), "10.0.0.1:4002", true, false, 11, "node1"},
                           raft::Member{NodeId(2), "10.0.0.2:4002", false, true, 22, ""},
                           raft::Member{NodeId(3), "10.0.0.3:4002", false, false, 0, "reader"}});
}

void command_seeds() {
  seed("fuzz_command", "execute", sql::encode_command(sample_command()));
  sql::Command q;
  q.kind = sql::CommandKind::kQuery;
  q.statements.push_back({"SELECT * FROM foo", {}});
  seed("fuzz_command", "query", sql::encode_command(q));
  sql::Command load;
  load.kind = sql::CommandKind::kLoad;
  load.load = sql::LoadChunk{9, 4096, 8192, std::string(64, 'x')};
  seed("fuzz_command", "load", sql::encode_command(load));
  seed("fuzz_command", "result", sql::encode_result(sample_result()));
  sql::CommandResult failed;
  failed.error = "disallowed pragma";
  seed("fuzz_command", "result-error", sql::encode_result(failed));
}

void raft_seeds() {
  raft::Message vote;
  vote.type = raft::MessageType::kVote;
  vote.from = NodeId(1);
  vote.to = NodeId(2);
  vote.term = Term(5);
  vote.log_term = Term(4);
  vote.index = LogIndex(17);
  vote.transfer = true;
  vote.from_incarnation = 99;
  seed("fuzz_raft_message", "vote", wire::encode(vote));

  raft::Message app;
  app.type = raft::MessageType::kApp;
  app.from = NodeId(1);
  app.to = NodeId(3);
  app.term = Term(5);
  app.log_term = Term(4);
  app.index = LogIndex(10);
  app.commit = LogIndex(9);
  app.entries.push_back(raft::Entry{Term(4), LogIndex(11), raft::EntryType::kNoop, ""});
  app.entries.push_back(raft::Entry{Term(5), LogIndex(12), raft::EntryType::kNormal,
                                    sql::encode_command(sample_command())});
  const raft::ConfChange cc{raft::ConfChangeType::kAddVoter, NodeId(4), "10.0.0.4:4002", 44,
                            "node4"};
  app.entries.push_back(raft::Entry{Term(5), LogIndex(13), raft::EntryType::kConfig, cc.encode()});
  seed("fuzz_raft_message", "append", wire::encode(app));

  raft::Message resp;
  resp.type = raft::MessageType::kAppResp;
  resp.from = NodeId(3);
  resp.to = NodeId(1);
  resp.term = Term(5);
  resp.reject = true;
  resp.index = LogIndex(10);
  resp.reject_hint = LogIndex(8);
  resp.log_term = Term(3);
  seed("fuzz_raft_message", "append-reject", wire::encode(resp));

  raft::Message hb;
  hb.type = raft::MessageType::kHeartbeat;
  hb.from = NodeId(1);
  hb.to = NodeId(2);
  hb.term = Term(5);
  hb.commit = LogIndex(13);
  hb.round = 1234;
  seed("fuzz_raft_message", "heartbeat", wire::encode(hb));

  raft::Message snap;
  snap.type = raft::MessageType::kSnap;
  snap.from = NodeId(1);
  snap.to = NodeId(2);
  snap.term = Term(5);
  snap.snapshot = raft::SnapshotMeta{LogIndex(100), Term(4), sample_membership(), 4096, 0xdeadbeef};
  snap.offset = 1024;
  snap.chunk_len = 32;
  snap.chunk = std::string(32, 'i');
  seed("fuzz_raft_message", "snapshot", wire::encode(snap));

  seed("fuzz_raft_message", "cluster", wire::encode_cluster("opaque cluster payload"));
}

void cluster_seeds() {
  svc::Forwarded f;
  f.id = 1;
  f.origin = NodeId(2);
  f.req.kind = sql::CommandKind::kExecute;
  f.req.statements = sample_command().statements;
  f.req.level = svc::ReadLevel::kStrong;
  f.req.hops = 1;
  seed("fuzz_cluster_message", "forward", svc::encode_forward(f));
  svc::ForwardedReply r;
  r.id = 1;
  r.resp.result = sample_result();
  r.resp.raft_index = LogIndex(12);
  r.resp.leader = NodeId(1);
  r.resp.leader_address = "10.0.0.1:4002";
  seed("fuzz_cluster_message", "forward-reply", svc::encode_forward_reply(r));
  seed("fuzz_cluster_message", "join",
       svc::encode_join(svc::JoinAsk{3, NodeId(4), "10.0.0.4:4002", true, 44, "node4"}));
  svc::JoinAnswer ja;
  ja.id = 3;
  ja.result.status = MembershipResult::Status::kNotLeader;
  ja.result.leader = NodeId(1);
  ja.result.leader_address = "10.0.0.1:4002";
  seed("fuzz_cluster_message", "join-answer", svc::encode_join_answer(ja));
  seed("fuzz_cluster_message", "call", svc::encode_call(svc::CallAsk{5, NodeId(2), "peer call"}));
  seed("fuzz_cluster_message", "call-answer",
       svc::encode_call_answer(svc::CallAnswer{5, "answer"}));
  svc::Notice n;
  n.node = NodeId(2);
  n.address = "10.0.0.2:4002";
  n.name = "node2";
  n.incarnation = 22;
  n.founders = sample_membership().encode();
  seed("fuzz_cluster_message", "notify", svc::encode_notify(n));
}

void peer_seeds() {
  {
    capnp::MallocMessageBuilder b;
    b.initRoot<wire::PeerCall>().setMeta();
    seed("fuzz_peer_message", "call-meta", wire::to_bytes(b));
  }
  {
    capnp::MallocMessageBuilder b;
    auto h = b.initRoot<wire::PeerCall>().initHttp();
    h.setMethod("DELETE");
    h.setPath("/remove");
    h.setQuery("pretty&timeout=5s");
    h.setContentType("application/json");
    h.setBody(wire::data_of(R"({"id":"node3"})"));
    seed("fuzz_peer_message", "call-http", wire::to_bytes(b));
  }
  {
    capnp::MallocMessageBuilder b;
    auto c = b.initRoot<wire::PeerCall>().initChunk();
    c.setTransfer(3);
    c.setOffset(4 << 20);
    seed("fuzz_peer_message", "call-chunk", wire::to_bytes(b));
  }
  {
    capnp::MallocMessageBuilder b;
    auto m = b.initRoot<wire::PeerAnswer>().initMeta();
    m.setName("node1");
    m.setApiAddr("http://10.0.0.1:4001");
    m.setVersion("v8.36.3");
    m.setCommitIndex(1234);
    seed("fuzz_peer_message", "answer-meta", wire::to_bytes(b));
  }
  {
    capnp::MallocMessageBuilder b;
    auto h = b.initRoot<wire::PeerAnswer>().initHttp();
    h.setStatus(200);
    h.setContentType("application/json; charset=utf-8");
    auto hs = h.initHeaders(2);
    hs[0].setName("X-RQLITE-VERSION");
    hs[0].setValue("v8.36.3");
    hs[1].setName("Location");
    hs[1].setValue("http://10.0.0.1:4001/db/backup");
    h.setBody(wire::data_of(R"({"results":[]})"));
    h.setTransfer(2);
    h.setSize(1 << 20);
    seed("fuzz_peer_message", "answer-http", wire::to_bytes(b));
  }
  {
    capnp::MallocMessageBuilder b;
    b.initRoot<wire::PeerAnswer>().initChunk().setData(wire::data_of("chunk of a backup"));
    seed("fuzz_peer_message", "answer-chunk", wire::to_bytes(b));
  }
  {
    capnp::MallocMessageBuilder b;
    b.initRoot<wire::PeerAnswer>().setError("unknown call");
    seed("fuzz_peer_message", "answer-error", wire::to_bytes(b));
  }
}

// ---- files: a log and snapshots written by the stores
// --------------------------------------------

std::string file(sim::SimDisk& disk, const std::string& name) {
  return *disk.read(name, 0, *disk.size(name));
}

void log_seeds() {
  sim::SimDisk disk(Prng(1), sim::SimDiskOptions{});
  storage::RecoveredLog rec;
  storage::LogStoreOptions opts;
  opts.max_segment_bytes = 200;  // the third append starts a second segment
  auto store = storage::LogStore::open(disk, opts, &rec);
  std::vector<raft::Entry> ents;
  for (uint64_t i = 1; i <= 6; ++i) {
    const raft::EntryType t = i == 1 ? raft::EntryType::kNoop : raft::EntryType::kNormal;
    ents.push_back(raft::Entry{Term(i < 4 ? 1 : 2), LogIndex(i), t,
                               i == 1 ? "" : "entry " + std::to_string(i)});
  }
  (void)(*store)->append({ents.begin(), ents.begin() + 3},
                         raft::HardState{Term(1), NodeId(1), LogIndex(2)});
  (void)(*store)->append({ents.begin() + 3, ents.end()},
                         raft::HardState{Term(2), NodeId(2), LogIndex(5)});
  const raft::ConfChange cc{raft::ConfChangeType::kRemove, NodeId(3), "", 0, ""};
  (void)(*store)->append({raft::Entry{Term(2), LogIndex(7), raft::EntryType::kConfig, cc.encode()}},
                         raft::HardState{Term(2), NodeId(2), LogIndex(6)});
  (void)(*store)->sync();
  const std::string one =
      file(disk, "wal-0000000000000001.log").substr(storage::kSegmentHeaderBytes);
  const std::string two =
      file(disk, "wal-0000000000000002.log").substr(storage::kSegmentHeaderBytes);
  seed("fuzz_log_store", "one-segment", with_selector(0, one));
  seed("fuzz_log_store", "one-segment-fixed", with_selector(1, one));
  seed("fuzz_log_store", "torn-tail", with_selector(0, one.substr(0, one.size() - 20)));
  std::string split;
  split.push_back(static_cast<char>(one.size() & 0xff));
  split.push_back(static_cast<char>(one.size() >> 8));
  seed("fuzz_log_store", "two-segments", with_selector(3, split + one + two));
  seed("fuzz_log_store", "above-snapshot", with_selector(5, std::string("\x03\x01", 2) + one));
  seed("fuzz_log_store", "both", with_selector(7, split + std::string("\x04\x02", 2) + one + two));
}

void snapshot_seeds() {
  sim::SimDisk disk(Prng(1), sim::SimDiskOptions{});
  storage::SnapshotStore store(disk);
  const std::pair<uint64_t, std::string> images[] = {{5, "SQLite format 3" + std::string(40, '\0')},
                                                     {9, ""}};
  for (const auto& [index, image] : images) {
    auto w = store.begin(LogIndex(index), Term(2));
    (void)store.write(*w, image);
    auto meta = store.finish(*w, sample_membership());
    const std::string bytes =
        file(disk, storage::SnapshotStore::file_name(meta->index, meta->term));
    seed("fuzz_snapshot_store", "index" + std::to_string(index), with_selector(0, bytes));
    seed("fuzz_snapshot_store", "index" + std::to_string(index) + "-fixed",
         with_selector(1, bytes));
  }
}

// ---- histories: the unit tests' and the Porcupine corpus's
// ----------------------------------------

// The first lines of a file, at most `max_bytes`.
std::string head(const fs::path& p, size_t max_bytes) {
  std::ifstream in(p, std::ios::binary);
  std::string out, line;
  while (std::getline(in, line) && out.size() + line.size() + 1 <= max_bytes) out += line + "\n";
  return out;
}

void history_seeds(const fs::path& porcupine) {
  // The selector byte picks the format: 0 porcupine-etcd, 1 porcupine-kv, 2 edn, 3 jsonl.
  if (!porcupine.empty()) {
    seed("fuzz_history", "etcd-000",
         with_selector(0, head(porcupine / "jepsen/etcd_000.log", 2048)));
    seed("fuzz_history", "etcd-002",
         with_selector(0, head(porcupine / "jepsen/etcd_002.log", 2048)));
    seed("fuzz_history", "kv-c01-ok", with_selector(1, head(porcupine / "kv/c01-ok.txt", 2048)));
    seed("fuzz_history", "kv-c10-bad", with_selector(1, head(porcupine / "kv/c10-bad.txt", 2048)));
  }
  seed("fuzz_history", "edn-knossos", with_selector(2, R"([
  ; the first read
  {:process 0, :type :invoke, :f :read, :value nil, :time 100, :index 0}
  {:process :nemesis, :type :info, :f :start, :value nil}
  {:process 0, :type :ok, :f :read, :value 3}
  {:process 1 :type :invoke :f :cas :value [3 4]}
  {:process 1 :type :info :f :cas :value [3 4] :error [:timeout "no reply"]}
  {:process 2 :type :invoke :f :write :value 5}
  {:process 2 :type :fail :f :write :value 5 :error :conflict}
])"));
  seed("fuzz_history", "edn-lines",
       with_selector(
           2,
           "{:index 0 :process 0 :type :invoke :f :write :value 1 :key \"k\"}\n"
           "#jepsen.history.Op{:index 1 :process 0 :type :ok :f :write :value 1 :key \"k\"}\n"
           "#_ {:discarded true} {:process 1 :type :invoke :f :read :value #{1 \\a 2.5 -7N}}\n"));
  seed("fuzz_history", "jsonl",
       with_selector(3,
                     R"({"process": 0, "type": "invoke", "f": "write", "value": 3, "time": 12}
{"process": "nemesis", "type": "info", "f": "start"}

{"process": 1, "type": "invoke", "f": "cas", "key": 7, "value": [3, 4]}
{"process": 0, "type": "ok", "f": "write", "value": 3}
{"process": 1, "type": "info", "f": "cas", "key": 7, "value": [3, 4]}
{"process": 2, "type": "invoke", "f": "get", "key": "k", "value": null}
{"process": 2, "type": "ok", "f": "get", "key": "k", "value": "ab"}
)"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: fuzz_make_corpus DIR [PORCUPINE_CORPUS]\n";
    return 2;
  }
  g_out = argv[1];
  query_seeds();
  body_seeds();
  http_seeds();
  command_seeds();
  raft_seeds();
  cluster_seeds();
  peer_seeds();
  log_seeds();
  snapshot_seeds();
  history_seeds(argc > 2 ? fs::path(argv[2]) : fs::path());
  return 0;
}
