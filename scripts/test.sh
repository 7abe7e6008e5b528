#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/test-deps.sh), then runs every
# Rust test of the workspace (protocol, certs, relay, share, and the end-to-end tests over
# real sockets and PTYs), then the browser viewer's type check (tsc), JavaScript unit tests
# and fuzzing, and headless-Chromium tests (a hostile host among them). The tests marked
# #[ignore = "needs root: ..."] (network namespaces: the lossy-link, ACME and
# beyond-loopback tests) run too when this runs as root, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
if [[ "$(id -u)" -eq 0 ]]; then
    cargo test --workspace --no-fail-fast -- --include-ignored
else
    echo "test.sh: not root, so the tests that need root are left out (listed as ignored)" >&2
    cargo test --workspace --no-fail-fast
fi
tests/browser/run.sh
