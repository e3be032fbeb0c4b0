#!/usr/bin/env bash
# Determinism lint (tigerbeetle src/tidy.zig in spirit): core/ and sim/ must not read wall
# clocks, draw from global randomness, start threads, take locks, sleep or read the environment;
# every one of those breaks seed replay. net/ and server/ are where such things live.
set -uo pipefail
root="${1:-$(dirname "$0")/..}"
cd "$root" || exit 2
pattern='std::rand\b|\brand\(|\bsrand\(|random_device|system_clock|steady_clock|high_resolution_clock|std::thread|std::jthread|std::async|std::mutex|std::shared_mutex|std::condition_variable|sleep_for|sleep_until|\busleep\(|\bgetenv\(|\btime\(NULL\)|\btime\(nullptr\)|gettimeofday|clock_gettime|std::[a-z_]*_distribution|std::unordered_(set|map)<[^>]*\*'
hits=$(grep -rnE "$pattern" core sim --include='*.h' --include='*.cpp' | grep -v '// lint: allow' || true)
if [ -n "$hits" ]; then
  echo "determinism lint: forbidden in core/ and sim/:"
  echo "$hits"
  exit 1
fi
echo "determinism lint: clean"
