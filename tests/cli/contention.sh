#!/usr/bin/env bash
# contention.sh — a refusal that retrying can cure exits 4, not 1 like "sold
# out" (issue 7, defect 8), says that retrying is right, and every --help
# documents it:
#  - a buyer that keeps losing the race for its event (contention): a
#    trigger throws away every change of the event's counter, exactly what a
#    rival who always sells first does to a version-checked UPDATE, so every
#    attempt loses until the strategy gives up;
#  - a buyer or an `event update` that waits for the event's row lock longer
#    than lock_timeout, while another session holds it.
# Needs TIX (the built tix), TIX_SOURCE_ROOT and TIX_TEST_ADMIN_URL
# (tests/harness/pg-cluster); makes and drops a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_contention_$$"


own_migrated_database

told_to_try_again() { grep -q -i "try again" "$work/err" || fail "stderr does not say to try again"; }

# --- help -----------------------------------------------------------------------

for verb in "buy" "purchase" "event" "event create" "event update" "event cancel"; do
  # shellcheck disable=SC2086 # the verb is one or two words
  expect 0 $verb --help
  stdout_has "4 try again"
done
expect 0 --help
stdout_has "4 try again"
ok "every --help documents exit code 4"

# --- a buyer that always loses the race -------------------------------------------

expect 0 event create --name "Contended" --date 2030-01-01T20:00:00Z --tickets 100 --json
contended=$(field id)
sql "CREATE FUNCTION lose_the_race() RETURNS trigger LANGUAGE plpgsql AS
       \$\$ BEGIN RETURN NULL; END \$\$;
     CREATE TRIGGER lose_the_race BEFORE UPDATE ON events FOR EACH ROW
       WHEN (OLD.name = 'Contended' AND NEW.available_tickets < OLD.available_tickets)
       EXECUTE FUNCTION lose_the_race()"

for strategy in locking optimistic atomic serializable; do
  expect 4 buy "$contended" --quantity 1 --strategy "$strategy"
  told_to_try_again
  stderr_has "HINT:"
  expect 4 buy "$contended" --quantity 1 --strategy "$strategy" --json
  [ "$(field error.code)" = contention ] || fail "$strategy: the JSON error code"
  [ "$(field error.purchase_id)" != null ] || fail "$strategy: no purchase id to retry with"
done
[ "$(sql "SELECT count(*) FROM purchases")" = 0 ] || fail "a contended purchase was stored"
ok "a buyer that keeps losing the race exits 4 and is told to try again"

sql "DROP TRIGGER lose_the_race ON events"
expect 0 buy "$contended" --quantity 1
ok "the same purchase works once the contention is gone"

# --- a row lock held by someone else --------------------------------------------------

# Holds the event's row lock for up to 60 s, until its backend is
# terminated (killing psql alone would leave the backend asleep, and the lock
# held, until the sleep ends); prints "locked" once it has it.
holder_pid=""
stop_holder() {
  if [ -n "$holder_pid" ]; then
    sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE application_name = 'tix_lock_holder'" >/dev/null || true
    wait "$holder_pid" 2>/dev/null || true
    holder_pid=""
  fi
}
trap 'stop_holder; cleanup' EXIT
printf '%s\n' "BEGIN;" "SELECT 'locked' FROM events WHERE id = '$contended' FOR UPDATE;" \
  "SELECT pg_sleep(60);" "COMMIT;" |
  PGAPPNAME=tix_lock_holder psql "$DATABASE_URL" -X -q -t -A >"$work/holder" 2>&1 &
holder_pid=$!
for _ in $(seq 100); do
  grep -q locked "$work/holder" && break
  sleep 0.1
done
grep -q locked "$work/holder" || fail "the other session never locked the event"

export PGOPTIONS='-c lock_timeout=300'
expect 4 event update "$contended" --version 2 --name "Renamed"
told_to_try_again
expect 4 event update "$contended" --version 2 --name "Renamed" --json
[ "$(field error.code)" = lock_timeout ] || fail "the JSON error of a busy event"
expect 4 event cancel "$contended"
expect 4 buy "$contended" --quantity 1 --strategy locking
told_to_try_again
unset PGOPTIONS
ok "an event locked by someone else longer than lock_timeout exits 4"

stop_holder
expect 0 event update "$contended" --version 2 --name "Renamed"
ok "and works once the lock is free"
