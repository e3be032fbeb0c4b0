#include "core/storage/log_store.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "core/prng.h"
#include "core/storage/crc32c.h"

namespace rq::storage {

namespace {

constexpr char kMagic[8] = {'R', 'Q', 'W', 'A', 'L', 'S', 'E', 'G'};
constexpr uint32_t kVersion = 2;
constexpr uint8_t kKindEntry = 1;
constexpr uint8_t kKindHardState = 2;
constexpr uint8_t kKindReset = 3;

void put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t get32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t get64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t round8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

std::string segment_name(uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "wal-%016" PRIx64 ".log", seq);
  return buf;
}

bool parse_segment_name(const std::string& name, uint64_t* seq) {
  if (name.size() != 24 || name.compare(0, 4, "wal-") != 0 || name.compare(20, 4, ".log") != 0) return false;
  uint64_t v = 0;
  for (size_t i = 4; i < 20; ++i) {
    const char c = name[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *seq = v;
  return true;
}

uint32_t record_crc(uint64_t salt, std::string_view covered) {
  char s[8];
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((salt >> (8 * i)) & 0xff);
  return crc32c_extend(crc32c(std::string_view(s, 8)), covered);
}

void store32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void store64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Appends one record to `out` (one allocation per batch, not per field).
void append_record(std::string& out, uint64_t salt, uint8_t kind, uint8_t etype, uint64_t a, uint64_t b, uint64_t c,
                   std::string_view payload) {
  const size_t start = out.size();
  const size_t total = round8(kRecordHeaderBytes + payload.size());
  out.resize(start + total, '\0');
  char* r = out.data() + start;
  store32(r + 4, static_cast<uint32_t>(payload.size()));
  r[8] = static_cast<char>(kind);
  r[9] = static_cast<char>(etype);
  store64(r + 12, a);
  store64(r + 20, b);
  store64(r + 28, c);
  if (!payload.empty()) std::memcpy(r + kRecordHeaderBytes, payload.data(), payload.size());
  store32(r, record_crc(salt, std::string_view(r + 4, total - 4)));
}

std::string encode_record(uint64_t salt, uint8_t kind, uint8_t etype, uint64_t a, uint64_t b, uint64_t c,
                          std::string_view payload) {
  std::string r;
  append_record(r, salt, kind, etype, a, b, c, payload);
  return r;
}

enum class Parse { kOk, kShort, kBad };

struct Record {
  uint8_t kind = 0;
  uint8_t etype = 0;
  uint64_t a = 0, b = 0, c = 0;
  std::string_view payload;
  size_t end = 0;
};

Parse parse_record(std::string_view buf, size_t p, uint64_t salt, Record* out) {
  if (buf.size() - p < kRecordHeaderBytes) return Parse::kShort;
  const char* h = buf.data() + p;
  const uint32_t crc = get32(h);
  const uint64_t len = get32(h + 4);
  if (len > kMaxRecordPayload) return Parse::kBad;
  const uint64_t total = round8(kRecordHeaderBytes + len);
  if (buf.size() - p < total) return Parse::kShort;
  if (record_crc(salt, buf.substr(p + 4, total - 4)) != crc) return Parse::kBad;
  out->kind = static_cast<uint8_t>(h[8]);
  out->etype = static_cast<uint8_t>(h[9]);
  if (out->kind < kKindEntry || out->kind > kKindReset) return Parse::kBad;
  if (out->etype >= raft::kEntryTypeCount) return Parse::kBad;
  out->a = get64(h + 12);
  out->b = get64(h + 20);
  out->c = get64(h + 28);
  out->payload = buf.substr(p + kRecordHeaderBytes, len);
  out->end = p + total;
  return Parse::kOk;
}

Error corrupt(const std::string& seg, uint64_t off, const std::string& what) {
  return make_error(ErrorCode::kCorrupt,
                    "log segment " + seg + " offset " + std::to_string(off) + ": " + what);
}

}  // namespace

std::string encode_entry_record(const raft::Entry& e, uint64_t salt) {
  return encode_record(salt, kKindEntry, static_cast<uint8_t>(e.type), e.index.v, e.term.v, 0, e.data);
}

std::string encode_hard_state_record(const raft::HardState& hs, uint64_t salt) {
  return encode_record(salt, kKindHardState, 0, hs.term.v, hs.vote.v, hs.commit.v, {});
}

static uint32_t header_crc(std::string_view magic_version, uint64_t salt) {
  std::string s(magic_version);
  put64(s, salt);
  return crc32c(s);
}

std::string encode_segment_header(uint64_t salt) {
  std::string h(kMagic, sizeof kMagic);
  put32(h, kVersion);
  put32(h, header_crc(h, salt));
  put64(h, salt);
  return h;
}

uint64_t LogStore::salt_for(uint64_t seq) const { return opts_.salt_seed == 0 ? 0 : mix64(opts_.salt_seed ^ seq); }

Result<std::unique_ptr<LogStore>> LogStore::open(Disk& disk, LogStoreOptions opts, RecoveredLog* out,
                                                 LogIndex floor_index, Term floor_term) {
  std::unique_ptr<LogStore> s(new LogStore(disk, opts));
  *out = RecoveredLog{};
  if (Status st = s->recover(out, floor_index, floor_term); !st) return st.error();
  return s;
}

// Replay state: the entries so far (contiguous), the latest hard state, the latest reset.
struct LogStore::Replay {
  std::vector<raft::Entry> entries;
  raft::HardState hs;
  uint64_t reset_index = 0;
  uint64_t torn_bytes = 0;
};

Status LogStore::recover(RecoveredLog* out, LogIndex floor_index, Term floor_term) {
  auto names = disk_.list();
  if (!names) return names.error();
  std::vector<std::pair<uint64_t, std::string>> segs;
  for (const auto& n : *names) {
    uint64_t seq;
    if (parse_segment_name(n, &seq)) segs.emplace_back(seq, n);
  }
  std::sort(segs.begin(), segs.end());

  // A last segment too short to hold its header was being created when the node crashed: it
  // holds no records, so it goes.
  while (!segs.empty()) {
    auto sz = disk_.size(segs.back().second);
    if (!sz) return sz.error();
    if (*sz >= kSegmentHeaderBytes) break;
    if (Status st = disk_.remove(segs.back().second); !st) return st;
    if (Status st = disk_.sync_dir(); !st) return st;
    segs.pop_back();
  }

  Replay rp;
  for (size_t k = 0; k < segs.size(); ++k) {
    const bool last = k + 1 == segs.size();
    uint64_t good_end = 0, max_index = 0;
    if (Status st = replay_segment(segs[k].second, last, &rp, &good_end, &max_index); !st) return st;
    segments_.push_back(segs[k].second);
    segment_max_.push_back(std::max(max_index, segment_max_.empty() ? 0 : segment_max_.back()));
    if (last) current_size_ = good_end;
  }
  out->segments = segments_.size();
  out->hard_state = rp.hs;
  out->torn_bytes = rp.torn_bytes;
  if (rp.reset_index > floor_index.v) {
    return make_error(ErrorCode::kCorrupt, "log: reset to a snapshot at " + std::to_string(rp.reset_index) +
                                               " but the newest valid snapshot is at " + std::to_string(floor_index.v));
  }
  // Entries the snapshot covers go. What follows is kept if the log holds the snapshot's last
  // entry with its term, or starts right after it (written after the snapshot); anything else is
  // a log the snapshot replaced whose reset record a crash lost.
  auto& ents = rp.entries;
  bool reset_now = false;
  if (floor_index.v > 0 && !ents.empty()) {
    const uint64_t first = ents.front().index.v, last = ents.back().index.v;
    if (first <= floor_index.v && floor_index.v <= last) {
      reset_now = ents[floor_index.v - first].term != floor_term;
    } else {
      reset_now = last < floor_index.v;
    }
    if (reset_now) ents.clear();
  }
  size_t drop = 0;
  while (drop < ents.size() && ents[drop].index <= floor_index) ++drop;
  ents.erase(ents.begin(), ents.begin() + static_cast<std::ptrdiff_t>(drop));
  if (!ents.empty() && ents.front().index != floor_index + 1) {
    return make_error(ErrorCode::kCorrupt, "log: entries resume at " + std::to_string(ents.front().index.v) +
                                               " after a snapshot at " + std::to_string(floor_index.v));
  }
  // Terms never decrease along a log, and the snapshot's last entry is part of it.
  if (!ents.empty() && ents.front().term < floor_term) {
    return make_error(ErrorCode::kCorrupt, "log: entry " + std::to_string(ents.front().index.v) + " of term " +
                                               std::to_string(ents.front().term.v) + " after a snapshot of term " +
                                               std::to_string(floor_term.v));
  }
  const uint64_t last_index = ents.empty() ? floor_index.v : ents.back().index.v;
  if (out->hard_state.commit.v > last_index) {
    return make_error(ErrorCode::kCorrupt, "log: commit index " + std::to_string(out->hard_state.commit.v) +
                                               " beyond last entry " + std::to_string(last_index));
  }
  // Raft keeps currentTerm >= the term of every entry a node holds (and of its snapshot). One
  // write holds a Ready's entries followed by its hard state; a crash that tears it between the
  // two leaves entries of a newer leader's term behind a hard state of an older term. Those
  // entries prove the newer term exists, so the node starts in it, with no vote: a vote in that
  // term would have been synced before its reply left, hence before these entries were written,
  // and could not have been torn away. Starting in the older term instead would let the node
  // win an election for a term between the two and append its own entries after the newer
  // term's ones (seeds 11350 and 18224 of the simulator recovered a node this way).
  const Term log_term = std::max(floor_term, ents.empty() ? Term{0} : ents.back().term);
  const bool raise_term = out->hard_state.term < log_term;
  if (raise_term) {
    out->term_raised_from = out->hard_state.term;
    out->hard_state.term = log_term;
    out->hard_state.vote = NodeId{};
  }
  out->entries = std::move(ents);
  hs_ = out->hard_state;
  if (segs.empty()) {
    next_seq_ = 1;
    Status st = rotate();
    out->segments = segments_.size();
    return st;
  }
  next_seq_ = segs.back().first + 1;
  if (reset_now) {
    if (Status st = reset(floor_index, floor_term); !st) return st;
  }
  if (raise_term) {
    std::string rec = encode_hard_state_record(hs_, current_salt_);
    if (Status st = disk_.append(segments_.back(), rec); !st) return st;
    current_size_ += rec.size();
  }
  if (reset_now || raise_term) {
    if (Status st = sync(); !st) return st;
  }
  return ok_status();
}

Status LogStore::replay_segment(const std::string& name, bool last, Replay* rp, uint64_t* good_end,
                                uint64_t* max_index) {
  auto size = disk_.size(name);
  if (!size) return size.error();
  auto data = disk_.read(name, 0, *size);
  if (!data) return data.error();
  const std::string_view buf = *data;
  if (buf.size() < kSegmentHeaderBytes || buf.substr(0, sizeof kMagic) != std::string_view(kMagic, sizeof kMagic) ||
      get32(buf.data() + 8) != kVersion ||
      get32(buf.data() + 12) != header_crc(buf.substr(0, 12), get64(buf.data() + 16))) {
    return corrupt(name, 0, "bad segment header");
  }
  const uint64_t salt = get64(buf.data() + 16);
  if (last) current_salt_ = salt;
  auto& ents = rp->entries;
  size_t p = kSegmentHeaderBytes;
  while (p < buf.size()) {
    Record r;
    const Parse res = parse_record(buf, p, salt, &r);
    if (res != Parse::kOk) {
      if (!last) return corrupt(name, p, "bad record in a sealed segment");
      // Torn tail, or corruption with good data after it?
      for (size_t q = p + 8; q + kRecordHeaderBytes <= buf.size(); q += 8) {
        Record later;
        if (parse_record(buf, q, salt, &later) == Parse::kOk) {
          return corrupt(name, p, "bad record followed by a valid record at offset " + std::to_string(q));
        }
      }
      rp->torn_bytes = buf.size() - p;
      if (Status st = disk_.truncate(name, p); !st) return st;
      if (Status st = disk_.sync(name); !st) return st;
      break;
    }
    if (r.kind == kKindHardState) {
      rp->hs = raft::HardState{Term(r.a), NodeId(r.b), LogIndex(r.c)};
    } else if (r.kind == kKindReset) {
      ents.clear();
      rp->reset_index = std::max(rp->reset_index, r.a);
    } else {
      const uint64_t index = r.a;
      if (index == 0) return corrupt(name, p, "entry index 0");
      if (index <= rp->hs.commit.v && !ents.empty() && index <= ents.back().index.v) {
        return corrupt(name, p, "entry " + std::to_string(index) + " replaces a committed entry");
      }
      if (!ents.empty()) {
        const uint64_t first = ents.front().index.v, last_i = ents.back().index.v;
        if (index > last_i + 1) return corrupt(name, p, "entry index " + std::to_string(index) + " leaves a gap");
        if (index <= first) {
          ents.clear();
        } else {
          ents.resize(index - first);
        }
      }
      if (!ents.empty() && ents.back().term.v > r.b) return corrupt(name, p, "entry term goes backwards");
      ents.push_back(raft::Entry{Term(r.b), LogIndex(index), static_cast<raft::EntryType>(r.etype),
                                 std::string(r.payload)});
      *max_index = std::max(*max_index, index);
    }
    p = r.end;
  }
  *good_end = std::min<uint64_t>(p, buf.size());
  return ok_status();
}

Status LogStore::rotate() {
  if (!segments_.empty()) {
    // Seal the old segment: everything in it must be durable before a newer one exists, or
    // recovery would find a torn record in a sealed segment.
    if (Status st = disk_.sync(segments_.back()); !st) return st;
  }
  const uint64_t seq = next_seq_++;
  const std::string name = segment_name(seq);
  if (Status st = disk_.create(name); !st) return st;
  current_salt_ = salt_for(seq);
  std::string buf = encode_segment_header(current_salt_);
  buf += encode_hard_state_record(hs_, current_salt_);
  if (Status st = disk_.append(name, buf); !st) return st;
  if (Status st = disk_.sync(name); !st) return st;
  if (Status st = disk_.sync_dir(); !st) return st;
  segments_.push_back(name);
  segment_max_.push_back(segment_max_.empty() ? 0 : segment_max_.back());
  current_size_ = buf.size();
  return ok_status();
}

Status LogStore::reset(LogIndex index, Term term) {
  std::string rec = encode_record(current_salt_, kKindReset, 0, index.v, term.v, 0, {});
  if (Status st = disk_.append(segments_.back(), rec); !st) return st;
  current_size_ += rec.size();
  return ok_status();
}

Status LogStore::compact(LogIndex upto) {
  size_t n = 0;
  // Oldest first; never the segment being written.
  while (n + 1 < segments_.size() && segment_max_[n] <= upto.v) ++n;
  if (n == 0) return ok_status();
  for (size_t k = 0; k < n; ++k) {
    if (Status st = disk_.remove(segments_[k]); !st) return st;
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(n));
  segment_max_.erase(segment_max_.begin(), segment_max_.begin() + static_cast<std::ptrdiff_t>(n));
  return disk_.sync_dir();
}

Status LogStore::append(const std::vector<raft::Entry>& ents, const std::optional<raft::HardState>& hs) {
  if (ents.empty() && !hs) return ok_status();
  if (current_size_ >= opts_.max_segment_bytes) {
    if (Status st = rotate(); !st) return st;
  }
  std::string buf;
  size_t bytes = hs ? kRecordHeaderBytes + 8 : 0;
  for (const auto& e : ents) bytes += round8(kRecordHeaderBytes + e.data.size());
  buf.reserve(bytes);
  for (size_t k = 0; k < ents.size(); ++k) {
    const raft::Entry& e = ents[k];
    if (k > 0) RQ_ASSERT_EQ(e.index, ents[k - 1].index + 1);
    append_record(buf, current_salt_, kKindEntry, static_cast<uint8_t>(e.type), e.index.v, e.term.v, 0, e.data);
  }
  if (hs) {
    append_record(buf, current_salt_, kKindHardState, 0, hs->term.v, hs->vote.v, hs->commit.v, {});
    hs_ = *hs;
  }
  if (Status st = disk_.append(segments_.back(), buf); !st) return st;
  current_size_ += buf.size();
  if (!ents.empty()) segment_max_.back() = std::max(segment_max_.back(), ents.back().index.v);
  return ok_status();
}

Status LogStore::sync() {
  ++syncs_;
  return disk_.sync(segments_.back());
}

}  // namespace rq::storage
