#!/usr/bin/env bash
# Benchmark suite (issues 7 and 16): builds the relay, `share`, the naive baseline relay
# and wrapper, the programs run inside the wrappers (`bench-workload`) and the load
# generator in release mode, runs every part against a real relay on loopback and the
# naive relay in the same run, prints a table and writes target/bench/results.json
# (figure -> median), target/bench/report.json and target/bench/report.md.
#
#   scripts/bench.sh [--quick] [--runs N] [--only PART]...
#
# PART: latency, host-latency, echo, fanout, host-fanout, sessions, flood, flood-tail, late-join,
# lossy, blackout, cluster. --quick runs a reduced version of every part in about five
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The flood part compares the wrappers with util-linux `script` (Debian: bsdutils).
if ! command -v script >/dev/null 2>&1; then
  echo "bench: installing bsdutils for script(1)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends bsdutils
fi

# The cluster part runs Debian's redis-server.
if ! command -v redis-server >/dev/null 2>&1; then
  echo "bench: installing redis-server for the cluster part"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends redis-server
fi

# 1,000 viewers and 1,000 sessions need a few thousand sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet -p e2e -p relay -p cli-share \
  --bin bench --bin baseline-relay --bin bench-workload --bin relay --bin share
exec target/release/bench "$@"
