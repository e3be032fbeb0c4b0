#include "core/wire/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/wire/raft.capnp.h"

namespace rq::wire {
namespace {

using raft::Entry;

std::string all_byte_values() {
  std::string s;
  for (int b = 0; b < 256; ++b) s.push_back(static_cast<char>(b));
  return s;
}

raft::Message sample(raft::MessageType type) {
  raft::Message m;
  m.type = type;
  m.from = NodeId(1);
  m.to = NodeId(std::numeric_limits<uint64_t>::max());
  m.term = Term(5);
  m.log_term = Term(3);
  m.index = LogIndex(10);
  m.commit = LogIndex(9);
  m.reject = true;
  m.reject_hint = LogIndex(7);
  m.entries = {
      Entry{Term(3), LogIndex(11), raft::EntryType::kNormal, ""},
      Entry{Term(4), LogIndex(12), raft::EntryType::kNoop, std::string("a\0b\0", 4)},
      Entry{Term(5), LogIndex(13), raft::EntryType::kNormal, all_byte_values()},
  };
  return m;
}

// What decode promises about anything it accepts.
bool well_formed(const raft::Message& m) {
  if (!m.from.valid() || static_cast<uint8_t>(m.type) >= raft::kMessageTypeCount) return false;
  for (size_t k = 0; k < m.entries.size(); ++k) {
    const Entry& e = m.entries[k];
    if (e.index != m.index + (k + 1)) return false;
    if (e.term > m.term || e.term < (k == 0 ? m.log_term : m.entries[k - 1].term)) return false;
    if (static_cast<uint8_t>(e.type) >= raft::kEntryTypeCount) return false;
  }
  return true;
}

std::string flat(capnp::MessageBuilder& builder) {
  auto words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

void expect_invalid(std::string_view bytes) {
  auto r = decode(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_FALSE(r.error().message.empty());
}

TEST(Codec, RoundTrip_EveryMessageType) {
  for (uint8_t t = 0; t < raft::kMessageTypeCount; ++t) {
    const raft::Message m = sample(static_cast<raft::MessageType>(t));
    SCOPED_TRACE(raft::to_string(m.type));
    auto r = decode(encode(m));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, m);
  }
}

TEST(Codec, RoundTrip_NoEntriesAndDefaults) {
  raft::Message m;
  m.type = raft::MessageType::kHeartbeat;
  m.from = NodeId(2);
  auto r = decode(encode(m));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, m);
}

TEST(Codec, RoundTrip_ManyAndLargeEntries) {
  raft::Message m;
  m.from = NodeId(3);
  m.term = Term(9);
  m.log_term = Term(1);
  m.index = LogIndex(1000);
  for (uint64_t k = 1; k <= 5000; ++k)
    m.entries.push_back(Entry{Term(1 + k / 1000), m.index + k, raft::EntryType::kNormal, "x"});
  m.entries.back().data = std::string(1 << 20, '\0');
  auto r = decode(encode(m));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, m);
}

TEST(Codec, Decode_UnalignedInput_SameMessage) {
  const raft::Message m = sample(raft::MessageType::kApp);
  const std::string encoded = encode(m);
  for (size_t shift = 1; shift < 8; ++shift) {
    SCOPED_TRACE(shift);
    const std::string buf = std::string(shift, '#') + encoded;
    const std::string_view view = std::string_view(buf).substr(shift);
    ASSERT_NE(reinterpret_cast<uintptr_t>(view.data()) % alignof(capnp::word), 0u);
    auto r = decode(view);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, m);
  }
}

// encode() writes one segment, but a peer's encoder may split a message across several.
TEST(Codec, Decode_MultiSegmentMessage_IsAccepted) {
  capnp::MallocMessageBuilder builder(8, capnp::AllocationStrategy::FIXED_SIZE);
  auto w = builder.initRoot<Envelope>().initRaft();
  w.setType(MessageType::APP);
  w.setFrom(4);
  w.setTerm(2);
  w.setIndex(5);
  auto ents = w.initEntries(3);
  for (unsigned k = 0; k < 3; ++k) {
    ents[k].setIndex(6 + k);
    ents[k].setTerm(2);
    ents[k].setData(capnp::Data::Reader(reinterpret_cast<const kj::byte*>("payload"), 7));
  }
  ASSERT_GT(builder.getSegmentsForOutput().size(), 1u);
  auto r = decode(flat(builder));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->entries.size(), 3u);
  EXPECT_EQ(r->from, NodeId(4));
  EXPECT_EQ(r->entries[2].index, LogIndex(8));
  EXPECT_EQ(r->entries[2].data, "payload");
}

TEST(Codec, Encode_MatchesCapnpStandardFraming) {
  for (size_t entries : {0, 1, 40}) {
    raft::Message m = sample(raft::MessageType::kApp);
    m.entries.clear();
    for (size_t k = 0; k < entries; ++k) {
      m.entries.push_back(
          Entry{Term(4), m.index + (k + 1), raft::EntryType::kNormal, std::string(k * 9, 'd')});
    }
    const std::string bytes = encode(m);
    ASSERT_EQ(bytes.size() % 8, 0u);
    std::vector<capnp::word> words(bytes.size() / 8);
    std::memcpy(words.data(), bytes.data(), bytes.size());
    capnp::FlatArrayMessageReader reader(
        kj::ArrayPtr<const capnp::word>(words.data(), words.size()));
    EXPECT_EQ(reader.getEnd(), words.data() + words.size()) << "trailing bytes after the message";
    EXPECT_EQ(reader.getRoot<Envelope>().getRaft().getEntries().size(), entries);
  }
}

// Cluster-layer payloads share the envelope: they come back as bytes, and are not Raft messages.
TEST(Codec, ClusterPayload_RoundTripsAndIsNotRaft) {
  for (const std::string& payload : {std::string(), std::string("x"), std::string(1000, '\x7f')}) {
    const std::string bytes = encode_cluster(payload);
    auto in = decode_envelope(bytes);
    ASSERT_TRUE(in.ok()) << in.error().message;
    EXPECT_TRUE(in->is_cluster);
    EXPECT_EQ(in->cluster, payload);
    EXPECT_FALSE(decode(bytes).ok());
  }
  auto in = decode_envelope(encode(sample(raft::MessageType::kVote)));
  ASSERT_TRUE(in.ok());
  EXPECT_FALSE(in->is_cluster);
  EXPECT_EQ(in->raft, sample(raft::MessageType::kVote));
}

rc::Gen<raft::Message> valid_message() {
  return rc::gen::exec([] {
    raft::Message m;
    m.type = static_cast<raft::MessageType>(*rc::gen::inRange<int>(0, raft::kMessageTypeCount));
    m.from = NodeId(*rc::gen::inRange<uint64_t>(1, std::numeric_limits<uint64_t>::max()));
    m.to = NodeId(*rc::gen::arbitrary<uint64_t>());
    m.term = Term(*rc::gen::inRange<uint64_t>(0, 1'000'000));
    m.log_term = Term(*rc::gen::inRange<uint64_t>(0, m.term.v + 1));
    m.index = LogIndex(*rc::gen::inRange<uint64_t>(0, uint64_t{1} << 62));
    m.commit = LogIndex(*rc::gen::arbitrary<uint64_t>());
    m.reject = *rc::gen::arbitrary<bool>();
    m.reject_hint = LogIndex(*rc::gen::arbitrary<uint64_t>());
    const int n = *rc::gen::inRange(0, 6);
    Term prev = m.log_term;
    for (int k = 0; k < n; ++k) {
      Entry e;
      e.term = Term(*rc::gen::inRange<uint64_t>(prev.v, m.term.v + 1));
      e.index = m.index + static_cast<uint64_t>(k + 1);
      e.type = *rc::gen::element(raft::EntryType::kNormal, raft::EntryType::kNoop);
      e.data = *rc::gen::arbitrary<std::string>();
      prev = e.term;
      m.entries.push_back(std::move(e));
    }
    return m;
  });
}

RC_GTEST_PROP(Codec, RoundTrip_AnyValidMessage, ()) {
  const raft::Message m = *valid_message();
  auto r = decode(encode(m));
  RC_ASSERT(r.ok());
  RC_ASSERT(*r == m);
}

RC_GTEST_PROP(Codec, DecodeArbitraryBytes_ErrorOrWellFormed, (const std::string& bytes)) {
  auto r = decode(bytes);
  if (bytes.empty() || bytes.size() % 8 != 0) RC_ASSERT(!r.ok());
  if (r.ok()) RC_ASSERT(well_formed(*r));
}

RC_GTEST_PROP(Codec, DecodeArbitraryWords_ErrorOrWellFormed, (const std::vector<uint64_t>& words)) {
  std::string bytes(words.size() * 8, '\0');
  if (!words.empty()) std::memcpy(bytes.data(), words.data(), bytes.size());
  auto r = decode(bytes);
  if (r.ok()) RC_ASSERT(well_formed(*r));
}

// Garbage that starts from a real message gets much further into the parser than random bytes.
RC_GTEST_PROP(Codec, DecodeMutatedMessage_ErrorOrWellFormed, ()) {
  std::string bytes = encode(*valid_message());
  const int flips = *rc::gen::inRange(1, 8);
  for (int k = 0; k < flips; ++k) {
    const size_t at = *rc::gen::inRange<size_t>(0, bytes.size());
    bytes[at] = static_cast<char>(*rc::gen::arbitrary<uint8_t>());
  }
  auto r = decode(bytes);
  if (r.ok()) RC_ASSERT(well_formed(*r));
}

TEST(Codec, Truncated_EveryWordPrefixIsRejected) {
  const std::string full = encode(sample(raft::MessageType::kApp));
  ASSERT_EQ(full.size() % 8, 0u);
  for (size_t len = 0; len < full.size(); len += 8) {
    SCOPED_TRACE(len);
    expect_invalid(std::string_view(full).substr(0, len));
  }
}

TEST(Codec, LengthNotWholeWords_IsRejected) {
  const std::string full = encode(sample(raft::MessageType::kApp));
  for (size_t cut = 1; cut < 8; ++cut) {
    SCOPED_TRACE(cut);
    expect_invalid(std::string_view(full).substr(0, full.size() - cut));
    expect_invalid(full + std::string(cut, '\0'));
  }
}

TEST(Codec, Empty_IsRejected) {
  expect_invalid("");
}

TEST(Codec, TooLarge_IsRejected) {
  expect_invalid(std::string(kMaxMessageBytes + 8, '\0'));
}

TEST(Codec, NoSender_IsRejected) {
  raft::Message m = sample(raft::MessageType::kVote);
  m.from = kNoNode;
  expect_invalid(encode(m));
}

TEST(Codec, EntryIndexesOutOfSequence_AreRejected) {
  raft::Message skip = sample(raft::MessageType::kApp);
  skip.entries[1].index = LogIndex(14);
  skip.entries[2].index = LogIndex(15);
  expect_invalid(encode(skip));

  raft::Message first_not_after_prev = sample(raft::MessageType::kApp);
  first_not_after_prev.index = LogIndex(11);
  expect_invalid(encode(first_not_after_prev));

  raft::Message repeated = sample(raft::MessageType::kApp);
  repeated.entries[2].index = LogIndex(12);
  expect_invalid(encode(repeated));
}

TEST(Codec, EntryTermsOutOfOrder_AreRejected) {
  raft::Message decreasing = sample(raft::MessageType::kApp);
  decreasing.entries[2].term = Term(3);
  expect_invalid(encode(decreasing));

  raft::Message above_message_term = sample(raft::MessageType::kApp);
  above_message_term.entries[2].term = Term(6);
  expect_invalid(encode(above_message_term));

  raft::Message below_log_term = sample(raft::MessageType::kApp);
  below_log_term.entries[0].term = Term(2);
  expect_invalid(encode(below_log_term));
}

TEST(Codec, UnknownMessageType_IsRejected) {
  for (uint16_t type : {uint16_t{raft::kMessageTypeCount}, uint16_t{99}, uint16_t{65535}}) {
    SCOPED_TRACE(type);
    capnp::MallocMessageBuilder builder;
    auto w = builder.initRoot<Message>();
    w.setType(static_cast<MessageType>(type));
    w.setFrom(1);
    expect_invalid(flat(builder));
  }
}

TEST(Codec, UnknownEntryType_IsRejected) {
  capnp::MallocMessageBuilder builder;
  auto w = builder.initRoot<Message>();
  w.setType(MessageType::APP);
  w.setFrom(1);
  w.setTerm(1);
  auto ents = w.initEntries(1);
  ents[0].setIndex(1);
  ents[0].setTerm(1);
  ents[0].setType(static_cast<wire::EntryType>(raft::kEntryTypeCount));
  expect_invalid(flat(builder));
}

// Found by tests/fuzz/fuzz_raft_message: a snapshot message whose membership named one id twice
// was accepted, though the follower could never read that membership back from its snapshot
// file (Membership::decode refuses it, so the snapshot would be skipped as corrupt at restart).
TEST(Codec, SnapshotMembershipNotStorable_IsRejected) {
  raft::Message m = sample(raft::MessageType::kSnap);
  m.entries.clear();
  m.snapshot.index = LogIndex(100);
  m.snapshot.term = Term(4);
  m.snapshot.membership = raft::Membership({raft::Member{NodeId(1), "a:1", true, false, 0},
                                            raft::Member{NodeId(2), "b:1", true, false, 0},
                                            raft::Member{NodeId(1), "c:1", false, false, 0}});
  expect_invalid(encode(m));

  std::vector<raft::Member> many;
  for (uint64_t id = 1; id <= raft::kMaxMembers + 1; ++id)
    many.push_back(raft::Member{NodeId(id), "", true, false, 0});
  m.snapshot.membership = raft::Membership(many);
  expect_invalid(encode(m));
  many.pop_back();
  m.snapshot.membership = raft::Membership(many);
  auto ok = decode(encode(m));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->snapshot.membership, m.snapshot.membership);
}

// An inline-composite list of zero-sized structs may claim a huge count while costing no bytes;
// decoding must refuse it rather than try to reserve room for every element.
TEST(Codec, AmplifiedEntryList_IsRejected) {
  raft::Message m = sample(raft::MessageType::kApp);
  m.entries.resize(1);
  std::string bytes = encode(m);
  // Tag word of the entries list: 1 element of 3 data words and 1 pointer.
  const uint64_t tag = (uint64_t{1} << 48) | (uint64_t{3} << 32) | (uint64_t{1} << 2);
  bool patched = false;
  for (size_t at = 0; at + 8 <= bytes.size(); at += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + at, 8);
    if (word != tag) continue;
    const uint64_t huge = uint64_t{(1u << 29) - 1} << 2;
    std::memcpy(bytes.data() + at, &huge, 8);
    patched = true;
    break;
  }
  ASSERT_TRUE(patched);
  expect_invalid(bytes);
}

}  // namespace
}  // namespace rq::wire
