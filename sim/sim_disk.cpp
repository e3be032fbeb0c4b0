#include "sim/sim_disk.h"

#include <algorithm>
#include <set>

namespace rq::sim {

static Error not_found(const std::string& name) { return make_error(ErrorCode::kNotFound, "no such file: " + name); }

SimDisk::SimDisk(Prng prng, SimDiskOptions opts) : prng_(prng), opts_(opts) {}

SimDisk::Inode* SimDisk::find(const std::string& name) {
  auto it = names_.find(name);
  if (it == names_.end()) return nullptr;
  return &inodes_.at(it->second);
}

void SimDisk::apply(std::string& content, const Op& op) {
  if (op.is_truncate) {
    content.resize(op.offset, '\0');
    return;
  }
  if (content.size() < op.offset + op.bytes.size()) content.resize(op.offset + op.bytes.size(), '\0');
  content.replace(op.offset, op.bytes.size(), op.bytes);
}

Result<std::vector<std::string>> SimDisk::list() {
  std::vector<std::string> out;
  for (const auto& [name, _] : names_) out.push_back(name);
  return out;
}

Result<uint64_t> SimDisk::size(const std::string& name) {
  Inode* f = find(name);
  if (f == nullptr) return not_found(name);
  return static_cast<uint64_t>(f->current.size());
}

Status SimDisk::create(const std::string& name) {
  if (names_.count(name) != 0) return make_error(ErrorCode::kExists, "file exists: " + name);
  const InodeId id = next_inode_++;
  inodes_.emplace(id, Inode{});
  names_.emplace(name, id);
  return ok_status();
}

Result<std::string> SimDisk::read(const std::string& name, uint64_t offset, uint64_t len) {
  Inode* f = find(name);
  if (f == nullptr) return not_found(name);
  if (offset >= f->current.size()) return std::string();
  return f->current.substr(offset, len);
}

Status SimDisk::append(const std::string& name, std::string_view bytes) {
  Inode* f = find(name);
  if (f == nullptr) return not_found(name);
  return write(name, f->current.size(), bytes);
}

Status SimDisk::write(const std::string& name, uint64_t offset, std::string_view bytes) {
  Inode* f = find(name);
  if (f == nullptr) return not_found(name);
  Op op{false, offset, std::string(bytes)};
  op.issued_at = busy_ ? busy_(Duration{0}) : Duration{0};
  apply(f->current, op);
  f->pending.push_back(std::move(op));
  return ok_status();
}

Status SimDisk::truncate(const std::string& name, uint64_t size) {
  Inode* f = find(name);
  if (f == nullptr) return not_found(name);
  Op op{true, size, {}};
  op.issued_at = busy_ ? busy_(Duration{0}) : Duration{0};
  apply(f->current, op);
  f->pending.push_back(std::move(op));
  return ok_status();
}

Status SimDisk::rename(const std::string& from, const std::string& to) {
  auto it = names_.find(from);
  if (it == names_.end()) return not_found(from);
  const InodeId id = it->second;
  names_.erase(it);
  names_[to] = id;
  return ok_status();
}

Status SimDisk::remove(const std::string& name) {
  if (names_.erase(name) == 0) return not_found(name);
  return ok_status();
}

Status SimDisk::sync(const std::string& name) {
  Inode* f = find(name);
  if (f == nullptr) return not_found(name);
  ++stats_.syncs;
  Duration latency{0};
  if (opts_.sync_latency_max.count() > 0) {
    const auto lo = static_cast<uint64_t>(opts_.sync_latency_min.count());
    const auto hi = static_cast<uint64_t>(opts_.sync_latency_max.count());
    latency = Duration(static_cast<int64_t>(prng_.range(lo, std::max(lo, hi))));
  }
  const Duration done = busy_ ? busy_(latency) : Duration{0};
  if (prng_.chance_ppm(opts_.sync_fail_ppm)) {
    ++stats_.sync_failures;
    return make_error(ErrorCode::kIo, "injected fsync failure on " + name);
  }
  if (done.count() == 0) {
    // Durable at once: bring the durable copy forward by the pending writes (not a copy of the
    // whole file per sync).
    for (Op& op : f->pending) op.durable_at = Duration{0};
    fold(*f, Duration{0});
    return ok_status();
  }
  for (Op& op : f->pending) op.durable_at = std::min(op.durable_at, done);
  if (now_) fold(*f, now_());
  return ok_status();
}

void SimDisk::fold(Inode& f, Duration upto) {
  size_t synced = 0;
  while (synced < f.pending.size() && f.pending[synced].durable_at <= upto) apply(f.durable, f.pending[synced++]);
  f.pending.erase(f.pending.begin(), f.pending.begin() + static_cast<std::ptrdiff_t>(synced));
}

Status SimDisk::sync_dir() {
  // Completes when the node's earlier syncs have (the node waits for each in turn).
  const Duration done = busy_ ? busy_(Duration{0}) : Duration{0};
  if (done.count() == 0) {
    durable_names_ = names_;
    dir_syncs_.clear();
  } else {
    dir_syncs_.emplace_back(done, names_);
  }
  if (now_) {
    const Duration now = now_();
    size_t k = 0;
    while (k < dir_syncs_.size() && dir_syncs_[k].first <= now) durable_names_ = dir_syncs_[k++].second;
    dir_syncs_.erase(dir_syncs_.begin(), dir_syncs_.begin() + static_cast<std::ptrdiff_t>(k));
  }
  return ok_status();
}

void SimDisk::crash(Duration at) {
  crash_with(at, [this](const std::string&, const std::vector<Op>& pending, std::string& content) {
    // In-order persistence: a prefix of the unsynced writes survives, the next may be torn.
    size_t keep = 0;
    if (!prng_.chance_ppm(opts_.lose_all_ppm)) keep = prng_.below(pending.size() + 1);
    for (size_t k = 0; k < keep; ++k) apply(content, pending[k]);
    if (keep == pending.size()) return;
    stats_.writes_lost += pending.size() - keep;
    const Op& next = pending[keep];
    if (!next.is_truncate && !next.bytes.empty() && prng_.chance_ppm(opts_.torn_ppm)) {
      ++stats_.torn_writes;
      Op torn{false, next.offset, next.bytes.substr(0, prng_.below(next.bytes.size()))};
      // The torn sector may end in garbage rather than the intended bytes.
      if (!torn.bytes.empty() && prng_.chance_ppm(500'000)) {
        torn.bytes.back() = static_cast<char>(prng_.below(256));
      }
      apply(content, torn);
    }
  });
}

void SimDisk::crash_keeping(Duration at, const std::string& name, uint64_t keep_bytes) {
  crash_with(at, [&](const std::string& file, const std::vector<Op>& pending, std::string& content) {
    uint64_t left = file == name ? keep_bytes : 0;
    size_t kept = 0;
    for (; kept < pending.size(); ++kept) {
      const Op& op = pending[kept];
      if (op.is_truncate ? left == 0 : left < op.bytes.size()) break;
      apply(content, op);
      if (!op.is_truncate) left -= op.bytes.size();
    }
    stats_.writes_lost += pending.size() - kept;
    if (kept < pending.size() && left > 0) {
      const Op& next = pending[kept];
      ++stats_.torn_writes;
      apply(content, Op{false, next.offset, next.bytes.substr(0, left)});
    }
  });
}

void SimDisk::crash_with(Duration at, const Survivors& survive) {
  ++stats_.crashes;
  for (auto& [done, names] : dir_syncs_) {
    if (done <= at) durable_names_ = std::move(names);
  }
  dir_syncs_.clear();
  std::map<InodeId, std::string> name_of;
  for (const auto& [n, id] : names_) name_of.emplace(id, n);
  for (auto& [id, f] : inodes_) {
    // Writes whose sync completed before the crash are durable; writes the node would only have
    // issued after the crash (it was still blocked in an earlier sync) never happened.
    fold(f, at);
    while (!f.pending.empty() && f.pending.back().issued_at > at) f.pending.pop_back();
    if (f.pending.empty()) {
      f.current = f.durable;
      continue;
    }
    std::string content = f.durable;
    auto n = name_of.find(id);
    survive(n == name_of.end() ? std::string() : n->second, f.pending, content);
    f.durable = content;
    f.current = std::move(content);
    f.pending.clear();
  }
  if (names_ != durable_names_) ++stats_.names_reverted;
  names_ = durable_names_;
  // Inodes no longer named anywhere are gone.
  std::set<InodeId> live;
  for (const auto& [_, id] : names_) live.insert(id);
  for (auto it = inodes_.begin(); it != inodes_.end();) {
    it = live.count(it->first) != 0 ? std::next(it) : inodes_.erase(it);
  }
}

void SimDisk::wipe() {
  names_.clear();
  durable_names_.clear();
  dir_syncs_.clear();
  inodes_.clear();
}

std::string SimDisk::durable_contents(const std::string& name) const {
  auto it = durable_names_.find(name);
  if (it == durable_names_.end()) return {};
  const Inode& f = inodes_.at(it->second);
  std::string content = f.durable;
  // Only syncs that have completed by now count; one still in flight can be lost.
  const Duration now = now_ ? now_() : Duration::max();
  for (const Op& op : f.pending) {
    if (op.durable_at == Duration::max() || op.durable_at > now) break;
    apply(content, op);
  }
  return content;
}

}  // namespace rq::sim
