// What a peer sends on the Raft port, after the transport's length framing: an Envelope
// (core/wire/codec.h decode_envelope), a Raft message or a cluster message's bytes. A Raft
// message that decodes is what the Raft core acts on, so it must also be something this node can
// keep: the config entries it carries and the snapshot membership it names are decoded the way
// the log and the snapshot store will read them back.
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/raft/membership.h"
#include "core/wire/codec.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// The same bytes at an address that is not word-aligned (a frame inside a receive buffer).
rq::Result<rq::wire::Inbound> decode_unaligned(std::string_view bytes) {
  std::vector<char> buf(bytes.size() + 1);
  if (!bytes.empty()) std::memcpy(buf.data() + 1, bytes.data(), bytes.size());
  return rq::wire::decode_envelope(std::string_view(buf.data() + 1, bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rq;
  const std::string_view bytes = fuzz::text_of(data, size);
  auto in = wire::decode_envelope(bytes);
  auto other = decode_unaligned(bytes);
  RQ_ASSERT_EQ(in.ok(), other.ok());
  if (!in.ok()) return 0;
  RQ_ASSERT_EQ(in->is_cluster, other->is_cluster);
  if (in->is_cluster) {
    RQ_ASSERT(in->cluster == other->cluster);
    RQ_ASSERT(wire::decode_envelope(wire::encode_cluster(in->cluster))->cluster == in->cluster);
    return 0;
  }
  const raft::Message& m = in->raft;
  RQ_ASSERT(m == other->raft);
  // Encoding is canonical: what decodes, re-encodes to bytes that decode to the same encoding.
  const std::string once = wire::encode(m);
  auto again = wire::decode(once);
  RQ_ASSERT(again.ok());
  RQ_ASSERT(wire::encode(*again) == once);
  for (const raft::Entry& e : m.entries) {
    if (e.type == raft::EntryType::kConfig) (void)raft::ConfChange::decode(e.data);
  }
  // The snapshot store writes this membership into the snapshot's trailer and reads it back with
  // Membership::decode on every start.
  const raft::Membership& members = m.snapshot.membership;
  auto stored = raft::Membership::decode(members.encode());
  if (!stored.ok())
    std::fprintf(stderr, "snapshot membership: %s\n", stored.error().message.c_str());
  RQ_ASSERT(stored.ok());
  RQ_ASSERT(*stored == members);
  return 0;
}
