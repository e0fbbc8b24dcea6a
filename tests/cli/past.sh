#!/usr/bin/env bash
# past.sh — events whose date has passed (issue 7, defect 9): creating or
# moving one into the past is refused (exit 2) unless --allow-past (for
# importing history); `event list` shows upcoming events unless --from says
# otherwise; and no strategy sells tickets for an event whose date has passed
# (exit 1, event_past): a ticket for something that is over is worth nothing.
# Needs TIX (the built tix), TIX_SOURCE_ROOT and TIX_TEST_ADMIN_URL
# (tests/harness/pg-cluster); makes and drops a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_past_$$"

listed_ids() { python3 -c 'import json, sys; print(" ".join(e["id"] for e in json.load(open(sys.argv[1]))["events"]))' "$work/out"; }

own_migrated_database

# --- creating ------------------------------------------------------------------

expect 2 event create --name "Last Century" --date 1999-01-01T00:00:00Z --tickets 10
stderr_has "past"
stderr_has "--allow-past"
yesterday=$(date -u -d '1 day ago' +%Y-%m-%dT%H:%M:%SZ)
expect 2 event create --name "Yesterday" --date "$yesterday" --tickets 10 --json
[ "$(field error.code)" = invalid_argument ] || fail "the JSON error of a past date"
[ "$(sql "SELECT count(*) FROM events")" = 0 ] || fail "a past event was created"
expect 0 event create --help
stdout_has "--allow-past"
ok "an event in the past is refused with exit 2"

expect 0 event create --name "Last Century" --date 1999-01-01T00:00:00Z --tickets 10 \
  --allow-past --json
old=$(field id)
[ "$(field date)" = "1999-01-01T00:00:00.000000Z" ] || fail "the imported date"
ok "--allow-past imports an event of the past"

soon=$(date -u -d '1 hour' +%Y-%m-%dT%H:%M:%SZ)
expect 0 event create --name "Soon" --date "$soon" --tickets 10 --json
upcoming=$(field id)

# --- moving ---------------------------------------------------------------------

expect 2 event update "$upcoming" --version 1 --date 1999-06-01T00:00:00Z
stderr_has "past"
expect 0 event update "$upcoming" --version 1 --name "Still soon"
expect 0 event update "$old" --version 1 --name "Last Century (imported)"
expect 0 event update "$old" --version 2 --date 1999-01-02T00:00:00Z --allow-past
ok "moving an event into the past needs --allow-past; other changes of a past event do not"

# --- listing --------------------------------------------------------------------

expect 0 event list --json
[ "$(listed_ids)" = "$upcoming" ] || fail "event list shows past events by default: $(listed_ids)"
expect 0 event list
grep -q "Last Century" "$work/out" && fail "the human listing shows a past event"
expect 0 event list --from 1990-01-01T00:00:00Z --json
[ "$(listed_ids)" = "$old $upcoming" ] || fail "--from did not list the past event first"
ok "event list shows upcoming events; --from reaches into the past"

# --- selling --------------------------------------------------------------------

for strategy in locking optimistic atomic serializable group; do
  expect 1 buy "$old" --quantity 1 --strategy "$strategy"
  stderr_has "date has passed"
  expect 1 buy "$old" --quantity 1 --strategy "$strategy" --json
  [ "$(field error.code)" = event_past ] || fail "$strategy: the JSON error of a past event"
done
[ "$(sql "SELECT available_tickets FROM events WHERE id = '$old'")" = 10 ] ||
  fail "tickets of a past event were sold"
ok "no strategy sells tickets of a past event"

# An event whose date passes after it was created stops selling then.
expect 0 buy "$upcoming" --quantity 1 --hold 600 --json
held=$(field purchase_id)
sql "UPDATE events SET date = now() - interval '1 minute' WHERE id = '$upcoming'"
for strategy in locking atomic group; do
  expect 1 buy "$upcoming" --quantity 1 --strategy "$strategy"
done
expect 0 purchase confirm "$held"
ok "sales stop when the date passes; a hold taken before is still confirmed in time"
