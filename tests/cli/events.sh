#!/usr/bin/env bash
# events.sh — `tix event` driven as a user would: create (human and --json),
# show, list --json with pages, update (a stale version is refused), cancel,
# and the usage errors and exit codes (0 done, 1 refused, 2 usage).
# Needs TIX (the built tix) and TIX_TEST_ADMIN_URL (tests/harness/pg-cluster);
# makes and drops a database of its own in that cluster.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_events_$$"

# Only DATABASE_URL says where the database is; no embedded cluster.
own_migrated_database

# --- help -------------------------------------------------------------------

expect 0 event --help
stdout_has "create"
for verb in create list show update cancel; do
  expect 0 event "$verb" --help
  stdout_has "Usage: tix event $verb"
done
ok "every sub-verb has --help"

# --- create and show ------------------------------------------------------------

expect 0 event create --name "Rock Night" --date 2035-05-01T20:00:00+02:00 --tickets 100
stdout_has "Rock Night"
stdout_has "100 available of 100"
rock=$(awk '$1 == "id" { print $2 }' "$work/out")
[ ${#rock} -eq 36 ] || fail "no event id in the human output"
ok "create prints the event"

expect 0 event create --name "Jazz Brunch" --date 2035-05-02T11:00:00Z --tickets 50 \
  --max-per-customer 4 --json
jazz=$(field id)
[ "$(field name)" = "Jazz Brunch" ] || fail "name"
[ "$(field date)" = "2035-05-02T11:00:00.000000Z" ] || fail "date"
[ "$(field total_tickets)" = 50 ] || fail "total_tickets"
[ "$(field available_tickets)" = 50 ] || fail "available_tickets"
[ "$(field max_per_customer)" = 4 ] || fail "max_per_customer"
[ "$(field version)" = 1 ] || fail "version"
[ "$(field cancelled_at)" = null ] || fail "cancelled_at"
keys=$(python3 -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))))' "$work/out")
[ "$keys" = "id,name,date,total_tickets,available_tickets,max_per_customer,version,created_at,updated_at,cancelled_at" ] ||
  fail "the event object has keys $keys"
ok "create --json prints the event object of DESIGN §3"

expect 0 event show "$rock" --json
[ "$(field id)" = "$rock" ] || fail "show returned another event"
[ "$(field date)" = "2035-05-01T18:00:00.000000Z" ] || fail "date not in UTC"
[ "$(field max_per_customer)" = null ] || fail "no limit is not null"
expect 0 event show "$rock"
stdout_has "no limit"
ok "show, human and --json"

# --- list ---------------------------------------------------------------------

expect 0 event list --json
[ "$(field events.0.id)" = "$rock" ] || fail "list is not ordered by date"
[ "$(field events.1.id)" = "$jazz" ] || fail "list lacks the second event"
[ "$(field next_cursor)" = null ] || fail "a single page has a next cursor"
expect 0 event list --limit 1 --json
cursor=$(field next_cursor)
[ "$cursor" != null ] || fail "no next cursor after a full page"
expect 0 event list --limit 1 --cursor "$cursor" --json
[ "$(field events.0.id)" = "$jazz" ] || fail "the second page is not the second event"
expect 0 event list --query jazz --from 2035-05-02T00:00:00Z --to 2035-05-03T00:00:00Z
stdout_has "Jazz Brunch"
grep -q "Rock Night" "$work/out" && fail "the filters let Rock Night through"
ok "list pages and filters"

# --- update -------------------------------------------------------------------

expect 0 event update "$rock" --version 1 --name "Rock Night II" --tickets 120 --json
[ "$(field version)" = 2 ] || fail "update did not bump the version"
[ "$(field available_tickets)" = 120 ] || fail "available did not follow the total"
expect 1 event update "$rock" --version 1 --name "Lost Update"
stderr_has "changed by someone else"
stderr_has "current version is 2"
expect 1 event update "$rock" --version 1 --name "Lost Update" --json
[ "$(field error.code)" = version_mismatch ] || fail "the JSON error code"
expect 0 event show "$rock" --json
[ "$(field name)" = "Rock Night II" ] || fail "a stale update overwrote the event"
ok "update bumps the version; a stale version is refused with exit 1"

# --- cancel -------------------------------------------------------------------

expect 0 event cancel "$jazz" --json
[ "$(field cancelled_at)" != null ] || fail "cancel left cancelled_at null"
[ "$(field version)" = 2 ] || fail "cancel did not bump the version"
expect 0 event cancel "$jazz" --json
[ "$(field version)" = 2 ] || fail "a second cancel changed the event"
expect 0 event list --json
python3 -c 'import json, sys; ids = [e["id"] for e in json.load(open(sys.argv[1]))["events"]]
sys.exit(sys.argv[2] in ids)' "$work/out" "$jazz" || fail "list shows a cancelled event"
expect 0 event list --all
stdout_has "(cancelled)"
expect 1 event update "$jazz" --version 2 --name "Too Late"
stderr_has "cancelled"
ok "cancel, twice, and what a cancelled event allows"

# --- refusals and usage errors ------------------------------------------------

expect 1 event show 00000000-0000-4000-8000-000000000000
stderr_has "does not exist"
expect 1 event show 00000000-0000-4000-8000-000000000000 --json
[ "$(field error.code)" = not_found ] || fail "the JSON error code"
ok "an unknown id exits 1"

usage_error() { # expect exit 2 with a first line on stderr naming $1
  local named=$1
  shift
  expect 2 "$@"
  head -n 1 "$work/err" | grep -q -- "$named" || fail "tix $* did not name $named"
}
usage_error "--bogus" event create --name X --date 2035-05-01T20:00:00Z --tickets 1 --bogus
usage_error "--name" event create --date 2035-05-01T20:00:00Z --tickets 1
usage_error "tomorrow" event create --name X --date tomorrow --tickets 1
usage_error "2035-13-01" event create --name X --date 2035-13-01T00:00:00Z --tickets 1
usage_error "--tickets" event create --name X --date 2035-05-01T20:00:00Z --tickets 10000001
usage_error "--tickets" event create --name X --date 2035-05-01T20:00:00Z --tickets -1
usage_error "--tickets" event create --name X --date 2035-05-01T20:00:00Z --tickets many
usage_error "--date" event create --name X --tickets 1 --date
usage_error "max per customer" event create --name X --date 2035-05-01T20:00:00Z --tickets 1 \
  --max-per-customer 2
usage_error "name" event create --name "   " --date 2035-05-01T20:00:00Z --tickets 1
usage_error "EVENT_ID" event show
usage_error "not-a-uuid" event show not-a-uuid
usage_error "extra" event show "$rock" extra
usage_error "--version" event update "$rock" --name X
usage_error "nothing to update" event update "$rock" --version 2
usage_error "--limit" event list --limit 0
usage_error "cursor" event list --cursor garbage
usage_error "frobnicate" event frobnicate
expect 2 event
ok "usage errors exit 2 and name the bad thing"

# Bad input is refused before any connection is tried.
DATABASE_URL="host=$work/nowhere dbname=none" expect 2 event create --name X --date tomorrow \
  --tickets 1
ok "usage errors need no database"
