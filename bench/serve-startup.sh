#!/usr/bin/env bash
# Time from `slipway serve` to a green /healthz: from a cold data dir (initdb included) and from
# a warm one (cluster already initialized, stopped), against `pg_ctl start` of a plain cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p slipway
bin=$PWD/target/release/slipway
runs=${RUNS:-3}

until_healthy() {
  local port=$1 start=$2 pid=$3
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "slipway serve died" >&2; exit 1; }
    sleep 0.02
  done
  echo $(( $(date +%s%N) / 1000000 - start ))
}

one_run() {
  local dir=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local start=$(( $(date +%s%N) / 1000000 ))
  "$bin" --data-dir "$dir" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  local pid=$!
  until_healthy "$port" "$start" "$pid"
  kill -TERM $pid; wait $pid
}

for i in $(seq "$runs"); do
  dir=$(mktemp -d /tmp/slw-bench-XXXX)
  chmod 755 "$dir" # the postgres user must be able to enter it when we run as root
  cold=$(one_run "$dir")
  warm=$(one_run "$dir")
  echo "run $i: cold ${cold} ms, warm ${warm} ms"
  rm -rf "$dir"
done
