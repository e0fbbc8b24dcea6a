#!/usr/bin/env bash
# migrate.sh — `tix migrate` driven as a user would: help, usage errors,
# status (text and --json), up (--dry-run, --to), down, redo, new (whose
# empty template up and verify refuse), verify (and the scratch database of a
# verify killed with -9, dropped by the next one), drift then accept, a
# missing file (status and up exit 1), a failing migration, bad migration
# directories, a schema file that cannot be written after the migrations were
# applied, the migration lock (--lock-timeout-ms), and an unreachable
# database (exit 3 within the timeout, the host named, the password never
# shown). What was done is said on stderr even off a terminal, unless
# --quiet. Exit codes: 0 done, 1 refused, 2 usage, 3 unavailable.
# Needs TIX (the built tix), TIX_SOURCE_ROOT and TIX_TEST_ADMIN_URL
# (tests/harness/pg-cluster); makes and drops a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_migrate_$$"

stdout_has() { grep -qF -- "$1" "$work/out" || fail "stdout lacks \"$1\""; }
stderr_has() { grep -qF -- "$1" "$work/err" || fail "stderr lacks \"$1\""; }
db_value() { psql "$DATABASE_URL" -X -At -c "$1"; }
admin_value() { psql "$admin_url" -X -At -c "$1"; }

fixtures=$TIX_SOURCE_ROOT/tests/fixtures/migrations
mkdir -p "$work/db/migrations"
cp "$fixtures"/widgets/*.sql "$work/db/migrations/"
admin_psql -c "CREATE DATABASE $database"
# The cluster trusts local users: the password is unused, but it makes pg_dump
# get it through its environment rather than its arguments.
export DATABASE_URL="$admin_url dbname=$database password=unused-secret"
export TIX_MIGRATIONS=$work/db/migrations
cd "$work"

# --- help and usage errors ---------------------------------------------------

expect 0 migrate --help
stdout_has "Usage: tix migrate"
for sub in up down redo status accept new verify; do
  expect 0 migrate "$sub" --help
  stdout_has "tix migrate $sub"
done
ok "--help for migrate and every subcommand"

expect 2 migrate
expect 2 migrate sideways
stderr_has 'unknown subcommand "sideways"'
expect 2 migrate up --bogus
stderr_has 'unknown option "--bogus"'
[ "$(grep -c '^tix:' "$work/err")" -eq 1 ] || fail "one error line expected"
expect 2 migrate up --to abc
stderr_has 'invalid version "abc" for --to'
expect 2 migrate up --lock-timeout-ms -5
stderr_has 'invalid number of milliseconds "-5" for --lock-timeout-ms'
expect 2 migrate up --lock-timeout 5
stderr_has '--lock-timeout is now --lock-timeout-ms, in milliseconds like TIX_MIGRATE_LOCK_TIMEOUT_MS'
expect 2 migrate up --quiet --verbose
expect 2 migrate status --dry-run
stderr_has '"--dry-run" does not apply to migrate status'
expect 2 migrate down 0
expect 2 migrate down 1 --to 2
expect 2 migrate accept
expect 2 migrate accept x1
expect 2 migrate new
expect 2 migrate new Bad-Name
stderr_has 'invalid migration name "Bad-Name"'
expect 2 migrate status extra
ok "usage errors exit 2 naming the bad thing"

# --- status, up, down --------------------------------------------------------

expect 0 migrate status
stdout_has "0001     create_widgets"
stdout_has "3 migrations: 0 applied, 3 pending"
expect 0 migrate status --json
[ "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d), d[0]["state"], d[0]["applied_at"])' "$work/out")" = "3 pending None" ] ||
  fail "status --json"
ok "status before anything is applied"

expect 0 migrate up --dry-run
stdout_has "would apply 0001_create_widgets.sql in a transaction"
stdout_has "would apply 0003_index_widget_names.sql outside a transaction (transaction:false)"
[ "$(db_value "SELECT to_regclass('schema_migrations') IS NULL")" = t ] || fail "dry run made the ledger"
ok "up --dry-run prints the plan and changes nothing"

# Not a terminal here: what was applied is said on stderr all the same.
expect 0 migrate up --to 2
stderr_has "applied 0001_create_widgets.sql"
stderr_has "applied 0002_add_widget_color.sql"
[ "$(db_value "SELECT count(*) FROM schema_migrations")" = 2 ] || fail "up --to 2"
[ -f "$work/db/schema.sql" ] || fail "no db/schema.sql next to the migrations"
grep -q "CREATE TABLE public.widgets" "$work/db/schema.sql" || fail "schema.sql lacks widgets"
expect 0 migrate up --quiet
[ "$(db_value "SELECT count(*) FROM schema_migrations")" = 3 ] || fail "up"
[ ! -s "$work/err" ] || fail "up --quiet printed something"
expect 0 migrate up --verbose
stderr_has "nothing to apply"
expect 0 migrate status --json
[ "$(python3 -c 'import json,sys; print(sorted({e["state"] for e in json.load(open(sys.argv[1]))}))' "$work/out")" = "['applied']" ] ||
  fail "status --json after up"
ok "up, up --to, schema.sql, and a second up with nothing to do"

expect 0 migrate down
[ "$(db_value "SELECT count(*) FROM schema_migrations")" = 2 ] || fail "down"
stderr_has "rolled back 0003_index_widget_names.sql"
expect 0 migrate redo
[ "$(db_value "SELECT count(*) FROM side_effects")" = 1 ] || fail "redo"
stderr_has "rolled back 0002_add_widget_color.sql"
stderr_has "applied 0002_add_widget_color.sql"
expect 0 migrate down --to 0 --quiet
[ "$(db_value "SELECT count(*) FROM schema_migrations")" = 0 ] || fail "down --to 0"
[ ! -s "$work/err" ] || fail "down --quiet printed something"
expect 0 migrate up
ok "down, redo, down --to 0, saying what they did on stderr unless --quiet"

# --- new and verify ----------------------------------------------------------

expect 0 migrate new add_gizmos
[ "$(cat "$work/out")" = "$work/db/migrations/0004_add_gizmos.sql" ] || fail "new printed the path"
[ -f "$work/db/migrations/0004_add_gizmos.sql" ] || fail "new made no file"
for verb in up verify; do
  expect 2 migrate $verb
  stderr_has "tix: migration 0004_add_gizmos.sql has no statement in its up section"
done
[ "$(db_value "SELECT count(*) FROM schema_migrations WHERE version = 4")" = 0 ] ||
  fail "the empty template was applied"
ok "the template of new is refused by up and verify (exit 2), naming it"

printf -- '-- migrate:up\nCREATE TABLE gizmos (id int);\n-- migrate:down\nDROP TABLE gizmos;\n' \
  >"$work/db/migrations/0004_add_gizmos.sql"
expect 0 migrate verify
stderr_has "verifying 0003_index_widget_names.sql: up, down, up … ok"
stderr_has "verifying 0004_add_gizmos.sql: up, down, up … ok"
mkdir "$work/bad_down"
cp "$fixtures"/forgotten_index/*.sql "$work/bad_down/"
expect 1 migrate verify --dir "$work/bad_down"
stderr_has "0002_index_gadget_labels.sql"
stderr_has "+ index CREATE INDEX gadgets_label_idx"
scratch=$(sed -n 's/^verifying in the scratch database //p' "$work/err")
[ -n "$scratch" ] || fail "verify did not name its scratch database"
[ "$(admin_value "SELECT count(*) FROM pg_database WHERE datname = '$scratch'")" = 0 ] ||
  fail "verify left its scratch database $scratch"
ok "new, verify, and verify of a down that forgets an index (exit 1)"

# A verify killed mid-way leaves its scratch database; the next verify drops
# it, and leaves alone the one of a verify that still runs.
for dir in slow stuck; do
  mkdir "$work/$dir"
  cp "$fixtures"/widgets/0001_create_widgets.sql "$work/$dir/"
done
printf -- '-- migrate:up\nSELECT pg_sleep(3);\n-- migrate:down\n' >"$work/slow/0002_sleep.sql"
printf -- '-- migrate:up\nSELECT pg_sleep(60);\n-- migrate:down\n' >"$work/stuck/0002_sleep.sql"
scratch_in() { # FILE: the scratch database that the verify writing FILE made
  local name="" tries
  for tries in $(seq 100); do
    name=$(sed -n 's/^verifying in the scratch database //p' "$1")
    if [ -n "$name" ] && [ "$(admin_value "SELECT count(*) FROM pg_database WHERE datname = '$name'")" = 1 ]; then
      echo "$name"
      return
    fi
    sleep 0.1
  done
}
"$TIX" migrate verify --dir "$work/slow" 2>"$work/verify-live.err" &
live=$!
running=$(scratch_in "$work/verify-live.err")
[ -n "$running" ] || fail "the running verify made no scratch database"
"$TIX" migrate verify --dir "$work/stuck" 2>"$work/verify-killed.err" &
killed=$!
leftover=$(scratch_in "$work/verify-killed.err")
[ -n "$leftover" ] || fail "the verify to be killed made no scratch database"
kill -9 $killed
wait $killed 2>/dev/null || true
expect 0 migrate verify
stderr_has "dropped $leftover, left by a verify that was stopped"
[ "$(admin_value "SELECT count(*) FROM pg_database WHERE datname = '$leftover'")" = 0 ] ||
  fail "the killed verify's scratch database $leftover is still there"
if grep -q "$running" "$work/err"; then fail "the running verify's database was dropped"; fi
wait $live || fail "the verify that was running failed: $(cat "$work/verify-live.err")"
ok "a killed verify's scratch database is dropped by the next verify; a running one's is not"

# --- drift, missing files, failures, bad directories --------------------------

expect 0 migrate up
echo "-- an edit after the fact" >>"$work/db/migrations/0001_create_widgets.sql"
expect 1 migrate up
stderr_has "migration 0001_create_widgets.sql was changed after it was applied"
stderr_has 'HINT: If the change is intended and already reflected in the database, run "tix migrate accept 1".'
expect 1 migrate status
stdout_has "drifted"
stderr_has "tix: the migrations and the database disagree: 1 drifted, 0 out of order, 0 missing their file"
expect 1 migrate status --json
[ "$(python3 -c 'import json,sys; print([e["state"] for e in json.load(open(sys.argv[1]))][0])' "$work/out")" = drifted ] ||
  fail "status --json with drift"
expect 0 migrate accept --help
stdout_has "It applies nothing and checks nothing against the database"
expect 0 migrate accept 1
stderr_has "accepted the new checksum of 0001_create_widgets.sql"
expect 0 migrate up
expect 0 migrate status
ok "drift refused by up and status (exit 1), accepted, then up works"

mv "$work/db/migrations/0004_add_gizmos.sql" "$work/gizmos.sql"
printf -- '-- migrate:up\nCREATE TABLE after_gizmos (id int);\n-- migrate:down\nDROP TABLE after_gizmos;\n' \
  >"$work/db/migrations/0005_after_gizmos.sql"
expect 1 migrate status
stdout_has "missing_file"
stderr_has "0 drifted, 0 out of order, 1 missing their file"
expect 1 migrate up
stderr_has "tix: migration 4 (add_gizmos) is applied but its file is missing"
[ "$(db_value "SELECT to_regclass('after_gizmos') IS NULL")" = t ] || fail "up ran with a file missing"
mv "$work/gizmos.sql" "$work/db/migrations/0004_add_gizmos.sql"
rm "$work/db/migrations/0005_after_gizmos.sql"
expect 0 migrate status
ok "an applied migration's missing file: status and up exit 1"

printf -- '-- migrate:up\nSELECT nme FROM widgets;\n-- migrate:down\n' >"$work/db/migrations/0005_typo.sql"
expect 1 migrate up
stderr_has 'tix: migration 0005_typo.sql failed at line 2: column "nme" does not exist'
rm "$work/db/migrations/0005_typo.sql"
ok "a failing migration exits 1 naming file and line"

expect 2 migrate status --dir "$work/nonexistent"
stderr_has "$work/nonexistent"
printf -- '-- migrate:up\n-- migrate:down\n' >"$work/db/migrations/12_short.sql"
expect 2 migrate up
stderr_has 'invalid migration file name "12_short.sql"'
rm "$work/db/migrations/12_short.sql"
printf -- '-- migrate:up\nSELECT 1;\n' >"$work/db/migrations/0006_no_down.sql"
expect 2 migrate up
stderr_has 'no "-- migrate:down" section'
rm "$work/db/migrations/0006_no_down.sql"
ok "bad migration directories and files exit 2"

printf -- '-- migrate:up\nCREATE TABLE gizmo_parts (id int);\n-- migrate:down\nDROP TABLE gizmo_parts;\n' \
  >"$work/db/migrations/0007_gizmo_parts.sql"
TIX_SCHEMA_FILE="$work/no-such-dir/schema.sql" expect 1 migrate up
stderr_has "tix: the migrations were applied, but the schema file $work/no-such-dir/schema.sql was not written"
[ "$(db_value "SELECT count(*) FROM schema_migrations WHERE version = 7")" = 1 ] ||
  fail "the migration was not applied"
ok "a schema file that cannot be written after up exits 1 saying the migrations were applied"

# --- another command on a database that is behind -----------------------------

# A database with tix's own schema, configured by DATABASE_URL alone: a
# pending migration there is refused, named, by every command but migrate
# and db, and never applied by them.
real_database="${database}_real"
trap 'admin_psql -c "DROP DATABASE IF EXISTS $real_database WITH (FORCE)" >/dev/null 2>&1 || true; cleanup' EXIT
admin_psql -c "CREATE DATABASE $real_database"
mkdir "$work/real"
cp "$TIX_SOURCE_ROOT"/db/migrations/*.sql "$work/real/"
(
  export DATABASE_URL="$admin_url dbname=$real_database" TIX_MIGRATIONS="$work/real"
  export TIX_SCHEMA_FILE=""
  expect 1 event list
  stderr_has "tix: the database schema is behind: "
  stderr_has "migrations are pending (0001_"
  expect 0 migrate up --quiet
  expect 0 event list
  printf -- '-- migrate:up\nALTER TABLE events ADD COLUMN venue text;\n-- migrate:down\n' \
    >"$work/real/9000_wip_feature.sql"
  for attempt in 1 2; do
    expect 1 event list
    stderr_has "tix: the database schema is behind: migration 9000_wip_feature.sql is pending"
    stderr_has 'HINT: Review them, then run "tix migrate up".'
  done
  [ "$(psql "$DATABASE_URL" -X -At -c "SELECT count(*) FROM information_schema.columns
        WHERE table_name = 'events' AND column_name = 'venue'")" = 0 ] || fail "event list migrated"
  expect 0 migrate --help
  expect 0 db url
  expect 0 event list --help
  expect 0 migrate up
  stderr_has "applied 9000_wip_feature.sql"
  expect 0 event list
)
ok "with DATABASE_URL, a command on a database that is behind exits 1 naming what is pending, every time"

# --- the migration lock, waited for in milliseconds ---------------------------

PGAPPNAME=stuck-migrator psql "$DATABASE_URL" -X -q -c "SELECT pg_advisory_lock(888637997003307873)" \
  -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
for tries in $(seq 100); do
  [ "$(admin_value "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                    WHERE l.locktype = 'advisory' AND a.application_name = 'stuck-migrator'")" = 1 ] && break
  sleep 0.1
done
started_ms=$(($(date +%s%N) / 1000000))
expect 4 migrate up --lock-timeout-ms 700
waited_ms=$(($(date +%s%N) / 1000000 - started_ms))
[ "$waited_ms" -ge 700 ] && [ "$waited_ms" -lt 5000 ] || fail "waited $waited_ms ms for a 700 ms timeout"
stderr_has "Waited 700 ms. The lock is held by pid"
stderr_has "stuck-migrator"
stderr_has "--lock-timeout-ms"
admin_value "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'stuck-migrator'" >/dev/null
wait $holder 2>/dev/null || true
ok "--lock-timeout-ms waits that many milliseconds for the migration lock, then exits 4 (try again) naming the holder"

# --- an unreachable database -------------------------------------------------

started=$(date +%s)
DATABASE_URL="postgresql://tixuser:s3cr3t-pw@/tix?host=$work/no-such-socket-dir" \
  TIX_CONNECT_TIMEOUT_MS=1500 expect 3 migrate status
elapsed=$(($(date +%s) - started))
[ "$elapsed" -le 10 ] || fail "gave up after $elapsed s, not within the timeout"
stderr_has "$work/no-such-socket-dir"
if grep -q "s3cr3t-pw" "$work/out" "$work/err"; then fail "the password was printed"; fi
DATABASE_URL="postgresql://tixuser:s3cr3t-pw@/tix?host=$work/no-such-socket-dir" \
  TIX_CONNECT_TIMEOUT_MS=500 expect 3 migrate up
ok "an unreachable database exits 3 within the timeout, naming the host, not the password"
