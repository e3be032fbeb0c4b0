#include "sim/linearizability.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace rq::sim {
namespace {

struct Part {
  std::optional<std::string> key;
  History h;
};

// One sub-history per key, in key order (so reports do not depend on anything but the input).
std::vector<Part> split_by_key(const History& h) {
  std::map<std::optional<std::string>, History> by_key;
  for (const Operation& op : h.ops) {
    History& part = by_key[op.key];
    part.events = h.events;
    part.ops.push_back(op);
  }
  std::vector<Part> parts;
  for (auto& [key, part] : by_key) parts.push_back(Part{key, std::move(part)});
  return parts;
}

SearchResult search_once(const History& h, const Model& m, const SearchLimits& limits) {
  Result<CompiledHistory> c = compile_history(h, m);
  RQ_ASSERT(c.ok());  // check_history compiled the whole history first
  return search_linearization(c->ops, *c->spec, limits);
}

// A probe of the minimisation may take this many times the steps the search that found the
// failure took (at least kMinimiseStepsMin, at most the limit): a probe that gives up only
// makes the prefix found longer than it could be.
constexpr uint64_t kMinimiseStepsFactor = 4;
constexpr uint64_t kMinimiseStepsMin = 1'000'000;

// Binary search over the completions: prefixes only get harder to linearize as they grow, so
// the failing ones are a suffix of the cut points. `h` itself is known to fail, after
// `found_steps` model steps.
History shortest_failing_prefix(const History& h, const Model& m, const CheckOptions& o,
                                uint64_t found_steps, uint64_t* steps) {
  std::vector<uint64_t> cuts;
  for (const Operation& op : h.ops) {
    if (op.ret != kNeverReturned) cuts.push_back(op.ret + 1);
  }
  std::sort(cuts.begin(), cuts.end());
  SearchLimits probe = o.limits;
  probe.max_steps =
      std::min(o.limits.max_steps, std::max(kMinimiseStepsMin, kMinimiseStepsFactor * found_steps));
  size_t lo = 0, hi = cuts.size();  // the first failing cut is in [lo, hi]; hi = all of h
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const SearchResult r = search_once(history_prefix(h, cuts[mid]), m, probe);
    *steps += r.steps;
    if (r.verdict == Verdict::kNotLinearizable) {
      hi = mid;
    } else {
      lo = mid + 1;  // linearizable, or too hard to tell: look further
    }
  }
  return hi == cuts.size() ? h : history_prefix(h, cuts[hi]);
}

// One part's search, run a slice at a time.
struct Running {
  const Part* part;
  CompiledHistory compiled;
  std::unique_ptr<LinearizationSearch> search;
  uint64_t bytes;  // its memory after its last slice
};

// The first slice each part gets, in model steps; every round doubles it.
constexpr uint64_t kFirstSliceSteps = 1 << 12;

// Runs every part's search in rounds until one fails or all are done: a key that fails quickly
// is found even when another key's search is slow (Porcupine runs the parts in parallel and
// stops at the first failure; rounds do the same without threads, in key order, so the answer
// is the same every run). The searches share one memory budget. Returns the failing part and
// the steps its search took, or nullptr.
std::pair<const Part*, uint64_t> first_failing_part(const std::vector<Part>& parts, const Model& m,
                                                    const CheckOptions& o, CheckReport* report) {
  std::vector<Running> running;
  running.reserve(parts.size());
  for (const Part& part : parts) {
    Result<CompiledHistory> c = compile_history(part.h, m);
    RQ_ASSERT(c.ok());  // check_history compiled the whole history first
    running.push_back(Running{&part, std::move(c).value(), nullptr, 0});
    Running& r = running.back();
    r.search = std::make_unique<LinearizationSearch>(r.compiled.ops, *r.compiled.spec, o.limits);
  }
  uint64_t total_bytes = 0;  // of the searches still running
  for (uint64_t slice = kFirstSliceSteps; !running.empty(); slice *= 2) {
    for (size_t i = 0; i < running.size();) {
      Running& run = running[i];
      const uint64_t others = total_bytes - run.bytes;
      const uint64_t cap =
          o.limits.memory_bytes_max > others ? o.limits.memory_bytes_max - others : 0;
      const std::optional<SearchResult> r = run.search->run_for(slice, cap);
      total_bytes = others + run.search->memory_bytes();
      run.bytes = total_bytes - others;
      if (!r.has_value()) {
        ++i;
        continue;
      }
      report->steps += r->steps;
      report->memo_entries += r->memo_entries;
      if (r->verdict == Verdict::kNotLinearizable) return {run.part, r->steps};
      if (r->verdict == Verdict::kGaveUp && report->gave_up.empty()) report->gave_up = r->gave_up;
      total_bytes = others;
      running.erase(running.begin() + static_cast<ptrdiff_t>(i));
    }
  }
  return {nullptr, 0};
}

}  // namespace

Result<CheckReport> check_history(const History& h, const Model& m, const CheckOptions& o) {
  if (Result<CompiledHistory> whole = compile_history(h, m); !whole.ok()) return whole.error();
  std::vector<Part> parts;
  if (o.partition) {
    parts = split_by_key(h);
  } else {
    parts.push_back(Part{std::nullopt, h});
  }
  CheckReport report;
  report.parts = parts.size();
  const auto [failing, found_steps] = first_failing_part(parts, m, o, &report);
  if (failing == nullptr) {
    report.verdict = report.gave_up.empty() ? Verdict::kLinearizable : Verdict::kGaveUp;
    return report;
  }
  report.verdict = Verdict::kNotLinearizable;
  report.keyed = o.partition && failing->key.has_value();
  report.failing_key = report.keyed ? failing->key : std::nullopt;
  report.failing = o.minimise
                       ? shortest_failing_prefix(failing->h, m, o, found_steps, &report.steps)
                       : failing->h;
  return report;
}

}  // namespace rq::sim
