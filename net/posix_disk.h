// The Disk boundary on a real directory: POSIX files, fdatasync for sync(), fsync of the
// directory for sync_dir(). File descriptors stay open between calls (the log appends to one
// segment for a long time); rename and remove close them. Errors carry errno's text and the
// name. Counters (syncs, bytes) are atomics so /status may read them from another thread.
// Not thread-safe otherwise: the node's thread owns it.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "core/disk.h"

namespace rq::net {

struct DiskCounters {
  std::atomic<uint64_t> syncs{0};      // fdatasync calls
  std::atomic<uint64_t> dir_syncs{0};  // directory fsyncs
  std::atomic<uint64_t> bytes_written{0};
};

class PosixDisk final : public Disk {
 public:
  // Opens (creating it and its parents if missing) the directory `dir`.
  static Result<std::unique_ptr<PosixDisk>> open(const std::string& dir);
  ~PosixDisk() override;
  PosixDisk(const PosixDisk&) = delete;
  PosixDisk& operator=(const PosixDisk&) = delete;

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

  const std::string& dir() const { return dir_; }
  const DiskCounters& counters() const { return counters_; }

 private:
  PosixDisk(std::string dir, int dir_fd) : dir_(std::move(dir)), dir_fd_(dir_fd) {}
  // The open descriptor of an existing file, opening it on first use.
  Result<int> fd(const std::string& name);
  void close_fd(const std::string& name);
  Status pwrite_all(int fd, const std::string& name, uint64_t offset, std::string_view bytes);

  std::string dir_;
  int dir_fd_;
  std::map<std::string, int> fds_;
  DiskCounters counters_;
};

}  // namespace rq::net
