// rqcheck: is a client history linearizable?
//   rqcheck --model register|kv|sql-register [--init V]
//           --format porcupine-etcd|porcupine-kv|edn|jsonl [options] FILE
// Options:
//   --init V          the register's initial value, an integer (default: absent, read as nil)
//   --independent     every :value is a jepsen.independent tuple [k v] (edn): each key k is
//                     a register of its own, as Jepsen's independent checker splits the history
//                     (what rqjepsen writes for multi-register and append)
//   --no-partition    check every key together instead of each key alone
//   --naive           no memoisation (plain Wing & Gong), a baseline; stops after --max-steps
//   --max-steps N     model steps per search (default 200000000, with --naive 10000000)
//   --no-minimise     when not linearizable, report the failing key without looking for the
//                     shortest failing prefix
//   --stats           a last line with operations, parts searched and model steps
// Prints `linearizable`, or `not linearizable` and the smallest failing part it found.
// Exit: 0 linearizable, 1 not linearizable, 2 bad usage or unreadable input (line and reason),
// 3 gave up (a bound was hit: neither proven nor refuted).
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "sim/history_formats.h"
#include "sim/linearizability.h"

namespace {

using namespace rq::sim;
using rq::Result;

constexpr uint64_t kNaiveMaxSteps = 10'000'000;
constexpr size_t kOpsShownMax = 100;

int usage(const std::string& why) {
  std::fprintf(stderr, "rqcheck: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: rqcheck --model register|kv|sql-register [--init V]\n"
               "               --format porcupine-etcd|porcupine-kv|edn|jsonl\n"
               "               [--no-partition] [--naive] [--max-steps N] [--no-minimise]"
               " [--stats] [--independent] FILE\n");
  return 2;
}

struct Args {
  Model model;
  HistoryFormat format = HistoryFormat::kEdn;
  CheckOptions check;
  ReadOptions read;
  bool have_model = false, have_format = false, have_max_steps = false, stats = false;
  std::string file;
};

bool parse_i64(const std::string& s, int64_t* out) {
  char* end = nullptr;
  errno = 0;
  *out = std::strtoll(s.c_str(), &end, 10);
  return !s.empty() && errno == 0 && *end == '\0';
}

// Empty on success, else why the arguments are wrong.
std::string parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--model" && has_value) {
      const auto m = model_from_name(argv[++i]);
      if (!m.has_value()) return std::string("unknown model ") + argv[i];
      a->model.kind = *m;
      a->have_model = true;
    } else if (arg == "--format" && has_value) {
      const auto f = format_from_name(argv[++i]);
      if (!f.has_value()) return std::string("unknown format ") + argv[i];
      a->format = *f;
      a->have_format = true;
    } else if (arg == "--init" && has_value) {
      int64_t v = 0;
      if (!parse_i64(argv[++i], &v)) return "--init wants an integer";
      a->model.init = Value::integer(v);
    } else if (arg == "--max-steps" && has_value) {
      int64_t v = 0;
      if (!parse_i64(argv[++i], &v) || v <= 0) return "--max-steps wants a positive integer";
      a->check.limits.max_steps = static_cast<uint64_t>(v);
      a->have_max_steps = true;
    } else if (arg == "--naive") {
      a->check.limits.memoise = false;
      a->check.limits.reduce = false;
    } else if (arg == "--independent") {
      a->read.independent = true;
    } else if (arg == "--no-partition") {
      a->check.partition = false;
    } else if (arg == "--no-minimise") {
      a->check.minimise = false;
    } else if (arg == "--stats") {
      a->stats = true;
    } else if (arg.starts_with("--") || !a->file.empty()) {
      return "unexpected argument " + arg;
    } else {
      a->file = arg;
    }
  }
  if (!a->have_model) return "--model is required";
  if (!a->have_format) return "--format is required";
  if (a->file.empty()) return "no FILE";
  if (!a->model.init.is_nil() && a->model.kind == ModelKind::kKv) return "--init is for registers";
  if (!a->check.limits.memoise && !a->have_max_steps) a->check.limits.max_steps = kNaiveMaxSteps;
  return "";
}

// The completion that no order explains: the last one in the failing prefix.
const Operation* last_completed(const History& h) {
  const Operation* last = nullptr;
  for (const Operation& op : h.ops) {
    if (op.ret != kNeverReturned && (last == nullptr || op.ret > last->ret)) last = &op;
  }
  return last;
}

void print_failure(const CheckReport& r, bool minimised) {
  std::printf("not linearizable\n");
  const History& h = r.failing;
  std::string part = r.keyed ? "key " + Value::string(*r.failing_key).to_edn() : "the history";
  if (!minimised) {
    std::printf("%s fails; it has %zu operations\n", part.c_str(), h.ops.size());
  } else {
    std::printf("%s: the shortest failing prefix has %zu operations\n", part.c_str(), h.ops.size());
    if (const Operation* last = last_completed(h); last != nullptr) {
      std::printf("no order explains the completion at line %" PRIu32 ": %s\n", last->ret_line,
                  describe(*last).c_str());
    }
  }
  const size_t skip = h.ops.size() > kOpsShownMax ? h.ops.size() - kOpsShownMax : 0;
  if (skip > 0) std::printf("  ... %zu earlier operations not shown\n", skip);
  for (size_t i = skip; i < h.ops.size(); ++i) std::printf("  %s\n", describe(h.ops[i]).c_str());
}

int run(const Args& a) {
  std::ifstream in(a.file, std::ios::binary);
  if (!in.is_open()) {
    std::fprintf(stderr, "rqcheck: cannot open %s\n", a.file.c_str());
    return 2;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    std::fprintf(stderr, "rqcheck: cannot read %s\n", a.file.c_str());
    return 2;
  }
  Result<History> h = read_history(a.format, text.str(), a.read);
  if (!h.ok()) {
    std::fprintf(stderr, "rqcheck: %s: %s\n", a.file.c_str(), h.error().message.c_str());
    return 2;
  }
  Result<CheckReport> r = check_history(h.value(), a.model, a.check);
  if (!r.ok()) {
    std::fprintf(stderr, "rqcheck: %s: %s\n", a.file.c_str(), r.error().message.c_str());
    return 2;
  }
  int exit_code = 0;
  switch (r->verdict) {
    case Verdict::kLinearizable:
      std::printf("linearizable\n");
      break;
    case Verdict::kNotLinearizable:
      print_failure(r.value(), a.check.minimise);
      exit_code = 1;
      break;
    case Verdict::kGaveUp:
      std::printf("unknown: the search %s; neither proven nor refuted\n", r->gave_up.c_str());
      exit_code = 3;
      break;
  }
  if (a.stats) {
    std::printf("ops=%zu parts=%zu steps=%" PRIu64 " memo=%" PRIu64 "\n", h->ops.size(), r->parts,
                r->steps, r->memo_entries);
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (const std::string why = parse_args(argc, argv, &a); !why.empty()) return usage(why);
  return run(a);
}
