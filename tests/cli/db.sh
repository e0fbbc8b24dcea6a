#!/usr/bin/env bash
# db.sh — `tix db` drives a real embedded PostgreSQL cluster like a user
# would: start, status, url with psql, a second start, recovery after the
# postmaster is killed with -9, stop, a stale postmaster.pid naming another
# process, pending migrations of an existing cluster (refused by other
# commands, never applied behind the user's back; db start warns), a cluster
# that a command creates (migrated at once; a schema file it cannot write is
# a warning), no descriptor of tix's in the postmaster, a data directory path
# too long for a socket, a data directory from another major version,
# directories that cannot be made or reached, and the usage errors. Two
# initdb serve every case (the first cluster is moved and copied rather than
# made again).
# Needs TIX (the built tix) and the PostgreSQL server programs.
set -euo pipefail
umask 022 # directories made here must stay passable for the postgres user

: "${TIX:?TIX must name the built tix}"

ok() { echo "ok - $*"; }
fail() {
  echo "FAIL - $*"
  exit 1
}

# Nothing of the caller's may point tix at another database.
unset DATABASE_URL DB_HOST DB_PORT DB_USERNAME DB_PASSWORD DB_NAME TIX_DATA
while read -r name; do unset "$name"; done < <(compgen -e | grep '^PG' || true)

tmp=$(mktemp -d /tmp/tix-cli-db.XXXXXX)
chmod 755 "$tmp" # the server runs as postgres when we are root: it must get in
# `tix db start` migrates, and migrating dumps the schema next to the
# migrations: use a copy, so that nothing is written into the source tree.
source_root=${TIX_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
mkdir -p "$tmp/db"
cp -r "$source_root/db/migrations" "$tmp/db/migrations"
export TIX_MIGRATIONS="$tmp/db/migrations"
export TIX_SCHEMA_FILE="$tmp/db/schema.sql"
cd "$tmp"

bindir=$(pg_config --bindir)
data_dirs=()
private_socket_dir=
as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  local status=$? dir
  for dir in "${data_dirs[@]}"; do
    if [ -f "$dir/pgdata/postmaster.pid" ]; then
      (cd / && as_server "$bindir/pg_ctl" -D "$dir/pgdata" -m immediate -w stop) >/dev/null 2>&1 || true
    fi
  done
  case "$private_socket_dir" in /tmp/tix-*) rm -rf "$private_socket_dir" ;; esac
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run CMD… — runs tix, keeping stdout, stderr and the exit status.
run() {
  set +e
  "$TIX" "$@" >"$tmp/out" 2>"$tmp/err"
  code=$?
  set -e
}
expect_code() { # expected, what
  [ "$code" -eq "$1" ] || {
    cat "$tmp/out" "$tmp/err"
    fail "$2: exit $code, expected $1"
  }
}
sql() { psql "$("$TIX" db url)" -X -Atq -v ON_ERROR_STOP=1 -c "$1"; }

# --- usage ------------------------------------------------------------------

for verb in "" start stop status url; do
  run db $verb --help
  expect_code 0 "tix db $verb --help"
  grep -q "^Usage: tix db" "$tmp/out" || fail "tix db $verb --help prints no usage"
done
ok "--help of tix db and each sub-verb exits 0 with the usage on stdout"

for args in "start --bogus" "stop --json" "status -x" "url extra" "frob" ""; do
  read -ra words <<<"$args"
  run db "${words[@]}"
  expect_code 2 "tix db $args"
done
run db start --bogus
grep -q -- '--bogus' "$tmp/err" || fail "the usage error does not name --bogus"
ok "unknown flags, sub-verbs and arguments exit 2 naming the bad thing"

DATABASE_URL="postgresql://u:secret@db.example/x" run db start
expect_code 2 "tix db start with DATABASE_URL"
grep -q "tix db manages only the embedded cluster; DATABASE_URL is set" "$tmp/err" ||
  fail "start with DATABASE_URL: $(cat "$tmp/err")"
DATABASE_URL="postgresql://u:secret@db.example/x" run db url
expect_code 0 "tix db url with DATABASE_URL"
[ "$(cat "$tmp/out")" = "postgresql://u:secret@db.example/x" ] || fail "url is not DATABASE_URL"
ok "with DATABASE_URL, start refuses (exit 2) and url prints it"

# --- one cluster: start, status, url, crash, stop ----------------------------

export TIX_DATA="$tmp/data dir" # a space: no shell ever sees the path
data_dirs+=("$TIX_DATA")
run db status
expect_code 3 "status before the first start"
run db url
expect_code 0 "url before the first start"
grep -q '^postgresql:///tix?host=%2Ftmp%2F.*data%20dir%2Frun&user=tix$' "$tmp/out" ||
  fail "url: $(cat "$tmp/out")"
ok "before the first start, status exits 3 and url prints the socket URI"

run db start
expect_code 0 "first start"
grep -q "^started PostgreSQL" "$tmp/out" || fail "first start says: $(cat "$tmp/out")"
run db status
expect_code 0 "status of a running cluster"
grep -q "running (pid [0-9]*)" "$tmp/out" || fail "status: $(cat "$tmp/out")"
run db status --json
expect_code 0 "status --json"
grep -q '"running": true' "$tmp/out" || fail "status --json: $(cat "$tmp/out")"
grep -q '"major_version": [0-9]' "$tmp/out" || fail "status --json: $(cat "$tmp/out")"
[ "$(sql 'select current_user || current_database()')" = "tixtix" ] || fail "psql via url"
[ "$(sql "select count(*) from pg_settings where name = 'listen_addresses' and setting = ''")" = 1 ] ||
  fail "the server listens on TCP"
ok "start, status (exit 0, --json) and psql \"\$(tix db url)\" reach database tix as tix, no TCP"

pid=$(head -1 "$TIX_DATA/pgdata/postmaster.pid")
leaked=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 ! -name 0 ! -name 1 ! -name 2 -lname /dev/null)
[ -z "$leaked" ] || fail "the postmaster holds descriptors tix opened: $leaked"
ok "the postmaster inherits no descriptor of tix's (no /dev/null beyond stdin)"

if [ "$(sql "select to_regclass('schema_migrations') is not null")" != t ]; then
  fail "tix db start did not apply the migrations"
fi
ok "tix db start applied the migrations"

run db start
expect_code 0 "second start"
grep -q "already running" "$tmp/out" || fail "second start says: $(cat "$tmp/out")"
ok "a second start is harmless and says already running"

sql "create table survivor (value int); insert into survivor values (42)"
pid=$(head -1 "$TIX_DATA/pgdata/postmaster.pid")
kill -9 "$pid"
run db start
expect_code 0 "start after kill -9 of the postmaster"
[ "$(sql 'select value from survivor')" = 42 ] || fail "the committed row did not survive"
ok "after kill -9 of the postmaster, start recovers and committed data survives"

run db stop
expect_code 0 "stop"
grep -q "^stopped" "$tmp/out" || fail "stop says: $(cat "$tmp/out")"
run db status
expect_code 3 "status of a stopped cluster"
grep -q "not running" "$tmp/out" || fail "status: $(cat "$tmp/out")"
run db stop
expect_code 0 "second stop"
grep -q "not running" "$tmp/out" || fail "second stop says: $(cat "$tmp/out")"
ok "stop, then status exits 3, and a second stop is harmless"

# A pid file left by a crash may name a pid that another process has now:
# one the server user could signal, so that pg_ctl would have killed it.
if [ "$(id -u)" -eq 0 ]; then
  setpriv --reuid=postgres --regid=postgres --clear-groups sleep 120 &
else
  sleep 120 &
fi
sleeper=$!
printf '%s\n%s\n' "$sleeper" "$TIX_DATA/pgdata" >"$TIX_DATA/pgdata/postmaster.pid"
run db stop
expect_code 0 "stop with a postmaster.pid naming another process"
kill -0 "$sleeper" 2>/dev/null || fail "tix db stop killed process $sleeper, which is no postmaster"
grep -q "not running" "$tmp/out" || fail "stop with a stale pid says: $(cat "$tmp/out")"
run db status
expect_code 3 "status with a postmaster.pid naming another process"
kill "$sleeper"
wait "$sleeper" 2>/dev/null || true
rm "$TIX_DATA/pgdata/postmaster.pid"
ok "a postmaster.pid naming another live process: stop leaves it alone, status says not running"

# A pending migration in an existing cluster may be unfinished work: a
# command that starts the cluster refuses (exit 1) naming it, every time,
# and applies nothing; neither does db start, which warns; migrate up does.
schema_before=$(cksum <"$TIX_SCHEMA_FILE")
printf -- '-- migrate:up\nCREATE TABLE on_demand (id int);\n-- migrate:down\nDROP TABLE on_demand;\n' \
  >"$TIX_MIGRATIONS/9000_on_demand.sql"
printf -- '-- migrate:up\nCREATE TABLE wip (id int\n' >"$TIX_MIGRATIONS/9001_wip_feature.sql"
for attempt in 1 2; do
  run event list
  expect_code 1 "event list $attempt with pending migrations"
  grep -q "^tix: the database schema is behind: 2 migrations are pending (9000_on_demand.sql, 9001_wip_feature.sql)" "$tmp/err" ||
    fail "event list $attempt says: $(cat "$tmp/err")"
  grep -q 'HINT: .*"tix migrate up"' "$tmp/err" || fail "no hint to migrate up: $(cat "$tmp/err")"
done
[ "$(sql "select to_regclass('on_demand') is null")" = t ] || fail "a pending migration was applied"
[ "$(cksum <"$TIX_SCHEMA_FILE")" = "$schema_before" ] || fail "db/schema.sql was rewritten"
run db stop
run db start
expect_code 0 "db start with pending migrations"
grep -q "^tix: warning: the database schema is behind: 2 migrations are pending" "$tmp/err" ||
  fail "db start says: $(cat "$tmp/err")"
[ "$(sql "select to_regclass('on_demand') is null")" = t ] || fail "db start applied a migration"
rm "$TIX_MIGRATIONS/9001_wip_feature.sql"
run migrate up
expect_code 0 "migrate up"
grep -q "applied 9000_on_demand.sql" "$tmp/err" || fail "migrate up says: $(cat "$tmp/err")"
run event list
expect_code 0 "event list once migrated"
run db stop
expect_code 0 "stop after migrate up"
ok "pending migrations of an existing cluster: commands refuse (exit 1) naming them, db start warns, migrate up applies"

# --- a cluster created by a command: migrated, even if the schema file fails --

fresh="$tmp/fresh"
data_dirs+=("$fresh")
TIX_DATA=$fresh TIX_SCHEMA_FILE="$tmp/no-such-dir/schema.sql" run event list
expect_code 0 "event list that creates the cluster, with a schema file that cannot be written"
grep -q "^tix: warning: the migrations were applied, but the schema file" "$tmp/err" ||
  fail "on-demand migration says: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "more than a one-line warning: $(cat "$tmp/err")"
[ "$(TIX_DATA=$fresh sql "select to_regclass('on_demand') is not null")" = t ] ||
  fail "the new cluster was not migrated"
TIX_DATA=$fresh run db stop
expect_code 0 "stop of the fresh cluster"
ok "a command that creates the cluster migrates it; a schema file it cannot write is a one-line warning"

# --- another major version (a copy of the stopped cluster) --------------------

old="$tmp/old"
cp -a "$TIX_DATA" "$old"
data_dirs+=("$old")
echo 11 >"$old/pgdata/PG_VERSION"
TIX_DATA=$old run db start
expect_code 3 "start of a cluster from PostgreSQL 11"
major=$("$bindir/pg_ctl" --version | sed -E 's/.*\(PostgreSQL\) ([0-9]+).*/\1/')
grep -q "PostgreSQL 11, but the server programs are PostgreSQL $major" "$tmp/err" ||
  fail "version mismatch says: $(cat "$tmp/err")"
[ ! -e "$old/pgdata/postmaster.pid" ] || fail "a server was started on the PostgreSQL 11 directory"
ok "a data directory of another major version exits 3 naming both versions"

# --- a data directory path too long for a socket -----------------------------

long="$tmp/$(printf 'l%.0s' {1..70})/$(printf 'm%.0s' {1..40})/data"
[ ${#long} -gt 107 ] || fail "the long path is not long"
mkdir -p "$(dirname "$long")"
mv "$TIX_DATA" "$long"
data_dirs=("$long" "$old")
export TIX_DATA=$long
private_socket_dir=$(sed -n 's/^socket directory: *//p' < <("$TIX" db status || true))
case "$private_socket_dir" in /tmp/tix-*) ;; *) fail "socket directory: $private_socket_dir" ;; esac
run db start
expect_code 0 "start with a long data directory path"
[ "$(sql 'select value from survivor')" = 42 ] || fail "psql through the private socket"
run db stop
expect_code 0 "stop with a long data directory path"
ok "a data directory path over 107 bytes puts the socket in $private_socket_dir and works"

# --- directories that cannot be made or reached ------------------------------

one_line() { # what
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || {
    cat "$tmp/err"
    fail "$1: not one line"
  }
}
TIX_DATA=/proc/nonexistent/x run db start
expect_code 3 "start in /proc/nonexistent/x"
one_line "start in /proc/nonexistent/x"
touch "$tmp/file"
TIX_DATA="$tmp/file/x" run db start
expect_code 3 "start under a regular file"
one_line "start under a regular file"
grep -q "is not a directory" "$tmp/err" || fail "under a file says: $(cat "$tmp/err")"
if [ -e "$tmp/file/x" ] || [ "$(stat -c %s "$tmp/file")" -ne 0 ]; then fail "the file was changed"; fi
ok "an uncreatable data directory exits 3 with one line and changes nothing"

TIX_DATA="$tmp/nowhere/data" run db stop
expect_code 0 "stop of a cluster that was never made"
[ ! -e "$tmp/nowhere" ] || fail "stop made the data directory"
ok "stop of a cluster that was never made is harmless and makes nothing"

if [ "$(id -u)" -eq 0 ]; then
  mkdir -m 700 "$tmp/private"
  TIX_DATA="$tmp/private/data" run db start
  expect_code 3 "start where postgres cannot reach"
  grep -q "the postgres user cannot reach the data directory" "$tmp/err" ||
    fail "unreachable says: $(cat "$tmp/err")"
  [ ! -e "$tmp/private/data" ] || fail "the unreachable data directory was made"
  ok "as root, a data directory postgres cannot reach exits 3 and says so"
fi
