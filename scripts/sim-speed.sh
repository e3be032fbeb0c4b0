#!/usr/bin/env bash
# Simulator speed: seeds per minute for a sweep, and simulated seconds per wall second for 5-node
# clusters under client load (the seeds whose swarm drew 5 nodes), measured by this script's
# clock (rqsim itself never reads one).
set -euo pipefail
rqsim="${1:-build/bin/rqsim}"
range="${2:-1-1000}"
now_ns() { date +%s%N; }

t0=$(now_ns)
"$rqsim" --seeds "$range" --jobs 2 > /tmp/sim-speed-sweep.txt || true
t1=$(now_ns)
seeds=$(tail -n 1 /tmp/sim-speed-sweep.txt | sed -E 's/^seeds=([0-9]+).*/\1/')
wall_ms=$(( (t1 - t0) / 1000000 ))
echo "sweep $range: seeds=$seeds wall_ms=$wall_ms seeds_per_minute=$(( seeds * 60000 / wall_ms )) (2 jobs)"

sim_ms=0; wall_ns=0; n=0
for seed in $(seq 1 400); do
  first=$("$rqsim" --seed "$seed" 2>/dev/null | head -n 1) || true
  case "$first" in *" nodes=5 "*) ;; *) continue ;; esac
  a=$(now_ns)
  out=$("$rqsim" --seed "$seed") || true
  b=$(now_ns)
  ms=$(echo "$out" | grep -o 'simulated_ms=[0-9]*' | cut -d= -f2)
  sim_ms=$(( sim_ms + ms )); wall_ns=$(( wall_ns + b - a )); n=$(( n + 1 ))
  [ "$n" -ge 30 ] && break
done
echo "5-node seeds=$n simulated_ms=$sim_ms wall_ms=$(( wall_ns / 1000000 )) speedup=$(( sim_ms * 1000000 / wall_ns ))x (one job, including process start)"
