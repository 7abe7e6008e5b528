#!/usr/bin/env bash
# The viewer's tests: its JavaScript unit tests (node's test runner), then the end-to-end
# tests in Debian's headless Chromium against freshly built relay and share binaries.
# Exits non-zero on any failure. Without /usr/bin/chromium the browser part is skipped,
# loudly, except under CI (CI set and not "false"), where that is a failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

echo "== viewer unit tests"
node --test relay/viewer/test/*.test.mjs

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

echo "== building relay and share"
cargo build -p relay -p cli-share

echo "== browser test dependencies"
# playwright-core has no install step and never downloads a browser.
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

echo "== viewer end-to-end tests in $("$chromium" --version 2>/dev/null | tail -n 1)"
export CHROMIUM="$chromium"
node --test tests/browser/*.e2e.test.mjs
