#!/usr/bin/env bash
# Benchmarks of `slipway dump` / `slipway db` (issue 4), each against the plain tool a user
# would otherwise use, in one run on one generated database:
#   - db clone              vs  pg_dump | pg_restore + cp -r of the filestore
#   - dump restore --jobs 2 vs  pg_restore of the same custom dump
#   - dump create zip       throughput (MB/s of database + filestore)
#   - peak memory (max RSS) of inspect and restore, to show it does not grow with the dump
#
# Usage: bench/dump-bench.sh            (SIZE_MB=1024 FILES=20000 by default)
#        SIZE_MB=300 FILES=20000 bench/dump-bench.sh
# Needs a built slipway (SLIPWAY_BIN, default target/release/slipway) and the fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
FILES=${FILES:-20000}
FILE_KB=${FILE_KB:-4}
BIN=${SLIPWAY_BIN:-${CARGO_TARGET_DIR:-target}/release/slipway}
WORK=${BENCH_DIR:-/tmp/slipway-bench}
FIXTURE=../shared/fixtures/odoo-dumps/v17_base.dump
OWNER=odoo

rm -rf "$WORK"
mkdir -p "$WORK"
S=("$BIN" --data-dir "$WORK/data")
trap '"${S[@]}" pg stop >/dev/null 2>&1 || true' EXIT
"${S[@]}" pg start >/dev/null
status=$("${S[@]}" pg status --json)
SOCK=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["socket_dir"])' <<<"$status")
PORT=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["port"])' <<<"$status")
BINDIR=$(pg_config --bindir)
SUPER=$(stat -c %U "$WORK/data/pg" 2>/dev/null || echo postgres)
url() { echo "postgresql://${2:-$SUPER}@localhost/$1?host=$SOCK&port=$PORT"; }
psql_as() { "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$(url "$1" "$2")" "${@:3}"; }
# seconds and max RSS (KiB) of a command
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" >/dev/null
  read -r secs rss <"$WORK/time.out"
  printf '%-44s %8.2f s  %8d KiB max RSS\n' "$label" "$secs" "$rss"
  echo "$secs" >"$WORK/last.secs"
}
last() { cat "$WORK/last.secs"; }
ratio() { python3 -c "print(f'{$1/$2:.1f}x')"; }

echo "== generating: ~${SIZE_MB} MB of table data, ${FILES} attachments of ${FILE_KB} KiB"
"${S[@]}" dump restore "$FIXTURE" -d bench --move --owner "$OWNER" >/dev/null
ROWS=$((SIZE_MB * 1024 * 1024 / 260))
psql_as bench "$OWNER" -c "CREATE TABLE bench_blob (id serial PRIMARY KEY, payload text NOT NULL)" \
  -c "INSERT INTO bench_blob (payload) SELECT md5(g::text) || repeat(md5((g * 7)::text), 5) FROM generate_series(1, $ROWS) g" \
  -c "CREATE INDEX ON bench_blob (substr(payload, 1, 8))"
python3 - "$WORK/data/filestore/bench" "$FILES" "$FILE_KB" "$WORK/attachments.csv" <<'PY'
import hashlib, os, sys
root, n, kb, csv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(csv, "w") as out:
    for i in range(n):
        data = os.urandom(kb * 1024)
        sha = hashlib.sha1(data).hexdigest()
        d = os.path.join(root, sha[:2]); os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, sha), "wb") as f: f.write(data)
        out.write(f"bench{i}.bin,binary,{sha[:2]}/{sha},{sha},{len(data)},application/octet-stream\n")
PY
psql_as bench "$OWNER" -c "\\copy ir_attachment (name, type, store_fname, checksum, file_size, mimetype) FROM '$WORK/attachments.csv' WITH (FORMAT csv)"
# a production database is not all dirty buffers: flush what generating it left behind
psql_as postgres "$SUPER" -c "CHECKPOINT"
DB_BYTES=$(psql_as bench "$OWNER" -tAc "SELECT pg_database_size('bench')")
FS_BYTES=$(du -sb "$WORK/data/filestore/bench" | cut -f1)
echo "database $((DB_BYTES / 1048576)) MiB, filestore $((FS_BYTES / 1048576)) MiB in $FILES files"

echo "== db clone vs pg_dump | pg_restore + cp -r"
measure "slipway db clone" "${S[@]}" db clone bench bench_clone --owner "$OWNER"
CLONE=$(last)
"${S[@]}" db clone bench bench_clone2 --json --owner "$OWNER" | tr -d '\n ' | sed 's/.*"held":\([0-9.]*\).*/   source held for \1 s\n/'
psql_as postgres "$SUPER" -c "CREATE DATABASE bench_plain OWNER $OWNER"
plain_clone() {
  "$BINDIR/pg_dump" -Fc "$(url bench)" | "$BINDIR/pg_restore" --no-owner -d "$(url bench_plain)"
  cp -r "$WORK/data/filestore/bench" "$WORK/data/filestore/bench_plain"
}
export -f plain_clone url; export BINDIR SOCK PORT SUPER WORK
measure "pg_dump | pg_restore + cp -r" bash -c plain_clone
echo "   clone speed-up: $(ratio "$(last)" "$CLONE")"

echo "== dump restore --jobs 2 vs pg_restore (custom dump)"
"$BINDIR/pg_dump" -Fc -f "$WORK/bench.dump" "$(url bench)"
measure "slipway dump restore --jobs 2 (custom)" "${S[@]}" dump restore "$WORK/bench.dump" -d r_jobs --jobs 2 --move --owner "$OWNER"
JOBS=$(last)
psql_as postgres "$SUPER" -c "CREATE DATABASE r_plain OWNER $OWNER"
measure "pg_restore --no-owner (1 job)" "$BINDIR/pg_restore" --no-owner -d "$(url r_plain "$OWNER")" "$WORK/bench.dump"
echo "   restore speed-up: $(ratio "$(last)" "$JOBS")"

echo "== dump create --format zip"
measure "slipway dump create --format zip" "${S[@]}" dump create -d bench --format zip -o "$WORK/bench.zip" --owner "$OWNER"
echo "   throughput: $(python3 -c "print(f'{($DB_BYTES + $FS_BYTES) / 1048576 / $(last):.1f} MB/s of database + filestore, zip is {$(stat -c %s "$WORK/bench.zip") / 1048576:.0f} MiB')")"
measure "pg_dump --no-owner (plain, to a file)" "$BINDIR/pg_dump" --no-owner -f "$WORK/plain.sql" "$(url bench)"

echo "== peak memory"
measure "slipway dump inspect (zip)" "${S[@]}" dump inspect "$WORK/bench.zip"
measure "slipway dump inspect (custom)" "${S[@]}" dump inspect "$WORK/bench.dump"
measure "slipway dump inspect (fixture zip, 1.3 MB)" "${S[@]}" dump inspect ../shared/fixtures/odoo-dumps/v17_mail_demo.zip
measure "slipway dump restore (zip: guarded psql)" "${S[@]}" dump restore "$WORK/bench.zip" -d r_zip --owner "$OWNER"
measure "psql -f dump.sql (plain, unguarded)" bash -c "psql_plain() { :; }; $BINDIR/psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE r_psql' '$(url postgres)' && $BINDIR/psql -X -q -v ON_ERROR_STOP=1 -f '$WORK/plain.sql' '$(url r_psql)'"
