#!/usr/bin/env bash
# The checker has teeth: reads at level `none` go to any node, so with the default swarm some seed
# in 1-100 must show a stale read (reason=not-linearizable). The failing seed's history, written
# as jsonl, must get the same verdict from rqcheck; the same seed at `linearizable` must pass, and
# rqcheck must accept its history.
set -uo pipefail
rqsim="$1"
rqcheck="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

out=$("$rqsim" --seeds 1-100 --workload register --read-level none)
fails=$(echo "$out" | grep -c 'result=fail reason=not-linearizable replay:')
other=$(echo "$out" | grep 'result=fail' | grep -vc 'reason=not-linearizable')
echo "level none: $fails of 100 seeds not linearizable, $other failed otherwise"
if [ "$fails" -lt 1 ]; then
  echo "FAIL: no stale read caught at level none"
  exit 1
fi
if [ "$other" -ne 0 ]; then
  echo "FAIL: seeds failed for another reason:"; echo "$out" | grep 'result=fail' | grep -v 'reason=not-linearizable'
  exit 1
fi
seed=$(echo "$out" | grep 'result=fail reason=not-linearizable replay:' | head -1 | sed 's/^seed=\([0-9]*\).*/\1/')

"$rqsim" --seed "$seed" --workload register --read-level none --history "$dir/none.jsonl" > "$dir/none.out"
if [ $? -ne 1 ] || ! grep -q 'reason=not-linearizable' "$dir/none.out"; then
  echo "FAIL: seed $seed does not replay its failure"; tail -3 "$dir/none.out"; exit 1
fi
"$rqcheck" --model sql-register --format jsonl "$dir/none.jsonl" > "$dir/none.check"
rc=$?
if [ $rc -ne 1 ] || ! grep -q '^not linearizable' "$dir/none.check"; then
  echo "FAIL: rqcheck on seed $seed's history: exit $rc"; head -5 "$dir/none.check"; exit 1
fi

"$rqsim" --seed "$seed" --workload register --read-level linearizable --history "$dir/lin.jsonl" > "$dir/lin.out"
if [ $? -ne 0 ]; then
  echo "FAIL: seed $seed at linearizable"; tail -3 "$dir/lin.out"; exit 1
fi
"$rqcheck" --model sql-register --format jsonl "$dir/lin.jsonl" > "$dir/lin.check"
rc=$?
if [ $rc -ne 0 ] || ! grep -q '^linearizable' "$dir/lin.check"; then
  echo "FAIL: rqcheck rejects seed $seed's linearizable history: exit $rc"; head -5 "$dir/lin.check"; exit 1
fi
ops=$(grep -c '"type":"invoke"' "$dir/lin.jsonl")
echo "seed $seed: stale at none, linearizable at linearizable ($ops operations), rqcheck agrees"
