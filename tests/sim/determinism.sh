#!/usr/bin/env bash
# The same seed gives the same trace hash run twice, and run alone or inside a sweep.
set -euo pipefail
rqsim="$1"
trace_of() { tail -n 1 | grep -o 'trace=[0-9a-f]*$'; }
for seed in 5 77; do
  a=$("$rqsim" --seed "$seed" | trace_of)
  b=$("$rqsim" --seed "$seed" | trace_of)
  [ -n "$a" ] || { echo "seed $seed: no trace"; exit 1; }
  [ "$a" = "$b" ] || { echo "seed $seed: $a then $b"; exit 1; }
  c=$("$rqsim" --seeds "$((seed - 2))-$((seed + 2))" --print-all | grep "^seed=$seed " | trace_of)
  [ "$a" = "$c" ] || { echo "seed $seed: alone $a, in a sweep $c"; exit 1; }
  echo "seed $seed: $a (alone, again, in a sweep)"
done
# Through the SQL service too: the same trace and the same client history, byte for byte.
hist=$(mktemp -d)
trap 'rm -rf "$hist"' EXIT
for w in register append; do
  a=$("$rqsim" --seed 6 --workload "$w" --history "$hist/a" | trace_of)
  b=$("$rqsim" --seed 6 --workload "$w" --history "$hist/b" | trace_of)
  c=$("$rqsim" --seeds 5-7 --workload "$w" --print-all | grep "^seed=6 " | trace_of)
  [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] || { echo "$w seed 6: $a, $b, in a sweep $c"; exit 1; }
  [ -s "$hist/a" ] && cmp -s "$hist/a" "$hist/b" || { echo "$w seed 6: histories differ or are empty"; exit 1; }
  echo "$w seed 6: $a, $(wc -l < "$hist/a") history events (alone, again, in a sweep)"
done
# Usage errors exit 2; the first line names the seed and the options; the last is the result.
set +e
"$rqsim" --seeds 5-1 >/dev/null 2>&1; [ $? -eq 2 ] || { echo "bad range did not exit 2"; exit 1; }
"$rqsim" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || { echo "unknown flag did not exit 2"; exit 1; }
"$rqsim" >/dev/null 2>&1; [ $? -eq 2 ] || { echo "no arguments did not exit 2"; exit 1; }
"$rqsim" --seed 1 --workload nope >/dev/null 2>&1; [ $? -eq 2 ] || { echo "unknown workload did not exit 2"; exit 1; }
"$rqsim" --seed 1 --workload register --read-level auto >/dev/null 2>&1; [ $? -eq 2 ] || { echo "--read-level auto did not exit 2"; exit 1; }
"$rqsim" --seeds 1-2 --history /dev/null >/dev/null 2>&1; [ $? -eq 2 ] || { echo "--history with --seeds did not exit 2"; exit 1; }
set -e
out=$("$rqsim" --seed 3)
echo "$out" | head -n 1 | grep -q '^seed=3 nodes=[3-7] ' || { echo "first line: $(echo "$out" | head -n 1)"; exit 1; }
echo "$out" | tail -n 1 | grep -Eq '^seed=3 result=pass .* trace=[0-9a-f]{16}$' || { echo "last line: $(echo "$out" | tail -n 1)"; exit 1; }
echo ok
