#!/usr/bin/env bash
# Every history of the Porcupine corpus gets the verdict its MANIFEST.tsv expects, and rqcheck
# reads as many operations as the manifest counts. Key-value logs are checked twice, per key and
# unpartitioned; both must give the expected verdict.
#   rqcheck_corpus.sh RQCHECK CORPUS_DIR
set -uo pipefail
rqcheck="$1"
corpus="$2"
manifest="$corpus/MANIFEST.tsv"
[ -r "$manifest" ] || { echo "corpus: no manifest at $manifest"; exit 1; }

files=0; checks=0; bad=0
fail() { echo "MISMATCH $*"; bad=$((bad + 1)); }
while IFS=$'\t' read -r file model expected ops; do
  [ "$file" = file ] && continue  # the header
  files=$((files + 1))
  case "$model" in
    etcd-register) args=(--model register --format porcupine-etcd); modes=(--partition) ;;
    kv) args=(--model kv --format porcupine-kv); modes=(--partition --no-partition) ;;
    *) fail "$file: unknown model $model"; continue ;;
  esac
  case "$expected" in
    ok) want=0 ;;
    illegal) want=1 ;;
    none) want=any ;;  # etcd_095: an empty log, no verdict; it must still be readable
    *) fail "$file: unknown verdict $expected"; continue ;;
  esac
  for mode in "${modes[@]}"; do
    extra=()
    [ "$mode" = --no-partition ] && extra=(--no-partition)
    out=$("$rqcheck" "${args[@]}" "${extra[@]}" --stats "$corpus/$file" 2>&1)
    rc=$?
    checks=$((checks + 1))
    got_ops=$(echo "$out" | sed -n 's/^ops=\([0-9]*\) .*/\1/p')
    if [ "$want" = any ]; then
      [ "$rc" -le 1 ] || fail "$file $mode: exit $rc: $(echo "$out" | head -n 2)"
    elif [ "$rc" -ne "$want" ]; then
      fail "$file $mode: exit $rc, want $want: $(echo "$out" | head -n 2)"
    fi
    [ "$got_ops" = "$ops" ] || fail "$file $mode: read $got_ops operations, the manifest says $ops"
  done
done < "$manifest"

echo "corpus: files=$files checks=$checks mismatches=$bad"
[ "$files" -ge 109 ] || { echo "corpus: expected at least 109 files in $manifest"; exit 1; }
[ "$bad" -eq 0 ]
