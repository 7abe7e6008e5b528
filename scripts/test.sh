#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/test-deps.sh), then runs every
# Rust test of the workspace (protocol, certs, relay, share, and the end-to-end tests over
# real sockets and PTYs; the lossy-link ones need root and say when they skip), then the
# browser viewer's type check (tsc), JavaScript unit tests and fuzzing, and headless-Chromium
# tests (a hostile host among them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
cargo test --workspace --no-fail-fast
tests/browser/run.sh
