#include "core/wire/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <vector>

#include "core/wire/raft.capnp.h"

namespace rq::wire {

std::string encode(const raft::Message& m) {
  capnp::MallocMessageBuilder builder;
  auto w = builder.initRoot<Message>();
  w.setType(static_cast<MessageType>(m.type));
  w.setFrom(m.from.v);
  w.setTo(m.to.v);
  w.setTerm(m.term.v);
  w.setLogTerm(m.log_term.v);
  w.setIndex(m.index.v);
  w.setCommit(m.commit.v);
  w.setReject(m.reject);
  w.setRejectHint(m.reject_hint.v);
  if (!m.entries.empty()) {
    auto ents = w.initEntries(static_cast<unsigned>(m.entries.size()));
    for (unsigned k = 0; k < m.entries.size(); ++k) {
      const raft::Entry& e = m.entries[k];
      auto we = ents[k];
      we.setTerm(e.term.v);
      we.setIndex(e.index.v);
      we.setType(static_cast<EntryType>(e.type));
      we.setData(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(e.data.data()), e.data.size()));
    }
  }
  auto words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

static Error invalid(std::string what) { return make_error(ErrorCode::kInvalid, std::move(what)); }

Result<raft::Message> decode(std::string_view bytes) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return invalid("raft message: length " + std::to_string(bytes.size()) + " is not a whole number of words");
  }
  if (bytes.size() > kMaxMessageBytes) return invalid("raft message: too large");
  // FlatArrayMessageReader needs word alignment; copy into an aligned buffer.
  std::vector<capnp::word> words(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.data(), bytes.data(), bytes.size());
  try {
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = words.size() * 2 + 1024;
    capnp::FlatArrayMessageReader reader(kj::ArrayPtr<const capnp::word>(words.data(), words.size()), opts);
    auto r = reader.getRoot<Message>();
    const auto type = static_cast<uint16_t>(r.getType());
    if (type >= raft::kMessageTypeCount) return invalid("raft message: unknown type " + std::to_string(type));
    raft::Message m;
    m.type = static_cast<raft::MessageType>(type);
    m.from = NodeId(r.getFrom());
    m.to = NodeId(r.getTo());
    m.term = Term(r.getTerm());
    m.log_term = Term(r.getLogTerm());
    m.index = LogIndex(r.getIndex());
    m.commit = LogIndex(r.getCommit());
    m.reject = r.getReject();
    m.reject_hint = LogIndex(r.getRejectHint());
    auto ents = r.getEntries();
    m.entries.reserve(ents.size());
    LogIndex expect = m.index + 1;
    for (auto we : ents) {
      const auto et = static_cast<uint16_t>(we.getType());
      if (et > static_cast<uint16_t>(raft::EntryType::kNoop)) return invalid("raft entry: unknown type");
      raft::Entry e;
      e.term = Term(we.getTerm());
      e.index = LogIndex(we.getIndex());
      // Entries of one append are contiguous after prevLogIndex; anything else is garbage.
      if (e.index != expect) return invalid("raft entry: index out of sequence");
      // An entry's term never exceeds the sender's term nor goes below the entry before it.
      if (e.term > m.term || e.term < (m.entries.empty() ? m.log_term : m.entries.back().term)) {
        return invalid("raft entry: term out of order");
      }
      ++expect;
      e.type = static_cast<raft::EntryType>(et);
      auto d = we.getData();
      e.data.assign(reinterpret_cast<const char*>(d.begin()), d.size());
      m.entries.push_back(std::move(e));
    }
    if (!m.from.valid()) return invalid("raft message: no sender");
    return m;
  } catch (const kj::Exception& e) {
    return invalid(std::string("raft message: ") + e.getDescription().cStr());
  }
}

}  // namespace rq::wire
