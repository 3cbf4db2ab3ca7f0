#!/usr/bin/env bash
# Builds the project's container images with podman and no registry: no base image is pulled.
#
#   scripts/image.sh [all]       the proxy image, then every example app image
#   scripts/image.sh l7mp [--bin-dir DIR] [--tag IMAGE]...
#       The proxy image, `FROM scratch` plus what scripts/image/rootfs.sh lays out (the stripped
#       binaries, their shared libraries and loader, a nonroot user), with the Containerfile's
#       final-stage ENV, USER, ENTRYPOINT and LABEL lines. Without --bin-dir it first runs
#       `cargo build --release -p l7mp -p l7mpc` and takes target/release. Tags: every --tag,
#       else localhost/l7mp-rs:dev and localhost/l7mp-rs:<workspace version>.
#   scripts/image.sh examples
#       Every examples/images/<name> as localhost/example-apps/<name>:<workspace version>: its
#       Containerfile's PACKAGES installed by mmdebstrap from the Debian mirror, then its USER
#       and ENTRYPOINT lines.
#
# An image whose inputs are unchanged is not rebuilt: each carries the hash of its inputs in the
# label io.l7mp.inputs (the proxy's: the laid-out files and the Containerfile lines; an
# example's: its Containerfile and the mmdebstrap options). Prints each image's size. Podman
# runs with scripts/podman/containers.conf (unless CONTAINERS_CONF names another) and
# `--runtime runc`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/scripts/podman/containers.conf}
version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml")
[[ -n $version ]] || { echo "image: no version in $root/Cargo.toml [workspace.package]" >&2; exit 1; }
label=io.l7mp.inputs

pod() { podman --runtime runc "$@"; }
die() { echo "image: $*" >&2; exit 1; }

# Several builds at once (tests, a user) would race on the tags: one at a time.
exec 9>"${TMPDIR:-/tmp}/l7mp-rs-image.lock"
flock 9
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The instructions of a Containerfile's final stage that `podman import --change` applies.
directives() {
  awk '/^FROM /{s=""} /^(USER|ENTRYPOINT|CMD|ENV|LABEL|WORKDIR|EXPOSE|STOPSIGNAL) /{s=s $0 "\n"} END{printf "%s", s}' "$1"
}

# Whether image TAG exists and carries inputs hash HASH.
up_to_date() {
  [[ $(pod image inspect --format "{{index .Labels \"$label\"}}" "$1" 2>/dev/null) == "$2" ]]
}

# import_image TAR CONTAINERFILE HASH TAG...: TAR as the image TAG with CONTAINERFILE's final
# stage instructions and the inputs hash, tagged with every other TAG too. The image the first
# TAG named before is removed when nothing else names it.
import_image() {
  local tar=$1 file=$2 hash=$3 line old
  shift 3
  local changes=(--change "LABEL $label=$hash")
  while IFS= read -r line; do changes+=(--change "$line"); done < <(directives "$file")
  old=$(pod image inspect --format '{{.Id}}' "$1" 2>/dev/null || true)
  pod import --quiet "${changes[@]}" "$tar" "$1" >/dev/null
  tag_all "$@"
  [[ -z $old ]] || pod rmi "$old" >/dev/null 2>&1 || true
}

# tag_all TAG...: every TAG names the image the first one names.
tag_all() {
  local t
  for t in "${@:2}"; do pod tag "$1" "$t"; done
}

report() {
  local size
  size=$(pod image inspect --format '{{.Size}}' "$1")
  echo "image: $* ($size bytes, $(numfmt --to=iec --suffix=B "$size"))"
}

build_l7mp() {
  local bin_dir="" tags=() hash target
  while (($#)); do
    case $1 in
      --bin-dir) bin_dir=${2:?--bin-dir needs a directory}; shift 2 ;;
      --tag) tags+=("${2:?--tag needs an image name}"); shift 2 ;;
      *) die "l7mp: unknown option $1 (expected --bin-dir DIR or --tag IMAGE)" ;;
    esac
  done
  if [[ -z $bin_dir ]]; then
    (cd "$root" && cargo build --release -p l7mp -p l7mpc)
    target=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
      sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    bin_dir=$target/release
  fi
  ((${#tags[@]})) || tags=(localhost/l7mp-rs:dev "localhost/l7mp-rs:$version")
  "$root/scripts/image/rootfs.sh" "$bin_dir" "$work/rootfs"
  hash=$(
    cd "$work/rootfs"
    {
      find . -printf '%p %y %m %U %G %l\n' | LC_ALL=C sort
      find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
      directives "$root/Containerfile"
    } | sha256sum | cut -c1-64
  )
  if up_to_date "${tags[0]}" "$hash"; then
    tag_all "${tags[@]}"
  else
    tar --numeric-owner --sort=name --mtime=@0 -C "$work/rootfs" -cf "$work/l7mp.tar" .
    import_image "$work/l7mp.tar" "$root/Containerfile" "$hash" "${tags[@]}"
  fi
  report "${tags[@]}"
}

# How mmdebstrap makes an example image's filesystem: the Debian packages only (the essential
# set plus PACKAGES), without documentation and translations, as in Debian's slim images. The
# merged-usr hook lays out the merged /usr itself, so the usrmerge package (and the whole perl it
# needs, some 50 MB) stays out.
mmdebstrap_opts=(--variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*')
suite=bookworm

build_examples() {
  local dir name file tag hash packages
  for dir in "$root"/examples/images/*/; do
    name=$(basename "$dir")
    file=$dir/Containerfile
    tag=localhost/example-apps/$name:$version
    hash=$({ cat "$file"; echo "$suite ${mmdebstrap_opts[*]}"; } | sha256sum | cut -c1-64)
    if ! up_to_date "$tag" "$hash"; then
      packages=$(sed -n 's/^ARG PACKAGES="\([^"]*\)"$/\1/p' "$file")
      [[ -n $packages ]] || die "$file: no ARG PACKAGES=\"...\" line naming the Debian packages"
      mmdebstrap --quiet "${mmdebstrap_opts[@]}" --include="${packages// /,}" \
        "$suite" "$work/$name.tar"
      import_image "$work/$name.tar" "$file" "$hash" "$tag"
    fi
    report "$tag"
  done
}

what=${1:-all}
(($#)) && shift
case $what in
  l7mp) build_l7mp "$@" ;;
  examples) (($# == 0)) || die "examples takes no options"; build_examples ;;
  all) (($# == 0)) || die "all takes no options"; build_l7mp; build_examples ;;
  *) die "unknown image set $what (expected l7mp, examples or all)" ;;
esac
