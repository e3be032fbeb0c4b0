#include "core/sqlite/command_codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/assert.h"
#include "core/wire/command.capnp.h"

namespace rq::sql {

namespace {

// The standard stream framing, written straight into the string: one copy of the message, not
// three (a SQL dump or an image piece can be megabytes).
std::string to_bytes(capnp::MessageBuilder& b) {
  const size_t words = capnp::computeSerializedSizeInWords(b);
  std::string out(words * sizeof(capnp::word), '\0');
  kj::ArrayOutputStream stream(kj::arrayPtr(reinterpret_cast<kj::byte*>(out.data()), out.size()));
  capnp::writeMessage(stream, b);
  RQ_ASSERT_EQ(stream.getArray().size(), out.size());
  return out;
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
      w.setBlob(
          capnp::Data::Reader(reinterpret_cast<const kj::byte*>(v.bytes.data()), v.bytes.size()));
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

std::string text(capnp::Text::Reader t) {
  return std::string(t.begin(), t.size());
}

// Runs `fn(reader)` over aligned words; any malformed input becomes an Error.
template <class Root, class Fn>
auto read_root(std::string_view bytes, const char* what, Fn fn)
    -> decltype(fn(std::declval<typename Root::Reader>())) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return make_error(ErrorCode::kInvalid, std::string(what) + ": not a whole number of words");
  }
  // Read in place when the bytes are word-aligned (a log entry's buffer is); copy otherwise.
  const size_t n = bytes.size() / sizeof(capnp::word);
  std::vector<capnp::word> copy;
  const capnp::word* words = reinterpret_cast<const capnp::word*>(bytes.data());
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(capnp::word) != 0) {
    // Built whole, not resize()d: clang's capnp::word cannot be copied or moved, which resize()
    // needs (capnp/common.h).
    copy = std::vector<capnp::word>(n);
    std::memcpy(copy.data(), bytes.data(), bytes.size());
    words = copy.data();
  }
  try {
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = n * 2 + 1024;
    capnp::FlatArrayMessageReader reader(kj::ArrayPtr<const capnp::word>(words, n), opts);
    return fn(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return make_error(ErrorCode::kInvalid, std::string(what) + ": " + e.getDescription().cStr());
  }
}

}  // namespace

std::string encode_command(const Command& c) {
  // One first segment big enough for the whole command, so big ones are not built in pieces.
  size_t size = 64 + c.load.data.size();
  for (const Statement& s : c.statements) {
    size += 32 + s.sql.size();
    for (const Param& p : s.params) size += 48 + p.name.size() + p.value.bytes.size();
  }
  capnp::MallocMessageBuilder b(
      static_cast<unsigned>(std::min<size_t>(size / sizeof(capnp::word) + 64, 1u << 28)));
  auto w = b.initRoot<wire::Command>();
  w.setRollbackOnError(c.rollback_on_error);
  if (c.kind == CommandKind::kLoad) {
    auto l = w.initLoad();
    l.setId(c.load.id);
    l.setOffset(c.load.offset);
    l.setTotal(c.load.total);
    l.setData(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(c.load.data.data()),
                                  c.load.data.size()));
  }
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
    if (kind > static_cast<uint16_t>(CommandKind::kLoad))
      return make_error(ErrorCode::kInvalid, "command: unknown kind");
    c.kind = static_cast<CommandKind>(kind);
    c.rollback_on_error = r.getRollbackOnError();
    if (c.kind == CommandKind::kLoad) {
      auto l = r.getLoad();
      auto d = l.getData();
      c.load.id = l.getId();
      c.load.offset = l.getOffset();
      c.load.total = l.getTotal();
      c.load.data.assign(reinterpret_cast<const char*>(d.begin()), d.size());
    }
    c.transaction = r.getTransaction();
    c.timestamp_ns = r.getTimestampNanos();
    c.seed = r.getSeed();
    c.session = r.getSession();
    c.seq = r.getSeq();
    for (auto s : r.getStatements()) {
      Statement st;
      st.sql = text(s.getSql());
      for (auto p : s.getParams())
        st.params.push_back(Param{text(p.getName()), get_value(p.getValue())});
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
  return read_root<wire::CommandResult>(bytes, "result",
                                        [](wire::CommandResult::Reader r) -> Result<CommandResult> {
                                          CommandResult out;
                                          out.error = text(r.getError());
                                          for (auto s : r.getResults()) {
                                            StatementResult sr;
                                            sr.is_query = s.getIsQuery();
                                            sr.last_insert_id = s.getLastInsertId();
                                            sr.rows_affected = s.getRowsAffected();
                                            sr.error = text(s.getError());
                                            for (auto c : s.getColumns())
                                              sr.columns.push_back(text(c));
                                            for (auto t : s.getTypes()) sr.types.push_back(text(t));
                                            for (auto row : s.getRows()) {
                                              std::vector<Value> vals;
                                              for (auto v : row.getValues())
                                                vals.push_back(get_value(v));
                                              sr.rows.push_back(std::move(vals));
                                            }
                                            out.results.push_back(std::move(sr));
                                          }
                                          return out;
                                        });
}

}  // namespace rq::sql
