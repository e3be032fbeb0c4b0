#include "jepsen/processes.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <thread>

namespace rq::jepsen {

Cluster::Cluster(ClusterOptions o) : o_(std::move(o)), nodes_(static_cast<size_t>(o_.nodes)) {}

Cluster::~Cluster() {
  for (int k = 1; k <= size(); ++k) {
    if (running(k)) kill(k);
  }
}

std::string Cluster::dir(int k) const { return o_.out + "/n" + std::to_string(k); }

std::vector<std::string> Cluster::args(int k) const {
  std::vector<std::string> a = {o_.rqlited, "-node-id", "n" + std::to_string(k), "-http-addr", http_address(k),
                                "-raft-addr", raft_address(k)};
  if (o_.bootstrap_expect) {
    std::string all;
    for (int j = 1; j <= size(); ++j) all += (j > 1 ? "," : "") + raft_address(j);
    a.insert(a.end(), {"-bootstrap-expect", std::to_string(size()), "-join", all});
  } else if (k != 1) {
    // A node with Raft state ignores -join (rqlite's rule), so restarts keep the same flags.
    a.insert(a.end(), {"-join", raft_address(1)});
  }
  a.insert(a.end(), o_.extra_flags.begin(), o_.extra_flags.end());
  a.push_back(dir(k) + "/data");
  return a;
}

bool Cluster::start(int k, std::string* why) {
  Proc& p = nodes_[k - 1];
  if (p.pid > 0) {
    *why = "node " + std::to_string(k) + " is running";
    return false;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir(k), ec);
  if (ec) {
    *why = "cannot create " + dir(k) + ": " + ec.message();
    return false;
  }
  const std::vector<std::string> a = args(k);
  const int log = ::open(log_path(k).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    *why = "cannot open " + log_path(k) + ": " + std::strerror(errno);
    return false;
  }
  std::string banner = "==== rqjepsen: start " + std::to_string(p.starts + 1) + " of node " + std::to_string(k);
  if (!p.clock.spec.empty()) banner += " with FAKETIME=\"" + p.clock.spec + "\"" + (p.clock.wall_only ? " (wall clock only)" : "");
  banner += ":";
  for (const auto& s : a) banner += " " + s;
  banner += "\n";
  (void)!::write(log, banner.data(), banner.size());

  // Everything the child needs is prepared before fork (the parent has threads of no kind, but
  // allocation after fork is best avoided anyway).
  std::vector<char*> argv;
  for (const auto& s : a) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "LD_PRELOAD=", 11) == 0 || std::strncmp(*e, "FAKETIME", 8) == 0) continue;
    env_store.emplace_back(*e);
  }
  if (!p.clock.spec.empty()) {
    if (o_.faketime_lib.empty()) {
      ::close(log);
      *why = "a clock fault needs libfaketime";
      return false;
    }
    env_store.push_back("LD_PRELOAD=" + o_.faketime_lib);
    env_store.push_back("FAKETIME=" + p.clock.spec);
    env_store.push_back("FAKETIME_NO_CACHE=1");
    if (p.clock.wall_only) env_store.push_back("FAKETIME_DONT_FAKE_MONOTONIC=1");
  }
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    *why = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    // The child: its own process group (a Ctrl-C to the harness does not reach it first; the
    // harness kills it), output to the node's log.
    ::setpgid(0, 0);
    // It dies with the harness, however the harness ends (SIGKILL, or a SIGPIPE from a campaign
    // that went away): no node outlives its run. The harness is single-threaded, so its forking
    // thread lives as long as it does.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log, 1);
    ::dup2(log, 2);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "rqjepsen: exec failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(log);
  p.pid = pid;
  p.paused = false;
  ++p.starts;
  return true;
}

void Cluster::kill(int k) {
  Proc& p = nodes_[k - 1];
  if (p.pid <= 0) return;
  ::kill(p.pid, SIGKILL);
  int st = 0;
  while (::waitpid(p.pid, &st, 0) < 0 && errno == EINTR) {
  }
  p.pid = -1;
  p.paused = false;
}

bool Cluster::terminate(int k) {
  Proc& p = nodes_[k - 1];
  if (p.pid <= 0) return true;
  if (p.paused) ::kill(p.pid, SIGCONT);
  ::kill(p.pid, SIGTERM);
  for (int i = 0; i < 1000; ++i) {  // 10 s
    int st = 0;
    const pid_t r = ::waitpid(p.pid, &st, WNOHANG);
    if (r == p.pid) {
      p.pid = -1;
      p.paused = false;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // A hang worth a look: every thread's stack, beside the node's log, if gdb is at hand.
  const std::string out = dir(k) + "/hang-" + std::to_string(p.starts) + ".txt";
  const std::string cmd = "command -v gdb >/dev/null && gdb -p " + std::to_string(p.pid) +
                          " -batch -ex 'thread apply all bt 30' > " + out + " 2>&1";
  (void)!std::system(cmd.c_str());
  kill(k);
  return false;
}

void Cluster::pause(int k) {
  Proc& p = nodes_[k - 1];
  if (p.pid <= 0 || p.paused) return;
  ::kill(p.pid, SIGSTOP);
  p.paused = true;
}

void Cluster::resume(int k) {
  Proc& p = nodes_[k - 1];
  if (p.pid <= 0 || !p.paused) return;
  ::kill(p.pid, SIGCONT);
  p.paused = false;
}

std::vector<int> Cluster::reap_exited() {
  std::vector<int> out;
  for (int k = 1; k <= size(); ++k) {
    Proc& p = nodes_[k - 1];
    if (p.pid <= 0) continue;
    int st = 0;
    if (::waitpid(p.pid, &st, WNOHANG) == p.pid) {
      p.pid = -1;
      p.paused = false;
      out.push_back(k);
    }
  }
  return out;
}

}  // namespace rq::jepsen
