#!/usr/bin/env bash
# cancelled.sh — what tix says about purchases of a cancelled event (issue 7,
# defect 10): confirming a hold that the cancellation released says the
# event was cancelled (not that the hold expired, at a time still to come,
# nor to buy again); refunding a sale says its tickets are not on sale
# again; `event show` does not call a cancelled event's tickets available.
# Needs TIX (the built tix), TIX_SOURCE_ROOT and TIX_TEST_ADMIN_URL
# (tests/harness/pg-cluster); makes and drops a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_cancelled_$$"


own_migrated_database

new_event() {
  "$TIX" event create --name "Cancelled $RANDOM" --date 2030-01-01T20:00:00Z --tickets 10 \
    --json >"$work/out" 2>"$work/err" || fail "event create failed"
  field id
}

# --- before the cancellation, for comparison ---------------------------------------

open=$(new_event)
expect 0 buy "$open" --quantity 2 --json
sold=$(field purchase_id)
expect 0 purchase refund "$sold"
stdout_has "back on sale"
ok "a refund of an event on sale puts its tickets back on sale"

# --- a live hold and a sale, then the event is cancelled ------------------------------

event=$(new_event)
expect 0 buy "$event" --quantity 2 --json
sold=$(field purchase_id)
expect 0 buy "$event" --quantity 3 --hold 600 --json
held=$(field purchase_id)
expect 0 event cancel "$event"

expect 1 purchase confirm "$held"
stderr_has "cancelled"
stderr_lacks "has expired"
stderr_lacks "buy the tickets again"
expect 1 purchase confirm "$held" --json
[ "$(field error.code)" = event_cancelled ] || fail "the JSON error of a hold the cancel released"
ok "confirming a hold that the cancellation released says the event was cancelled"

expect 1 purchase refund "$held"
stderr_has "cancelled"
stderr_lacks "expired"
ok "refunding that hold says the cancellation released it"

expect 0 purchase refund "$sold"
stdout_has "refunded purchase $sold"
stdout_has "cancelled"
stdout_lacks "back on sale"
expect 0 event show "$event"
stdout_lacks "10 available of 10"
stdout_has "cancelled"
expect 0 event show "$event" --json
[ "$(field available_tickets)" = 10 ] || fail "the counter of a cancelled event after a refund"
ok "refunding a sale of a cancelled event does not put its tickets on sale"

# --- a hold that had lapsed before the cancellation --------------------------------------

event=$(new_event)
expect 0 buy "$event" --quantity 1 --hold 600 --json
lapsed=$(field purchase_id)
sql "UPDATE purchases SET expires_at = now() - interval '1 minute' WHERE id = '$lapsed'"
expect 0 event cancel "$event"
expect 1 purchase confirm "$lapsed" --json
[ "$(field error.code)" = hold_expired ] || fail "a hold that lapsed before the cancellation"
expect 1 purchase confirm "$lapsed"
stderr_has "has expired"
stderr_has "cancelled"
stderr_lacks "buy the tickets again"
ok "a hold that lapsed first has expired, and no one is told to buy again"
