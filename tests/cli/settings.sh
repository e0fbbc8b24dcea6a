#!/usr/bin/env bash
# settings.sh — what tix makes of its environment. A malformed connection
# setting exits 2 naming it, never printing its password; a bad TIX_*
# setting exits 2 naming it, as a bad flag does; valid timeouts are waited
# to the millisecond asked for, against a refusing and a silent server; the
# hint for an unreachable database names the settings it came from, the
# embedded cluster when none is set; no raw FATAL line of the server's ever
# reaches the user. Needs TIX, FAULT_PROXY, TIX_SOURCE_ROOT and
# TIX_TEST_ADMIN_URL; makes and drops a database of its own and runs an
# embedded cluster in its work directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${FAULT_PROXY:?FAULT_PROXY must name the built fault-proxy}"
database="cli_settings_$$"
secret=SecretPW1

stderr_has() { grep -qF -- "$1" "$work/err" || fail "stderr lacks \"$1\""; }
stderr_lacks() { ! grep -qF -- "$1" "$work/err" || fail "stderr says \"$1\""; }
# no_leak WHAT: neither output holds the password, any part of it, or a
# line of the server's own.
no_leak() {
  local part
  for part in "$secret" Secret PW1 "FATAL:" "PANIC:"; do
    if grep -qF -- "$part" "$work/out" "$work/err"; then fail "$1 printed \"$part\""; fi
  done
}
now_ms() { date +%s%3N; }
# waited_about MS STARTED_MS WHAT: the command just run took MS, give or
# take what starting a process costs (more under the sanitizers).
waited_about() {
  local took=$(($(now_ms) - $2))
  [ "$took" -ge "$1" ] || fail "$3 gave up after $took ms, before the $1 ms asked for"
  [ "$took" -le $(($1 + 1500)) ] || fail "$3 waited $took ms for a timeout of $1 ms"
}
# Stopped on exit: fault proxies, and the embedded cluster once started.
proxies=()
cleanup_embedded() { :; }
trap 'for pid in "${proxies[@]}"; do kill "$pid" 2>/dev/null || true; done; cleanup_embedded; cleanup' EXIT
closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TIX_DATA="$work/embedded-must-not-start"
export TIX_MIGRATIONS="$TIX_SOURCE_ROOT/db/migrations"
export TIX_SCHEMA_FILE="" # never the source tree's db/schema.sql
cd "$work"

# --- defect 1: a malformed connection setting --------------------------------

malformed_urls=(
  "postgres://tixuser:$secret@[::1:$closed_port/tixdb"
  "postgres://tixuser:Secret%ZZPW1@127.0.0.1:$closed_port/tixdb"
  "postgres://tixuser:Secret@PW1@127.0.0.1:$closed_port/tixdb"
  "postgres://tixuser:Secret/PW1@127.0.0.1:$closed_port/tixdb"
  "postgresql://127.0.0.1:$closed_port/tixdb?user=tixuser&password=Secret&PW1"
  "host=127.0.0.1 port=$closed_port user=tixuser password=Secret PW1"
  "host=127.0.0.1 port=$closed_port user=tixuser password='$secret"
)
for url in "${malformed_urls[@]}"; do
  for verb in "event list" "event list --json" "db url" "migrate status"; do
    # shellcheck disable=SC2086 # the verb is words
    DATABASE_URL=$url expect 2 $verb
    stderr_has "DATABASE_URL is not a valid connection"
    no_leak "tix $verb with a malformed DATABASE_URL"
  done
done
[ ! -e "$TIX_DATA" ] || fail "a malformed DATABASE_URL started the embedded cluster"
ok "a malformed DATABASE_URL exits 2 naming it and what is wrong, never a part of its password"

DB_HOST=127.0.0.1 DB_PORT=abc DB_PASSWORD=$secret expect 2 event list
stderr_has "DB_PORT must be a port number"
no_leak "a bad DB_PORT"
PGHOST=127.0.0.1 PGPORT=99999 PGPASSWORD=$secret expect 2 event list
stderr_has "PGPORT must be a port number"
no_leak "a bad PGPORT"
ok "a bad DB_PORT or PGPORT exits 2 naming it"

# --- defect 11: the hint names where the settings came from ------------------

DATABASE_URL="postgresql://tixuser:$secret@127.0.0.1:$closed_port/tixdb" \
  TIX_CONNECT_TIMEOUT_MS=300 expect 3 event list
stderr_has "127.0.0.1"
stderr_has "HINT: Check that PostgreSQL is running there and that DATABASE_URL is right."
no_leak "an unreachable DATABASE_URL"
DB_HOST=127.0.0.1 DB_PORT=$closed_port DB_USERNAME=tixuser DB_PASSWORD=$secret \
  TIX_CONNECT_TIMEOUT_MS=300 expect 3 event list
stderr_has "HINT: Check that PostgreSQL is running there and that DB_HOST, DB_PORT, DB_USERNAME and DB_PASSWORD are right."
no_leak "unreachable DB_* settings"
PGHOST=127.0.0.1 PGPORT=$closed_port PGPASSWORD=$secret TIX_CONNECT_TIMEOUT_MS=300 \
  expect 3 event list
stderr_has "HINT: Check that PostgreSQL is running there and that PGHOST and PGPORT are right."
no_leak "unreachable PG* settings"
DATABASE_URL="$admin_url dbname=no_such_database_$$ password=$secret" expect 3 event list
stderr_has "The server refused the connection: database \"no_such_database_$$\" does not exist."
stderr_lacks "unset"
no_leak "a server that refuses the login"
ok "an unreachable database: exit 3, a hint naming the settings used, no password, no FATAL line"

# --- defect 7: TIX_* settings are checked like flags -------------------------

admin_psql -c "CREATE DATABASE $database"
export DATABASE_URL="$admin_url dbname=$database"
for value in abc -5 99999999999 1.5 " 500" 0; do
  TIX_CONNECT_TIMEOUT_MS=$value expect 2 event list
  stderr_has "TIX_CONNECT_TIMEOUT_MS must be a whole number of milliseconds"
  TIX_CONNECT_TIMEOUT_MS=$value expect 2 migrate status
  stderr_has "TIX_CONNECT_TIMEOUT_MS must be a whole number of milliseconds"
done
TIX_MIGRATE_LOCK_TIMEOUT_MS=1m expect 2 migrate up
stderr_has "TIX_MIGRATE_LOCK_TIMEOUT_MS must be a whole number of milliseconds"
TIX_SCHEMA_FILE="$work/schema.sql" TIX_SCHEMA_DUMP_TIMEOUT_MS=-1 expect 2 migrate up
stderr_has "TIX_SCHEMA_DUMP_TIMEOUT_MS must be a whole number of milliseconds"
[ "$(psql "$admin_url dbname=$database" -XAtc "SELECT to_regclass('schema_migrations') IS NULL")" = t ] ||
  fail "a bad setting let migrate up change the database"
TIX_MIGRATIONS="$work/no-such-directory" expect 2 migrate status
stderr_has "TIX_MIGRATIONS names no directory"
TIX_SCHEMA_FILE=$'schema\n.sql' expect 2 migrate up
stderr_has "TIX_SCHEMA_FILE holds a control character"
touch "$work/a-file"
DATABASE_URL="" TIX_DATA="$work/a-file" expect 2 event list
stderr_has "TIX_DATA names a file, not a directory"
DATABASE_URL="" TIX_DATA="$work/bindir-test" TIX_PG_BINDIR="$work" expect 2 db start
stderr_has "TIX_PG_BINDIR"
[ ! -e "$work/bindir-test/pgdata" ] || fail "a bad TIX_PG_BINDIR made a cluster"
ok "bad TIX_* timeouts and paths exit 2 naming the setting, before anything changes"

expect 0 migrate up
expect 0 event create --name "Settings" --date 2030-01-01T20:00:00Z --tickets 10 --json
event=$(field id)
TIX_STRATEGY=bogus expect 2 buy "$event" --quantity 1
stderr_has "TIX_STRATEGY is not a purchase strategy"
stderr_has "\"bogus\""
[ "$(psql "$admin_url dbname=$database" -XAtc "SELECT count(*) FROM purchases")" = 0 ] ||
  fail "TIX_STRATEGY=bogus bought"
TIX_STRATEGY=atomic TIX_CONNECT_TIMEOUT_MS="" expect 0 buy "$event" --quantity 1
TIX_STRATEGY=bogus TIX_CONNECT_TIMEOUT_MS=abc expect 0 buy --help
TIX_CONNECT_TIMEOUT_MS=abc expect 0 event list --help
ok "TIX_STRATEGY=bogus exits 2 naming it and buys nothing; empty means unset; --help still works"

# --- defect 7: valid timeouts are honoured, to the millisecond ---------------

# start_proxy MODE: a fault proxy towards the suite's cluster; sets proxy_port.
start_proxy() {
  "$FAULT_PROXY" --upstream "$TIX_TEST_CLUSTER_DIR" --listen 127.0.0.1:0 --mode "$1" \
    >"$work/proxy-$1" &
  proxies+=($!)
  for _ in $(seq 100); do
    proxy_port=$(head -n 1 "$work/proxy-$1")
    [ -n "$proxy_port" ] && return
    sleep 0.05
  done
  fail "the fault proxy printed no port"
}
for mode in refuse blackhole; do
  start_proxy "$mode"
  for timeout_ms in 500 3000; do
    started=$(now_ms)
    DATABASE_URL="host=127.0.0.1 port=$proxy_port user=postgres dbname=$database sslmode=disable" \
      TIX_CONNECT_TIMEOUT_MS=$timeout_ms expect 3 event list
    waited_about "$timeout_ms" "$started" "a $mode server with TIX_CONNECT_TIMEOUT_MS=$timeout_ms"
  done
  no_leak "a $mode server"
done
ok "TIX_CONNECT_TIMEOUT_MS is waited to the millisecond, against a refusing and a silent server"

# --- defect 11: the embedded cluster stops under a buyer ---------------------

unset DATABASE_URL
export TIX_DATA="$work/embedded"
chmod o+x "$work" # the server runs as postgres when tix runs as root
bindir=$(pg_config --bindir)
as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup_embedded() { "$TIX" db stop >/dev/null 2>&1 || true; }
expect 0 db start
expect 0 event create --name "Embedded" --date 2030-01-01T20:00:00Z --tickets 10 --json
event=$(field id)
url=$("$TIX" db url)
psql "$url" -XAtqc "SELECT pg_sleep(2)" >/dev/null 2>&1 &
sleeper=$!
for _ in $(seq 100); do
  [ "$(psql "$url" -XAtc "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'")" = 1 ] &&
    break
  sleep 0.05
done
# A smart shutdown waits for the sleeper: meanwhile the server refuses new
# connections, as any server on its way down does.
as_server "$bindir/pg_ctl" stop -D "$TIX_DATA/pgdata" -m smart -W >/dev/null
started=$(now_ms)
TIX_CONNECT_TIMEOUT_MS=20000 expect 3 buy "$event" --quantity 1
took=$(($(now_ms) - started))
wait "$sleeper" || true
[ "$took" -lt 10000 ] || fail "the buyer waited $took ms for a cluster that had stopped"
stderr_has "HINT: The embedded cluster in $TIX_DATA is not running: start it with \"tix db start\"."
stderr_lacks "DATABASE_URL"
stderr_lacks "unset"
no_leak "a buyer whose embedded cluster stopped"
ok "a buyer whose embedded cluster stops exits 3 once it has stopped, saying to start it"

# The postmaster loses its socket: to tix it no longer runs, and starting
# another one on the same data directory fails. The reason is told in tix's
# words, not as the server's FATAL line.
expect 0 db start
expect 0 db status --json
socket_dir=$(field socket_dir)
pid=$(field pid)
rm -f "$socket_dir/.s.PGSQL.5432"
expect 3 db start
stderr_has "DETAIL: Another server is already using this data directory (pid $pid)."
no_leak "a start that the server refused"
expect 0 db stop
ok "a cluster that will not start says why in a sentence of tix's, not a FATAL line"
