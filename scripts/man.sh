#!/usr/bin/env bash
# Writes the man pages of `share` and `relay` into DIR (share.1, share-watch.1, relay.1,
# ...), generated from their command-line definitions, so they never drift from the flags:
#
#   scripts/man.sh DIR && man -l DIR/share.1
#
# (`share man-pages DIR` and `relay man-pages DIR` do the same with binaries at hand.)
set -euo pipefail
if [ "$#" -ne 1 ]; then
  echo "usage: scripts/man.sh DIR" >&2
  exit 2
fi
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
cd "$(dirname "$0")/.."
cargo run --quiet -p cli-share --bin share -- man-pages "$dir"
cargo run --quiet -p relay --bin relay -- man-pages "$dir"
ls "$dir"
