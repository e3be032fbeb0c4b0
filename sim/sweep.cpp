#include "sim/sweep.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>
#include <vector>

#include "sim/cluster.h"

namespace rq::sim {

Options options_for(uint64_t seed, WorkloadKind workload, svc::ReadLevel level,
                    bool bootstrap_expect, bool white_box) {
  Options o = draw_options(seed);
  o.white_box = white_box;
  o.workload = workload;
  o.read_level = level;
  o.bootstrap_expect = bootstrap_expect && workload != WorkloadKind::kRaft;
  return o;
}

std::string run_one_line(uint64_t seed, bool* pass) { return run_one_line(draw_options(seed), pass); }

std::string run_one_line(const Options& opts, bool* pass) {
  const uint64_t seed = opts.seed;
  Simulation sim(opts, nullptr, false);
  RunResult r = sim.run();
  char trace[32];
  std::snprintf(trace, sizeof trace, "%016" PRIx64, r.trace);
  std::string line = "seed=" + std::to_string(seed) + " result=" + (r.pass ? "pass" : "fail");
  if (!r.pass) line += " reason=" + r.reason;
  line += " " + r.coverage.format() + " trace=" + trace;
  *pass = r.pass;
  return line;
}

namespace {

struct Child {
  pid_t pid = -1;
  int fd = -1;
  uint64_t seed = 0;
  std::string out;
};

Child spawn(uint64_t seed, const SweepOptions& o) {
  int p[2];
  if (pipe(p) != 0) {
    std::perror("pipe");
    std::exit(2);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(2);
  }
  if (pid == 0) {
    close(p[0]);
    dup2(p[1], 1);
    dup2(p[1], 2);
    bool pass = false;
    const std::string line = run_one_line(options_for(seed, o.workload, o.read_level, o.bootstrap_expect, o.white_box), &pass);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    _exit(pass ? 0 : 1);
  }
  close(p[1]);
  return Child{pid, p[0], seed, {}};
}

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

}  // namespace

uint64_t sweep(const SweepOptions& o) {
  const bool tty = isatty(2) != 0;
  const uint64_t total = o.last - o.first + 1;
  uint64_t next = o.first, done = 0, failed = 0;
  std::vector<std::pair<std::string, uint64_t>> sums;
  std::vector<Child> running;
  bool stop = false;

  auto add_counters = [&](const std::string& line) {
    std::istringstream in(line);
    std::string tok;
    while (in >> tok) {
      const size_t eq = tok.find('=');
      if (eq == std::string::npos) continue;
      const std::string k = tok.substr(0, eq);
      if (k == "seed" || k == "result" || k == "reason" || k == "trace") continue;
      const uint64_t v = std::strtoull(tok.c_str() + eq + 1, nullptr, 10);
      bool found = false;
      for (auto& [name, sum] : sums) {
        if (name == k) {
          sum += v;
          found = true;
        }
      }
      if (!found) sums.emplace_back(k, v);
    }
  };

  while ((next <= o.last && !stop) || !running.empty()) {
    while (!stop && next <= o.last && running.size() < static_cast<size_t>(o.jobs)) running.push_back(spawn(next++, o));
    std::vector<pollfd> fds;
    for (auto& c : running) fds.push_back(pollfd{c.fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) continue;
    for (size_t k = 0; k < running.size(); ++k) {
      if ((fds[k].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      Child& c = running[k];
      char buf[4096];
      const ssize_t n = read(c.fd, buf, sizeof buf);
      if (n > 0) {
        c.out.append(buf, static_cast<size_t>(n));
        continue;
      }
      close(c.fd);
      int status = 0;
      waitpid(c.pid, &status, 0);
      std::string line = last_line(c.out);
      const bool has_result = line.rfind("seed=" + std::to_string(c.seed) + " result=", 0) == 0;
      bool pass = has_result && WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!has_result) {
        // The seed died before printing its result: an assertion or a signal.
        const std::string why = WIFSIGNALED(status) ? "signal-" + std::to_string(WTERMSIG(status)) : "no-result";
        line = "seed=" + std::to_string(c.seed) + " result=fail reason=crash-" + why;
        std::string first = c.out.substr(0, c.out.find('\n'));
        if (!first.empty()) std::fprintf(stdout, "seed=%" PRIu64 " output: %s\n", c.seed, first.c_str());
      }
      ++done;
      if (pass) {
        add_counters(line);
        if (o.print_all) std::printf("%s\n", line.c_str());
      } else {
        ++failed;
        add_counters(line);
        std::string reason = "unknown";
        const size_t rp = line.find("reason=");
        if (rp != std::string::npos) reason = line.substr(rp + 7, line.find(' ', rp) - rp - 7);
        if (o.print_all) std::printf("%s\n", line.c_str());
        std::string flags;
        if (o.workload != WorkloadKind::kRaft) {
          flags = std::string(" --workload ") + workload_name(o.workload) + " --read-level " + svc::to_string(o.read_level);
          if (o.bootstrap_expect) flags += " --bootstrap-expect";
        }
        if (!o.white_box) flags += " --black-box";
        std::printf("seed=%" PRIu64 " result=fail reason=%s replay: %s --seed %" PRIu64 "%s\n", c.seed,
                    reason.c_str(), o.self.c_str(), c.seed, flags.c_str());
        if (o.stop_on_fail) stop = true;
      }
      std::fflush(stdout);
      if (tty) {
        const int width = 40;
        const int filled = static_cast<int>(done * width / total);
        std::fprintf(stderr, "\r[%.*s%*s] %" PRIu64 "/%" PRIu64 " fail=%" PRIu64, filled,
                     "########################################", width - filled, "", done, total, failed);
        std::fflush(stderr);
      }
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
      break;  // fds no longer line up with running
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  std::string summary = "seeds=" + std::to_string(done) + " pass=" + std::to_string(done - failed) +
                        " fail=" + std::to_string(failed);
  for (const auto& [name, sum] : sums) summary += " " + name + "=" + std::to_string(sum);
  std::printf("%s\n", summary.c_str());
  std::fflush(stdout);
  return failed;
}

}  // namespace rq::sim
