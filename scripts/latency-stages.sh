#!/usr/bin/env bash
# Where an update's time goes (issue 16): one quick `host-latency` bench run under a
# system-wide trace of the syscall trace points its path uses (`perf record -a`, perf
# itself filtered out), then the median of each stretch per path, from the ticker's
# write to the viewer's receive (`latency-stages`, see tests/src/bench/stages.rs).
# Needs root (system-wide tracing) and perf (Debian: linux-perf).
#
#   scripts/latency-stages.sh [TRACE]     TRACE: where to keep the perf script text
set -euo pipefail
cd "$(dirname "$0")/.."

trace=${1:-target/bench/latency-stages.txt}
mkdir -p "$(dirname "$trace")"
if ! command -v perf >/dev/null; then
  echo "latency-stages: needs perf (apt-get install linux-perf)" >&2
  exit 1
fi

cargo build --release --quiet -p e2e -p relay -p cli-share \
  --bin bench --bin baseline-relay --bin bench-workload --bin relay --bin share --bin latency-stages

events=()
for event in sys_enter_write sys_exit_read sys_enter_sendmsg sys_enter_sendto \
  sys_enter_writev sys_exit_recvmmsg sys_exit_recvfrom; do
  events+=(-e "syscalls:$event" --filter 'comm != "perf"')
done
data=$(mktemp)
trap 'rm -f "$data"' EXIT
perf record -q -a -o "$data" "${events[@]}" -- \
  target/release/bench --quick --only host-latency --out target/bench/latency-stages >/dev/null &
recording=$!
pid_of() {
  for _ in $(seq 1 600); do
    pgrep -f "$1" | head -1 && return
    sleep 0.05
  done
  echo "latency-stages: $1 did not start" >&2
  exit 1
}
viewer=$(pid_of '^target/release/bench ')
relay=$(pid_of 'release/relay --http 127.0.0.1:0')
naive=$(pid_of 'baseline-relay serve')
wait "$recording"
perf script -i "$data" -F comm,pid,tid,time,event,trace >"$trace" 2>/dev/null
target/release/latency-stages --relay "$relay" --naive-relay "$naive" --viewer "$viewer" "$trace"
