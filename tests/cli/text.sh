#!/usr/bin/env bash
# text.sh — human-readable fields (event names, customers, search queries)
# follow one rule (issue 7, defect 2): valid UTF-8, no control characters
# (C0, DEL, C1, line and paragraph separators, bidirectional controls), not
# blank once Unicode spaces and invisible characters are trimmed, no such
# characters at either end, bounded length. Text that reached the database
# another way is printed escaped (\u001b), never raw, and --json keeps it
# exactly. Characters are written as UTF-8 bytes ($'\xe2\x80\x8b'), so the
# test does not depend on the locale.
# Needs TIX (the built tix), TIX_SOURCE_ROOT and TIX_TEST_ADMIN_URL
# (tests/harness/pg-cluster); makes and drops a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_text_$$"

# no_raw_controls: neither stdout nor stderr holds a C0 control (but the
# newline), DEL or a C1 control as UTF-8.
no_raw_controls() {
  if LC_ALL=C grep -q -P '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$work/out" "$work/err"; then
    fail "a control character was printed raw"
  fi
}

own_migrated_database

expect 0 event create --name "Text rules" --date 2030-01-01T20:00:00Z --tickets 100 --json
show=$(field id)

# --- what is refused, for customers and event names ----------------------------

bad_texts=(
  $'\e[2J'               # clears the terminal of whoever reads it
  $'a\nb'                # breaks the layout
  $'tab\there'
  $'del\x7f'
  $'next\xc2\x85line'    # U+0085, a C1 control
  $'line\xe2\x80\xa8sep' # U+2028 LINE SEPARATOR
  $'evil\xe2\x80\xaetxt' # U+202E RIGHT-TO-LEFT OVERRIDE
  '   '
  $'\xc2\xa0\xc2\xa0'         # no-break spaces
  $'\xe2\x80\x8b'             # ZERO WIDTH SPACE
  $'\xef\xbb\xbf'             # BYTE ORDER MARK
  $'\xe3\x85\xa4'             # HANGUL FILLER
  $' \xe2\x80\x8b\xe3\x80\x80' # space, zero width space, ideographic space
  ' alice'
  $'alice\xc2\xa0'
  $'bad \xff byte'
)
for text in "${bad_texts[@]}"; do
  printable=$(printf '%q' "$text")
  expect 2 buy "$show" --quantity 1 --customer "$text"
  grep -q "customer" "$work/err" || fail "the refusal of customer $printable does not name it"
  no_raw_controls
  expect 2 event create --name "$text" --date 2030-01-01T20:00:00Z --tickets 1
  grep -q "event name" "$work/err" || fail "the refusal of name $printable does not name it"
  no_raw_controls
  expect 2 event update "$show" --version 1 --name "$text"
done
expect 2 buy "$show" --quantity 1 --customer "$(printf 'x%.0s' {1..256})"
stderr_has "too long"
[ "$(sql "SELECT count(*) FROM purchases")" = 0 ] || fail "a refused customer bought tickets"
[ "$(sql "SELECT count(*) FROM events")" = 1 ] || fail "a refused name made an event"
ok "control, blank, padded, invisible and malformed text is refused with exit 2"

expect 2 event list --query $'rock\e[2J'
stderr_has "search query"
no_raw_controls
ok "a search query with a control character is refused"

# --- what is accepted ------------------------------------------------------------

good_texts=(
  "Nick Cave — Paris"
  "Zürich Opernhaus"
  $'\xe5\x8c\x97\xe4\xba\xac'                                   # 北京
  $'family \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7' # ZWJ emoji
  $'\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a'                           # right-to-left letters
  "x"
)
for text in "${good_texts[@]}"; do
  expect 0 buy "$show" --quantity 1 --customer "$text" --json
  [ "$(field customer)" = "$text" ] || fail "customer $(printf '%q' "$text") was changed"
  expect 0 event create --name "$text" --date 2030-01-02T20:00:00Z --tickets 1 --json
  [ "$(field name)" = "$text" ] || fail "name $(printf '%q' "$text") was changed"
done
ok "names in any script, with inner joiners, are accepted unchanged"

# --- text from elsewhere is printed escaped ------------------------------------------

expect 0 buy "$show" --quantity 1 --customer mallory --json
mallory=$(field purchase_id)
sql "UPDATE purchases SET customer = E'\\x1b[2Jgone\\nfake line' WHERE id = '$mallory'"
sql "UPDATE events SET name = E'Bad\\x1b[31m\\u202eName\\u0085' WHERE id = '$show'"

expect 0 purchase show "$mallory"
no_raw_controls
stdout_has '\u001b[2Jgone\u000afake line'
expect 0 event show "$show"
no_raw_controls
stdout_has 'Bad\u001b[31m\u202eName\u0085'
expect 0 event list
no_raw_controls
stdout_has 'Bad\u001b[31m'
ok "purchase show, event show and event list print control characters escaped"

expect 0 purchase show "$mallory" --json
[ "$(field customer)" = $'\e[2Jgone\nfake line' ] || fail "--json changed the customer"
expect 0 event show "$show" --json
[ "$(field name)" = $'Bad\e[31m\xe2\x80\xaeName\xc2\x85' ] || fail "--json changed the name"
ok "--json keeps such text exactly, escaped by JSON itself"

# Error messages quote what was typed: escaped too.
expect 2 buy "$show" --quantity $'\e[2J'
no_raw_controls
stderr_has '\u001b[2J'
expect 2 purchase show $'\e[2J'
no_raw_controls
ok "error messages quote bad values escaped"
