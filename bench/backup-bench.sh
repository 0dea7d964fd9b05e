#!/usr/bin/env bash
# Benchmark of `slipway backup` (issue 8) against what a user would otherwise do every day,
# `pg_dump -Fc` + `tar` of the filestore, in one run on one generated database:
#   - repository size after DAYS daily backups vs DAYS x (pg_dump -Fc + tar of the filestore)
#   - backup time vs pg_dump -Fc + tar, restore time vs pg_restore + tar -x
#   - verification (restore drill) time
# Each day 1 % of the table rows change and 1 % of the attachments are replaced by new ones.
# CHANGE_MODE=random (default) rewrites rows picked uniformly at random: the worst case for
# deduplication, as nearly every 1 MiB chunk of the dump then holds a changed row.
# CHANGE_MODE=recent models an ERP day: half the changed rows are new records, half are updates
# of the most recent ones (orders, messages and moves change while they are recent).
#
# Usage: bench/backup-bench.sh                                  (small: about a minute)
#        SIZE_MB=1024 FILES=20000 FILE_KB=100 DAYS=10 bench/backup-bench.sh
#                                        (the issue's ~1 GB database + 2 GB of attachments)
# Needs a built slipway (SLIPWAY_BIN, default target/release/slipway) and the fixtures.
# Only the last day's plain files are kept (their sizes are summed day by day), so the disk
# holds one day of them; BENCH_DIR is removed at the end unless KEEP_WORK=1.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-100}
FILES=${FILES:-2000}
FILE_KB=${FILE_KB:-50}
DAYS=${DAYS:-5}
CHANGE_MODE=${CHANGE_MODE:-random}
BIN=${SLIPWAY_BIN:-${CARGO_TARGET_DIR:-target}/release/slipway}
WORK=${BENCH_DIR:-/tmp/slipway-backup-bench}
FIXTURE=../shared/fixtures/odoo-dumps/v17_base.dump
OWNER=odoo

rm -rf "$WORK"
mkdir -p "$WORK/plain"
chmod 755 "$WORK"
S=("$BIN" --data-dir "$WORK/data")
B=(--backup-dir "$WORK/repo" --no-replicas --owner "$OWNER")
trap '"${S[@]}" pg stop >/dev/null 2>&1 || true' EXIT
"${S[@]}" pg start >/dev/null
status=$("${S[@]}" pg status --json)
SOCK=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["socket_dir"])' <<<"$status")
PORT=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["port"])' <<<"$status")
BINDIR=$(pg_config --bindir)
SUPER=$(stat -c %U "$WORK/data/pg" 2>/dev/null || echo postgres)
url() { echo "postgresql://${2:-$SUPER}@localhost/$1?host=$SOCK&port=$PORT"; }
psql_as() { "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$(url "$1" "$2")" "${@:3}"; }
secs() { python3 -c "import time; print(time.time())"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
FS="$WORK/data/filestore/bench"

echo "== generating: ~${SIZE_MB} MB of table data, ${FILES} attachments of ${FILE_KB} KiB, ${DAYS} days"
"${S[@]}" dump restore "$FIXTURE" -d bench --move --owner "$OWNER" >/dev/null
ROWS=$((SIZE_MB * 1024 * 1024 / 300))
psql_as bench "$OWNER" \
  -c "CREATE TABLE bench_blob (id serial PRIMARY KEY, day int NOT NULL DEFAULT 0, payload text NOT NULL)" \
  -c "INSERT INTO bench_blob (payload) SELECT md5(g::text) || ' ' || repeat(md5((g * 7)::text) || ' lorem ipsum ', 5) FROM generate_series(1, $ROWS) g"
attachments() { # add N new random attachments, remove N old ones (day > 0)
  python3 - "$FS" "$1" "$FILE_KB" "$2" <<'PY'
import hashlib, os, random, sys
root, n, kb, remove = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if remove:
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
    for f in random.Random(remove).sample(files, min(n, len(files))):
        os.remove(f)
for i in range(n):
    data = os.urandom(kb * 1024 // 2) * 2   # half-compressible, like office files
    sha = hashlib.sha1(data).hexdigest()
    d = os.path.join(root, sha[:2]); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, sha), "wb") as f: f.write(data)
PY
}
attachments "$FILES" 0
psql_as postgres "$SUPER" -c "CHECKPOINT"
DB_BYTES=$(psql_as bench "$OWNER" -tAc "SELECT pg_database_size('bench')")
FS_BYTES=$(du -sb "$FS" | cut -f1)
echo "database $((DB_BYTES / 1048576)) MiB, filestore $((FS_BYTES / 1048576)) MiB"

CHANGE=$((ROWS / 100)); NEWFILES=$((FILES / 100)); [ "$NEWFILES" -lt 1 ] && NEWFILES=1
T_SLIP=0; T_PLAIN=0; LAST=""; PLAIN=0
for day in $(seq 1 "$DAYS"); do
  if [ "$day" -gt 1 ]; then
    if [ "$CHANGE_MODE" = recent ]; then
      psql_as bench "$OWNER" \
        -c "UPDATE bench_blob SET day = $day, payload = md5(random()::text) || payload WHERE id > (SELECT max(id) FROM bench_blob) - $((CHANGE / 2))" \
        -c "INSERT INTO bench_blob (day, payload) SELECT $day, md5(random()::text) || ' ' || repeat(md5(random()::text) || ' lorem ipsum ', 5) FROM generate_series(1, $((CHANGE / 2)))"
    else
      psql_as bench "$OWNER" -c "UPDATE bench_blob SET day = $day, payload = md5(random()::text) || payload WHERE id IN (SELECT id FROM bench_blob ORDER BY random() LIMIT $CHANGE)"
    fi
    attachments "$NEWFILES" "$day"
  fi
  t0=$(secs)
  LAST=$("${S[@]}" backup create -d bench --filestore "$FS" --kind daily --json "${B[@]}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup"]["id"])')
  t1=$(secs)
  "$BINDIR/pg_dump" -Fc -f "$WORK/plain/day$day.dump" "$(url bench "$OWNER")"
  tar -cf "$WORK/plain/day$day.tar" -C "$FS" .
  t2=$(secs)
  PLAIN=$((PLAIN + $(du -sb "$WORK/plain/day$day.dump" | cut -f1) + $(du -sb "$WORK/plain/day$day.tar" | cut -f1)))
  [ "$day" -gt 1 ] && rm -f "$WORK/plain/day$((day - 1)).dump" "$WORK/plain/day$((day - 1)).tar"
  T_SLIP=$(python3 -c "print($T_SLIP + $t1 - $t0)"); T_PLAIN=$(python3 -c "print($T_PLAIN + $t2 - $t1)")
  printf 'day %2d: slipway backup %6.2f s   pg_dump -Fc + tar %6.2f s\n' "$day" "$(python3 -c "print($t1-$t0)")" "$(python3 -c "print($t2-$t1)")"
done
REPO=$(du -sb "$WORK/repo" | cut -f1)
REPO_DISK=$(($(du -sk "$WORK/repo" | cut -f1) * 1024))
CHUNKS=$(find "$WORK/repo/chunks" -type f | wc -l)

echo "== restore of the last day"
t0=$(secs)
"${S[@]}" backup restore "$LAST" -d bench_r --filestore "$WORK/restored" "${B[@]}" >/dev/null
t1=$(secs)
psql_as postgres "$SUPER" -c "CREATE DATABASE bench_p OWNER $OWNER"
"$BINDIR/pg_restore" --no-owner -j 2 -d "$(url bench_p "$OWNER")" "$WORK/plain/day$DAYS.dump"
mkdir -p "$WORK/plain-restored" && tar -xf "$WORK/plain/day$DAYS.tar" -C "$WORK/plain-restored"
t2=$(secs)
RESTORE=$(python3 -c "print($t1-$t0)"); PRESTORE=$(python3 -c "print($t2-$t1)")

echo "== verification (restore drill) of the last day"
t0=$(secs)
"${S[@]}" backup verify "$LAST" "${B[@]}" >/dev/null
t1=$(secs)
VERIFY=$(python3 -c "print($t1-$t0)")

echo
echo "== results (${DAYS} days, changes: $CHANGE_MODE, database $((DB_BYTES / 1048576)) MiB, filestore $((FS_BYTES / 1048576)) MiB)"
printf '%-48s %10s\n' "repository after $DAYS daily backups" "$((REPO / 1048576)) MiB"
printf '%-48s %10s (%s chunk files)\n' "repository on disk (file system blocks)" "$((REPO_DISK / 1048576)) MiB" "$CHUNKS"
printf '%-48s %10s\n' "$DAYS x (pg_dump -Fc + tar)" "$((PLAIN / 1048576)) MiB"
printf '%-48s %10s (target <= 0.25)\n' "size ratio repository / plain" "$(ratio "$REPO" "$PLAIN")"
printf '%-48s %8.2f s vs %8.2f s  (ratio %s)\n' "backup time, all days (slipway vs plain)" "$T_SLIP" "$T_PLAIN" "$(ratio "$T_SLIP" "$T_PLAIN")"
printf '%-48s %8.2f s vs %8.2f s  (ratio %s)\n' "restore time (slipway vs pg_restore -j2 + tar -x)" "$RESTORE" "$PRESTORE" "$(ratio "$RESTORE" "$PRESTORE")"
printf '%-48s %8.2f s\n' "verification (restore drill + compare)" "$VERIFY"
[ "${KEEP_WORK:-0}" = 1 ] || { "${S[@]}" pg stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
