#!/usr/bin/env bash
# The sandbox's cost on push-to-running of a development build of the fixture project
# (tests/fixtures/projects/shop) on the stand-in, with and without `serve --no-sandbox`,
# alternating the two modes RUNS times (a fresh data directory each run):
#  - cold:    first push (virtualenv, install, tests, server)
#  - install: a push changing a module (install + tests again; virtualenv reused)
#  - warm:    a push changing no module (template copy, server)
# Prints the medians of each mode and the sandbox's cost in percent (target: under 5%).
# BIN=path/to/slipway picks the binary (default: target/debug/slipway, built by
# `cargo build --workspace`).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-$PWD/target/debug/slipway}
runs=${RUNS:-3}
odoo=${SLIPWAY_TEST_ODOO_SRC:-$PWD/tests/fixtures/odoo-standin}
fixture=$PWD/tests/fixtures/projects/shop

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

one_run() { # mode (sandbox|no-sandbox) -> "cold install warm" in ms
  local mode=$1 data work port serve token flags=()
  [ "$mode" = no-sandbox ] && flags=(--no-sandbox)
  data=$(mktemp -d /tmp/slw-sbx-XXXX); chmod 755 "$data"; work=$(mktemp -d /tmp/slw-sbx-work-XXXX)
  port=$(free_port)
  SLIPWAY_SMTP_LISTEN=127.0.0.1:0 "$bin" --data-dir "$data" serve --listen "127.0.0.1:$port" \
    --sftp-listen "127.0.0.1:$(free_port)" "${flags[@]}" >"$data/serve.log" 2>&1 &
  serve=$!
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do
    kill -0 "$serve" 2>/dev/null || { cat "$data/serve.log" >&2; exit 1; }
    sleep 0.1
  done
  token=$(cat "$data/cli-token")
  export SLIPWAY_SERVER=http://127.0.0.1:$port
  "$bin" --data-dir "$data" odoo add 17.0 --source "$odoo" >/dev/null
  "$bin" --data-dir "$data" project create bench --odoo 17.0 >/dev/null
  api() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port$1"; }
  wait_running() {
    local sha=$1 id state
    while :; do
      id=$(api "/api/projects/bench/builds?branch=main" | jq -r --arg s "$sha" '[.[] | select(.revision == $s)][0].id // empty')
      if [ -n "$id" ]; then
        state=$(api "/api/builds/$id" | jq -r .state)
        case $state in
          running) return 0 ;;
          done|stopped) echo "build $id ended $state: $(api "/api/builds/$id" | jq -r .message)" >&2; return 1 ;;
        esac
      fi
      sleep 0.05
    done
  }
  (
    cd "$work"; cp -r "$fixture/." .
    git init -q -b main; git add -A
    git -c user.name=bench -c user.email=bench@example.com commit -qm modules
    git remote add origin "http://bench:$token@127.0.0.1:$port/git/bench.git"
    timed_push() {
      local sha start; sha=$(git rev-parse HEAD); start=$(now_ms)
      git push -q origin HEAD:refs/heads/main; wait_running "$sha"; echo $(( $(now_ms) - start ))
    }
    commit() { git add -A; git -c user.name=bench -c user.email=bench@example.com commit -qm "$1"; }
    cold=$(timed_push)
    echo "# change $(date +%s%N)" >> shop_report/__init__.py; commit change
    install=$(timed_push)
    echo "docs $(date +%s%N)" > README.md; commit docs
    warm=$(timed_push)
    echo "$cold $install $warm"
  )
  kill -TERM "$serve"; wait "$serve" 2>/dev/null || true
  "$bin" --data-dir "$data" pg stop >/dev/null 2>&1 || true
  rm -rf "$data" "$work"
}

results=$(mktemp)
for i in $(seq "$runs"); do
  for mode in no-sandbox sandbox; do
    echo "$mode $(one_run $mode)" | tee -a "$results"
  done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {m: [statistics.median(int(r[i]) for r in rows if r[0] == m) for i in (1, 2, 3)]
       for m in ("no-sandbox", "sandbox")}
for i, what in enumerate(("cold", "install", "warm")):
    off, on = med["no-sandbox"][i], med["sandbox"][i]
    print(f"{what:8} no-sandbox {off:6.0f} ms  sandbox {on:6.0f} ms  cost {100 * (on - off) / off:+5.1f}%")
PY
rm -f "$results"
