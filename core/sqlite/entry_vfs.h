// A VFS shim that makes SQLite's notion of "now" and its own random numbers come from the Raft
// entry being applied, not from the machine: every replica sees the leader's timestamp and seed.
// File operations go to a base VFS the driver chooses (e.g. "unix" for the server's file; for an
// in-memory database no file is ever opened). One per state machine; no global state of ours.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "core/prng.h"

namespace rq::sql {

class EntryVfs {
 public:
  // `base`: the VFS that does file I/O (nullptr: SQLite's default).
  explicit EntryVfs(const char* base);
  ~EntryVfs();
  EntryVfs(const EntryVfs&) = delete;
  EntryVfs& operator=(const EntryVfs&) = delete;

  const char* name() const { return name_.c_str(); }
  // The entry about to be applied: its timestamp (Unix ns) and seed. Also makes this VFS
  // SQLite's default and resets SQLite's process-wide PRNG, so that whatever SQLite draws from
  // it internally (e.g. a rowid once the largest is taken) reseeds from `seed`.
  void enter(int64_t unix_ns, uint64_t seed);

 private:
  static int x_open(sqlite3_vfs*, sqlite3_filename, sqlite3_file*, int, int*);
  static int x_delete(sqlite3_vfs*, const char*, int);
  static int x_access(sqlite3_vfs*, const char*, int, int*);
  static int x_full_pathname(sqlite3_vfs*, const char*, int, char*);
  static void* x_dl_open(sqlite3_vfs*, const char*);
  static void x_dl_error(sqlite3_vfs*, int, char*);
  static void (*x_dl_sym(sqlite3_vfs*, void*, const char*))(void);
  static void x_dl_close(sqlite3_vfs*, void*);
  static int x_randomness(sqlite3_vfs*, int, char*);
  static int x_sleep(sqlite3_vfs*, int);
  static int x_current_time(sqlite3_vfs*, double*);
  static int x_get_last_error(sqlite3_vfs*, int, char*);
  static int x_current_time_int64(sqlite3_vfs*, sqlite3_int64*);
  static EntryVfs* self(sqlite3_vfs* v) { return static_cast<EntryVfs*>(v->pAppData); }

  sqlite3_vfs vfs_{};
  sqlite3_vfs* base_;
  std::string name_;
  int64_t julian_ms_ = 0;
  Prng prng_{0};
};

}  // namespace rq::sql
