#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: the programs the examples and tests
# run (socat, perl; ip and dnsmasq for the local cluster harness; Graphviz's dot, whose SVG path
# `l7mpc graph` tests) and a Rust toolchain check. dnsmasq comes from dnsmasq-base: the binary
# only, no system service. Safe to run again.
set -euo pipefail
need=()
for pair in socat:socat perl:perl ip:iproute2 dnsmasq:dnsmasq-base dot:graphviz; do
  cmd=${pair%%:*}
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 \
    || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo is missing; install Rust (rustup) first" >&2; exit 1; }
