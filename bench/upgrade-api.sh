#!/usr/bin/env bash
# The upgrade API against the plain tools: a 1 GB `upload` vs `cp` of the same file (with the
# server's peak memory), and `status` requests per second with 64 concurrent clients (wrk).
# SIZE_MB changes the upload size.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet -p slipway
bin=$PWD/target/release/slipway
size_mb=${SIZE_MB:-1024}
work=$(mktemp -d /tmp/slw-upbench-XXXX)
chmod 755 "$work"
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
mkdir -p "$work/scripts/17.0"
"$bin" --data-dir "$work/data" contract add BENCH >/dev/null
"$bin" --data-dir "$work/data" serve --listen "127.0.0.1:$port" --upgrade-scripts "$work/scripts" \
  --max-upload $((4 * 1024 * 1024 * 1024)) >/dev/null 2>&1 &
server=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
# 17.0 is offered once it has a ready upgrade engine: the stand-in as its runtime, and an
# OpenUpgrade-shaped folder (openupgradelib comes from PyPI into the engine's virtualenv).
ou="$work/openupgrade"
mkdir -p "$ou/openupgrade_framework" "$ou/openupgrade_scripts/scripts"
echo '{}' > "$ou/openupgrade_framework/__manifest__.py"
echo '{}' > "$ou/openupgrade_scripts/__manifest__.py"
: > "$ou/openupgrade_scripts/apriori.py"
chmod -R a+rX "$ou"
cli() { "$bin" --data-dir "$work/data" --server "http://127.0.0.1:$port" "$@" >/dev/null; }
cli odoo add 17.0 --source "$PWD/tests/fixtures/odoo-standin"
cli upgrade engine add 17.0 --openupgrade-dir "$ou"

head -c $((size_mb * 1024 * 1024)) /dev/urandom > "$work/big.dump"
sync
created=$(curl -sS "http://127.0.0.1:$port/database/v1/create?contract=BENCH&aim=test&target=17.0&email=a@b.co&filename=big.dump")
id=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["request"]["id"])')
key=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["request"]["key"])')

ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms); cp "$work/big.dump" "$work/copy.dump"; sync; t1=$(ms)
# -T streams the file (--data-binary @file would read it all into memory first).
curl -sS -X POST -H "Content-Type: application/octet-stream" -T "$work/big.dump" \
  "http://127.0.0.1:$port/database/v1/upload?key=$key&request=$id" >/dev/null; t2=$(ms)
cp_ms=$((t1 - t0)); up_ms=$((t2 - t1))
hwm=$(grep VmHWM /proc/$server/status | awk '{print $2}')
echo "upload ${size_mb} MiB: cp ${cp_ms} ms, /upload ${up_ms} ms, ratio (cp/upload) $(python3 -c "print(round($cp_ms/$up_ms, 2))")x, server peak RSS $((hwm / 1024)) MiB"

wrk -t2 -c64 -d10s "http://127.0.0.1:$port/database/v1/status?key=$key&request=$id" | grep -E "Requests/sec|Latency"
