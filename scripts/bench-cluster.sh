#!/usr/bin/env bash
# bench-cluster.sh — a three-node rqlited cluster on 127.0.0.1 beside etcd's and dqlite's
# three-node clusters from ../shared/bench/, in the same run (docs/performance.md). Prints
# "metric value unit" lines:
#   rqbench against the leader: INSERTs at 1, 16, 64 clients (req/s, p50, p99) with fsyncs per
#   write on the leader and over the cluster; reads at `none` and `linearizable`, 16 clients;
#   the shared load tool against the same cluster (../shared/bench/load-rqlite.sh: the KV load
#   the peers get), then peer-etcd.sh and peer-dqlite.sh http (unless SKIP_PEERS=1);
#   failover: kill -9 of the leader, time until a write through a surviving node succeeds,
#   FAILOVERS times (default 5), median / min / max (the killed node is restarted each time).
# Env: DUR (seconds per rqbench case, default 5), REPS (shared tool repetitions, default 1),
#      BUILD, SHARED, SKIP_PEERS, SKIP_SHARED_LOAD, FAILOVERS.
# Kills only the processes it started; removes its data directory.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$here/build}
DUR=${DUR:-5}
REPS=${REPS:-1}
FAILOVERS=${FAILOVERS:-5}
SHARED=${SHARED:-$here/../shared}
data=$(mktemp -d /tmp/rqcluster-XXXXXX)
# Six free ports below the ephemeral range: a killed node restarts on its own ports, which an
# outgoing connection could otherwise have taken meanwhile.
ports=$(python3 -c '
import random, socket
got = []
while len(got) < 6:
    p = random.randrange(20000, 32000)
    if p in got:
        continue
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
    got.append(p)
print(" ".join(map(str, got)))')
read -r -a P <<<"$ports"
declare -a HTTP RAFT PID
for k in 0 1 2; do HTTP[$k]=${P[$((2 * k))]}; RAFT[$k]=${P[$((2 * k + 1))]}; PID[$k]=""; done
cleanup() {
  for k in 0 1 2; do
    if [ -n "${PID[$k]}" ]; then kill "${PID[$k]}" 2>/dev/null || true; wait "${PID[$k]}" 2>/dev/null || true; fi
  done
  rm -rf "$data"
}
trap cleanup EXIT

start_node() {  # k
  local k=$1 join=()
  [ "$k" != 0 ] && join=(-join "127.0.0.1:${RAFT[0]}")
  "$BUILD/bin/rqlited" -node-id "$((k + 1))" -http-addr "127.0.0.1:${HTTP[$k]}" \
    -raft-addr "127.0.0.1:${RAFT[$k]}" "${join[@]}" "$data/node$((k + 1))" 2>>"$data/log$((k + 1))" &
  PID[$k]=$!
  for _ in $(seq 1 300); do curl -sf "127.0.0.1:${HTTP[$k]}/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "node $((k + 1)) not ready: $(tail -5 "$data/log$((k + 1))")" >&2
  return 1
}
leader_index() {  # prints k of the node that says it leads
  for k in 0 1 2; do
    [ -n "${PID[$k]}" ] || continue
    st=$(curl -s -m 2 "127.0.0.1:${HTTP[$k]}/status?key=store.raft" 2>/dev/null || true)
    if echo "$st" | grep -q '"state":"Leader"'; then echo "$k"; return 0; fi
  done
  return 1
}
fsyncs() { curl -s "127.0.0.1:${HTTP[$1]}/status?key=store.raft" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fsyncs"])'; }
all_fsyncs() { echo $(( $(fsyncs 0) + $(fsyncs 1) + $(fsyncs 2) )); }
field() { awk -v k="$1" '$1==k{print $2}'; }

for k in 0 1 2; do start_node "$k"; done
for _ in $(seq 1 100); do
  n=$(curl -s "127.0.0.1:${HTTP[0]}/nodes" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo 0)
  [ "$n" = 3 ] && break; sleep 0.1
done
L=$(leader_index)
LA="127.0.0.1:${HTTP[$L]}"
echo "cluster_nodes 3 count"
bench() { "$BUILD/bin/rqbench" -a "$LA" "$@"; }
bench -n 1 -o "CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)" "SELECT 1" >/dev/null
for c in 1 16 64; do
  before=$(fsyncs "$L"); before_all=$(all_fsyncs)
  out=$(bench -c "$c" -d "$DUR" "INSERT INTO foo(name) VALUES('fiona')")
  after=$(fsyncs "$L"); after_all=$(all_fsyncs)
  n=$(echo "$out" | field requests)
  echo "cluster_write_c${c}_rps $(echo "$out" | field req_per_s) req/s"
  echo "cluster_write_c${c}_p50 $(echo "$out" | field p50_us) us"
  echo "cluster_write_c${c}_p99 $(echo "$out" | field p99_us) us"
  echo "cluster_write_c${c}_leader_fsyncs_per_write $(python3 -c "print(round(($after-$before)/max(1,$n), 4))") fsync/write"
  echo "cluster_write_c${c}_all_fsyncs_per_write $(python3 -c "print(round(($after_all-$before_all)/max(1,$n), 4))") fsync/write"
done
for level in none linearizable; do
  out=$(bench -c 16 -d "$DUR" -p /db/query -l "$level" "SELECT name FROM foo WHERE id = 5")
  echo "cluster_read_${level}_c16_rps $(echo "$out" | field req_per_s) req/s"
  echo "cluster_read_${level}_c16_p50 $(echo "$out" | field p50_us) us"
done

if [ "${SKIP_SHARED_LOAD:-0}" != 1 ] && [ -d "$SHARED/bench" ]; then
  REPS=$REPS CASES="exec_c1 exec_c16 exec_c64 query_none_c16 query_linearizable_c16" \
    WATCH="${PID[0]},${PID[1]},${PID[2]}" bash "$SHARED/bench/load-rqlite.sh" "$LA" 2>/dev/null |
    grep -E "^rqlite_(exec|query)_[a-z0-9_]*c(1|16|64)_(rps|p50|p99|errors) " | sed 's/^rqlite_/sqlraft3_/' || true
fi

# Failover: kill -9 the leader, time until a write through another node is acknowledged.
times=()
for i in $(seq 1 "$FAILOVERS"); do
  L=$(leader_index) || { echo "no leader before failover $i" >&2; exit 1; }
  others=()
  for k in 0 1 2; do [ "$k" != "$L" ] && others+=("127.0.0.1:${HTTP[$k]}"); done
  kill -9 "${PID[$L]}"; wait "${PID[$L]}" 2>/dev/null || true; PID[$L]=""
  t=$(python3 - "${others[@]}" <<'EOF'
import http.client, json, sys, time
t0 = time.monotonic()
k = 0
while time.monotonic() - t0 < 60:
    host, port = sys.argv[1 + k % (len(sys.argv) - 1)].split(":")
    k += 1
    try:
        c = http.client.HTTPConnection(host, int(port), timeout=2)
        c.request("POST", "/db/execute", json.dumps(["INSERT INTO foo(name) VALUES('failover')"]),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read().decode()
        if r.status == 200 and '"error"' not in body:
            print("%.3f" % (time.monotonic() - t0))
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.005)
print("timeout")
EOF
)
  echo "cluster_failover_${i}_s $t s"
  times+=("$t")
  start_node "$L"
done
python3 - "${times[@]}" <<'EOF'
import statistics, sys
v = sorted(float(x) for x in sys.argv[1:] if x != "timeout")
if v:
    print("cluster_failover_median_s %.3f s" % statistics.median(v))
    print("cluster_failover_min_s %.3f s" % v[0])
    print("cluster_failover_max_s %.3f s" % v[-1])
EOF

if [ "${SKIP_PEERS:-0}" != 1 ] && [ -d "$SHARED/bench" ]; then
  if ! command -v etcd >/dev/null || ! command -v dqlite-demo >/dev/null; then
    bash "$SHARED/bench/peers-install.sh" >/dev/null  # Debian's etcd-server and go-dqlite
  fi
  REPS=$REPS bash "$SHARED/bench/peer-etcd.sh" 2>/dev/null |
    grep -E "^etcd_(put|get_lin|get_ser)_c(1|16|64)_(rps|p50|p99) " || true
  REPS=$REPS bash "$SHARED/bench/peer-dqlite.sh" http 2>/dev/null |
    grep -E "^dqlite_[a-z0-9_]*_(rps|p50|p99) " || true
fi
