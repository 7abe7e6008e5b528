#!/usr/bin/env bash
# Installs what the tests need beyond cargo on a fresh Debian machine: Chromium and
# ChromeDriver for the browser tests, Node.js and npm for the viewer's tests, iproute2 for
# the lossy-link and deployment tests, pebble and pebble-challtestsrv (an ACME server and
# its DNS) for the relay's ACME tests, systemd-analyze (package systemd) for the unit in
# deploy/. Does nothing when they are present.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
command -v pebble >/dev/null 2>&1 || missing+=(pebble)
command -v pebble-challtestsrv >/dev/null 2>&1 || missing+=(pebble-challtestsrv)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test-deps: installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
