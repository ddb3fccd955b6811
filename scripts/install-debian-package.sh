#!/usr/bin/env bash
# Installs a Debian package the tests need when its command is missing:
#   scripts/install-debian-package.sh COMMAND PACKAGE
# `make test` uses it for Debian's chromium (report and dashboard in headless Chromium: Playwright cannot
# download its own browser here) and for a Java 17 runtime (the Spark parity tests start a local[2] JVM).
set -euo pipefail
command_name="$1"
package="$2"
if command -v "$command_name" >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "$command_name is missing and this is not root: install it with 'sudo apt-get install -y $package'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "$package" >/dev/null
command -v "$command_name"
