#!/usr/bin/env bash
# The viewer's tests: its JavaScript type check (tsc over the // @ts-check files), its unit
# tests and fuzzing (node's test runner, under a 64 MiB heap so that a decoder building far
# beyond its input dies), then the end-to-end tests in Debian's headless Chromium against
# freshly built relay and share binaries, a hostile host among them. Exits non-zero on any
# failure. Without /usr/bin/chromium the browser part is skipped, loudly, except under CI
# (CI set and not "false"), where that is a failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

echo "== browser test dependencies"
# playwright-core has no install step and never downloads a browser.
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

echo "== viewer type check"
tests/browser/node_modules/.bin/tsc -p tests/browser

echo "== viewer unit tests and fuzzing"
node --max-old-space-size=64 --test relay/viewer/test/*.test.mjs

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then
    echo "browser tests: $chromium is missing, and CI is set: failing" >&2
    exit 1
  fi
  {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!! SKIPPED: the browser end-to-end tests need $chromium"
    echo "!! (apt-get install -y chromium chromium-driver)"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  } >&2
  exit 0
fi

echo "== building relay, share and the relay tap"
cargo build -p relay -p cli-share -p e2e --bin relay --bin share --bin relay-tap

echo "== viewer end-to-end tests in $("$chromium" --version 2>/dev/null | tail -n 1)"
export CHROMIUM="$chromium"
node --test tests/browser/*.e2e.test.mjs
