#include "core/storage/snapshot_store.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "core/storage/crc32c.h"

namespace rq::storage {

namespace {

constexpr char kMagic[8] = {'R', 'Q', 'S', 'N', 'A', 'P', '0', '1'};
constexpr uint64_t kMaxTrailer = 1 << 20;
constexpr uint64_t kVerifyChunk = 1 << 20;

void put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

bool parse_name(const std::string& n, uint64_t* index) {
  // snap-<16 hex>-<16 hex>.snap
  if (n.size() != 43 || n.compare(0, 5, "snap-") != 0 || n[21] != '-' || n.compare(38, 5, ".snap") != 0) return false;
  uint64_t v = 0;
  for (size_t i = 5; i < 21; ++i) {
    const char c = n[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    v = (v << 4) | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  *index = v;
  return true;
}

Error corrupt(const std::string& name, const std::string& what) {
  return make_error(ErrorCode::kCorrupt, "snapshot " + name + ": " + what);
}

}  // namespace

std::string SnapshotStore::file_name(LogIndex index, Term term) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "snap-%016" PRIx64 "-%016" PRIx64 ".snap", index.v, term.v);
  return buf;
}

std::vector<std::pair<uint64_t, std::string>> SnapshotStore::snapshot_files(
    const std::vector<std::string>& names) const {
  std::vector<std::pair<uint64_t, std::string>> out;
  for (const auto& n : names) {
    uint64_t idx;
    if (parse_name(n, &idx)) out.emplace_back(idx, n);
  }
  std::sort(out.begin(), out.end(), std::greater<>());  // newest first
  return out;
}

Result<std::optional<raft::SnapshotMeta>> SnapshotStore::open(size_t* skipped) {
  *skipped = 0;
  auto names = disk_.list();
  if (!names) return names.error();
  bool removed = false;
  for (const auto& n : *names) {
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0 && n.compare(0, 5, "snap-") == 0) {
      if (Status st = disk_.remove(n); !st) return st.error();
      removed = true;
    }
  }
  if (removed) {
    if (Status st = disk_.sync_dir(); !st) return st.error();
  }
  for (const auto& [idx, name] : snapshot_files(*names)) {
    auto meta = verify(name);
    if (meta) return std::optional<raft::SnapshotMeta>(std::move(*meta));
    if (meta.error().code != ErrorCode::kCorrupt) return meta.error();
    ++*skipped;
  }
  return std::optional<raft::SnapshotMeta>();
}

Result<raft::SnapshotMeta> SnapshotStore::verify(const std::string& name) {
  auto size = disk_.size(name);
  if (!size) return size.error();
  if (*size < 8) return corrupt(name, "too short");
  auto tail = disk_.read(name, *size - 8, 8);
  if (!tail) return tail.error();
  const uint32_t trailer_crc = static_cast<uint32_t>(get(tail->data(), 4));
  const uint64_t trailer_len = get(tail->data() + 4, 4);
  if (trailer_len < 44 || trailer_len > kMaxTrailer || trailer_len + 8 > *size) return corrupt(name, "bad trailer length");
  auto tr = disk_.read(name, *size - 8 - trailer_len, trailer_len);
  if (!tr) return tr.error();
  const std::string& t = *tr;
  if (crc32c(t) != trailer_crc) return corrupt(name, "trailer checksum mismatch");
  if (t.compare(0, 8, std::string(kMagic, 8)) != 0) return corrupt(name, "bad magic");
  raft::SnapshotMeta meta;
  meta.index = LogIndex(get(t.data() + 8, 8));
  meta.term = Term(get(t.data() + 16, 8));
  meta.size = get(t.data() + 24, 8);
  meta.crc = static_cast<uint32_t>(get(t.data() + 32, 4));
  const uint64_t mlen = get(t.data() + 36, 4);
  if (40 + mlen != t.size()) return corrupt(name, "bad membership length");
  auto membership = raft::Membership::decode(std::string_view(t).substr(40, mlen));
  if (!membership) return corrupt(name, membership.error().message);
  meta.membership = std::move(*membership);
  if (meta.size + trailer_len + 8 != *size) return corrupt(name, "image size does not match the file");
  if (file_name(meta.index, meta.term) != name) return corrupt(name, "name does not match its contents");
  uint32_t crc = 0;
  for (uint64_t off = 0; off < meta.size; off += kVerifyChunk) {
    auto part = disk_.read(name, off, std::min(kVerifyChunk, meta.size - off));
    if (!part) return part.error();
    crc = crc32c_extend(crc, *part);
  }
  if (crc != meta.crc) return corrupt(name, "image checksum mismatch");
  return meta;
}

Result<SnapshotStore::Writer> SnapshotStore::begin(LogIndex index, Term term) {
  Writer w;
  w.index = index;
  w.term = term;
  w.tmp_name = file_name(index, term) + ".tmp";
  if (auto sz = disk_.size(w.tmp_name); sz) {
    if (Status st = disk_.remove(w.tmp_name); !st) return st.error();
  }
  if (Status st = disk_.create(w.tmp_name); !st) return st.error();
  return w;
}

Status SnapshotStore::write(Writer& w, std::string_view bytes) {
  if (Status st = disk_.append(w.tmp_name, bytes); !st) return st;
  w.size += bytes.size();
  w.crc = crc32c_extend(w.crc, bytes);
  return ok_status();
}

Result<raft::SnapshotMeta> SnapshotStore::finish(Writer& w, const raft::Membership& membership,
                                                 const raft::SnapshotMeta* expect) {
  if (expect != nullptr && (expect->size != w.size || expect->crc != w.crc)) {
    abandon(w);
    return corrupt(w.tmp_name, "received image does not match its size or checksum");
  }
  raft::SnapshotMeta meta{w.index, w.term, membership, w.size, w.crc};
  const std::string m = membership.encode();
  std::string t(kMagic, 8);
  put64(t, meta.index.v);
  put64(t, meta.term.v);
  put64(t, meta.size);
  put32(t, meta.crc);
  put32(t, static_cast<uint32_t>(m.size()));
  t += m;
  const uint32_t tcrc = crc32c(t);
  const uint32_t tlen = static_cast<uint32_t>(t.size());
  put32(t, tcrc);
  put32(t, tlen);
  const std::string final_name = file_name(w.index, w.term);
  if (Status st = disk_.append(w.tmp_name, t); !st) return st.error();
  if (Status st = disk_.sync(w.tmp_name); !st) return st.error();
  if (auto sz = disk_.size(final_name); sz) {
    // The same snapshot again (received twice): the new copy replaces the old one.
    if (Status st = disk_.remove(final_name); !st) return st.error();
  }
  if (Status st = disk_.rename(w.tmp_name, final_name); !st) return st.error();
  if (Status st = disk_.sync_dir(); !st) return st.error();
  return meta;
}

void SnapshotStore::abandon(Writer& w) { (void)disk_.remove(w.tmp_name); }

Result<std::string> SnapshotStore::read(const raft::SnapshotMeta& meta, uint64_t offset, uint64_t len) {
  if (offset > meta.size || len > meta.size - offset) return make_error(ErrorCode::kInvalid, "snapshot read beyond its image");
  auto data = disk_.read(file_name(meta.index, meta.term), offset, len);
  if (!data) return data.error();
  if (data->size() != len) return make_error(ErrorCode::kIo, "snapshot file shorter than its image");
  return data;
}

Status SnapshotStore::retain(size_t keep) {
  auto names = disk_.list();
  if (!names) return names.error();
  auto files = snapshot_files(*names);
  bool removed = false;
  for (size_t k = keep; k < files.size(); ++k) {
    if (Status st = disk_.remove(files[k].second); !st) return st;
    removed = true;
  }
  if (removed) return disk_.sync_dir();
  return ok_status();
}

}  // namespace rq::storage
