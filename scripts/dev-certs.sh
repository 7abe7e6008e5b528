#!/usr/bin/env bash
# Create (or reuse, if still valid) a development CA and localhost certificate:
#   scripts/dev-certs.sh [DIR]    (default: certs/dev in the repository, git-ignored)
# Writes DIR/ca.pem, DIR/cert.pem, DIR/key.pem and prints how to use them.
set -euo pipefail
args=("$@")
# A relative DIR means relative to where the user is, not to the repository root we cd to.
if [[ ${#args[@]} -gt 0 && ${args[0]} != /* && ${args[0]} != -* ]]; then
  args[0]="$PWD/${args[0]}"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo run -q -p certs --bin dev-certs -- "${args[@]}"
