#!/usr/bin/env bash
# Push-to-running time of a development build of the 5-module fixture project
# (tests/fixtures/projects/shop), through a real `git push` to `slipway serve`:
#  - cold:    first push (virtualenv created, modules installed, tests run, server started)
#  - install: a push changing a module file (virtualenv reused; install + tests again)
#  - warm:    a push changing no module (template cache hit: database copied, no install)
# then builds per hour the machine sustains: BRANCHES branches pushed at once, each with a
# module change (so each one installs), with the default 2 build workers.
# Odoo: the stand-in, or a real Odoo 17 tree with SLIPWAY_TEST_ODOO_SRC=/path/to/odoo.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p slipway
bin=$PWD/target/release/slipway
branches=${BRANCHES:-6}
odoo=${SLIPWAY_TEST_ODOO_SRC:-$PWD/tests/fixtures/odoo-standin}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

data=$(mktemp -d /tmp/slw-bench-XXXX); chmod 755 "$data"
work=$(mktemp -d /tmp/slw-bench-work-XXXX)
port=$(free_port)
"$bin" --data-dir "$data" serve --listen "127.0.0.1:$port" --sftp-listen "127.0.0.1:$(free_port)" \
  --build-workers 2 >"$data/serve.log" 2>&1 &
serve=$!
cleanup() { kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null || true; rm -rf "$data" "$work"; }
trap cleanup EXIT
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
export SLIPWAY_SERVER=http://127.0.0.1:$port
token=$(cat "$data/cli-token")
cli() { "$bin" --data-dir "$data" "$@"; }
api() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port$1"; }
cli odoo add 17.0 --source "$odoo" >/dev/null
cli project create bench --odoo 17.0 >/dev/null

cp -r tests/fixtures/projects/shop/. "$work/"
cd "$work"
git init -q -b main
git -c user.name=bench -c user.email=bench@example.com commit -qm init --allow-empty
git add -A && git -c user.name=bench -c user.email=bench@example.com commit -qm modules
git remote add origin "http://bench:$token@127.0.0.1:$port/git/bench.git"

# Waits until the build of <branch> at <sha> is running; prints its id.
wait_running() {
  local branch=$1 sha=$2 id state
  while :; do
    id=$(api "/api/projects/bench/builds?branch=$branch" | jq -r --arg s "$sha" '[.[] | select(.revision == $s)][0].id // empty')
    if [ -n "$id" ]; then
      state=$(api "/api/builds/$id" | jq -r .state)
      case $state in
        running) echo "$id"; return 0 ;;
        done|stopped) echo "build $id of $branch ended $state: $(api "/api/builds/$id" | jq -r .message)" >&2; exit 1 ;;
      esac
    fi
    sleep 0.1
  done
}

push_and_time() { # branch -> ms from push to running
  local branch=$1 sha start
  sha=$(git rev-parse HEAD)
  start=$(now_ms)
  git push -q origin "HEAD:refs/heads/$branch"
  wait_running "$branch" "$sha" >/dev/null
  echo $(( $(now_ms) - start ))
}

commit() { git add -A; git -c user.name=bench -c user.email=bench@example.com commit -qm "$1"; }

cold=$(push_and_time main)
echo "# change $(date +%s%N)" >> shop_report/__init__.py; commit "module change"
install=$(push_and_time main)
echo "docs $(date +%s%N)" > README.md; commit "docs only"
warm=$(push_and_time main)

for i in $(seq "$branches"); do
  git checkout -q -b "load-$i" main
  echo "# load $i" >> shop_core/__init__.py; commit "load $i"
done
start=$(now_ms)
pushes=()
for i in $(seq "$branches"); do
  git push -q origin "load-$i" & pushes+=($!)
done
wait "${pushes[@]}"
for i in $(seq "$branches"); do
  git checkout -q "load-$i"
  wait_running "load-$i" "$(git rev-parse HEAD)" >/dev/null
done
load=$(( $(now_ms) - start ))

echo "odoo: $odoo"
echo "push to running, cold (venv + install + tests + server): ${cold} ms"
echo "push to running, module changed (install + tests):        ${install} ms"
echo "push to running, no module changed (template copy):      ${warm} ms"
python3 - "$cold" "$install" "$warm" "$branches" "$load" <<'PY'
import sys
cold, install, warm, n, load = map(int, sys.argv[1:])
print(f"warm / cold: {warm / cold:.2f} (template hit {cold / warm:.1f}x faster than a cold build, {install / warm:.1f}x faster than an install)")
print(f"{n} installing builds at once in {load} ms: {n * 3600000 / load:.0f} builds per hour")
PY
