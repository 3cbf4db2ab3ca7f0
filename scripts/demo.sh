#!/usr/bin/env bash
# The main job: the seed's task end to end, as a cluster would run it. Compiles
# examples/task1 with l7mpc, runs its workloads with the local cluster harness (each pod a
# network namespace; the apps' socat + perl commands and our proxy as gateway and sidecars),
# sends the seed's messages to the gateway's UDP port 9001 with socat, prints the replies,
# and tears everything down. Needs root (namespaces, a bridge, mounts).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
cargo build --release -q -p l7mp -p l7mpc -p l7mp-localcluster
bin=target/release
cluster=task1-demo
out=$(mktemp -d)
cleanup() { "$bin/l7mp-localcluster" --cluster "$cluster" down >/dev/null 2>&1 || true; rm -rf "$out"; }
trap cleanup EXIT INT TERM

echo "\$ l7mpc compile -f examples/task1/{mesh,gateway,workloads} --output-dir $out"
"$bin/l7mpc" compile -f examples/task1/mesh -f examples/task1/gateway -f examples/task1/workloads --output-dir "$out"
"$bin/l7mp-localcluster" --cluster "$cluster" up --bin-dir "$bin" -f examples/task1/workloads -f "$out"
"$bin/l7mp-localcluster" --cluster "$cluster" status
node=$("$bin/l7mp-localcluster" --cluster "$cluster" status | sed -n 's/.*node IP \([0-9.]*\).*/\1/p' | head -1)

for msg in "This is a test!" "Hurray it's working!"; do
  echo "\$ echo '$msg' | socat - udp4:$node:9001"
  reply=""
  for _ in $(seq 15); do
    reply=$(echo "$msg" | socat -t 2 - "udp4:$node:9001" || true)
    [ -n "$reply" ] && break
  done
  printf '%s\n' "$reply"
  case "$reply" in
    "Echo on worker-deployment-"*"Transcoded on transcoder-deployment-"*": $msg") ;;
    *) echo "demo: unexpected reply" >&2; exit 1 ;;
  esac
done
echo "demo: ok"
