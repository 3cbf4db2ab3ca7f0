#!/usr/bin/env bash
# The seed's chain through one proxy on this machine, without the cluster harness (no root
# needed beyond the apps). The apps run exactly as the seed's workloads describe them (socat +
# perl); the proxy serves examples/proxy-demo/l7mp.yaml. Everything is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
cargo build --release -q -p l7mp
work=/tmp/l7mp-demo
rm -rf "$work" && mkdir -p "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

# The transcoder app: a line filter behind a Unix socket.
POD_NAME=transcoder-demo socat unix-l:$work/uds-echo.sock,fork \
  "exec:'perl -pe \"BEGIN{\$|=1} s/^/Transcoded on \$ENV{POD_NAME}: /\"'" 2>"$work/transcoder.log" &
pids+=($!)
# The worker app: a line filter on UDP 9999.
POD_NAME=worker-demo socat udp-l:9999,fork,reuseaddr \
  "exec:'perl -pe \"BEGIN{\$|=1} s/^/Echo on \$ENV{POD_NAME}: \\\\n/\"'" 2>"$work/worker.log" &
pids+=($!)
target/release/l7mp --config examples/proxy-demo/l7mp.yaml --log-level warn --metrics-address none \
  2>"$work/l7mp.log" &
pids+=($!)

for _ in $(seq 50); do [ -S "$work/uds-echo.sock" ] && break; sleep 0.1; done
sleep 0.5
for msg in "This is a test!" "Hurray it's working!"; do
  echo "\$ echo '$msg' | socat -t 2 - udp4:127.0.0.1:9001"
  reply=$(echo "$msg" | socat -t 2 - udp4:127.0.0.1:9001)
  printf '%s\n' "$reply"
  case "$reply" in
    *"Transcoded on transcoder-demo: $msg"*) ;;
    *) echo "demo: unexpected reply; proxy log:" >&2; cat "$work/l7mp.log" >&2; exit 1 ;;
  esac
done
echo "demo: ok"
