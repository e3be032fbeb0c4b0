#!/usr/bin/env bash
# The determinism lint must catch what it forbids (a checker that never fails proves nothing).
set -euo pipefail
lint="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/core" "$tmp/sim"
echo 'int f() { return 1; }' > "$tmp/core/ok.cpp"
"$lint" "$tmp" >/dev/null || { echo "clean tree rejected"; exit 1; }
for bad in 'int x = std::rand();' 'auto t = std::chrono::steady_clock::now();' 'std::thread t;' \
           'const char* h = getenv("HOME");' 'std::uniform_int_distribution<int> d;'; do
  echo "$bad" > "$tmp/sim/bad.cpp"
  if "$lint" "$tmp" >/dev/null; then echo "lint missed: $bad"; exit 1; fi
done
echo "lint catches every forbidden pattern tried"
