#!/usr/bin/env bash
# migrate.sh — `tix migrate` driven as a user would: help, usage errors,
# status (text and --json), up (--dry-run, --to), down, redo, new, verify,
# drift then accept, a failing migration, bad migration directories, a
# schema file that cannot be written after the migrations were applied, and an
# unreachable database (exit 3 within the timeout, the host named, the
# password never shown). Exit codes: 0 done, 1 refused, 2 usage, 3 unavailable.
# Needs TIX (the built tix), TIX_SOURCE_ROOT and TIX_TEST_ADMIN_URL
# (tests/harness/pg-cluster); makes and drops a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_migrate_$$"

stdout_has() { grep -qF -- "$1" "$work/out" || fail "stdout lacks \"$1\""; }
stderr_has() { grep -qF -- "$1" "$work/err" || fail "stderr lacks \"$1\""; }
db_value() { psql "$DATABASE_URL" -X -At -c "$1"; }

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
expect 2 migrate up --lock-timeout -5
stderr_has '--lock-timeout'
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

expect 0 migrate up --to 2 --verbose
stderr_has "applied 0001_create_widgets.sql"
stderr_has "applied 0002_add_widget_color.sql"
[ "$(db_value "SELECT count(*) FROM schema_migrations")" = 2 ] || fail "up --to 2"
[ -f "$work/db/schema.sql" ] || fail "no db/schema.sql next to the migrations"
grep -q "CREATE TABLE public.widgets" "$work/db/schema.sql" || fail "schema.sql lacks widgets"
expect 0 migrate up
[ "$(db_value "SELECT count(*) FROM schema_migrations")" = 3 ] || fail "up"
expect 0 migrate up --verbose
stderr_has "nothing to apply"
expect 0 migrate status --json
[ "$(python3 -c 'import json,sys; print(sorted({e["state"] for e in json.load(open(sys.argv[1]))}))' "$work/out")" = "['applied']" ] ||
  fail "status --json after up"
ok "up, up --to, schema.sql, and a second up with nothing to do"

expect 0 migrate down
[ "$(db_value "SELECT count(*) FROM schema_migrations")" = 2 ] || fail "down"
expect 0 migrate redo
[ "$(db_value "SELECT count(*) FROM side_effects")" = 1 ] || fail "redo"
expect 0 migrate down --to 0
[ "$(db_value "SELECT count(*) FROM schema_migrations")" = 0 ] || fail "down --to 0"
expect 0 migrate up
ok "down, redo, down --to 0"

# --- new and verify ----------------------------------------------------------

expect 0 migrate new add_gizmos
[ "$(cat "$work/out")" = "$work/db/migrations/0004_add_gizmos.sql" ] || fail "new printed the path"
[ -f "$work/db/migrations/0004_add_gizmos.sql" ] || fail "new made no file"
expect 0 migrate verify --verbose
stderr_has "verifying 0003_index_widget_names.sql: up, down, up … ok"
mkdir "$work/bad_down"
cp "$fixtures"/forgotten_index/*.sql "$work/bad_down/"
expect 1 migrate verify --dir "$work/bad_down"
stderr_has "0002_index_gadget_labels.sql"
stderr_has "+ index CREATE INDEX gadgets_label_idx"
[ "$(psql "$admin_url" -X -At -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'tix\_verify\_%'")" = 0 ] ||
  fail "verify left its scratch database"
ok "new, verify, and verify of a down that forgets an index (exit 1)"

# --- drift, failures, bad directories ----------------------------------------

expect 0 migrate up
echo "-- an edit after the fact" >>"$work/db/migrations/0001_create_widgets.sql"
expect 1 migrate up
stderr_has "migration 0001_create_widgets.sql was changed after it was applied"
stderr_has 'HINT: If the change is intended and already reflected in the database, run "tix migrate accept 1".'
expect 0 migrate status
stdout_has "drifted"
expect 0 migrate accept 1
expect 0 migrate up
ok "drift refused (exit 1), accepted, then up works"

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
