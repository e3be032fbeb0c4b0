#include "core/wire/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <vector>

#include "core/wire/raft.capnp.h"

namespace rq::wire {

namespace {

// Cap'n Proto's standard stream framing (segment table, then segments), written straight into
// the string we return: one allocation and one copy instead of messageToFlatArray's two.
std::string flatten(capnp::MessageBuilder& builder) {
  auto segments = builder.getSegmentsForOutput();
  const size_t table_words = (segments.size() + 2) / 2;  // u32 count-1, u32 sizes, padded
  size_t words = table_words;
  for (auto seg : segments) words += seg.size();
  std::string out(words * sizeof(capnp::word), '\0');
  auto put32 = [&out](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  put32(0, static_cast<uint32_t>(segments.size() - 1));
  for (size_t k = 0; k < segments.size(); ++k) put32(4 + 4 * k, static_cast<uint32_t>(segments[k].size()));
  size_t at = table_words * sizeof(capnp::word);
  for (auto seg : segments) {
    std::memcpy(out.data() + at, seg.begin(), seg.size() * sizeof(capnp::word));
    at += seg.size() * sizeof(capnp::word);
  }
  return out;
}

}  // namespace

std::string encode(const raft::Message& m) {
  // The first segment lives on the stack when it fits (heartbeats, votes, acks), sized to the
  // message otherwise: Cap'n Proto's default first segment is 1024 zeroed words.
  size_t hint = 16;
  for (const auto& e : m.entries) hint += 6 + e.data.size() / sizeof(capnp::word);
  hint += m.chunk.size() / sizeof(capnp::word) + 8 * m.snapshot.membership.members().size();
  constexpr size_t kStackWords = 64;
  capnp::word stack[kStackWords];
  std::vector<capnp::word> heap;
  kj::ArrayPtr<capnp::word> first;
  if (hint <= kStackWords) {
    std::memset(stack, 0, sizeof stack);
    first = kj::ArrayPtr<capnp::word>(stack, kStackWords);
  } else {
    // Value-initialised: zeroed, as the builder requires. Built whole, not resize()d: clang's
    // capnp::word cannot be copied or moved (capnp/common.h), which resize() needs.
    heap = std::vector<capnp::word>(hint);
    first = kj::ArrayPtr<capnp::word>(heap.data(), heap.size());
  }
  capnp::MallocMessageBuilder builder(first, capnp::AllocationStrategy::GROW_HEURISTICALLY);
  auto w = builder.initRoot<Envelope>().initRaft();
  w.setType(static_cast<MessageType>(m.type));
  w.setFrom(m.from.v);
  w.setTo(m.to.v);
  w.setTerm(m.term.v);
  w.setLogTerm(m.log_term.v);
  w.setIndex(m.index.v);
  w.setCommit(m.commit.v);
  w.setReject(m.reject);
  w.setRejectHint(m.reject_hint.v);
  w.setTransfer(m.transfer);
  w.setFromIncarnation(m.from_incarnation);
  w.setRound(m.round);
  if (m.type == raft::MessageType::kSnap || m.type == raft::MessageType::kSnapResp) {
    auto sm = w.initSnapshot();
    sm.setIndex(m.snapshot.index.v);
    sm.setTerm(m.snapshot.term.v);
    sm.setSize(m.snapshot.size);
    sm.setCrc(m.snapshot.crc);
    const auto& members = m.snapshot.membership.members();
    auto wm = sm.initMembers(static_cast<unsigned>(members.size()));
    for (unsigned k = 0; k < members.size(); ++k) {
      wm[k].setId(members[k].id.v);
      wm[k].setAddress(members[k].address);
      wm[k].setVoter(members[k].voter);
      wm[k].setStaged(members[k].staged);
      wm[k].setIncarnation(members[k].incarnation);
      if (!members[k].name.empty()) wm[k].setName(members[k].name);
    }
    w.setOffset(m.offset);
    w.setChunkLen(m.chunk_len);
    if (!m.chunk.empty()) {
      w.setChunk(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(m.chunk.data()), m.chunk.size()));
    }
  }
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
  return flatten(builder);
}

static Error invalid(std::string what) { return make_error(ErrorCode::kInvalid, std::move(what)); }

std::string encode_cluster(std::string_view payload) {
  capnp::MallocMessageBuilder builder(payload.size() / sizeof(capnp::word) + 8);
  builder.initRoot<Envelope>().setCluster(
      capnp::Data::Reader(reinterpret_cast<const kj::byte*>(payload.data()), payload.size()));
  return flatten(builder);
}

Result<Inbound> decode_envelope(std::string_view bytes) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return invalid("message: length " + std::to_string(bytes.size()) + " is not a whole number of words");
  }
  if (bytes.size() > kMaxMessageBytes) return invalid("message: too large");
  // FlatArrayMessageReader needs word alignment; copy only when the bytes are not aligned.
  const size_t nwords = bytes.size() / sizeof(capnp::word);
  std::vector<capnp::word> copy;
  const capnp::word* base = reinterpret_cast<const capnp::word*>(bytes.data());
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(capnp::word) != 0) {
    copy = std::vector<capnp::word>(nwords);  // not resize(): see encode()
    std::memcpy(copy.data(), bytes.data(), bytes.size());
    base = copy.data();
  }
  try {
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = nwords * 2 + 1024;
    capnp::FlatArrayMessageReader reader(kj::ArrayPtr<const capnp::word>(base, nwords), opts);
    auto env = reader.getRoot<Envelope>();
    Inbound in;
    if (env.isCluster()) {
      auto d = env.getCluster();
      in.is_cluster = true;
      in.cluster.assign(reinterpret_cast<const char*>(d.begin()), d.size());
      return in;
    }
    auto r = env.getRaft();
    raft::Message& m = in.raft;
    const auto type = static_cast<uint16_t>(r.getType());
    if (type >= raft::kMessageTypeCount) return invalid("raft message: unknown type " + std::to_string(type));
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
      if (et >= raft::kEntryTypeCount) return invalid("raft entry: unknown type");
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
    m.transfer = r.getTransfer();
    m.from_incarnation = r.getFromIncarnation();
    m.round = r.getRound();
    if (r.hasSnapshot()) {
      auto sm = r.getSnapshot();
      m.snapshot.index = LogIndex(sm.getIndex());
      m.snapshot.term = Term(sm.getTerm());
      m.snapshot.size = sm.getSize();
      m.snapshot.crc = sm.getCrc();
      std::vector<raft::Member> members;
      for (auto wm : sm.getMembers()) {
        if (wm.getId() == 0) return invalid("snapshot: member without id");
        if (wm.getVoter() && wm.getStaged()) return invalid("snapshot: member both voter and staged");
        members.push_back(
            raft::Member{NodeId(wm.getId()), wm.getAddress().cStr(), wm.getVoter(), wm.getStaged(), wm.getIncarnation(),
                         wm.getName().cStr()});
      }
      // The follower writes this membership into its snapshot file and reads it back with
      // Membership::decode at every start: accept only what that accepts (distinct ids, at most
      // kMaxMembers), or a restart would find the snapshot "corrupt" and skip it.
      if (members.size() > raft::kMaxMembers) return invalid("snapshot: too many members");
      m.snapshot.membership = raft::Membership(std::move(members));
      const auto& sorted = m.snapshot.membership.members();
      for (size_t k = 1; k < sorted.size(); ++k) {
        if (sorted[k].id == sorted[k - 1].id) {
          return invalid("snapshot: member " + std::to_string(sorted[k].id.v) + " listed twice");
        }
      }
    }
    m.offset = r.getOffset();
    m.chunk_len = r.getChunkLen();
    auto chunk = r.getChunk();
    m.chunk.assign(reinterpret_cast<const char*>(chunk.begin()), chunk.size());
    if (!m.from.valid()) return invalid("raft message: no sender");
    return in;
  } catch (const kj::Exception& e) {
    return invalid(std::string("message: ") + e.getDescription().cStr());
  }
}

Result<raft::Message> decode(std::string_view bytes) {
  auto in = decode_envelope(bytes);
  if (!in) return in.error();
  if (in->is_cluster) return invalid("not a raft message");
  return std::move(in->raft);
}

}  // namespace rq::wire
