#!/usr/bin/env bash
# rqcheck's speed on the Porcupine corpus: the memoised search (the default) against the naive
# one (--naive: plain Wing & Gong, no memoisation and no reductions, stopped after --max-steps),
# timed by this script's clock per process, process start included (rqcheck reads no clock).
#   scripts/rqcheck-bench.sh [RQCHECK] [CORPUS_DIR] [NAIVE_MAX_STEPS]
set -uo pipefail
rqcheck="${1:-build/bin/rqcheck}"
corpus="${2:-$(dirname "$0")/../../shared/testdata/linearizability/porcupine}"
naive_steps="${3:-10000000}"
manifest="$corpus/MANIFEST.tsv"
[ -x "$rqcheck" ] || { echo "no rqcheck at $rqcheck"; exit 2; }
[ -r "$manifest" ] || { echo "no manifest at $manifest"; exit 2; }
now_ns() { date +%s%N; }

# run EXPECTED FILE ARGS...: sets ms (wall), rc, and verdict (ok | wrong | gave-up).
run() {
  local expected="$1" file="$2"
  shift 2
  local a b
  a=$(now_ns)
  "$rqcheck" "$@" "$file" > /dev/null 2>&1
  rc=$?
  b=$(now_ns)
  ms=$(( (b - a) / 1000000 ))
  case "$rc:$expected" in
    0:ok | 1:illegal) verdict=ok ;;
    3:*) verdict=gave-up ;;
    *) verdict=wrong ;;
  esac
}

# etcd MODE_NAME ARGS...: one line for the whole etcd corpus.
etcd() {
  local name="$1" total=0 slowest=0 slowest_file="" right=0 gave_up=0 n=0
  shift
  while IFS=$'\t' read -r file model expected ops; do
    [ "$model" = etcd-register ] || continue
    [ "$expected" = none ] && continue
    run "$expected" "$corpus/$file" --model register --format porcupine-etcd "$@"
    n=$((n + 1)); total=$((total + ms))
    [ "$verdict" = ok ] && right=$((right + 1))
    [ "$verdict" = gave-up ] && gave_up=$((gave_up + 1))
    if [ "$ms" -gt "$slowest" ]; then slowest=$ms; slowest_file=$(basename "$file"); fi
  done < "$manifest"
  printf '  %-34s %6d ms total, slowest %5d ms (%s); right %d/%d, gave up %d\n' \
    "$name" "$total" "$slowest" "$slowest_file" "$right" "$n" "$gave_up"
}

echo "rqcheck bench: $rqcheck on $corpus (wall time per process, process start included)"
empty=$(mktemp)
run ok "$empty" --model register --format edn
rm -f "$empty"
echo "process start (an empty history): $ms ms"
echo "etcd corpus (register model, porcupine-etcd format):"
etcd "memoised" --no-minimise
etcd "memoised, minimising failures" 
etcd "naive (max $naive_steps steps)" --naive --max-steps "$naive_steps" --no-minimise

echo "key-value files (kv model, porcupine-kv format), ms and result:"
printf '  %-14s %16s %16s %22s %22s\n' file "memo per-key" "memo all-keys" "naive per-key" \
  "naive all-keys"
while IFS=$'\t' read -r file model expected ops; do
  [ "$model" = kv ] || continue
  line=$(printf '  %-14s' "$(basename "$file")")
  for mode in "" "--no-partition" "--naive" "--naive --no-partition"; do
    extra=(--no-minimise)
    case "$mode" in *--naive*) extra+=(--naive --max-steps "$naive_steps") ;; esac
    case "$mode" in *--no-partition*) extra+=(--no-partition) ;; esac
    run "$expected" "$corpus/$file" --model kv --format porcupine-kv "${extra[@]}"
    cell="$ms ms $verdict"
    case "$mode" in --naive*) line+=$(printf ' %22s' "$cell") ;; *) line+=$(printf ' %16s' "$cell") ;; esac
  done
  echo "$line"
done < "$manifest"
