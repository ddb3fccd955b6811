#!/usr/bin/env bash
# Installs Debian's chromium for the end-to-end tests (report and dashboard in headless Chromium) when it is
# missing. Playwright cannot download its own browser here; the tests drive this one instead.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "chromium is missing and this is not root: install it with 'sudo apt-get install -y chromium'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
command -v chromium
