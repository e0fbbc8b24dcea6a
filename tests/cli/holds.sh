#!/usr/bin/env bash
# holds.sh — a hold past its expires_at holds nothing, at once and everywhere,
# with no sweep ever run, driven as a user would (issue 6, defects 1 and 2),
# for each of the five strategies: `event list` and `event show` count its
# tickets as available, `purchase show` says expired, its customer may buy
# the limit again, `event update --tickets` may lower the total past it,
# another customer's sale releases it in the database, and a customer whose
# own lapsed hold is released on demand buys on the first try.
# Every claim is reported for every strategy ("ok" / "not ok") and the script
# fails at the end if any did not hold, so one run shows all of them. It
# reads tix's human output with grep and awk: a python3 per check would cost
# more than tix itself.
# Needs TIX (the built tix), TIX_SOURCE_ROOT and TIX_TEST_ADMIN_URL
# (tests/harness/pg-cluster); makes and drops a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_holds_$$"

strategies=(locking optimistic atomic serializable group)
hold_seconds=1
lapse_polls=100 # of 0.1 s: the bound on waiting for the holds to lapse

own_migrated_database


# runs CODE ARGS…: runs tix with its output in $work/out and $work/err; true
# when it exited with CODE.
runs() {
  local wanted=$1 got=0
  shift
  "$TIX" "$@" >"$work/out" 2>"$work/err" || got=$?
  [ "$got" -eq "$wanted" ]
}

# check DESCRIPTION COMMAND…: "ok" or "not ok" (with tix's last output), and
# on to the next claim.
failures=0
check() {
  local description=$1
  shift
  if "$@"; then
    echo "ok - $description"
  else
    echo "not ok - $description"
    sed 's/^/#   stdout: /' "$work/out" | head -n 5
    sed 's/^/#   stderr: /' "$work/err" | head -n 5
    failures=$((failures + 1))
  fi
}

new_event() { # tickets, max per customer: prints the new event's id
  "$TIX" event create --name "Hold $RANDOM" --date 2030-01-01T20:00:00Z --tickets "$1" \
    --max-per-customer "$2" >"$work/out" 2>"$work/err" || fail "event create failed"
  awk '$1 == "id" { print $2 }' "$work/out"
}

# --- every strategy holds, on events of its own --------------------------------

cases=(reads same_customer lower_total other_buyer stale_count)
declare -A event hold
held_strategies=()
for strategy in "${strategies[@]}"; do
  made=true
  for case in "${cases[@]}"; do
    if [ "$case" = stale_count ]; then # defect 2: 4 tickets, limit 4, b holds all 4
      event[$strategy.$case]=$(new_event 4 4)
      held=(--quantity 4 --customer b)
    else # defect 1: 5 tickets, limit 2, c holds 2
      event[$strategy.$case]=$(new_event 5 2)
      held=(--quantity 2 --customer c)
    fi
    hold[$strategy.$case]=$(cat /proc/sys/kernel/random/uuid)
    runs 0 buy "${event[$strategy.$case]}" "${held[@]}" --hold "$hold_seconds" \
      --strategy "$strategy" --purchase-id "${hold[$strategy.$case]}" || made=false
  done
  check "$strategy: holds tickets for $hold_seconds s" $made
  $made && held_strategies+=("$strategy")
done

for ((poll = 0; poll < lapse_polls; poll++)); do
  [ "$(sql "SELECT count(*) FROM purchases WHERE status = 'held' AND expires_at > now()")" = 0 ] &&
    break
  sleep 0.1
done
[ "$poll" -lt "$lapse_polls" ] || fail "holds of $hold_seconds s still live after 10 s"
ok "every hold has lapsed; no sweep has run"

# --- then, with nothing else done ---------------------------------------------

event_available_is() { # event id, count: `event show` says "count available of …"
  runs 0 event show "$1" && grep -q "^tickets  *$2 available of " "$work/out"
}
list_available_is() { # event id, count: its row of `event list` says so
  runs 0 event list --limit 1000 || return 1
  grep -F -- "$1" "$work/out" >"$work/row" || true
  cp "$work/row" "$work/out" # what a failure shows
  [ "$(awk -v id="$1" '$4 == id { print $2 }' "$work/out")" = "$2" ]
}
purchase_status_is() { # purchase id, status: `purchase show` says so
  runs 0 purchase show "$1" && [ "$(awk '$1 == "status" { print $2 }' "$work/out")" = "$2" ]
}
lower_total() { # event id, new total (and limit): at the version `event show` gives
  runs 0 event show "$1" || return 1
  runs 0 event update "$1" --version "$(awk '$1 == "version" { print $2 }' "$work/out")" \
    --tickets "$2" --max-per-customer "$2"
}
released_in_database() { # purchase id: expired, its tickets voided
  [ "$(sql "SELECT status = 'expired' AND NOT EXISTS (SELECT 1 FROM tickets t
                                                        WHERE t.purchase_id = p.id
                                                          AND t.voided_at IS NULL)
              FROM purchases p WHERE p.id = '$1'")" = t ]
}

for strategy in "${held_strategies[@]}"; do
  reads=${event[$strategy.reads]}
  check "$strategy: event list shows a lapsed hold's tickets as available (5 of 5)" \
    list_available_is "$reads" 5
  check "$strategy: event show shows a lapsed hold's tickets as available (5 of 5)" \
    event_available_is "$reads" 5
  check "$strategy: purchase show says a lapsed hold is expired" \
    purchase_status_is "${hold[$strategy.reads]}" expired

  check "$strategy: the customer of a lapsed hold buys the limit (2) again" \
    runs 0 buy "${event[$strategy.same_customer]}" --quantity 2 --customer c --strategy "$strategy"

  check "$strategy: event update --tickets 1 is not refused for a lapsed hold's tickets" \
    lower_total "${event[$strategy.lower_total]}" 1

  other=${event[$strategy.other_buyer]}
  check "$strategy: another customer buys" \
    runs 0 buy "$other" --quantity 1 --customer d --strategy "$strategy"
  check "$strategy: that sale released the lapsed hold in the database (expired, tickets voided)" \
    released_in_database "${hold[$strategy.other_buyer]}"
  check "$strategy: then 4 are available" event_available_is "$other" 4

  check "$strategy: b's own lapsed hold of 4 (limit 4) does not refuse b's buy of 4, first try" \
    runs 0 buy "${event[$strategy.stale_count]}" --quantity 4 --customer b --strategy "$strategy"
done

# The stored rows balance (DESIGN §1), for every event: available + the valid
# tickets of purchases that say held or confirmed == total.
unbalanced=$(sql "SELECT e.id FROM events e
                   WHERE e.available_tickets
                         + (SELECT count(*) FROM tickets t JOIN purchases p ON p.id = t.purchase_id
                             WHERE t.event_id = e.id AND t.voided_at IS NULL
                               AND p.status IN ('held', 'confirmed'))
                         <> e.total_tickets")
check "the rows of every event balance${unbalanced:+ (not: $unbalanced)}" [ -z "$unbalanced" ]

[ "$failures" -eq 0 ] || {
  echo "FAIL - $failures claims did not hold" >&2
  exit 1
}
ok "a lapsed hold holds nothing, for every strategy"
