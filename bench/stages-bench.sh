#!/usr/bin/env bash
# Staging and production on a generated production database (default ~1 GB of table data and
# 20,000 attachments; scale with ROWS_MB and ATTACHMENTS):
#  - staging "new build" (neutralized copy of production at a new revision, server up) vs the
#    plain way: pg_dump -Fc | pg_restore of the same database + cp -r of its filestore;
#  - production unavailability during an update with nothing to update, and with one module
#    updated (History's `unavailable_ms`), and the rollback time of a failing update.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p slipway
bin=$PWD/target/release/slipway
rows_mb=${ROWS_MB:-1024}
attachments=${ATTACHMENTS:-20000}
odoo=${SLIPWAY_TEST_ODOO_SRC:-$PWD/tests/fixtures/odoo-standin}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

data=$(mktemp -d /tmp/slw-bench-XXXX); chmod 755 "$data"
work=$(mktemp -d /tmp/slw-bench-work-XXXX)
port=$(free_port)
"$bin" --data-dir "$data" serve --listen "127.0.0.1:$port" --sftp-listen "127.0.0.1:$(free_port)" \
  >"$data/serve.log" 2>&1 &
serve=$!
cleanup() { kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null || true; rm -rf "$data" "$work"; }
trap cleanup EXIT
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
export SLIPWAY_SERVER=http://127.0.0.1:$port
token=$(cat "$data/cli-token")
cli() { "$bin" --data-dir "$data" "$@"; }
api() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port$1"; }
psql_db() { cli pg psql "$1" -- -Atq -c "$2"; }
cli odoo add 17.0 --source "$odoo" >/dev/null
cli project create bench --odoo 17.0 >/dev/null

cp -r tests/fixtures/projects/shop/. "$work/"
cd "$work"
git init -q -b main
git add -A && git -c user.name=bench -c user.email=b@example.com commit -qm modules
git remote add origin "http://bench:$token@127.0.0.1:$port/git/bench.git"
commit() { git add -A; git -c user.name=bench -c user.email=b@example.com commit -qm "$1"; }

newest_settled() { # branch, after-id -> id of the newest build once finished
  local branch=$1 after=$2 id state
  while :; do
    id=$(api "/api/projects/bench/builds?branch=$branch" | jq -r '.[0].id // 0')
    if [ "$id" -gt "$after" ]; then
      state=$(api "/api/builds/$id" | jq -r .state)
      case $state in running|done|stopped) echo "$id"; return ;; esac
    fi
    sleep 0.1
  done
}

git push -q origin main
dev=$(newest_settled main 0)
cli branch set bench main --stage production --confirm >/dev/null
prod=$(newest_settled main "$dev")
db=$(api "/api/builds/$prod" | jq -r .database)
conf="$data/builds/$db/odoo.conf"
python3 "$odoo/odoo-bin" -c "$conf" -i shop_core --stop-after-init 2>/dev/null

echo "generating ${rows_mb} MB of rows and ${attachments} attachments in $db ..."
psql_db "$db" "CREATE TABLE bench_rows (id serial PRIMARY KEY, payload text); \
  INSERT INTO bench_rows (payload) SELECT repeat(md5(g::text), 32) FROM generate_series(1, ${rows_mb} * 1024) g; \
  ALTER TABLE bench_rows OWNER TO odoo; ALTER SEQUENCE bench_rows_id_seq OWNER TO odoo;"
python3 - "$data/filestore/$db" "$attachments" > "$data/attachments.sql" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
print("COPY ir_attachment (name, store_fname, checksum, file_size, mimetype) FROM stdin;")
for i in range(n):
    body = os.urandom(2048) + str(i).encode()
    sha = hashlib.sha1(body).hexdigest()
    d = os.path.join(root, sha[:2]); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, sha), "wb") as f: f.write(body)
    print(f"file{i}.bin\t{sha[:2]}/{sha}\t{sha}\t{len(body)}\tapplication/octet-stream")
print("\\.")
PY
cli pg psql "$db" -- -q -f "$data/attachments.sql" >/dev/null
size=$(psql_db "$db" "SELECT pg_size_pretty(pg_database_size(current_database()))")
files=$(find "$data/filestore/$db" -type f | wc -l)
echo "production database: $size, $files filestore files"

# Each timed copy starts from a flushed cluster and page cache, so neither pays for the
# writes of what ran before it (the generation, the other copy).
settle() { psql_db postgres "CHECKPOINT" >/dev/null; sync; }

# The plain way: pg_dump | pg_restore + cp of the filestore.
settle
pgbin=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
sock=$(ls -d "$data/run" 2>/dev/null || true)
pgport=$(jq -r .port "$data/postgres.json")
start=$(now_ms)
"$pgbin/createdb" -h "$sock" -p "$pgport" -U postgres plain_copy
"$pgbin/pg_dump" -Fc -h "$sock" -p "$pgport" -U postgres "$db" | "$pgbin/pg_restore" -h "$sock" -p "$pgport" -U postgres -d plain_copy --no-owner
cp -r "$data/filestore/$db" "$data/filestore/plain_copy"
plain=$(( $(now_ms) - start ))

git checkout -q -b staging-1
git push -q origin staging-1
sdev=$(newest_settled staging-1 "$prod")
settle
start=$(now_ms)
cli branch set bench staging-1 --stage staging --staging-behaviour new_build >/dev/null
staging=$(newest_settled staging-1 "$sdev")
staging_ms=$(( $(now_ms) - start ))
[ "$(api "/api/builds/$staging" | jq -r .state)" = running ] || { api "/api/builds/$staging"; exit 1; }
held=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/builds/$staging/logs/neutralize.log" | sed -n 1p)

git checkout -q main
echo "docs" > README.md; commit docs; git push -q origin main
a=$(newest_settled main "$staging")
sed -i "s/'version': '1.0'/'version': '1.1'/" shop_core/__manifest__.py; commit bump; git push -q origin main
b=$(newest_settled main "$a")
sed -i "s/'version': '1.1'/'version': '1.2'/" shop_core/__manifest__.py
mkdir -p shop_core/migrations/1.2
printf 'def migrate(cr, version):\n    raise RuntimeError("bench failure")\n' > shop_core/migrations/1.2/pre-fail.py
commit failing; git push -q origin main
c=$(newest_settled main "$b")
history=$(api /api/projects/bench/branches/main/history)
nothing=$(echo "$history" | jq -r '[.[] | select(.kind == "production.updated" and .detail.build == '"$a"')][0].detail.unavailable_ms')
one=$(echo "$history" | jq -r '[.[] | select(.kind == "production.updated" and .detail.build == '"$b"')][0].detail.unavailable_ms')
rollback=$(echo "$history" | jq -r '[.[] | select(.kind == "production.rolled_back" and .detail.build == '"$c"')][0].detail.rollback_ms')

echo "staging new build (copy + neutralize + server): ${staging_ms} ms"
echo "  $held"
echo "pg_dump -Fc | pg_restore + cp -r filestore:     ${plain} ms"
python3 -c "print(f'ratio: staging is {$plain / $staging_ms:.1f}x the plain copy')"
echo "production unavailable, nothing to update:      ${nothing} ms"
echo "production unavailable, one module updated:     ${one} ms"
echo "rollback of a failing update:                   ${rollback} ms"
