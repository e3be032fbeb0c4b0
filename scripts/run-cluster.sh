#!/usr/bin/env bash
# run-cluster.sh — the seed document's three-node cluster on 127.0.0.1, in the foreground:
# HTTP 4001/4003/4005, Raft 4002/4004/4006, nodes 2 and 3 started with -join to node 1, data in
# ./data/node{1,2,3} (logs beside them). Waits (bounded) until every node is ready, prints how to
# reach the cluster, and stops all three cleanly (SIGTERM) on Ctrl-C or when one of them exits.
# Env: BUILD (default build), DATA (default ./data).
set -euo pipefail
BIN=${BUILD:-build}/bin/rqlited
DATA=${DATA:-./data}
mkdir -p "$DATA"
pids=()
stop_all() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "cluster stopped"
}
trap stop_all EXIT INT TERM

wait_ready() {  # port [readyz parameters]: at most 30 s
  for _ in $(seq 1 300); do
    if curl -sf "127.0.0.1:$1/readyz$2" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "node on port $1 not ready after 30 s; see $DATA/*.log" >&2
  return 1
}

start_node() {  # id, http port, raft port, extra flags...
  local id=$1 http=$2 raft=$3
  shift 3
  "$BIN" -node-id "$id" -http-addr "127.0.0.1:$http" -raft-addr "127.0.0.1:$raft" "$@" "$DATA/node$id" \
    2>>"$DATA/node$id.log" &
  pids+=($!)
}

# Node 1 first (a new one founds the cluster at once); a restarted cluster needs a majority
# before anyone has a leader, so the others start as soon as node 1 answers at all.
start_node 1 4001 4002
wait_ready 4001 "?noleader"
start_node 2 4003 4004 -join 127.0.0.1:4002
start_node 3 4005 4006 -join 127.0.0.1:4002
wait_ready 4001 ""
wait_ready 4003 ""
wait_ready 4005 ""
leader=$(curl -s '127.0.0.1:4001/status?key=store.leader' || true)
cat <<MSG
three-node cluster ready: HTTP 127.0.0.1:4001, :4003, :4005 (Raft :4002, :4004, :4006)
leader: $leader
try:  curl -XPOST '127.0.0.1:4003/db/execute' -H 'Content-Type: application/json' -d '["CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)"]'
      curl -G '127.0.0.1:4005/db/query?level=linearizable' --data-urlencode 'q=SELECT * FROM foo'
logs: $DATA/node{1,2,3}.log    Ctrl-C stops all three
MSG
# Until Ctrl-C, or until one node exits on its own.
wait -n "${pids[@]}" || true
