// A simulated directory that keeps what is durable apart from what is merely written.
// (rocksdb test_util/fault_injection_test_fs.h; foundationdb AsyncFileNonDurable)
//
// Each file has durable bytes plus the writes made since, in order. A sync takes time (the
// node is busy meanwhile) and covers the writes before it only once it completes: a crash in the
// middle of a sync loses them like any unsynced write. A crash keeps a prefix of the writes that
// are not durable (possibly none), and may tear the first write it drops (a prefix of that
// write's bytes reaches the platter, the rest does not). Names created, renamed or removed since
// the last sync_dir() revert to their durable state. A sync can be made to fail; the data then
// stays non-durable, and the node is expected to stop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/disk.h"
#include "core/prng.h"
#include "core/types.h"

namespace rq::sim {

struct SimDiskOptions {
  // On crash: chance that all unsynced writes of a file are lost; otherwise a random prefix
  // survives.
  uint32_t lose_all_ppm = 500'000;
  // On crash: chance that the first dropped write is torn (a prefix of it survives).
  uint32_t torn_ppm = 300'000;
  // Chance that a sync fails.
  uint32_t sync_fail_ppm = 0;
  // Time a sync takes (added to the node's busy time).
  Duration sync_latency_min{0};
  Duration sync_latency_max{0};
};

struct SimDiskStats {
  uint64_t syncs = 0;
  uint64_t sync_failures = 0;
  uint64_t crashes = 0;
  uint64_t writes_lost = 0;  // unsynced writes dropped by crashes
  uint64_t torn_writes = 0;
  uint64_t names_reverted = 0;  // directory entries undone by crashes
};

class SimDisk final : public Disk {
 public:
  SimDisk(Prng prng, SimDiskOptions opts);

  Result<std::vector<std::string>> list() override;
  Result<uint64_t> size(const std::string& name) override;
  Status create(const std::string& name) override;
  Result<std::string> read(const std::string& name, uint64_t offset, uint64_t len) override;
  Status append(const std::string& name, std::string_view bytes) override;
  Status write(const std::string& name, uint64_t offset, std::string_view bytes) override;
  Status truncate(const std::string& name, uint64_t size) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& name) override;
  Status sync(const std::string& name) override;
  Status sync_dir() override;

  // Power loss at simulated time `at`: applies the crash model to every file and name.
  void crash(Duration at);
  // A power loss whose outcome a scripted test picks: of the writes to `name` not yet durable at
  // `at`, exactly the first `keep_bytes` bytes survive, in write order (the write they end in is
  // torn there); every other file loses all its unsynced writes.
  void crash_keeping(Duration at, const std::string& name, uint64_t keep_bytes);
  // Removes everything, durable or not (a replaced machine).
  void wipe();

  void set_options(const SimDiskOptions& o) { opts_ = o; }
  // Called with the time each sync takes; keeps the host busy for it and returns the simulated
  // time at which the sync completes.
  void set_busy(std::function<Duration(Duration)> busy) { busy_ = std::move(busy); }
  // Simulated time now, so completed syncs can be folded into the durable state.
  void set_now(std::function<Duration()> now) { now_ = std::move(now); }
  const SimDiskStats& stats() const { return stats_; }
  // The bytes a crash right now could not lose (for tests).
  std::string durable_contents(const std::string& name) const;

 private:
  struct Op {
    bool is_truncate = false;
    uint64_t offset = 0;  // write offset, or new size for a truncate
    std::string bytes;
    // When the sync covering this write completes; max() while no sync covers it.
    Duration durable_at = Duration::max();
    // When the node issued it (after any sync it waited for): a crash before then means the
    // write never happened.
    Duration issued_at{0};
  };
  struct Inode {
    std::string durable;
    std::string current;
    std::vector<Op> pending;
  };
  using InodeId = uint64_t;

  Inode* find(const std::string& name);
  // Decides which of a file's unsynced writes survive a crash, applying them to `content`.
  using Survivors = std::function<void(const std::string& name, const std::vector<Op>& pending, std::string& content)>;
  void crash_with(Duration at, const Survivors& survive);
  static void apply(std::string& content, const Op& op);

  Prng prng_;
  SimDiskOptions opts_;
  std::map<std::string, InodeId> names_;
  std::map<std::string, InodeId> durable_names_;
  // Directory syncs still completing: (completion time, names as of the sync).
  std::vector<std::pair<Duration, std::map<std::string, InodeId>>> dir_syncs_;
  std::map<InodeId, Inode> inodes_;
  InodeId next_inode_ = 1;
  std::function<Duration(Duration)> busy_;
  std::function<Duration()> now_;
  void fold(Inode& f, Duration upto);
  SimDiskStats stats_;
};

}  // namespace rq::sim
