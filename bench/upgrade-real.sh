#!/usr/bin/env bash
# A real Odoo 16.0 -> 17.0 upgrade: a request through Slipway's `/database/v1` (create, upload,
# process, status until done, download the upgraded zip) against the same done by hand with
# the same code (`odoo-bin db load` with 16.0; OpenUpgrade run by 17.0; a stock 17.0 answering
# `/web/login` with 200; `odoo-bin db dump`), for each dump in DUMPS. Prints wall times, the
# ratio (target: Slipway at most 1.1x by hand), peak memory (the largest process: Odoo) and where
# each side's time went.
#
#   ODOO16=<16.0 tree> VENV16=<its virtualenv> ODOO17=<17.0 tree> VENV17=<its virtualenv> \
#   DUMPS="v16_base.zip bigger.zip" ./bench/upgrade-real.sh
#
# The trees and virtualenvs are yours (this script fetches no Odoo; see
# ../shared/spec/real-odoo.md). Slipway's engine takes OpenUpgrade from PyPI (OPENUPGRADE=<exact
# version of odoo-addon-openupgrade-scripts> pins it) and makes its own virtualenv; the by-hand
# chain runs the very same OpenUpgrade folder with VENV17, which needs `openupgradelib` (pip
# installs it there if missing). Both use the PostgreSQL cluster `slipway serve` starts. Setting
# up (engine, virtualenvs) is not timed. BIN=path/to/slipway (default target/debug/slipway);
# SERVE_ARGS adds flags to `slipway serve` (e.g. --no-sandbox, to tell the sandbox's cost apart).
set -euo pipefail
cd "$(dirname "$0")/.."
for var in ODOO16 VENV16 ODOO17 VENV17; do
  [ -n "${!var:-}" ] || { echo "set $var (see the top of $0)" >&2; exit 2; }
done
[ -x "$VENV16/bin/python" ] && [ -x "$VENV17/bin/python" ] || { echo "VENV16/VENV17 must be virtualenvs (bin/python)" >&2; exit 2; }
bin=${BIN:-$PWD/target/debug/slipway}
dumps=${DUMPS:-$PWD/../shared/fixtures/odoo-dumps/v16_base.zip}
for dump in $dumps; do [ -f "$dump" ] || { echo "no dump $dump" >&2; exit 2; }; done
"$VENV17/bin/python" -c 'import openupgradelib' 2>/dev/null \
  || "$VENV17/bin/pip" install -q openupgradelib

work=$(mktemp -d /tmp/slw-upreal-XXXX)
chmod 755 "$work"
data=$work/data
serve=
stop_serve() {
  [ -n "$serve" ] || return 0
  kill -TERM "$serve" 2>/dev/null || true
  wait "$serve" 2>/dev/null || true
  serve=
}
trap 'stop_serve; "$bin" --data-dir "$data" pg stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

ms() { echo $(( $(date +%s%N) / 1000000 )); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secs() { python3 -c "print(f'{$1/1000:.1f}')"; }
port=$(free_port)
base=http://127.0.0.1:$port
start_serve() {
  SLIPWAY_SMTP_LISTEN=127.0.0.1:0 SLIPWAY_SSH_LISTEN=127.0.0.1:0 \
    "$bin" --data-dir "$data" serve --listen "127.0.0.1:$port" --sftp-listen "127.0.0.1:$(free_port)" \
    --max-upload $((8 * 1024 * 1024 * 1024)) ${SERVE_ARGS:-} >>"$work/serve.log" 2>&1 &
  serve=$!
  until curl -sf "$base/healthz" >/dev/null; do
    kill -0 "$serve" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
  done
}
cli() { "$bin" --data-dir "$data" --server "$base" "$@"; }
# The largest VmHWM (KB) among process $1 and its descendants, sampled every 0.2 s into $2 until
# $1 ends. Slipway's Odoo runs in a sandbox with its own PID namespace, whose usage never
# reaches the parent's rusage, so /usr/bin/time cannot see it.
peak_of_tree() {
  python3 - "$@" <<'PY'
import os, sys, time
root, out, peak = int(sys.argv[1]), sys.argv[2], 0
while os.path.exists(f'/proc/{root}'):
    children = {}
    for p in filter(str.isdigit, os.listdir('/proc')):
        try:
            ppid = int(open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(p))
    todo = [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            hwm = [l for l in open(f'/proc/{pid}/status') if l.startswith('VmHWM:')]
            peak = max([peak] + [int(l.split()[1]) for l in hwm])
        except OSError:
            pass
    with open(out, 'w') as f:
        f.write(str(peak))
    time.sleep(0.2)
PY
}

echo "setting up: slipway serve, runtimes 16.0 and 17.0, the 17.0 engine from PyPI (not timed)"
"$bin" --data-dir "$data" contract add BENCH >/dev/null
start_serve
cli odoo add 16.0 --source "$ODOO16" >/dev/null
cli odoo add 17.0 --source "$ODOO17" >/dev/null
added=$(cli upgrade engine add 17.0 ${OPENUPGRADE:+--openupgrade "$OPENUPGRADE"})
echo "${added%%$'\n'*}"
ou=$(cli upgrade engine list --json | jq -r '.[] | select(.series == "17.0") | .openupgrade_dir')

# The by-hand chain's PostgreSQL role on the same cluster (Odoo refuses to connect as postgres).
pg_port=$(jq -r .port "$data/postgres.json")
psql -X -q -v ON_ERROR_STOP=1 "postgresql://postgres:$(jq -r .password "$data/postgres.json")@127.0.0.1:$pg_port/postgres" \
  -c "CREATE ROLE bench_odoo LOGIN CREATEDB PASSWORD 'bench'"
db_opts=(--db_host 127.0.0.1 --db_port "$pg_port" -r bench_odoo -w bench --data-dir "$work/odoo-data")
addons16=$ODOO16/addons,$ODOO16/odoo/addons
addons17=$ODOO17/addons,$ODOO17/odoo/addons
stop_serve

# Adds a by-hand step's wall ms to $hand_ms and $hand_steps, and raises $hand_kb to its peak.
count_step() { # name t0
  local took=$(( $(ms) - $2 )) kb; kb=$(tail -1 "$work/step.rss")
  hand_ms=$((hand_ms + took)); hand_steps+=" $1 $(secs $took) s,"
  hand_kb=$(( kb > hand_kb ? kb : hand_kb ))
}

# Runs a by-hand step "$@" (output to $work/<db>.<name>.log), timed.
timed() { # name db command...
  local name=$1 log=$work/$2.$1.log t0; shift 2; t0=$(ms)
  /usr/bin/time -f %M -o "$work/step.rss" "$@" >"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
  count_step "$name" "$t0"
}

by_hand() { # dump db
  local dump=$1 db=$2 http pid code t0
  hand_ms=0 hand_kb=0 hand_steps=
  "$bin" --data-dir "$data" pg start >/dev/null # a stopped `serve` stops its cluster
  timed load "$db" "$VENV16/bin/python" "$ODOO16/odoo-bin" db "${db_opts[@]}" \
    --addons-path "$addons16" load "$db" "$dump"
  OPENUPGRADE_USE_DEMO=yes timed upgrade "$db" "$VENV17/bin/python" "$ODOO17/odoo-bin" \
    "${db_opts[@]}" --addons-path "$addons17,$ou" -d "$db" --http-port "$(free_port)" \
    --load=base,web,openupgrade_framework -u all --stop-after-init
  if grep -qE ' (ERROR|CRITICAL) ' "$work/$db.upgrade.log"; then
    grep -E ' (ERROR|CRITICAL) ' "$work/$db.upgrade.log" | head -5 >&2; exit 1
  fi
  # Verify: a stock 17.0 (no OpenUpgrade) serves it.
  http=$(free_port); t0=$(ms)
  /usr/bin/time -f %M -o "$work/step.rss" "$VENV17/bin/python" "$ODOO17/odoo-bin" "${db_opts[@]}" \
    --addons-path "$addons17" -d "$db" --http-interface 127.0.0.1 --http-port "$http" \
    --max-cron-threads 0 >"$work/$db.verify.log" 2>&1 &
  pid=$!
  code=000
  until [ "$code" = 200 ]; do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$work/$db.verify.log" >&2; exit 1; }
    sleep 0.1
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http/web/login" || true)
  done
  pkill -TERM -P "$pid"; wait "$pid" || true
  count_step verify "$t0"
  timed dump "$db" "$VENV17/bin/python" "$ODOO17/odoo-bin" db "${db_opts[@]}" \
    --addons-path "$addons17" dump "$db" "$work/$db.by-hand.zip"
}

through_slipway() { # dump -> $slw_ms, $slw_kb
  local dump=$1 name created id key state t0 status
  name=$(basename "$dump")
  start_serve
  peak_of_tree "$serve" "$work/serve.rss" &
  t0=$(ms)
  created=$(curl -sS "$base/database/v1/create?contract=BENCH&aim=production&target=17.0&email=a@b.co&filename=$name")
  id=$(jq -r .request.id <<<"$created"); key=$(jq -r .request.key <<<"$created")
  [ "$id" != null ] || { echo "create: $created" >&2; exit 1; }
  curl -sS -f -X POST -H "Content-Type: application/octet-stream" -T "$dump" \
    "$base/database/v1/upload?key=$key&request=$id" >/dev/null
  curl -sS -f "$base/database/v1/process?key=$key&request=$id" >/dev/null
  while :; do
    status=$(curl -sS "$base/database/v1/status?key=$key&request=$id")
    state=$(jq -r .request.state <<<"$status")
    case $state in pending|progress) sleep 0.2 ;; *) break ;; esac
  done
  [ "$state" = done ] || { echo "request $id ended $state: $(jq -r .request.customer_message <<<"$status")" >&2; exit 1; }
  curl -sS -f -o "$work/$name.slipway.zip" "$(jq -r .request.upgraded_dump_url <<<"$status")"
  slw_ms=$(( $(ms) - t0 ))
  # Its own steps, from the request's log ("<step>: done in 1.2 s").
  slw_steps=$(curl -sS "$(jq -r .request.notes_url <<<"$status" | sed 's,/notes$,/log,')" \
    | sed -nE 's/^[0-9-]+ [0-9:]+ (.*): done in ([0-9.]+ s)$/\1 \2/p' | paste -sd, | sed 's/,/, /g')
  stop_serve
  wait
  slw_kb=$(cat "$work/serve.rss")
}

printf '\n%-28s %12s %12s %7s %14s %14s\n' dump "by hand" slipway ratio "peak by hand" "peak slipway"
n=0
for dump in $dumps; do
  n=$((n + 1))
  by_hand "$dump" "hand_$n"
  through_slipway "$dump"
  printf '%-28s %10s s %10s s %6sx %10s MiB %10s MiB\n' "$(basename "$dump")" "$(secs $hand_ms)" \
    "$(secs $slw_ms)" "$(python3 -c "print(f'{$slw_ms/$hand_ms:.2f}')")" $((hand_kb / 1024)) $((slw_kb / 1024))
  echo "  by hand:${hand_steps%,}"
  echo "  slipway: $slw_steps"
done
