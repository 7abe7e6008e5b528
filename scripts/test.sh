#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/test-deps.sh), then runs every
# Rust test of the workspace (protocol, certs, relay, share, and the end-to-end tests over
# real sockets and PTYs; the lossy-link ones need root and say when they skip), then the
# browser viewer's JavaScript unit tests and headless-Chromium tests. Tests marked
# `#[ignore = "needs root: ..."]` (network namespaces, pebble) run when this runs as root,
# as CI does; otherwise they show as ignored, and this says so.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
root_tests=()
if [ "$(id -u)" -eq 0 ]; then
  root_tests=(-- --include-ignored)
else
  echo "test: not root: the tests that need root are skipped (shown as ignored)" >&2
fi
cargo test --workspace --no-fail-fast "${root_tests[@]}"
tests/browser/run.sh
