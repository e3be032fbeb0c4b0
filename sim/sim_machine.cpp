#include "sim/sim_machine.h"

#include <algorithm>

#include "core/prng.h"
#include "sim/trace.h"

namespace rq::sim {

uint64_t fold_digest(uint64_t d, const std::string& value) { return mix64(d ^ hash_bytes(value)); }

void SimMachine::apply(const raft::Entry& e) {
  last_applied_ = e.index.v;
  if (e.type != raft::EntryType::kNormal) return;
  values_.push_back(e.data);
  digest_ = fold_digest(digest_, e.data);
}

std::string SimMachine::encode(const std::vector<std::string>& values) {
  std::string s;
  auto put = [&s](uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put(values.size(), 8);
  for (const auto& v : values) {
    put(v.size(), 4);
    s += v;
  }
  return s;
}

void SimMachine::snapshot(std::shared_ptr<SnapshotSink> sink) {
  // Capture now; write later, a piece per deferral.
  auto image = std::make_shared<const std::string>(encode(values_));
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
  uint64_t count = 0;
  if (!get(8, &count)) return make_error(ErrorCode::kCorrupt, "sim snapshot: truncated");
  std::vector<std::string> values;
  uint64_t d = 0;
  for (uint64_t k = 0; k < count; ++k) {
    uint64_t len = 0;
    if (!get(4, &len) || s.size() - p < len) return make_error(ErrorCode::kCorrupt, "sim snapshot: truncated value");
    values.emplace_back(s.substr(p, len));
    p += len;
    d = fold_digest(d, values.back());
  }
  if (p != s.size()) return make_error(ErrorCode::kCorrupt, "sim snapshot: trailing bytes");
  values_ = std::move(values);
  digest_ = d;
  return ok_status();
}

}  // namespace rq::sim
