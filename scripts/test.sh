#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/test-deps.sh), then runs every
# Rust test of the workspace (protocol, certs, relay, share, and the end-to-end tests over
# real sockets and PTYs; the lossy-link ones need root and say when they skip), then the
# browser viewer's JavaScript unit tests and headless-Chromium tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
cargo test --workspace --no-fail-fast
tests/browser/run.sh
