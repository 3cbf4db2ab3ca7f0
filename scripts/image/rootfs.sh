#!/usr/bin/env bash
# Lays out the l7mp runtime image's whole filesystem under ROOTFS from the `l7mp` and `l7mpc`
# binaries in BIN_DIR: the binaries stripped at /usr/local/bin, exactly the shared libraries they
# load plus the dynamic loader (found with ldd, copied to the paths ldd names, which are the
# loader's own search paths), a world-writable /tmp, and /etc/passwd and /etc/group naming uid
# and gid 65532 `nonroot`. Both image builds use it: the Containerfile's build stage and
# scripts/image.sh (no registry), so the two images hold the same files.
# Usage: scripts/image/rootfs.sh BIN_DIR ROOTFS   (ROOTFS must not exist yet)
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 BIN_DIR ROOTFS" >&2; exit 2; }
bin_dir=$1 rootfs=$2
[[ ! -e $rootfs ]] || { echo "rootfs: $rootfs already exists; give a new directory" >&2; exit 1; }
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
for b in l7mp l7mpc; do
  [[ -f $bin_dir/$b ]] || { echo "rootfs: $bin_dir/$b is missing; build it first (cargo build --release -p l7mp -p l7mpc)" >&2; exit 1; }
  strip -o "$rootfs/usr/local/bin/$b" "$bin_dir/$b"
done
ldd_out=$(ldd "$rootfs"/usr/local/bin/*)
if grep -q 'not found' <<<"$ldd_out"; then
  echo "rootfs: a library the binaries need is missing on this machine:" >&2
  grep 'not found' <<<"$ldd_out" >&2
  exit 1
fi
# `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` and `/lib64/ld-linux-x86-64.so.2 (0x...)`;
# linux-vdso has no file.
awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 ~ /^\(/ {print $1}' <<<"$ldd_out" | sort -u |
  while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' \
  >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
