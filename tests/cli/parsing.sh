#!/usr/bin/env bash
# parsing.sh — how tix reads its command line and what it says back (issue 7,
# defect 12): numbers are digits only; a flag given twice is refused; with
# --json a usage error is also the JSON error object on stdout; a blank
# --query is no filter; a refusal by the stored event exits 1 (only a bad
# argument by itself exits 2); messages count in the singular when there is
# one; --from and --to name themselves; `tix --version`; lowering
# --max-per-customer below what customers hold is allowed with a notice; and
# an event's date keeps the offset it was given in the human output.
# Needs TIX (the built tix), TIX_SOURCE_ROOT and TIX_TEST_ADMIN_URL
# (tests/harness/pg-cluster); makes and drops a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_parsing_$$"

count_events() { python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["events"]))' "$work/out"; }

own_migrated_database

new_event() { # tickets [max per customer, "none" for no limit]: prints the new event's id
  expect 0 event create --name "Parsed $RANDOM" --date 2030-01-01T20:00:00Z --tickets "$1" \
    --max-per-customer "${2:-none}" --json
  field id
}
show=$(new_event 50)

# --- numbers: digits only ------------------------------------------------------

for number in " 2" "2 " "+3" "-0" "0x10" "2e1" "1.0" "" "٣"; do
  expect 2 buy "$show" --quantity "$number"
  grep -q -- "--quantity" "$work/err" || fail "--quantity \"$number\" refused without naming it"
  expect 2 event create --name X --date 2030-01-01T20:00:00Z --tickets "$number"
  expect 2 event list --limit "$number"
  expect 2 event update "$show" --version "$number" --name X
  expect 2 buy "$show" --quantity 1 --hold "$number"
done
expect 2 event create --name X --date 2030-01-01T20:00:00Z --tickets 99999999999999999999
[ "$(sql "SELECT count(*) FROM purchases")" = 0 ] || fail "a refused number bought tickets"
expect 0 buy "$show" --quantity 02
stdout_has "bought 2 tickets"
ok "numbers are whole decimal digits, nothing else"

# --- a flag given twice ----------------------------------------------------------

expect 2 buy "$show" --quantity 1 --quantity 2
stderr_has "--quantity"
stderr_has "more than once"
expect 2 buy "$show" --quantity 1 --customer a --customer=b
stderr_has "--customer"
expect 2 event create --name A --name B --date 2030-01-01T20:00:00Z --tickets 1
stderr_has "--name"
expect 2 event list --json --json
expect 2 event update "$show" --version 1 --tickets 5 --tickets 6
expect 2 purchase show 00000000-0000-4000-8000-000000000000 --json --json
[ "$(sql "SELECT count(*) FROM purchases")" = 1 ] || fail "a repeated flag bought tickets"
ok "a flag given twice is refused with exit 2"

# --- usage errors with --json --------------------------------------------------------

json_usage_error() { # ARGS…: exit 2, the JSON error object on stdout, the message on stderr
  expect 2 "$@"
  [ "$(field error.code)" = invalid_argument ] || fail "tix $*: no JSON error code on stdout"
  [ -n "$(field error.message)" ] || fail "tix $*: no JSON error message"
  [ -s "$work/err" ] || fail "tix $*: nothing on stderr"
}
json_usage_error buy "$show" --quantity abc --json
json_usage_error buy "$show" --json --quantity 0
json_usage_error buy --json --quantity 1
json_usage_error buy "$show" --quantity 1 --bogus --json
json_usage_error buy not-a-uuid --quantity 1 --json
json_usage_error event create --json --name X --date tomorrow --tickets 1
json_usage_error event create --json --date 2030-01-01T20:00:00Z --tickets 1
json_usage_error event list --limit 0 --json
json_usage_error event list --from today --json
json_usage_error event show --json
json_usage_error event update "$show" --json --version 1
json_usage_error purchase show nope --json
json_usage_error purchase frobnicate 00000000-0000-4000-8000-000000000000 --json
expect 2 buy "$show" --quantity abc
[ ! -s "$work/out" ] || fail "a usage error without --json printed on stdout"
ok "usage errors with --json print the JSON error object on stdout too"

# --- a blank query is no filter --------------------------------------------------

expect 0 event list --json
all=$(count_events)
[ "$all" -gt 0 ] || fail "no events to list"
for query in "" "   " $'\xc2\xa0'; do
  expect 0 event list --query "$query" --json
  [ "$(count_events)" = "$all" ] || fail "--query $(printf '%q' "$query") did not list everything"
done
expect 0 event list --query "!!!" --json
[ "$(count_events)" = 0 ] || fail "a query of punctuation found events"
ok "a blank --query lists everything, like no --query"

# --- refused by the stored event: exit 1 ------------------------------------------

limited=$(new_event 10 4)
expect 1 event update "$limited" --version 1 --tickets 3
stderr_has "max per customer"
expect 1 event update "$limited" --version 1 --tickets 3 --json
[ "$(field error.code)" = invalid_state ] || fail "the JSON error code of a clash with the limit"
expect 2 event update "$limited" --version 1 --tickets 3 --max-per-customer 4
ok "a new total below the stored limit exits 1; a patch that clashes with itself exits 2"

# --- singular and plural -----------------------------------------------------------

single=$(new_event 10 1)
expect 0 buy "$single" --quantity 1 --customer ann
expect 1 buy "$single" --quantity 1 --customer ann
stderr_has "at most 1 ticket for"
stderr_lacks "1 tickets"
expect 1 event update "$single" --version 2 --tickets 0 --max-per-customer 0
stderr_has "1 ticket is already sold or held"
stderr_lacks "1 tickets"
ok "one ticket is counted in the singular"

# --- --from and --to name themselves ------------------------------------------------

expect 2 event list --from today
head -n 1 "$work/err" | grep -q -F -- '--from must be an RFC 3339' || fail "--from's error: $(head -n 1 "$work/err")"
stderr_lacks "invalid from"
expect 2 event list --to 2030-01-01
head -n 1 "$work/err" | grep -q -F -- '--to must be an RFC 3339' || fail "--to's error"
expect 2 event create --name X --date tomorrow --tickets 1
head -n 1 "$work/err" | grep -q -F -- '--date must be an RFC 3339' || fail "--date's error"
ok "a bad date names its flag"

# --- tix --version -------------------------------------------------------------------

version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$TIX_SOURCE_ROOT/meson.build" | head -n 1)
[ -n "$version" ] || fail "no project version in meson.build"
expect 0 --version
[ "$(cat "$work/out")" = "tix $version" ] || fail "tix --version printed $(cat "$work/out")"
expect 0 --help
stdout_has "--version"
ok "tix --version prints tix $version"

# --- lowering the limit below what customers hold ---------------------------------------

generous=$(new_event 20 5)
expect 0 buy "$generous" --quantity 4 --customer ann
expect 0 buy "$generous" --quantity 3 --customer bob --hold 600
expect 0 buy "$generous" --quantity 2 --customer cid
expect 0 event update "$generous" --version 4 --max-per-customer 2
stderr_has "NOTICE: 2 customers already hold more than 2 tickets"
stdout_has "max per customer  2"
expect 0 event update "$generous" --version 5 --max-per-customer 3 --json
[ "$(field max_per_customer)" = 3 ] || fail "the limit was not changed"
stderr_has "NOTICE: 1 customer already holds more than 3 tickets"
expect 0 event update "$generous" --version 6 --max-per-customer 4
stderr_lacks "NOTICE"
ok "lowering the limit below what customers hold is allowed, with a notice"

# --- the event's own offset ------------------------------------------------------------

expect 0 event create --name "Nick Cave" --date 2030-03-14T20:00:00+01:00 --tickets 5
stdout_has "2030-03-14T20:00:00+01:00"
paris=$(awk '$1 == "id" { print $2 }' "$work/out")
expect 0 event show "$paris" --json
[ "$(field date)" = "2030-03-14T19:00:00.000000Z" ] || fail "the JSON date is not UTC"
expect 0 event list --from 2030-03-14T00:00:00Z --to 2030-03-15T00:00:00Z
stdout_has "2030-03-14T20:00:00+01:00"
expect 0 event update "$paris" --version 1 --name "Nick Cave II"
stdout_has "2030-03-14T20:00:00+01:00"
expect 0 event update "$paris" --version 2 --date 2030-03-15T09:30:00.250-05:30
stdout_has "2030-03-15T09:30:00.250000-05:30"
expect 0 event update "$paris" --version 3 --date 2030-03-15T09:30:00Z
stdout_has "2030-03-15T09:30:00Z"
[ "$(sql "SELECT date_offset_minutes FROM events WHERE id = '$paris'")" = 0 ] ||
  fail "the offset is not stored"
ok "the date is shown in the offset it was given, JSON stays in UTC"
