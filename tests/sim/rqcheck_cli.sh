#!/usr/bin/env bash
# rqcheck's command line: verdicts and exit codes (0 linearizable, 1 not, 2 bad usage or input
# with the line and reason, 3 a bound hit), the failing key and prefix, --init, the formats.
set -uo pipefail
rqcheck="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
bad=0
expect() {  # expect EXIT PATTERN -- ARGS...: exit code and a line of the output matching PATTERN
  local want="$1" pattern="$2"
  shift 3
  out=$("$rqcheck" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ] || ! echo "$out" | grep -Eq -- "$pattern"; then
    echo "FAIL: rqcheck $* -> exit $rc (want $want), output:"; echo "$out" | sed 's/^/  /'
    bad=$((bad + 1))
  fi
}

cat > "$dir/stale.edn" <<'H'
[{:process 0 :type :invoke :f :write :value 1}
 {:process 0 :type :ok :f :write :value 1}
 {:process 0 :type :invoke :f :write :value 2}
 {:process 0 :type :ok :f :write :value 2}
 {:process 1 :type :invoke :f :read :value nil}
 {:process 1 :type :ok :f :read :value 1}
 {:process 1 :type :invoke :f :read :value nil}
 {:process 1 :type :ok :f :read :value 2}]
H
cat > "$dir/zero.jsonl" <<'H'
{"process": 0, "type": "invoke", "f": "read", "value": null}
{"process": 0, "type": "ok", "f": "read", "value": 0}
H
cat > "$dir/kv.edn" <<'H'
{:process 0 :type :invoke :f :append :key "a" :value "x"}
{:process 0 :type :ok :f :append :key "a" :value "x"}
{:process 1 :type :invoke :f :append :key "b" :value "y"}
{:process 1 :type :ok :f :append :key "b" :value "y"}
{:process 1 :type :invoke :f :get :key "b" :value nil}
{:process 1 :type :ok :f :get :key "b" :value ""}
H
printf '[{:process 0 :type :invoke :f :read}\n {:process 0 :type :ok :f :read :value 1.5}]\n' \
  > "$dir/float.edn"
{ for p in $(seq 0 11); do echo "{:process $p :type :invoke :f :write :value $p}"; done
  echo '{:process 20 :type :invoke :f :read :value nil}'
  echo '{:process 20 :type :ok :f :read :value 99}'
  for p in $(seq 0 11); do echo "{:process $p :type :ok :f :write :value $p}"; done; } > "$dir/hard.edn"

expect 1 '^not linearizable$' -- --model register --format edn "$dir/stale.edn"
expect 1 'no order explains the completion at line 6' -- --model register --format edn "$dir/stale.edn"
expect 1 'the shortest failing prefix has 3 operations' -- --model register --format edn "$dir/stale.edn"
expect 1 '^not linearizable$' -- --model sql-register --format edn "$dir/stale.edn"
expect 1 '^not linearizable$' -- --model register --format jsonl "$dir/zero.jsonl"
expect 0 '^linearizable$' -- --model register --init 0 --format jsonl "$dir/zero.jsonl"
expect 1 '^key "b": the shortest failing prefix has 2 operations$' -- --model kv --format edn "$dir/kv.edn"
expect 1 '^the history: ' -- --model kv --format edn --no-partition "$dir/kv.edn"
expect 1 '^ops=3 parts=2 ' -- --model kv --format edn --stats "$dir/kv.edn"
expect 3 '^unknown: the search stopped after 1000 model steps' -- \
  --model register --format edn --naive --max-steps 1000 "$dir/hard.edn"
expect 1 '^not linearizable$' -- --model register --format edn "$dir/hard.edn"
expect 2 'float.edn: line 2: unsupported value: a float' -- --model register --format edn "$dir/float.edn"
expect 2 'cannot open' -- --model register --format edn "$dir/missing.edn"
expect 2 'unknown model' -- --model queue --format edn "$dir/stale.edn"
expect 2 'unknown format' -- --model register --format csv "$dir/stale.edn"
expect 2 '--model is required' -- --format edn "$dir/stale.edn"
expect 2 'no FILE' -- --model register --format edn
expect 2 '--init wants an integer' -- --model register --init x --format edn "$dir/stale.edn"
expect 2 '--init is for registers' -- --model kv --init 1 --format edn "$dir/kv.edn"
[ "$bad" -eq 0 ] && echo "rqcheck cli: ok"
[ "$bad" -eq 0 ]
