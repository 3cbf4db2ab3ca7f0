#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: the programs the examples and tests
# run (socat, perl; ip and dnsmasq for the local cluster harness; Graphviz's dot, whose SVG
# path `l7mpc graph` tests), what builds the proxy's UDP offload program (clang, llvm,
# libbpf-dev) and its tests use (ethtool), what builds the jemalloc allocator the compiler links
# (a C compiler and make), what scripts/image.sh builds the
# container images with (podman and runc, mmdebstrap, strip), the manifest checks' Python
# package (kubernetes-validate: the official Kubernetes schemas, offline) and checks for kubectl
# (its kustomize renders deploy/) and a Rust toolchain. dnsmasq comes from dnsmasq-base: the
# binary only, no system service. promtool (the tests check /metrics with it) is taken out of
# Debian's prometheus package without installing the package, which would add a user, a
# server and its service. Safe to run again.
set -euo pipefail
need=()
for pair in socat:socat perl:perl ip:iproute2 dnsmasq:dnsmasq-base podman:podman runc:runc \
  mmdebstrap:mmdebstrap strip:binutils dot:graphviz clang:clang llvm-strip:llvm ethtool:ethtool \
  cc:gcc make:make; do
  cmd=${pair%%:*}
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 \
    || need+=("${pair#*:}")
done
# The proxy's UDP offload program is compiled with clang against the libbpf headers.
[[ -f /usr/include/bpf/bpf_helpers.h ]] || need+=(libbpf-dev)
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v promtool >/dev/null 2>&1; then
  echo "setup: installing promtool (from Debian's prometheus package)"
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus; }; })
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
  install -m 0755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$tmp"
fi
if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
  echo "setup: installing kubernetes-validate"
  python3 -m pip --version >/dev/null 2>&1 || apt-get install -y -qq python3-pip >/dev/null
  # Debian's own python3 is externally managed; a pyenv or venv python is not.
  python3 -m pip install -q --root-user-action=ignore --disable-pip-version-check kubernetes-validate 2>/dev/null \
    || python3 -m pip install -q --root-user-action=ignore --disable-pip-version-check --break-system-packages kubernetes-validate
fi
command -v kubectl >/dev/null || { echo "setup: kubectl is missing; install it (its kustomize renders deploy/)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "setup: cargo is missing; install Rust (rustup) first" >&2; exit 1; }
