#!/usr/bin/env bash
# Soak (issue 13): a release relay on loopback kept busy for N minutes (default 10) by real
# clients: steady sessions with viewers that stay, one session that floods, a host coming
# every second and going after 2 to 8 s (over QUIC and WebSocket, a third of them dropping
# their link), and viewers joining and leaving at 50 a second. At the end it prints what
# the clients saw and the slope of the relay's RSS and open file descriptors after a
# warm-up, checks the relay's log for panics, and exits non-zero if a live session lost a
# frame or saw one out of order, the relay grew, or it panicked. Not part of CI.
#
#   scripts/soak.sh [--minutes N]
#
# Everything lands in target/soak/: relay.log (the relay's stderr), relay.out, soak.txt,
# samples.csv (the relay's RSS and open descriptors every 5 s).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    *) echo "usage: scripts/soak.sh [--minutes N]" >&2; exit 2 ;;
  esac
done

# Hundreds of clients, two sockets each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet -p e2e -p relay --bin soak --bin relay
out=target/soak
mkdir -p "$out"
rm -f "$out/relay.out" "$out/relay.log"

# Every client is on loopback, one address: the per-address limits would count them as one
# client, so they are lifted here (the relay-wide ones stay at their defaults).
RUST_BACKTRACE=1 target/release/relay --http 127.0.0.1:0 --quic 127.0.0.1:0 --grace 5s \
  --max-sessions-per-addr 1000000 --max-connections-per-addr 1000000 \
  --handshake-rate 1000000 --handshake-burst 1000000 --log info \
  >"$out/relay.out" 2>"$out/relay.log" &
relay_pid=$!
trap 'kill "$relay_pid" 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  grep -q "relay listening" "$out/relay.out" 2>/dev/null && break
  sleep 0.1
done
http=$(grep -o 'http=[^ ]*' "$out/relay.out" | head -n 1 | cut -d= -f2)
[ -n "$http" ] || { echo "soak: the relay did not start (see $out/relay.log)" >&2; exit 1; }

status=0
target/release/soak --relay "$http" --relay-pid "$relay_pid" --minutes "$minutes" \
  --samples "$out/samples.csv" | tee "$out/soak.txt" || status=$?
kill -TERM "$relay_pid" 2>/dev/null || true
wait "$relay_pid" 2>/dev/null || true
if grep -n "panicked" "$out/relay.log"; then
  echo "soak: FAIL: the relay panicked (see $out/relay.log)" | tee -a "$out/soak.txt"
  status=1
else
  echo "soak: no panic in the relay's log ($(wc -l <"$out/relay.log") lines)" | tee -a "$out/soak.txt"
fi
exit "$status"
