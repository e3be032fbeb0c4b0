#include "core/sqlite/entry_vfs.h"

#include <cstdio>

#include "core/assert.h"

namespace rq::sql {

// Milliseconds from the Julian day epoch to the Unix epoch (SQLite's date.c).
static constexpr int64_t kUnixEpochJulianMs = 210866760000000LL;

EntryVfs::EntryVfs(const char* base) : base_(sqlite3_vfs_find(base)) {
  RQ_ASSERT(base_ != nullptr);
  char buf[64];
  std::snprintf(buf, sizeof buf, "rq-entry-%p", static_cast<void*>(this));
  name_ = buf;
  vfs_.iVersion = 2;
  vfs_.szOsFile = base_->szOsFile;
  vfs_.mxPathname = base_->mxPathname;
  vfs_.zName = name_.c_str();
  vfs_.pAppData = this;
  vfs_.xOpen = x_open;
  vfs_.xDelete = x_delete;
  vfs_.xAccess = x_access;
  vfs_.xFullPathname = x_full_pathname;
  vfs_.xDlOpen = x_dl_open;
  vfs_.xDlError = x_dl_error;
  vfs_.xDlSym = x_dl_sym;
  vfs_.xDlClose = x_dl_close;
  vfs_.xRandomness = x_randomness;
  vfs_.xSleep = x_sleep;
  vfs_.xCurrentTime = x_current_time;
  vfs_.xGetLastError = x_get_last_error;
  vfs_.xCurrentTimeInt64 = x_current_time_int64;
  RQ_ASSERT_EQ(sqlite3_vfs_register(&vfs_, 0), SQLITE_OK);
}

EntryVfs::~EntryVfs() {
  sqlite3_vfs_unregister(&vfs_);
}

void EntryVfs::enter(int64_t unix_ns, uint64_t seed) {
  julian_ms_ = kUnixEpochJulianMs + unix_ns / 1'000'000;
  prng_ = Prng(seed ^ 0x9d2c5680a4b3e1f7ULL);
  sqlite3_vfs_register(&vfs_, 1);
  sqlite3_randomness(0, nullptr);
}

int EntryVfs::x_open(sqlite3_vfs* v, sqlite3_filename name, sqlite3_file* f, int flags, int* out) {
  return self(v)->base_->xOpen(self(v)->base_, name, f, flags, out);
}
int EntryVfs::x_delete(sqlite3_vfs* v, const char* name, int sync_dir) {
  return self(v)->base_->xDelete(self(v)->base_, name, sync_dir);
}
int EntryVfs::x_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return self(v)->base_->xAccess(self(v)->base_, name, flags, out);
}
int EntryVfs::x_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return self(v)->base_->xFullPathname(self(v)->base_, name, n, out);
}
void* EntryVfs::x_dl_open(sqlite3_vfs* v, const char* name) {
  return self(v)->base_->xDlOpen(self(v)->base_, name);
}
void EntryVfs::x_dl_error(sqlite3_vfs* v, int n, char* out) {
  self(v)->base_->xDlError(self(v)->base_, n, out);
}
void (*EntryVfs::x_dl_sym(sqlite3_vfs* v, void* h, const char* sym))(void) {
  return self(v)->base_->xDlSym(self(v)->base_, h, sym);
}
void EntryVfs::x_dl_close(sqlite3_vfs* v, void* h) {
  self(v)->base_->xDlClose(self(v)->base_, h);
}
int EntryVfs::x_sleep(sqlite3_vfs* v, int us) {
  return self(v)->base_->xSleep(self(v)->base_, us);
}
int EntryVfs::x_get_last_error(sqlite3_vfs* v, int n, char* out) {
  return self(v)->base_->xGetLastError != nullptr
             ? self(v)->base_->xGetLastError(self(v)->base_, n, out)
             : 0;
}

int EntryVfs::x_randomness(sqlite3_vfs* v, int n, char* out) {
  EntryVfs* s = self(v);
  for (int i = 0; i < n; ++i) out[i] = static_cast<char>(s->prng_.next_u64() & 0xff);
  return n;
}

int EntryVfs::x_current_time(sqlite3_vfs* v, double* out) {
  *out = static_cast<double>(self(v)->julian_ms_) / 86400000.0;
  return SQLITE_OK;
}

int EntryVfs::x_current_time_int64(sqlite3_vfs* v, sqlite3_int64* out) {
  *out = self(v)->julian_ms_;
  return SQLITE_OK;
}

}  // namespace rq::sql
