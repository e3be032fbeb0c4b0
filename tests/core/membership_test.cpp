#include "core/raft/membership.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace rq {
static void PrintTo(const NodeId& id, std::ostream* os) {
  *os << "node " << id.v;
}
}  // namespace rq

namespace rq::raft {
static void PrintTo(const Member& m, std::ostream* os) {
  *os << "{id " << m.id.v << " '" << m.address << "' voter=" << m.voter << " staged=" << m.staged
      << " inc=" << m.incarnation << "}";
}
static void PrintTo(const Membership& ms, std::ostream* os) {
  *os << "[";
  for (const Member& m : ms.members()) PrintTo(m, os);
  *os << "]";
}

namespace {

Member voter(uint64_t id, std::string address, uint64_t incarnation = 0) {
  return Member{NodeId(id), std::move(address), true, false, incarnation};
}
Member learner(uint64_t id, std::string address, uint64_t incarnation = 0) {
  return Member{NodeId(id), std::move(address), false, false, incarnation};
}
Member staged(uint64_t id, std::string address, uint64_t incarnation = 0) {
  return Member{NodeId(id), std::move(address), false, true, incarnation};
}

ConfChange change(ConfChangeType type, uint64_t id, std::string address = {},
                  uint64_t incarnation = 0) {
  return ConfChange{type, NodeId(id), std::move(address), incarnation};
}

std::vector<NodeId> ids(std::initializer_list<uint64_t> vs) {
  std::vector<NodeId> out;
  for (uint64_t v : vs) out.push_back(NodeId(v));
  return out;
}

void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// One member in the wire layout, written by hand so invalid combinations can be produced.
std::string raw_member(uint64_t id, uint64_t flags, uint64_t incarnation,
                       const std::string& address) {
  std::string s;
  put_u64(s, id);
  put_u64(s, flags);
  put_u64(s, incarnation);
  put_u64(s, address.size());
  s += address;
  return s;
}

std::string raw_membership(uint64_t count, const std::string& members) {
  std::string s;
  put_u64(s, count);
  return s + members;
}

void expect_invalid(const Result<Membership>& r) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid) << r.error().message;
}

Membership apply_ok(const Membership& m, const ConfChange& cc) {
  auto r = apply_change(m, cc);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : m;
}

rc::Gen<Member> gen_member() {
  return rc::gen::apply(
      [](uint64_t id, std::string address, int kind, uint64_t incarnation) {
        return Member{NodeId(id), std::move(address), kind == 0, kind == 2, incarnation};
      },
      rc::gen::inRange<uint64_t>(1, 12),
      rc::gen::container<std::string>(rc::gen::inRange('a', 'e')), rc::gen::inRange(0, 3),
      rc::gen::element(uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{0xdeadbeefcafef00d}));
}

// Members with distinct ids, in arbitrary order.
rc::Gen<std::vector<Member>> gen_members() {
  return rc::gen::map(rc::gen::container<std::vector<Member>>(gen_member()),
                      [](std::vector<Member> ms) {
                        std::vector<Member> out;
                        std::set<uint64_t> seen;
                        for (Member& m : ms) {
                          if (seen.insert(m.id.v).second) out.push_back(std::move(m));
                        }
                        return out;
                      });
}

// --- encode / decode ---

TEST(Membership, Constructor_SortsMembersById) {
  const Membership m({voter(7, "g"), learner(2, "b"), staged(5, "e")});
  ASSERT_EQ(m.members().size(), 3u);
  EXPECT_EQ(m.members()[0].id, NodeId(2));
  EXPECT_EQ(m.members()[1].id, NodeId(5));
  EXPECT_EQ(m.members()[2].id, NodeId(7));
  EXPECT_EQ(m.voters(), ids({7}));
  EXPECT_EQ(m.learners(), ids({2, 5}));
}

TEST(Membership, EncodeDecode_RoundTripsEveryField) {
  const Membership m({voter(9, "10.0.0.9:4002", 0xfeedfacecafebeefull), learner(3, "", 0),
                      staged(4, std::string("a\0b", 3), 42), voter(1, "h1:1", 1)});
  auto d = Membership::decode(m.encode());
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(*d, m);
  ASSERT_EQ(d->members().size(), 4u);
  EXPECT_EQ(d->members()[0], voter(1, "h1:1", 1));
  EXPECT_EQ(d->members()[1], learner(3, "", 0));
  EXPECT_EQ(d->members()[2], staged(4, std::string("a\0b", 3), 42));
  EXPECT_EQ(d->members()[3], voter(9, "10.0.0.9:4002", 0xfeedfacecafebeefull));
}

TEST(Membership, EncodeDecode_Empty) {
  auto d = Membership::decode(Membership().encode());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->empty());
}

RC_GTEST_PROP(Membership, EncodeDecode_RoundTrip, ()) {
  const Membership m(*gen_members());
  auto d = Membership::decode(m.encode());
  RC_ASSERT(d.ok());
  RC_ASSERT(*d == m);
  RC_ASSERT(std::is_sorted(d->members().begin(), d->members().end(),
                           [](const Member& a, const Member& b) { return a.id < b.id; }));
  RC_ASSERT(d->encode() == m.encode());
}

TEST(Membership, Decode_EveryProperPrefix_IsInvalid) {
  const std::string bytes = Membership({voter(1, "a:1", 5), learner(2, "b:2")}).encode();
  for (size_t n = 0; n < bytes.size(); ++n) {
    SCOPED_TRACE(n);
    expect_invalid(Membership::decode(bytes.substr(0, n)));
  }
}

TEST(Membership, Decode_TrailingBytes_IsInvalid) {
  expect_invalid(Membership::decode(Membership({voter(1, "a")}).encode() + "x"));
}

TEST(Membership, Decode_HugeCount_IsInvalid) {
  expect_invalid(Membership::decode(raw_membership(1025, raw_member(1, 1, 0, "a"))));
  expect_invalid(Membership::decode(raw_membership(~uint64_t{0}, "")));
}

TEST(Membership, Decode_AddressLengthBeyondInput_IsInvalid) {
  std::string bytes = raw_membership(1, raw_member(1, 1, 0, "abc"));
  bytes[8 + 3 * 8 + 7] = static_cast<char>(0x80);  // the address length's top byte
  expect_invalid(Membership::decode(bytes));
}

TEST(Membership, Decode_NodeIdZero_IsInvalid) {
  expect_invalid(Membership::decode(raw_membership(1, raw_member(0, 1, 0, "a"))));
}

TEST(Membership, Decode_UnknownFlags_IsInvalid) {
  expect_invalid(Membership::decode(raw_membership(1, raw_member(1, 4, 0, "a"))));
  expect_invalid(Membership::decode(raw_membership(1, raw_member(1, ~uint64_t{0}, 0, "a"))));
}

TEST(Membership, Decode_StagedAndVoterBothSet_IsInvalid) {
  ASSERT_TRUE(Membership::decode(raw_membership(1, raw_member(1, 2, 0, "a"))).ok());
  expect_invalid(Membership::decode(raw_membership(1, raw_member(1, 3, 0, "a"))));
  expect_invalid(Membership::decode(Membership({Member{NodeId(1), "a", true, true, 0}}).encode()));
}

TEST(Membership, Decode_DuplicateIds_IsInvalid) {
  expect_invalid(
      Membership::decode(raw_membership(2, raw_member(3, 1, 0, "a") + raw_member(3, 0, 0, "b"))));
  expect_invalid(Membership::decode(raw_membership(
      3, raw_member(4, 1, 0, "a") + raw_member(2, 1, 0, "b") + raw_member(4, 1, 0, "c"))));
}

// What any successful decode must satisfy: ids valid, sorted and unique, no member both staged
// and a voter, and a stable re-encoding.
void check_decoded(const Membership& d) {
  for (size_t k = 0; k < d.members().size(); ++k) {
    const Member& m = d.members()[k];
    RC_ASSERT(m.id.valid());
    RC_ASSERT(!(m.voter && m.staged));
    if (k > 0) RC_ASSERT(d.members()[k - 1].id < m.id);
  }
  auto again = Membership::decode(d.encode());
  RC_ASSERT(again.ok());
  RC_ASSERT(*again == d);
}

// Member records written by hand: small ids (so duplicates and any order occur), every flag value
// up to 4, and a count that may not match.
std::string gen_raw_members() {
  const auto count = *rc::gen::inRange<uint64_t>(0, 4);
  std::string members;
  const auto records = *rc::gen::inRange<uint64_t>(0, 4);
  for (uint64_t k = 0; k < records; ++k) {
    members += raw_member(*rc::gen::inRange<uint64_t>(0, 3), *rc::gen::inRange<uint64_t>(0, 5),
                          *rc::gen::arbitrary<uint64_t>(),
                          *rc::gen::container<std::string>(rc::gen::inRange('a', 'c')));
  }
  return raw_membership(count, members);
}

// A valid encoding, mutated: one byte changed, a range cut out, or bytes inserted.
std::string gen_mutated_encoding() {
  std::string bytes = Membership(*gen_members()).encode();
  const auto kind = *rc::gen::inRange(0, 3);
  const auto at = *rc::gen::inRange<size_t>(0, bytes.size() + 1);
  if (kind == 0 && at < bytes.size()) {
    bytes[at] = static_cast<char>(*rc::gen::arbitrary<uint8_t>());
  } else if (kind == 1) {
    bytes.erase(at, *rc::gen::inRange<size_t>(1, 9));
  } else {
    bytes.insert(at, *rc::gen::nonEmpty<std::string>());
  }
  return bytes;
}

RC_GTEST_PROP(Membership, Decode_ArbitraryBytes_FailsOrReencodesIdentically,
              (const std::string& bytes)) {
  auto d = Membership::decode(bytes);
  if (!d.ok()) return;
  check_decoded(*d);
  RC_ASSERT(d->encode() == bytes);
}

RC_GTEST_PROP(Membership, Decode_HandWrittenMemberRecords_NeverYieldsAnInvalidMembership, ()) {
  auto d = Membership::decode(gen_raw_members());
  if (d.ok()) check_decoded(*d);
}

RC_GTEST_PROP(Membership, Decode_MutatedEncoding_NeverYieldsAnInvalidMembership, ()) {
  auto d = Membership::decode(gen_mutated_encoding());
  if (d.ok()) check_decoded(*d);
}

// Members out of id order are not an encoding of ours: decode refuses them.
RC_GTEST_PROP(Membership, Decode_MutatedEncoding_FailsOrReencodesIdentically, ()) {
  const std::string bytes = gen_mutated_encoding();
  auto d = Membership::decode(bytes);
  if (d.ok()) RC_ASSERT(d->encode() == bytes);
}

// Every byte string decodes to at most one membership: decode fails or re-encodes identically.
TEST(Membership, Decode_MembersOutOfIdOrder_FailsOrReencodesIdentically) {
  const std::string unsorted =
      raw_membership(2, raw_member(2, 1, 0, "b") + raw_member(1, 1, 0, "a"));
  auto d = Membership::decode(unsorted);
  EXPECT_TRUE(!d.ok() || d->encode() == unsorted);
}

// --- queries ---

TEST(Membership, Find_And_Contains) {
  const Membership m({voter(1, "a"), learner(3, "c")});
  ASSERT_NE(m.find(NodeId(3)), nullptr);
  EXPECT_EQ(*m.find(NodeId(3)), learner(3, "c"));
  EXPECT_EQ(m.find(NodeId(2)), nullptr);
  EXPECT_TRUE(m.contains(NodeId(1)));
  EXPECT_FALSE(m.contains(NodeId(4)));
  EXPECT_FALSE(Membership().contains(NodeId(1)));
}

TEST(Membership, IsVoter_OnlyForVoters) {
  const Membership m({voter(1, "a"), learner(2, "b"), staged(3, "c")});
  EXPECT_TRUE(m.is_voter(NodeId(1)));
  EXPECT_FALSE(m.is_voter(NodeId(2)));
  EXPECT_FALSE(m.is_voter(NodeId(3)));
  EXPECT_FALSE(m.is_voter(NodeId(4)));
}

TEST(Membership, IsSelf_IncarnationZeroMatchesAnything) {
  const Membership m({voter(1, "a", 0), voter(2, "b", 77), learner(3, "c", 5)});
  EXPECT_TRUE(m.is_self(NodeId(1), 0));
  EXPECT_TRUE(m.is_self(NodeId(1), 123));
  EXPECT_TRUE(m.is_self(NodeId(2), 0));
  EXPECT_TRUE(m.is_self(NodeId(2), 77));
  EXPECT_TRUE(m.is_self(NodeId(3), 5));
}

TEST(Membership, IsSelf_DifferentIncarnation_IsNotSelf) {
  const Membership m({voter(2, "b", 77), learner(3, "c", 5)});
  EXPECT_FALSE(m.is_self(NodeId(2), 78));
  EXPECT_FALSE(m.is_self(NodeId(3), 77));
}

TEST(Membership, IsSelf_NonMember_IsNotSelf) {
  const Membership m({voter(2, "b", 77)});
  EXPECT_FALSE(m.is_self(NodeId(1), 0));
  EXPECT_FALSE(m.is_self(NodeId(1), 77));
}

// --- ConfChange codec ---

TEST(ConfChange, EncodeDecode_RoundTrip) {
  for (ConfChangeType t : {ConfChangeType::kAddVoter, ConfChangeType::kAddLearner,
                           ConfChangeType::kRemove, ConfChangeType::kPromoteStaged}) {
    const ConfChange cc = change(t, 0x1234567890ull, "host:99", 0xabcdefull);
    auto d = ConfChange::decode(cc.encode());
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(*d, cc);
  }
}

TEST(ConfChange, Decode_Malformed_IsInvalid) {
  const std::string good = change(ConfChangeType::kAddLearner, 2, "x").encode();
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_FALSE(ConfChange::decode(good.substr(0, n)).ok()) << n;
  EXPECT_FALSE(ConfChange::decode(good + "!").ok());
  EXPECT_FALSE(ConfChange::decode(change(ConfChangeType::kAddLearner, 0, "x").encode()).ok());
  std::string bad_type = good;
  bad_type[0] = 4;
  EXPECT_FALSE(ConfChange::decode(bad_type).ok());
}

// --- apply_change ---

TEST(Membership, AddVoter_NewNode_IsStagedNonVoter) {
  const Membership m({voter(1, "a")});
  const Membership out = apply_ok(m, change(ConfChangeType::kAddVoter, 2, "b", 9));
  ASSERT_NE(out.find(NodeId(2)), nullptr);
  EXPECT_EQ(*out.find(NodeId(2)), staged(2, "b", 9));
  EXPECT_EQ(out.voters(), ids({1}));
  EXPECT_EQ(out.learners(), ids({2}));
}

TEST(Membership, AddVoter_ExistingLearner_StagesIt) {
  const Membership m({voter(1, "a"), learner(2, "b", 4)});
  const Membership out = apply_ok(m, change(ConfChangeType::kAddVoter, 2, "b", 4));
  EXPECT_EQ(*out.find(NodeId(2)), staged(2, "b", 4));
  EXPECT_FALSE(out.is_voter(NodeId(2)));
}

TEST(Membership, AddVoter_ExistingLearnerAtNewAddress_StagesAndReaddresses) {
  const Membership m({voter(1, "a"), learner(2, "b")});
  const Membership out = apply_ok(m, change(ConfChangeType::kAddVoter, 2, "b2"));
  EXPECT_EQ(*out.find(NodeId(2)), staged(2, "b2"));
}

TEST(Membership, AddVoter_StagedMemberAgain_IsInvalid) {
  const Membership m({voter(1, "a"), staged(2, "b")});
  expect_invalid(apply_change(m, change(ConfChangeType::kAddVoter, 2, "b")));
}

TEST(Membership, AddVoter_ExistingVoterSameAddress_IsInvalid) {
  const Membership m({voter(1, "a"), voter(2, "b")});
  expect_invalid(apply_change(m, change(ConfChangeType::kAddVoter, 2, "b")));
}

TEST(Membership, AddVoter_ExistingVoterNewAddress_Readdresses) {
  const Membership m({voter(1, "a", 3), voter(2, "b")});
  const Membership out = apply_ok(m, change(ConfChangeType::kAddVoter, 1, "a2", 3));
  EXPECT_EQ(*out.find(NodeId(1)), voter(1, "a2", 3));
  EXPECT_EQ(*out.find(NodeId(2)), voter(2, "b"));
  EXPECT_EQ(out.voters(), ids({1, 2}));
}

TEST(Membership, AddLearner_NewNode_IsPlainLearner) {
  const Membership m({voter(1, "a")});
  const Membership out = apply_ok(m, change(ConfChangeType::kAddLearner, 5, "e", 8));
  EXPECT_EQ(*out.find(NodeId(5)), learner(5, "e", 8));
  EXPECT_EQ(out.voters(), ids({1}));
}

TEST(Membership, AddLearner_ExistingLearnerNewAddress_Readdresses) {
  const Membership m({voter(1, "a"), learner(2, "b", 6)});
  const Membership out = apply_ok(m, change(ConfChangeType::kAddLearner, 2, "b2", 6));
  EXPECT_EQ(*out.find(NodeId(2)), learner(2, "b2", 6));
}

TEST(Membership, AddLearner_Repeat_IsInvalid) {
  const Membership m({voter(1, "a"), learner(2, "b")});
  expect_invalid(apply_change(m, change(ConfChangeType::kAddLearner, 2, "b")));
}

TEST(Membership, AddLearner_ExistingVoter_CannotDemote) {
  const Membership m({voter(1, "a"), voter(2, "b")});
  expect_invalid(apply_change(m, change(ConfChangeType::kAddLearner, 2, "b")));
  expect_invalid(apply_change(m, change(ConfChangeType::kAddLearner, 2, "b-new")));
}

TEST(Membership, Add_OtherIncarnationOfMember_IsInvalid) {
  const Membership m({voter(1, "a", 10), learner(2, "b", 20)});
  expect_invalid(apply_change(m, change(ConfChangeType::kAddVoter, 1, "a2", 11)));
  expect_invalid(apply_change(m, change(ConfChangeType::kAddVoter, 2, "b", 21)));
  expect_invalid(apply_change(m, change(ConfChangeType::kAddLearner, 2, "b2", 21)));
}

TEST(Membership, Add_IncarnationZeroOnEitherSide_IsNotAConflict) {
  const Membership m({voter(1, "a", 10), learner(2, "b", 0)});
  EXPECT_EQ(apply_ok(m, change(ConfChangeType::kAddVoter, 1, "a2", 0)).find(NodeId(1))->address,
            "a2");
  EXPECT_EQ(apply_ok(m, change(ConfChangeType::kAddLearner, 2, "b2", 33)).find(NodeId(2))->address,
            "b2");
}

TEST(Membership, PromoteStaged_StagedMember_BecomesVoter) {
  const Membership m({voter(1, "a"), staged(2, "b", 3)});
  const Membership out = apply_ok(m, change(ConfChangeType::kPromoteStaged, 2));
  EXPECT_EQ(*out.find(NodeId(2)), voter(2, "b", 3));
  EXPECT_EQ(out.voters(), ids({1, 2}));
  EXPECT_TRUE(out.learners().empty());
}

TEST(Membership, PromoteStaged_NotStaged_IsInvalid) {
  const Membership m({voter(1, "a"), learner(2, "b")});
  expect_invalid(apply_change(m, change(ConfChangeType::kPromoteStaged, 1)));
  expect_invalid(apply_change(m, change(ConfChangeType::kPromoteStaged, 2)));
  expect_invalid(apply_change(m, change(ConfChangeType::kPromoteStaged, 3)));
}

TEST(Membership, AddVoterThenPromote_MakesAVoter) {
  Membership m({voter(1, "a")});
  m = apply_ok(m, change(ConfChangeType::kAddVoter, 2, "b"));
  EXPECT_FALSE(m.is_voter(NodeId(2)));
  m = apply_ok(m, change(ConfChangeType::kPromoteStaged, 2));
  EXPECT_EQ(*m.find(NodeId(2)), voter(2, "b"));
  expect_invalid(apply_change(m, change(ConfChangeType::kPromoteStaged, 2)));
}

TEST(Membership, Remove_Member_IsGone) {
  const Membership m({voter(1, "a"), voter(2, "b"), learner(3, "c")});
  const Membership no_voter = apply_ok(m, change(ConfChangeType::kRemove, 2));
  EXPECT_FALSE(no_voter.contains(NodeId(2)));
  EXPECT_EQ(no_voter.voters(), ids({1}));
  const Membership no_learner = apply_ok(m, change(ConfChangeType::kRemove, 3));
  EXPECT_FALSE(no_learner.contains(NodeId(3)));
  EXPECT_EQ(no_learner.voters(), ids({1, 2}));
}

TEST(Membership, Remove_Stranger_IsInvalid) {
  expect_invalid(
      apply_change(Membership({voter(1, "a"), voter(2, "b")}), change(ConfChangeType::kRemove, 9)));
}

TEST(Membership, Remove_LastVoter_IsInvalid) {
  expect_invalid(apply_change(Membership({voter(1, "a")}), change(ConfChangeType::kRemove, 1)));
  expect_invalid(apply_change(Membership({voter(1, "a"), learner(2, "b"), staged(3, "c")}),
                              change(ConfChangeType::kRemove, 1)));
}

// Any accepted change alters the membership, keeps a voter, and moves at most one voter.
RC_GTEST_PROP(Membership, ApplyChange_AcceptedChangeIsSingleServer, ()) {
  std::vector<Member> ms = *gen_members();
  ms.push_back(voter(100, "anchor"));
  const Membership m(ms);
  const ConfChange cc = change(
      static_cast<ConfChangeType>(*rc::gen::inRange(0, 4)), *rc::gen::inRange<uint64_t>(1, 14),
      *rc::gen::element(std::string("a"), std::string("b"), std::string("c")),
      *rc::gen::element(uint64_t{0}, uint64_t{1}, uint64_t{2}));
  auto out = apply_change(m, cc);
  if (!out.ok()) {
    RC_ASSERT(out.error().code == ErrorCode::kInvalid);
    return;
  }
  RC_ASSERT(!(*out == m));
  RC_ASSERT(!out->voters().empty());
  RC_ASSERT(voter_difference(m, *out) <= 1u);
  for (const Member& x : out->members()) RC_ASSERT(!(x.voter && x.staged));
  for (const Member& x : m.members()) {
    if (x.id != cc.id) RC_ASSERT(out->find(x.id) != nullptr && *out->find(x.id) == x);
  }
  auto again = Membership::decode(out->encode());
  RC_ASSERT(again.ok());
  RC_ASSERT(*again == *out);
}

// --- voter_difference ---

TEST(Membership, VoterDifference_CountsAddedRemovedAndChangedVoters) {
  const Membership a({voter(1, "a"), voter(2, "b"), learner(3, "c")});
  EXPECT_EQ(voter_difference(a, a), 0u);
  EXPECT_EQ(voter_difference(a, Membership({voter(1, "a"), voter(2, "b"), voter(4, "d")})), 1u);
  EXPECT_EQ(voter_difference(a, Membership({voter(1, "a")})), 1u);
  EXPECT_EQ(voter_difference(a, Membership({voter(1, "a"), learner(2, "b")})), 1u);
  EXPECT_EQ(voter_difference(a, Membership({voter(1, "a"), voter(2, "b"), voter(3, "c")})), 1u);
  EXPECT_EQ(voter_difference(a, Membership({voter(5, "e"), voter(6, "f")})), 4u);
  EXPECT_EQ(voter_difference(Membership(), a), 2u);
}

TEST(Membership, VoterDifference_IgnoresLearnersStagedAndAddresses) {
  const Membership a({voter(1, "a"), learner(3, "c")});
  EXPECT_EQ(voter_difference(a, Membership({voter(1, "a-new"), staged(3, "c"), learner(4, "d")})),
            0u);
}

RC_GTEST_PROP(Membership, VoterDifference_IsSymmetric, ()) {
  const Membership a(*gen_members());
  const Membership b(*gen_members());
  RC_ASSERT(voter_difference(a, b) == voter_difference(b, a));
  RC_ASSERT(voter_difference(a, a) == 0u);
}

// --- decide_join / decide_remove ---

struct Join {
  Result<std::optional<ConfChange>> result = make_error(ErrorCode::kIo, "not run");
  bool already = true;
};

Join join(const Membership& m, uint64_t id, const std::string& address, bool as_voter,
          uint64_t incarnation) {
  Join j;
  j.result = decide_join(m, NodeId(id), address, as_voter, incarnation, &j.already);
  return j;
}

void expect_join_invalid(const Join& j) {
  ASSERT_FALSE(j.result.ok());
  EXPECT_EQ(j.result.error().code, ErrorCode::kInvalid) << j.result.error().message;
}

void expect_join_change(const Join& j, const ConfChange& want) {
  ASSERT_TRUE(j.result.ok()) << j.result.error().message;
  EXPECT_FALSE(j.already);
  ASSERT_TRUE(j.result.value().has_value());
  EXPECT_EQ(*j.result.value(), want);
}

void expect_join_already(const Join& j) {
  ASSERT_TRUE(j.result.ok()) << j.result.error().message;
  EXPECT_TRUE(j.already);
  EXPECT_FALSE(j.result.value().has_value());
}

TEST(DecideJoin, SameIdAddressAndKind_IsAlready) {
  const Membership m({voter(1, "a", 7), learner(2, "b", 8)});
  expect_join_already(join(m, 1, "a", true, 7));
  expect_join_already(join(m, 1, "a", true, 0));
  expect_join_already(join(m, 2, "b", false, 8));
}

TEST(DecideJoin, StagedMemberJoiningAsVoter_IsAlready) {
  expect_join_already(join(Membership({voter(1, "a"), staged(2, "b")}), 2, "b", true, 0));
}

TEST(DecideJoin, NewNode_AddsWithItsKindAndIncarnation) {
  const Membership m({voter(1, "a")});
  expect_join_change(join(m, 2, "b", true, 5), change(ConfChangeType::kAddVoter, 2, "b", 5));
  expect_join_change(join(m, 3, "c", false, 6), change(ConfChangeType::kAddLearner, 3, "c", 6));
}

TEST(DecideJoin, NewAddress_ReplacesEntry) {
  const Membership m({voter(1, "a", 7), learner(2, "b")});
  expect_join_change(join(m, 1, "a2", true, 7), change(ConfChangeType::kAddVoter, 1, "a2", 7));
  expect_join_change(join(m, 2, "b2", false, 0), change(ConfChangeType::kAddLearner, 2, "b2", 0));
}

TEST(DecideJoin, LearnerJoiningAsVoter_AddsVoter) {
  expect_join_change(join(Membership({voter(1, "a"), learner(2, "b")}), 2, "b", true, 0),
                     change(ConfChangeType::kAddVoter, 2, "b", 0));
}

TEST(DecideJoin, VoterRejoiningAsLearner_IsInvalid) {
  const Membership m({voter(1, "a"), voter(2, "b")});
  expect_join_invalid(join(m, 2, "b", false, 0));
  expect_join_invalid(join(m, 2, "b2", false, 0));
}

TEST(DecideJoin, OtherIncarnation_RemovesTheOldSelfFirst) {
  const Membership m({voter(1, "a", 7), voter(2, "b", 8)});
  expect_join_change(join(m, 2, "b", true, 9), change(ConfChangeType::kRemove, 2));
  expect_join_change(join(m, 2, "b-elsewhere", false, 9), change(ConfChangeType::kRemove, 2));
}

// rqlite's join: whoever holds the address now is gone; it is removed first.
TEST(DecideJoin, AddressOfAnotherNode_RemovesThatNodeFirst) {
  const Membership m({voter(1, "a"), learner(2, "b")});
  expect_join_change(join(m, 3, "a", true, 0), change(ConfChangeType::kRemove, 1));
  expect_join_change(join(m, 3, "b", false, 0), change(ConfChangeType::kRemove, 2));
  expect_join_change(join(m, 1, "b", true, 0), change(ConfChangeType::kRemove, 2));
}

TEST(DecideJoin, Name_IsCarriedAndARenameIsAChange) {
  const Membership m({voter(1, "a")});
  Join j;
  j.result = decide_join(m, NodeId(2), "b", true, 0, &j.already, "node-two");
  ASSERT_TRUE(j.result.ok() && j.result.value().has_value());
  EXPECT_EQ(j.result.value()->name, "node-two");
  auto added = apply_change(m, *j.result.value());
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->find(NodeId(2))->name, "node-two");
  // The same join again is already done; a new name for the same id and address renames it.
  j.result = decide_join(*added, NodeId(2), "b", true, 0, &j.already, "node-two");
  EXPECT_TRUE(j.result.ok() && j.already);
  j.result = decide_join(*added, NodeId(2), "b", true, 0, &j.already, "renamed");
  ASSERT_TRUE(j.result.ok() && !j.already && j.result.value().has_value());
  auto renamed = apply_change(*added, *j.result.value());
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(renamed->find(NodeId(2))->name, "renamed");
  EXPECT_EQ(renamed->find(NodeId(2))->address, "b");
}

TEST(Membership, Names_SurviveEncodingAndOldEncodingsHaveNone) {
  Member named{NodeId(1), "a", true, false, 3, "alpha"};
  Member unnamed{NodeId(2), "b", false, false, 0};
  const Membership m({named, unnamed});
  auto back = Membership::decode(m.encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, m);
  EXPECT_EQ(back->find(NodeId(1))->name, "alpha");
  EXPECT_EQ(back->find(NodeId(2))->name, "");
  ConfChange cc{ConfChangeType::kAddVoter, NodeId(4), "d", 9, "delta"};
  auto cb = ConfChange::decode(cc.encode());
  ASSERT_TRUE(cb.ok());
  EXPECT_EQ(*cb, cc);
  // A name flag with an empty name is not an encoding of ours.
  std::string bad = Membership({Member{NodeId(1), "a", true, false, 0, "x"}}).encode();
  bad[bad.size() - 9] = 0;  // the name's length (8 bytes, little-endian) -> 0, then a stray byte
  EXPECT_FALSE(Membership::decode(bad).ok());
}

TEST(DecideJoin, MissingId_IsInvalid) {
  expect_join_invalid(join(Membership({voter(1, "a")}), 0, "z", true, 0));
}

TEST(DecideJoin, ProposedChange_IsAcceptedByApplyChange) {
  const Membership m({voter(1, "a", 7), learner(2, "b")});
  for (const Join& j : {join(m, 3, "c", true, 1), join(m, 1, "a2", true, 7),
                        join(m, 2, "b", true, 0), join(m, 2, "b2", false, 0)}) {
    ASSERT_TRUE(j.result.ok() && j.result.value().has_value());
    EXPECT_TRUE(apply_change(m, *j.result.value()).ok());
  }
}

TEST(DecideRemove, NonMember_IsNullopt) {
  EXPECT_EQ(decide_remove(Membership({voter(1, "a")}), NodeId(2)), std::nullopt);
  EXPECT_EQ(decide_remove(Membership(), NodeId(1)), std::nullopt);
}

TEST(DecideRemove, Member_IsRemoveChange) {
  const Membership m({voter(1, "a"), learner(2, "b", 4)});
  EXPECT_EQ(decide_remove(m, NodeId(2)), change(ConfChangeType::kRemove, 2));
  EXPECT_EQ(decide_remove(m, NodeId(1)), change(ConfChangeType::kRemove, 1));
}

}  // namespace
}  // namespace rq::raft
