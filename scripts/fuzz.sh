#!/usr/bin/env bash
# Long fuzzing runs of every decoder of untrusted bytes: the Rust targets
# (protocol/tests/fuzz: messages, frame codec, datagrams, Screen::apply, tokens; built in
# release, under the counting allocator) and the browser viewer's (relay/viewer/test/
# fuzz.test.mjs: messages, stream framing, the screen model; under a 64 MiB heap).
# The normal test run does the same with a few hundred cases per target.
#
#   scripts/fuzz.sh [--cases N]    # N cases per target, default 100000
#
# A failure prints the input (Rust: shrunk by proptest) or the seed that repeats it
# (JavaScript: FUZZ_SEED=<seed> FUZZ_CASES=1). Keep what it finds as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

cases=100000
while [ $# -gt 0 ]; do
  case "$1" in
    --cases) cases="${2:?--cases needs a number}"; shift 2 ;;
    --cases=*) cases="${1#--cases=}"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$cases" in ''|*[!0-9]*) echo "fuzz.sh: --cases takes a number, not $cases" >&2; exit 2 ;; esac

seed="${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
echo "== Rust decoders, $cases cases per target"
FUZZ_CASES="$cases" cargo test --release -p protocol --test fuzz
echo "== viewer decoders, $cases cases per target (FUZZ_SEED=$seed)"
FUZZ_CASES="$cases" FUZZ_SEED="$seed" node --max-old-space-size=64 --test relay/viewer/test/fuzz.test.mjs
