#!/usr/bin/env bash
# Soak test of examples/task1 on the local cluster harness (docs/testing.md, "Soak test"):
# builds the binaries, compiles the example, runs its workloads under `l7mp-localcluster run`
# inside a network namespace of its own (so it never collides with another run, the harness
# tests or the host's ports), and lets l7mp-soak drive it for N minutes: steady UDP sessions
# and bursts of new ones through the gateway, a gateway ConfigMap change every 20 s (good and
# bad in turn), a worker pod deleted every 60 s, the proxies' RSS and fds sampled. Writes the
# results file (markdown) and tears everything down, also on failure or Ctrl-C. Needs root.
# Exit status: 0 passed, 1 failed (the results file says why), 2 could not run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() {
  echo "usage: scripts/soak.sh [--minutes N] [--debug|--release] [--out FILE]"
  echo "  --minutes N  run length (default 30)"
  echo "  --debug      debug build (default: --release)"
  echo "  --out FILE   results file (default: target/soak-results.md)"
}

# The part that runs inside the soak's own network namespace (see the end of this file). Its
# variables are global: the EXIT trap needs them after the function has returned.
inner() {
  work=$1 bin=$2 minutes=$3 out=$4 note=$5 runner=""
  ip link set lo up
  state=$(mktemp -d /run/l7mp-soak.XXXXXX)
  cluster=soak$$
  h=("$bin/l7mp-localcluster" --state-dir "$state" --cluster "$cluster")
  cleanup() {
    if [[ -n $runner ]] && kill -0 "$runner" 2>/dev/null; then
      kill -TERM "$runner" 2>/dev/null || true
      wait "$runner" 2>/dev/null || true
    fi
    "${h[@]}" down >>"$work/cluster.log" 2>&1 || true
    rm -rf "$state"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  # `run` keeps DNS in step with readiness, as endpoints follow ready pods in a cluster.
  "${h[@]}" run --bin-dir "$bin" -f examples/task1/workloads -f "$work/a" >"$work/cluster.log" 2>&1 &
  runner=$!
  deadline=$((SECONDS + 180)) reply=""
  until [[ $reply == "Echo on worker-deployment-"*"Transcoded on transcoder-deployment-"*": ready" ]]; do
    if ((SECONDS > deadline)) || ! kill -0 "$runner" 2>/dev/null; then
      echo "soak: the cluster did not come up; its log:" >&2
      cat "$work/cluster.log" >&2
      return 2
    fi
    sleep 1
    if "${h[@]}" status --json 2>/dev/null | grep -q '"ready": false'; then continue; fi
    reply=$(echo ready | socat -t 2 - udp4:10.244.0.1:9001 2>/dev/null || true)
  done
  echo "soak: cluster $cluster up; running l7mp-soak for $minutes min" >&2
  rc=0
  "$bin/l7mp-soak" --harness "$bin/l7mp-localcluster" --state-dir "$state" --cluster "$cluster" \
    --good "$work/b/default/configmap-l7mp-ingress-config.yaml" \
    --good "$work/a/default/configmap-l7mp-ingress-config.yaml" \
    --bad "$work/bad.yaml" --minutes "$minutes" --out "$out" --log "$work/harness.log" \
    --note "$note" || rc=$?
  if ((rc != 0)); then
    echo "soak: harness commands' output:" >&2
    tail -n 40 "$work/harness.log" >&2 || true
    # The containers' logs (the proxies' reloads and session errors), kept for a look.
    rm -rf "${out%.md}.logs"
    cp -r "$state/$cluster/logs" "${out%.md}.logs" 2>/dev/null \
      && echo "soak: the containers' logs are in ${out%.md}.logs" >&2
  fi
  return "$rc"
}

if [[ ${1:-} == --inner ]]; then
  shift
  inner "$@"
  exit
fi

minutes=30 profile=release out=target/soak-results.md
while (($#)); do
  case $1 in
    --minutes) minutes=${2:?--minutes needs a value}; shift 2 ;;
    --debug) profile=debug; shift ;;
    --release) profile=release; shift ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "soak: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $minutes =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "soak: --minutes wants a number, got $minutes" >&2; exit 2; }
if ((EUID != 0)); then
  echo "soak: must run as root (network namespaces, a bridge, mounts)" >&2
  exit 2
fi
export PATH="$PATH:/usr/sbin:/sbin"
for tool in ip dnsmasq socat perl unshare; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is missing (scripts/setup.sh installs it)" >&2; exit 2; }
done

flags=()
[[ $profile == release ]] && flags=(--release)
cargo build -q "${flags[@]}" -p l7mp -p l7mpc -p l7mp-localcluster -p l7mp-soak
bin=${CARGO_TARGET_DIR:-$root/target}/$profile
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The seed (a) and the seed plus a second gateway listener on 9002 (b): the good configs,
# applied in turn. The bad one routes to a cluster that does not exist.
task=(-f examples/task1/mesh -f examples/task1/gateway -f examples/task1/workloads)
"$bin/l7mpc" compile "${task[@]}" --output-dir "$work/a" 2>/dev/null
"$bin/l7mpc" compile "${task[@]}" -f harness/tests/data/task1/gateway-9002.yaml --output-dir "$work/b" 2>/dev/null
sed 's#destination: default/udp-cluster#destination: default/no-such-cluster#' \
  "$work/a/default/configmap-l7mp-ingress-config.yaml" >"$work/bad.yaml"
if cmp -s "$work/bad.yaml" "$work/a/default/configmap-l7mp-ingress-config.yaml"; then
  echo "soak: could not derive the bad config from the compiled gateway ConfigMap" >&2
  exit 2
fi

note="$(date -u '+%Y-%m-%d %H:%M UTC'), $profile build of $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) CPUs"
rc=0
unshare --net -- bash "$0" --inner "$work" "$bin" "$minutes" "$out" "$note" || rc=$?
if [[ -f $out ]]; then
  echo "soak: results in $out" >&2
fi
exit "$rc"
