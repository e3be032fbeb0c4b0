#include "net/posix_disk.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace rq::net {
namespace {

Error os_error(const std::string& what, const std::string& name, int err) {
  const ErrorCode code = err == ENOENT   ? ErrorCode::kNotFound
                         : err == EEXIST ? ErrorCode::kExists
                                         : ErrorCode::kIo;
  return make_error(code, what + " " + name + ": " + std::strerror(err));
}

// Names are plain file names inside the directory: no separators, no "." or "..".
bool valid_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

Error bad_name(const std::string& name) {
  return make_error(ErrorCode::kInvalid, "invalid file name: " + name);
}

}  // namespace

Result<std::unique_ptr<PosixDisk>> PosixDisk::open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::kIo, "create directory " + dir + ": " + ec.message());
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return os_error("open directory", dir, errno);
  return std::unique_ptr<PosixDisk>(new PosixDisk(dir, dfd));
}

PosixDisk::~PosixDisk() {
  for (auto& [name, f] : fds_) ::close(f);
  ::close(dir_fd_);
}

Result<int> PosixDisk::fd(const std::string& name) {
  if (!valid_name(name)) return bad_name(name);
  if (auto it = fds_.find(name); it != fds_.end()) return it->second;
  const int f = ::openat(dir_fd_, name.c_str(), O_RDWR | O_CLOEXEC);
  if (f < 0) return os_error("open", name, errno);
  fds_[name] = f;
  return f;
}

void PosixDisk::close_fd(const std::string& name) {
  if (auto it = fds_.find(name); it != fds_.end()) {
    ::close(it->second);
    fds_.erase(it);
  }
}

Result<std::vector<std::string>> PosixDisk::list() {
  const int dup = ::dup(dir_fd_);
  if (dup < 0) return os_error("list", dir_, errno);
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    const int err = errno;
    ::close(dup);
    return os_error("list", dir_, err);
  }
  ::rewinddir(d);
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (::fstatat(dir_fd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
      out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<uint64_t> PosixDisk::size(const std::string& name) {
  auto f = fd(name);
  if (!f) return f.error();
  struct stat st;
  if (::fstat(*f, &st) != 0) return os_error("stat", name, errno);
  return static_cast<uint64_t>(st.st_size);
}

Status PosixDisk::create(const std::string& name) {
  if (!valid_name(name)) return bad_name(name);
  const int f = ::openat(dir_fd_, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (f < 0) return os_error("create", name, errno);
  fds_[name] = f;
  return ok_status();
}

Result<std::string> PosixDisk::read(const std::string& name, uint64_t offset, uint64_t len) {
  auto f = fd(name);
  if (!f) return f.error();
  struct stat st;
  if (::fstat(*f, &st) != 0) return os_error("stat", name, errno);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (offset >= size) return std::string();
  std::string out(std::min(len, size - offset), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(*f, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error("read", name, errno);
    }
    if (n == 0) break;  // shrank meanwhile
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

Status PosixDisk::pwrite_all(int f, const std::string& name, uint64_t offset,
                             std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(f, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error("write", name, errno);
    }
    done += static_cast<size_t>(n);
  }
  counters_.bytes_written.fetch_add(bytes.size(), std::memory_order_relaxed);
  return ok_status();
}

Status PosixDisk::append(const std::string& name, std::string_view bytes) {
  auto f = fd(name);
  if (!f) return f.error();
  struct stat st;
  if (::fstat(*f, &st) != 0) return os_error("stat", name, errno);
  return pwrite_all(*f, name, static_cast<uint64_t>(st.st_size), bytes);
}

Status PosixDisk::write(const std::string& name, uint64_t offset, std::string_view bytes) {
  auto f = fd(name);
  if (!f) return f.error();
  return pwrite_all(*f, name, offset, bytes);
}

Status PosixDisk::truncate(const std::string& name, uint64_t size) {
  auto f = fd(name);
  if (!f) return f.error();
  if (::ftruncate(*f, static_cast<off_t>(size)) != 0) return os_error("truncate", name, errno);
  return ok_status();
}

Status PosixDisk::rename(const std::string& from, const std::string& to) {
  if (!valid_name(from)) return bad_name(from);
  if (!valid_name(to)) return bad_name(to);
  if (::renameat(dir_fd_, from.c_str(), dir_fd_, to.c_str()) != 0)
    return os_error("rename", from + " to", errno);
  close_fd(to);
  if (auto it = fds_.find(from); it != fds_.end()) {
    fds_[to] = it->second;
    fds_.erase(it);
  }
  return ok_status();
}

Status PosixDisk::remove(const std::string& name) {
  if (!valid_name(name)) return bad_name(name);
  if (::unlinkat(dir_fd_, name.c_str(), 0) != 0) return os_error("remove", name, errno);
  close_fd(name);
  return ok_status();
}

Status PosixDisk::sync(const std::string& name) {
  auto f = fd(name);
  if (!f) return f.error();
  counters_.syncs.fetch_add(1, std::memory_order_relaxed);
  // A failed fdatasync may have dropped the dirty pages: the caller must fail-stop, not retry.
  if (::fdatasync(*f) != 0) return os_error("fdatasync", name, errno);
  return ok_status();
}

Status PosixDisk::sync_dir() {
  counters_.dir_syncs.fetch_add(1, std::memory_order_relaxed);
  if (::fsync(dir_fd_) != 0) return os_error("fsync directory", dir_, errno);
  return ok_status();
}

}  // namespace rq::net
