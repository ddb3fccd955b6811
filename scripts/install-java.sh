#!/usr/bin/env bash
# Installs a Java 17 runtime for the Spark parity tests (pyspark starts a local[2] JVM) when `java` is missing.
set -euo pipefail
if command -v java >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "java is missing and this is not root: install it with 'sudo apt-get install -y openjdk-17-jre-headless'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq openjdk-17-jre-headless >/dev/null
java -version
