#!/usr/bin/env bash
# scripts/sweep-long.py in miniature: a passing sweep is resumed chunk by chunk from its state
# directory, and failures (reads at level none, which the checker must reject) are printed with
# their replay commands and make it exit 1.
set -uo pipefail
script="$1"
rqsim="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

if ! "$script" --rqsim "$rqsim" --state "$dir" --workloads raft --raft-seeds 20 --chunk 10 > "$dir/first" 2>&1; then
  echo "FAIL: 20 raft seeds did not pass"; cat "$dir/first"; exit 1
fi
grep -q '^raft *20 *0 ' "$dir/first" || { echo "FAIL: no summary row"; cat "$dir/first"; exit 1; }
"$script" --rqsim "$rqsim" --state "$dir" --workloads raft --raft-seeds 20 --chunk 10 > "$dir/second" 2>&1
if ! grep -Eq '^raft +20 +0 +[0-9.]+ +[0-9,]+ +2$' "$dir/second"; then
  echo "FAIL: the second run did not resume both chunks"; cat "$dir/second"; exit 1
fi

"$script" --rqsim "$rqsim" --state "$dir" --workloads register --sql-seeds 20 --chunk 10 --read-level none \
  > "$dir/none" 2>&1
rc=$?
if [ "$rc" -ne 1 ]; then echo "FAIL: exit $rc with stale reads"; cat "$dir/none"; exit 1; fi
if ! grep -q 'FAIL register: seed=[0-9]* result=fail reason=not-linearizable replay: .* --read-level none' "$dir/none"; then
  echo "FAIL: no failure line with its replay command"; cat "$dir/none"; exit 1
fi
grep -q 'result=fail' "$dir/none" || { echo "FAIL: no result line"; exit 1; }
echo "sweep-long: resumes, reports failures"
