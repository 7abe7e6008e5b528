#!/usr/bin/env bash
# Benchmark suite (issue 7): builds the relay, `share`, the naive baseline relay and the
# load generator in release mode, runs every part against a real relay on loopback and the
# naive relay in the same run, prints a table and writes target/bench/results.json
# (figure -> median), target/bench/report.json and target/bench/report.md.
#
#   scripts/bench.sh [--quick] [--runs N] [--only latency|echo|fanout|sessions|flood|lossy|blackout|sealing]...
#
# --quick runs a reduced version of every part in under three minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1,000 viewers and 1,000 sessions need a few thousand sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet -p e2e -p relay -p cli-share \
  --bin bench --bin baseline-relay --bin relay --bin share
exec target/release/bench "$@"
