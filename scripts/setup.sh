#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: the programs the examples and tests
# run (socat, perl) and a Rust toolchain check. Safe to run again.
set -euo pipefail
need=()
for cmd in socat perl; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo is missing; install Rust (rustup) first" >&2; exit 1; }
