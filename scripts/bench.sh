#!/usr/bin/env bash
# bench.sh — rqlited's speed beside this machine's limits, measured in the same run
# (docs/performance.md). Starts one rqlited on 127.0.0.1 (free ports, temporary data dir), loads it
# with build/bin/rqbench, and prints "metric value unit" lines:
#   fdatasync p50 (4 KiB append, ../shared/bench/disk-limits.sh) and the HTTP floor
#   (../shared/bench/net-limits.sh) unless SKIP_LIMITS=1;
#   single-statement INSERTs at 1, 16, 64 clients (req/s, p50, p99) and fsyncs per write;
#   a 10,000-row bulk request (rows/s); reads at none / weak / linearizable, 16 clients.
# Env: DUR (seconds per case, default 5), BUILD (default build), SKIP_LIMITS.
# Kills only the rqlited it started; removes its data directory.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$here/build}
DUR=${DUR:-5}
SHARED=${SHARED:-$here/../shared}
data=$(mktemp -d /tmp/rqbench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

if [ "${SKIP_LIMITS:-0}" != 1 ] && [ -d "$SHARED/bench" ]; then
  (cd "$data" && REPS=1 bash "$SHARED/bench/disk-limits.sh" "$data" 2>/dev/null) |
    grep -E "^fdatasync_4k_append_.*_(p50|p99) " | sed -E 's/_append_[a-zA-Z0-9_]*_(p50|p99) /_append_\1 /' || true
  REPS=1 bash "$SHARED/bench/net-limits.sh" 2>/dev/null | grep -E "^http_floor_c(1|16|64)_(rps|p50|p99) " || true
fi

"$BUILD/bin/rqlited" -node-id 1 -http-addr "127.0.0.1:$port" -raft-addr "127.0.0.1:$rport" "$data/node" 2>"$data/log" &
pid=$!
for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
fsyncs() { curl -s "127.0.0.1:$port/status?key=store.raft" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fsyncs"])'; }
bench() { "$BUILD/bin/rqbench" -a "127.0.0.1:$port" "$@"; }
field() { awk -v k="$1" '$1==k{print $2}'; }

bench -n 1 -o "CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)" "SELECT 1" >/dev/null
for c in 1 16 64; do
  before=$(fsyncs)
  out=$(bench -c "$c" -d "$DUR" "INSERT INTO foo(name) VALUES('fiona')")
  after=$(fsyncs)
  n=$(echo "$out" | field requests)
  echo "write_c${c}_rps $(echo "$out" | field req_per_s) req/s"
  echo "write_c${c}_p50 $(echo "$out" | field p50_us) us"
  echo "write_c${c}_p99 $(echo "$out" | field p99_us) us"
  echo "write_c${c}_fsyncs_per_write $(python3 -c "print(round(($after-$before)/max(1,$n), 4))") fsync/write"
done
out=$(bench -c 1 -n 10 -b 10000 "INSERT INTO foo(name) VALUES('fiona')")
echo "bulk_10000_rows_per_s $(echo "$out" | field stmt_per_s) rows/s"
for level in none weak linearizable; do
  out=$(bench -c 16 -d "$DUR" -p /db/query -l "$level" "SELECT name FROM foo WHERE id = 5")
  echo "read_${level}_c16_rps $(echo "$out" | field req_per_s) req/s"
  echo "read_${level}_c16_p50 $(echo "$out" | field p50_us) us"
done
