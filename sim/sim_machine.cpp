#include "sim/sim_machine.h"

#include <algorithm>

#include "core/prng.h"
#include "sim/trace.h"

namespace rq::sim {

uint64_t fold_digest(uint64_t d, const std::string& value) { return mix64(d ^ hash_bytes(value)); }

void SimMachine::apply(const raft::Entry& e) {
  if (e.type != raft::EntryType::kNormal) return;
  digest_ = fold_digest(digest_, e.data);
  ++applied_values_;
  latest_[e.data.substr(0, e.data.find('-'))] = e.data;
  recent_.push_back(e.data);
  if (recent_.size() > kRecent) recent_.pop_front();
}

namespace {
void put(std::string& s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& s, const std::string& v) {
  put(s, v.size(), 4);
  s += v;
}
}  // namespace

std::string SimMachine::encode() const {
  std::string s;
  put(s, digest_, 8);
  put(s, applied_values_, 8);
  put(s, latest_.size(), 4);
  for (const auto& [k, v] : latest_) {
    put_str(s, k);
    put_str(s, v);
  }
  put(s, recent_.size(), 4);
  for (const auto& v : recent_) put_str(s, v);
  return s;
}

void SimMachine::snapshot(std::shared_ptr<SnapshotSink> sink) {
  // Capture now; write later, a piece per deferral.
  auto image = std::make_shared<const std::string>(encode());
  defer_([this, sink, image] { write_piece(sink, image, 0); });
}

void SimMachine::write_piece(std::shared_ptr<SnapshotSink> sink, std::shared_ptr<const std::string> image,
                             uint64_t offset) {
  // At most 16 pieces per image, however small the configured piece.
  const uint64_t piece = std::max<uint64_t>(piece_bytes_, image->size() / 16 + 1);
  const uint64_t n = std::min<uint64_t>(piece, image->size() - offset);
  if (n > 0) {
    if (Status st = sink->write(std::string_view(*image).substr(offset, n)); !st) {
      sink->finish(st);
      return;
    }
  }
  if (offset + n >= image->size()) {
    sink->finish(ok_status());
    return;
  }
  defer_([this, sink, image, next = offset + n] { write_piece(sink, image, next); });
}

Status SimMachine::restore(const SnapshotReader& read, uint64_t size) {
  auto image = read(0, size);
  if (!image) return image.error();
  const std::string& s = *image;
  size_t p = 0;
  auto get = [&](int n, uint64_t* v) {
    if (s.size() - p < static_cast<size_t>(n)) return false;
    *v = 0;
    for (int i = n - 1; i >= 0; --i) *v = (*v << 8) | static_cast<uint8_t>(s[p + static_cast<size_t>(i)]);
    p += static_cast<size_t>(n);
    return true;
  };
  auto get_str = [&](std::string* out) {
    uint64_t len = 0;
    if (!get(4, &len) || s.size() - p < len) return false;
    out->assign(s, p, len);
    p += len;
    return true;
  };
  const Error bad = make_error(ErrorCode::kCorrupt, "sim snapshot: malformed image");
  uint64_t digest = 0, values = 0, n = 0;
  if (!get(8, &digest) || !get(8, &values) || !get(4, &n)) return bad;
  std::map<std::string, std::string> latest;
  for (uint64_t k = 0; k < n; ++k) {
    std::string key, value;
    if (!get_str(&key) || !get_str(&value)) return bad;
    latest.emplace(std::move(key), std::move(value));
  }
  if (!get(4, &n) || n > kRecent) return bad;
  std::deque<std::string> recent;
  for (uint64_t k = 0; k < n; ++k) {
    std::string v;
    if (!get_str(&v)) return bad;
    recent.push_back(std::move(v));
  }
  if (p != s.size()) return bad;
  digest_ = digest;
  applied_values_ = values;
  latest_ = std::move(latest);
  recent_ = std::move(recent);
  return ok_status();
}

}  // namespace rq::sim
