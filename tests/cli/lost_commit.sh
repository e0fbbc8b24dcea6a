#!/usr/bin/env bash
# lost_commit.sh — `tix buy` when the database drops the connection right
# after COMMIT landed and cannot be reached again: the answer names the
# purchase id (text and --json), exits 3, and replaying that id afterwards
# returns the purchase that was made, sold once. Through the `fault-proxy`
# program on loopback. Needs TIX, FAULT_PROXY, TIX_SOURCE_ROOT and
# TIX_TEST_ADMIN_URL; makes and drops a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${FAULT_PROXY:?FAULT_PROXY must name the built fault-proxy}"
database="cli_lost_commit_$$"

admin_psql -c "CREATE DATABASE $database"
export TIX_DATA="$work/embedded-must-not-start"
export TIX_MIGRATIONS="$TIX_SOURCE_ROOT/db/migrations"
export TIX_CONNECT_TIMEOUT_MS=1500
DATABASE_URL="$admin_url dbname=$database" "$TIX" migrate up >/dev/null

coproc PROXY { exec "$FAULT_PROXY" --upstream "$TIX_TEST_CLUSTER_DIR" --listen 127.0.0.1:0; }
proxy_pid=$PROXY_PID
trap 'kill "$proxy_pid" 2>/dev/null || true; cleanup' EXIT
read -r -t 10 port <&"${PROXY[0]}" || fail "the fault proxy printed no port"
ask() { # command: sends it to the proxy, prints its one-line answer
  echo "$1" >&"${PROXY[1]}"
  local line
  read -r -t 10 line <&"${PROXY[0]}" || fail "the fault proxy did not answer $1"
  echo "$line"
}
proxy() { # command: sends it and checks the proxy said ok
  local line
  line=$(ask "$1")
  [[ $line == ok* ]] || fail "the fault proxy said \"$line\" to $1"
}
# buy_through_lost_commit ARGS…: runs tix buy ARGS while its COMMIT's reply
# is lost and, once tix is connected, no new connection is let in (the
# delay keeps the purchase from finishing before the door closes).
buy_through_lost_commit() {
  proxy "delay 100"
  proxy "cut-after-commit 1"
  local before got=0
  before=$(ask stats)
  "$TIX" buy "$@" >"$work/out" 2>"$work/err" &
  local buyer=$!
  for _ in $(seq 200); do
    [[ $(ask stats) != "$before" && $(ask stats) == *"open=1"* ]] && break
    sleep 0.02
  done
  proxy "refuse"
  wait "$buyer" || got=$?
  proxy "none"
  [ "$got" -eq 3 ] || fail "tix buy $* exited $got, not 3"
}
export DATABASE_URL="host=127.0.0.1 port=$port user=postgres dbname=$database sslmode=disable"

expect 0 event create --name "Lost replies" --date 2030-01-01T20:00:00Z --tickets 10 --json
event=$(field id)

for strategy in locking group; do
  id=$(python3 -c 'import uuid; print(uuid.uuid4())')
  buy_through_lost_commit "$event" --quantity 2 --purchase-id "$id" --strategy "$strategy" --json
  [ "$(field error.code)" = outcome_unknown ] || fail "$strategy: not an unknown outcome"
  [ "$(field error.purchase_id)" = "$id" ] || fail "$strategy: the JSON lacks the purchase id"
  grep -q "look up purchase $id" "$work/err" || fail "$strategy: stderr does not name the id"
  ok "$strategy: an unknown outcome names purchase $id and exits 3"

  expect 0 buy "$event" --quantity 2 --purchase-id "$id" --strategy "$strategy" --json
  [ "$(field purchase_id)" = "$id" ] || fail "$strategy: the replay answered another purchase"
  [ "$(psql "$admin_url dbname=$database" -XAtc "SELECT count(*) FROM purchases WHERE id = '$id'")" = 1 ] ||
    fail "$strategy: the purchase is not stored exactly once"
  ok "$strategy: replaying the id returns the purchase that landed"
done
[ "$(psql "$admin_url dbname=$database" -XAtc "SELECT available_tickets FROM events")" = 6 ] ||
  fail "two purchases of 2 should leave 6"
ok "each purchase was sold once"
