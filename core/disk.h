// A directory of files with explicit durability. Nothing written is durable until sync(name)
// returns ok; a created, renamed or removed name is not durable until sync_dir() returns ok. The
// simulator's disk drops or tears what was not synced when a node crashes; the real one (net/)
// maps sync to fdatasync and sync_dir to fsync of the directory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace rq {

class Disk {
 public:
  virtual ~Disk() = default;
  // Names of the files in the directory, sorted.
  virtual Result<std::vector<std::string>> list() = 0;
  virtual Result<uint64_t> size(const std::string& name) = 0;
  // Creates an empty file; kExists if it is there already.
  virtual Status create(const std::string& name) = 0;
  // Reads up to `len` bytes at `offset`; fewer at end of file.
  virtual Result<std::string> read(const std::string& name, uint64_t offset, uint64_t len) = 0;
  virtual Status append(const std::string& name, std::string_view bytes) = 0;
  virtual Status write(const std::string& name, uint64_t offset, std::string_view bytes) = 0;
  virtual Status truncate(const std::string& name, uint64_t size) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& name) = 0;
  // Makes the file's contents durable.
  virtual Status sync(const std::string& name) = 0;
  // Makes the directory's names (creates, renames, removes) durable.
  virtual Status sync_dir() = 0;
};

}  // namespace rq
