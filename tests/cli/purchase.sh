#!/usr/bin/env bash
# purchase.sh — `tix buy` and `tix purchase show|confirm|refund` driven as a
# user would: buying (human and --json), replaying a purchase id, holding and
# confirming, an expired hold, refunding twice, the refusals (sold out,
# limit, conflict, unknown id: exit 1), the usage errors (exit 2, before any
# database), and every strategy really used: the statements each `tix buy`
# ran, read in the server's log, are that strategy's. Needs TIX (the built
# tix), TIX_SOURCE_ROOT, TIX_TEST_ADMIN_URL and TIX_TEST_CLUSTER_DIR
# (tests/harness/pg-cluster); makes and drops a database of its own in that
# cluster.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_purchase_$$"

ticket_count() { python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["tickets"]))' "$work/out"; }


# Only DATABASE_URL says where the database is; no embedded cluster.
own_migrated_database

new_event() { # tickets [max per customer]: prints the new event's id
  local limit=()
  [ -n "${2:-}" ] && limit=(--max-per-customer "$2")
  "$TIX" event create --name "Show $RANDOM" --date 2030-01-01T20:00:00Z --tickets "$1" \
    "${limit[@]}" --json >"$work/out" 2>"$work/err" || fail "event create failed"
  field id
}

# --- help -----------------------------------------------------------------------

expect 0 buy --help
stdout_has "Usage: tix buy EVENT_ID --quantity N"
expect 0 purchase --help
stdout_has "Usage: tix purchase show|confirm|refund"
expect 0 purchase show --help
ok "buy and purchase have --help"

# --- buying -----------------------------------------------------------------------

show=$(new_event 12)
expect 0 buy "$show" --quantity 2
stdout_has "bought 2 tickets for event $show"
expect 0 buy "$show" --quantity 3 --customer ann --json
keys=$(python3 -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))))' "$work/out")
[ "$keys" = "purchase_id,event_id,customer,quantity,status,tickets,expires_at,created_at" ] ||
  fail "the purchase object has keys $keys"
[ "$(field event_id)" = "$show" ] || fail "event_id"
[ "$(field customer)" = ann ] || fail "customer"
[ "$(field quantity)" = 3 ] || fail "quantity"
[ "$(field status)" = confirmed ] || fail "status"
[ "$(field expires_at)" = null ] || fail "expires_at"
[ "$(ticket_count)" = 3 ] || fail "not 3 tickets"
[[ "$(field created_at)" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$ ]] || fail "created_at not RFC 3339"
ok "buy prints the purchase, human and as the JSON object of DESIGN §3"

id=7e57c0de-1111-4000-8000-000000000001
expect 0 buy "$show" --quantity 1 --purchase-id "$id" --json
first_ticket=$(field tickets.0)
expect 0 buy "$show" --quantity 1 --purchase-id "$id" --json
[ "$(field tickets.0)" = "$first_ticket" ] || fail "a replay returned another ticket"
expect 0 buy "$show" --quantity 1 --purchase-id "$id"
stdout_has "already bought 1 ticket"
[ "$(sql "SELECT available_tickets FROM events WHERE id = '$show'")" = 6 ] ||
  fail "a replay sold again"
expect 1 buy "$show" --quantity 2 --purchase-id "$id" --json
[ "$(field error.code)" = purchase_id_conflict ] || fail "a changed replay is not a conflict"
ok "a purchase id is used once: replays answer the same, a changed request is refused"

expect 0 buy "$show" --quantity 5 # every strategy sells: see the end

# --- refusals -------------------------------------------------------------------

expect 1 buy "$show" --quantity 3
stderr_has "only 1 ticket is left"
expect 1 buy "$show" --quantity 3 --json
[ "$(field error.code)" = insufficient_tickets ] || fail "the JSON error code"
[ "$(field error.available)" = 1 ] || fail "the JSON error lacks available"
expect 0 buy "$show" --quantity 1
expect 1 buy "$show" --quantity 1
stderr_has "sold out"
ok "too few tickets exits 1 with how many are left"

limited=$(new_event 10 2)
expect 0 buy "$limited" --quantity 2 --customer bea
expect 1 buy "$limited" --quantity 1 --customer bea --json
[ "$(field error.code)" = customer_limit_exceeded ] || fail "the limit's JSON error code"
expect 0 buy "$limited" --quantity 1 --customer cid
ok "the per-customer limit exits 1"

expect 1 buy 00000000-0000-4000-8000-000000000000 --quantity 1 --json
[ "$(field error.code)" = not_found ] || fail "an unknown event"
expect 1 purchase show 00000000-0000-4000-8000-000000000000
stderr_has "does not exist"
ok "unknown ids exit 1"

# --- holds, confirm, refund -------------------------------------------------------

held=$(new_event 5)
expect 0 buy "$held" --quantity 2 --hold 600 --json
hold_id=$(field purchase_id)
[ "$(field status)" = held ] || fail "not held"
[ "$(field expires_at)" != null ] || fail "a hold without expires_at"
expect 0 buy "$held" --quantity 1 --hold 600
stdout_has "held 1 ticket for event $held until"
expect 0 purchase confirm "$hold_id" --json
[ "$(field status)" = confirmed ] || fail "confirm did not confirm"
[ "$(field expires_at)" = null ] || fail "a confirmed purchase keeps expires_at"
expect 0 purchase confirm "$hold_id"
stdout_has "confirmed purchase $hold_id"
expect 0 purchase show "$hold_id"
stdout_has "confirmed"
ok "hold then confirm (twice is fine)"

expect 0 buy "$held" --quantity 2 --hold 600 --json
late_id=$(field purchase_id)
sql "UPDATE purchases SET expires_at = now() - interval '1 second' WHERE id = '$late_id'" >/dev/null
expect 1 purchase confirm "$late_id"
stderr_has "expired"
expect 1 purchase confirm "$late_id" --json
[ "$(field error.code)" = hold_expired ] || fail "the expired JSON error code"
[ "$(sql "SELECT available_tickets FROM events WHERE id = '$held'")" = 2 ] ||
  fail "an expired hold kept its tickets"
ok "confirming an expired hold exits 1 and returns its tickets"

expect 0 purchase refund "$hold_id" --json
[ "$(field status)" = refunded ] || fail "refund did not refund"
[ "$(sql "SELECT available_tickets FROM events WHERE id = '$held'")" = 4 ] ||
  fail "refund did not return 2 tickets"
expect 0 purchase refund "$hold_id"
stdout_has "refunded purchase $hold_id"
[ "$(sql "SELECT available_tickets FROM events WHERE id = '$held'")" = 4 ] ||
  fail "a second refund returned tickets again"
expect 1 purchase confirm "$hold_id"
ok "refund returns the tickets once"

# --- usage errors -------------------------------------------------------------------

usage_error() { # expect exit 2 with a first line on stderr naming $1
  local named=$1
  shift
  expect 2 "$@"
  head -n 1 "$work/err" | grep -q -- "$named" || fail "tix $* did not name $named"
}
usage_error "--quantity" buy "$show" --quantity 0
usage_error "--quantity" buy "$show" --quantity -1
usage_error "--quantity" buy "$show" --quantity 101
usage_error "--quantity" buy "$show" --quantity many
usage_error "--quantity" buy "$show"
usage_error "--bogus" buy "$show" --quantity 1 --bogus
usage_error "--strategy" buy "$show" --quantity 1 --strategy greedy
usage_error "--hold" buy "$show" --quantity 1 --hold 86401
usage_error "--customer" buy "$show" --quantity 1 --customer
usage_error "UUID" buy not-a-uuid --quantity 1
usage_error "UUID" buy "$show" --quantity 1 --purchase-id 42
usage_error "event" buy --quantity 1
usage_error "frobnicate" purchase frobnicate "$hold_id"
usage_error "PURCHASE_ID" purchase show
usage_error "UUID" purchase refund nope
expect 2 purchase
ok "usage errors exit 2 and name the bad thing"

DATABASE_URL="host=$work/nowhere dbname=none" expect 2 buy "$show" --quantity 0
DATABASE_URL="host=$work/nowhere dbname=none" expect 2 purchase show nope
ok "usage errors need no database"

# --- every strategy is the one asked for ------------------------------------------

# `tix buy` runs with log_statement=all for its own sessions only (PGOPTIONS:
# libpq applies it even under a conninfo), between two marker statements run
# the same way; the records of the test cluster's log between the markers
# are its statements, as "statement: SQL" or, prepared or not,
# "execute NAME: SQL". Other tests' sessions log no statements, only errors,
# and those records are left out. Each strategy has SQL the others lack.
: "${TIX_TEST_CLUSTER_DIR:?TIX_TEST_CLUSTER_DIR is not set: run the suite with scripts/test}"
server_log=$TIX_TEST_CLUSTER_DIR/server.log
[ -r "$server_log" ] || fail "cannot read the test cluster's log $server_log"

logged() { # psql SQL with log_statement=all
  PGOPTIONS='-c log_statement=all' psql "$DATABASE_URL" -X -q -t -A -v ON_ERROR_STOP=1 \
    -c "$1" >/dev/null
}

# statements_between BEGIN END: the statements logged between the records
# holding BEGIN and END, one a line. A record starts with log_line_prefix's
# "%m [%p] "; its SQL may go on over more lines.
statements_between() {
  awk -v begin="$1" -v end="$2" '
    function flush() {
      if (keep) print statement
      keep = 0
    }
    /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9:.]+ [^ ]+ \[[0-9]+\] / {
      flush()
      if (index($0, end)) exit
      if (index($0, begin)) { inside = 1; next }
      if (!inside) next
      message = $0
      sub(/^[^[]*\[[0-9]+\] /, "", message)
      if (message ~ /^LOG:  (statement|execute [^:]*): /) {
        sub(/^LOG:  (statement|execute [^:]*): /, "", message)
        statement = message
        keep = 1
      }
      next
    }
    keep { statement = statement " " $0 }
    END { flush() }' "$server_log"
}

# logged_buy ARGS…: `tix buy ARGS…` with its statements in $work/statements,
# one a line; true when tix exited 0.
logged_buy() {
  local marker got=0
  marker=$(cat /proc/sys/kernel/random/uuid)
  logged "SELECT 'tix-marker-begin-$marker'"
  PGOPTIONS='-c log_statement=all' "$TIX" buy "$@" >"$work/out" 2>"$work/err" || got=$?
  logged "SELECT 'tix-marker-end-$marker'"
  statements_between "tix-marker-begin-$marker" "tix-marker-end-$marker" >"$work/statements"
  [ "$got" -eq 0 ]
}

declare -A strategy_sql=(
  [locking]='FOR UPDATE'
  [optimistic]='UPDATE +events .*WHERE .*version *= *\$[0-9]'
  [atomic]='WITH +taken +AS'
  [serializable]='ISOLATION LEVEL SERIALIZABLE'
  [group]='unnest'
)
# What a strategy must not run: the others' distinctive SQL that it has no
# reason to (optimistic takes no lock; only serializable changes isolation).
declare -A foreign_sql=(
  [locking]="${strategy_sql[serializable]}|${strategy_sql[atomic]}"
  [optimistic]="${strategy_sql[locking]}|${strategy_sql[serializable]}"
  [atomic]="${strategy_sql[serializable]}"
  [serializable]="${strategy_sql[atomic]}"
  [group]="${strategy_sql[serializable]}"
)

strategy_failures=0
# used STRATEGY DESCRIPTION ARGS…: `tix buy ARGS…` sold, running STRATEGY's SQL
# and none it must not.
used() {
  local strategy=$1 description=$2
  shift 2
  local why=""
  if ! logged_buy "$@"; then
    why="tix buy exited non-zero: $(head -n 1 "$work/err")"
  elif ! grep -q "bought 1 ticket" "$work/out"; then
    why="tix buy did not say it bought 1 ticket"
  elif [ ! -s "$work/statements" ]; then
    why="no statement of tix buy in $server_log"
  elif ! grep -E -i -q -- "${strategy_sql[$strategy]}" "$work/statements"; then
    why="no statement matches /${strategy_sql[$strategy]}/"
  elif grep -E -i -q -- "${foreign_sql[$strategy]}" "$work/statements"; then
    why="a statement matches /${foreign_sql[$strategy]}/"
  fi
  if [ -z "$why" ]; then
    ok "$description runs $strategy's SQL"
  else
    echo "not ok - $description runs $strategy's SQL: $why" >&2
    sed 's/^/#   /' "$work/statements" | cut -c 1-200 >&2
    strategy_failures=$((strategy_failures + 1))
  fi
}

strategic=$(new_event 20)
for strategy in locking optimistic atomic serializable group; do
  used "$strategy" "buy --strategy $strategy" "$strategic" --quantity 1 --strategy "$strategy"
done
used locking "buy (no --strategy, no TIX_STRATEGY)" "$strategic" --quantity 1
TIX_STRATEGY=atomic used atomic "TIX_STRATEGY=atomic buy" "$strategic" --quantity 1
TIX_STRATEGY=serializable used optimistic "TIX_STRATEGY=serializable buy --strategy optimistic" \
  "$strategic" --quantity 1 --strategy optimistic
[ "$(sql "SELECT available_tickets FROM events WHERE id = '$strategic'")" = $((20 - 8)) ] ||
  [ "$strategy_failures" -gt 0 ] || fail "the strategies did not sell 8 tickets"
[ "$strategy_failures" -eq 0 ] || fail "$strategy_failures strategy runs did not use the SQL asked for"
