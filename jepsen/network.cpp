#include "jepsen/network.h"

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "jepsen/processes.h"

namespace rq::jepsen {

bool enter_private_network(std::string* why) {
  if (::unshare(CLONE_NEWNET) != 0) {
    *why = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) +
           (errno == EPERM ? " (rqjepsen needs root: it makes a private network namespace for its nodes)" : "");
    return false;
  }
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    *why = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  if (ok) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    ok = ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  }
  if (!ok) *why = std::string("bringing lo up: ") + std::strerror(errno);
  ::close(s);
  return ok;
}

bool nft(const std::string& script, std::string* why) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) {
    *why = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    *why = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    *why = std::string("fork: ") + std::strerror(errno);
    for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
    return false;
  }
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    const char* const argv[] = {"nft", "-f", "-", nullptr};
    ::execvp("nft", const_cast<char* const*>(argv));
    const char msg[] = "cannot run nft (Debian package nftables)\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  size_t off = 0;
  while (off < script.size()) {
    const ssize_t n = ::write(in[1], script.data() + off, script.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(in[1]);
  std::string said;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    said.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return true;
  *why = "nft failed: " + said;
  return false;
}

bool Firewall::init(std::string* why) {
  by_owner_.clear();
  ready_ = nft(
      "table inet rqjepsen\n"
      "delete table inet rqjepsen\n"
      "table inet rqjepsen {\n"
      "  chain out { type filter hook output priority 0; policy accept; }\n"
      "}\n",
      why);
  return ready_;
}

std::set<std::pair<int, int>> Firewall::cuts() const {
  std::set<std::pair<int, int>> all;
  for (const auto& [owner, c] : by_owner_) all.insert(c.begin(), c.end());
  return all;
}

bool Firewall::apply(std::string* why) {
  std::string s = "flush chain inet rqjepsen out\n";
  for (const auto& [a, b] : cuts()) {
    s += "add rule inet rqjepsen out ip saddr " + Cluster::host(a) + " ip daddr " + Cluster::host(b) + " drop\n";
  }
  return nft(s, why);
}

bool Firewall::set(int owner, const std::set<std::pair<int, int>>& cuts, std::string* why) {
  if (!ready_) {
    *why = "the firewall is not set up";
    return false;
  }
  if (cuts.empty()) {
    by_owner_.erase(owner);
  } else {
    by_owner_[owner] = cuts;
  }
  return apply(why);
}

bool Firewall::heal_all(std::string* why) {
  if (!ready_ || by_owner_.empty()) return true;
  by_owner_.clear();
  return apply(why);
}

}  // namespace rq::jepsen
