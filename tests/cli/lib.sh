# lib.sh — what the CLI tests share, sourced at their top: the environment
# they need, a hermetic environment (no DATABASE_URL, DB_* or PG* of the
# caller's), a work directory and a database of their own, both removed on
# exit, and the helpers expect/fail/ok/field.
# Needs TIX (the built tix), TIX_SOURCE_ROOT and TIX_TEST_ADMIN_URL (set by
# tests/harness/pg-cluster through scripts/test).

: "${TIX:?TIX must name the built tix}"
: "${TIX_TEST_ADMIN_URL:?TIX_TEST_ADMIN_URL is not set: run the suite with scripts/test}"
: "${TIX_SOURCE_ROOT:?TIX_SOURCE_ROOT must name the source tree}"

# Nothing of the caller's may point tix at another database or directory.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(PG|DB_)' || true)
unset DATABASE_URL TIX_DATA TIX_MIGRATIONS TIX_SCHEMA_FILE TIX_STRATEGY
unset TIX_MIGRATE_LOCK_TIMEOUT_MS TIX_CONNECT_TIMEOUT_MS
admin_url=$TIX_TEST_ADMIN_URL

work=$(mktemp -d /tmp/tix-cli.XXXXXX)
database="" # set by the test; dropped on exit
admin_psql() { psql "$admin_url" -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  if [ -n "$database" ]; then
    admin_psql -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# own_migrated_database: creates $database in the suite's cluster, points tix
# at it through DATABASE_URL alone (no embedded cluster may start), applies
# the migrations and moves into the work directory.
own_migrated_database() {
  admin_psql -c "CREATE DATABASE $database"
  export DATABASE_URL="$admin_url dbname=$database"
  export TIX_DATA="$work/embedded-must-not-start"
  export TIX_MIGRATIONS="$TIX_SOURCE_ROOT/db/migrations"
  cd "$work"
  "$TIX" migrate up >/dev/null
}

ok() { echo "ok - $*"; }
fail() {
  echo "FAIL - $*" >&2
  echo "--- stdout" >&2
  cat "$work/out" >&2 || true
  echo "--- stderr" >&2
  cat "$work/err" >&2 || true
  exit 1
}

# expect EXIT_CODE tix ARGS…: runs tix, keeps its output in $work/out and
# $work/err, and fails unless it exits with EXIT_CODE.
expect() {
  local wanted=$1 got=0
  shift
  "$TIX" "$@" >"$work/out" 2>"$work/err" || got=$?
  [ "$got" -eq "$wanted" ] || fail "tix $* exited $got, not $wanted"
}

# field PATH: a value of the JSON in $work/out ("events.0.id"); null prints
# "null". jq rather than Python: the tests read hundreds of fields, and a
# Python start costs more than the tix command being tested.
field() {
  jq -r --arg path "$1" \
    'getpath($path | split(".") | map(if test("^[0-9]+$") then tonumber else . end))
     | if . == null then "null" else . end' "$work/out"
}

# stdout_has / stderr_has TEXT: the last tix run printed TEXT (a fixed
# string); stdout_lacks / stderr_lacks TEXT: it did not, in any case.
stdout_has() { grep -q -F -- "$1" "$work/out" || fail "stdout lacks \"$1\""; }
stderr_has() { grep -q -F -- "$1" "$work/err" || fail "stderr lacks \"$1\""; }
stdout_lacks() { ! grep -q -i -F -- "$1" "$work/out" || fail "stdout has \"$1\""; }
stderr_lacks() { ! grep -q -i -F -- "$1" "$work/err" || fail "stderr has \"$1\""; }

# sql SQL: runs SQL on the test's own database, values unaligned.
sql() { psql "$DATABASE_URL" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }
