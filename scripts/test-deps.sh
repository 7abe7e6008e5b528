#!/usr/bin/env bash
# Installs what the tests need beyond cargo on a fresh Debian machine: Chromium and
# ChromeDriver for the browser tests, Node.js and npm for the viewer's tests, iproute2 for
# the lossy-link and deployment tests, pebble and pebble-challtestsrv (an ACME server and
# its DNS) for the relay's ACME tests, certutil (package libnss3-tools) for the browser
# profile that trusts pebble's root, systemd-analyze (package systemd) for the unit in
# deploy/, man (package man-db) to render the generated man pages, redis-server for the
# relay cluster's tests, vi (vim-tiny: it sets application cursor keys and keypad as vim
# does) and less for the browser tests' full-screen programs; then playwright-core in
# tests/browser, which the Rust tests that drive Chromium beyond loopback use too. Does
# nothing when they are present.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
command -v pebble >/dev/null 2>&1 || missing+=(pebble)
command -v pebble-challtestsrv >/dev/null 2>&1 || missing+=(pebble-challtestsrv)
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v vi >/dev/null 2>&1 || missing+=(vim-tiny)
command -v less >/dev/null 2>&1 || missing+=(less)
command -v man >/dev/null 2>&1 || missing+=(man-db)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test-deps: installing ${missing[*]}"
  as_root apt-get update -qq
  # Bookworm ships pebble-challtestsrv in the pebble package; later releases in its own.
  packages=()
  for package in "${missing[@]}"; do
    if [ "$package" = pebble-challtestsrv ] && ! apt-cache show "$package" >/dev/null 2>&1; then
      package=pebble
    fi
    packages+=("$package")
  done
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

# playwright-core has no install step and never downloads a browser.
browser="$(cd "$(dirname "$0")/../tests/browser" && pwd)"
if [ ! -d "$browser/node_modules/playwright-core" ]; then
  echo "test-deps: installing the browser tests' node modules"
  (cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
