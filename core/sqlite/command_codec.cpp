#include "core/sqlite/command_codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <vector>

#include "core/wire/command.capnp.h"

namespace rq::sql {

namespace {

std::string to_bytes(capnp::MessageBuilder& b) {
  auto words = capnp::messageToFlatArray(b);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

void set_value(wire::Value::Builder w, const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull:
      w.setNull();
      break;
    case Value::Kind::kInteger:
      w.setInteger(v.integer);
      break;
    case Value::Kind::kReal:
      w.setReal(v.real);
      break;
    case Value::Kind::kText:
      w.setText(capnp::Text::Reader(v.bytes.data(), v.bytes.size()));
      break;
    case Value::Kind::kBlob:
      w.setBlob(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(v.bytes.data()), v.bytes.size()));
      break;
  }
}

Value get_value(wire::Value::Reader r) {
  switch (r.which()) {
    case wire::Value::NULL_:
      return Value::null();
    case wire::Value::INTEGER:
      return Value::of_int(r.getInteger());
    case wire::Value::REAL:
      return Value::of_real(r.getReal());
    case wire::Value::TEXT: {
      auto t = r.getText();
      return Value::of_text(std::string(t.begin(), t.size()));
    }
    case wire::Value::BLOB: {
      auto d = r.getBlob();
      return Value::of_blob(std::string(reinterpret_cast<const char*>(d.begin()), d.size()));
    }
  }
  return Value::null();
}

std::string text(capnp::Text::Reader t) { return std::string(t.begin(), t.size()); }

// Runs `fn(reader)` over aligned words; any malformed input becomes an Error.
template <class Root, class Fn>
auto read_root(std::string_view bytes, const char* what, Fn fn) -> decltype(fn(std::declval<typename Root::Reader>())) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return make_error(ErrorCode::kInvalid, std::string(what) + ": not a whole number of words");
  }
  std::vector<capnp::word> words(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.data(), bytes.data(), bytes.size());
  try {
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = words.size() * 2 + 1024;
    capnp::FlatArrayMessageReader reader(kj::ArrayPtr<const capnp::word>(words.data(), words.size()), opts);
    return fn(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return make_error(ErrorCode::kInvalid, std::string(what) + ": " + e.getDescription().cStr());
  }
}

}  // namespace

std::string encode_command(const Command& c) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::Command>();
  w.setKind(static_cast<wire::CommandKind>(c.kind));
  w.setTransaction(c.transaction);
  w.setTimestampNanos(c.timestamp_ns);
  w.setSeed(c.seed);
  w.setSession(c.session);
  w.setSeq(c.seq);
  auto stmts = w.initStatements(static_cast<unsigned>(c.statements.size()));
  for (unsigned k = 0; k < c.statements.size(); ++k) {
    const Statement& s = c.statements[k];
    stmts[k].setSql(s.sql);
    auto params = stmts[k].initParams(static_cast<unsigned>(s.params.size()));
    for (unsigned j = 0; j < s.params.size(); ++j) {
      params[j].setName(s.params[j].name);
      set_value(params[j].initValue(), s.params[j].value);
    }
  }
  return to_bytes(b);
}

Result<Command> decode_command(std::string_view bytes) {
  return read_root<wire::Command>(bytes, "command", [](wire::Command::Reader r) -> Result<Command> {
    Command c;
    const auto kind = static_cast<uint16_t>(r.getKind());
    if (kind > static_cast<uint16_t>(CommandKind::kRequest)) return make_error(ErrorCode::kInvalid, "command: unknown kind");
    c.kind = static_cast<CommandKind>(kind);
    c.transaction = r.getTransaction();
    c.timestamp_ns = r.getTimestampNanos();
    c.seed = r.getSeed();
    c.session = r.getSession();
    c.seq = r.getSeq();
    for (auto s : r.getStatements()) {
      Statement st;
      st.sql = text(s.getSql());
      for (auto p : s.getParams()) st.params.push_back(Param{text(p.getName()), get_value(p.getValue())});
      c.statements.push_back(std::move(st));
    }
    return c;
  });
}

std::string encode_result(const CommandResult& r) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::CommandResult>();
  w.setError(r.error);
  auto results = w.initResults(static_cast<unsigned>(r.results.size()));
  for (unsigned k = 0; k < r.results.size(); ++k) {
    const StatementResult& s = r.results[k];
    auto ws = results[k];
    ws.setIsQuery(s.is_query);
    ws.setLastInsertId(s.last_insert_id);
    ws.setRowsAffected(s.rows_affected);
    ws.setError(s.error);
    auto cols = ws.initColumns(static_cast<unsigned>(s.columns.size()));
    for (unsigned j = 0; j < s.columns.size(); ++j) cols.set(j, s.columns[j]);
    auto types = ws.initTypes(static_cast<unsigned>(s.types.size()));
    for (unsigned j = 0; j < s.types.size(); ++j) types.set(j, s.types[j]);
    auto rows = ws.initRows(static_cast<unsigned>(s.rows.size()));
    for (unsigned j = 0; j < s.rows.size(); ++j) {
      auto vals = rows[j].initValues(static_cast<unsigned>(s.rows[j].size()));
      for (unsigned v = 0; v < s.rows[j].size(); ++v) set_value(vals[v], s.rows[j][v]);
    }
  }
  return to_bytes(b);
}

Result<CommandResult> decode_result(std::string_view bytes) {
  return read_root<wire::CommandResult>(bytes, "result", [](wire::CommandResult::Reader r) -> Result<CommandResult> {
    CommandResult out;
    out.error = text(r.getError());
    for (auto s : r.getResults()) {
      StatementResult sr;
      sr.is_query = s.getIsQuery();
      sr.last_insert_id = s.getLastInsertId();
      sr.rows_affected = s.getRowsAffected();
      sr.error = text(s.getError());
      for (auto c : s.getColumns()) sr.columns.push_back(text(c));
      for (auto t : s.getTypes()) sr.types.push_back(text(t));
      for (auto row : s.getRows()) {
        std::vector<Value> vals;
        for (auto v : row.getValues()) vals.push_back(get_value(v));
        sr.rows.push_back(std::move(vals));
      }
      out.results.push_back(std::move(sr));
    }
    return out;
  });
}

}  // namespace rq::sql
