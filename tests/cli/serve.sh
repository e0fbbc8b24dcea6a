#!/usr/bin/env bash
# serve.sh — `tix serve` driven over HTTP with curl: every route built so
# far and its errors (401/403, 404, 405 with Allow, 409s, 410, 412/428, 413,
# 415, 400 for malformed JSON, wrong types, duplicate and unknown keys),
# idempotent replays, the database checked after (nothing oversold, bad
# requests changed nothing), and SIGTERM ending it with exit 0. Needs TIX,
# TIX_SOURCE_ROOT and TIX_TEST_ADMIN_URL; uses a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_serve_$$"
token="s3cret-token"
server_pid=""
stop_server() { [ -z "$server_pid" ] || kill -TERM "$server_pid" 2>/dev/null || true; }
trap 'stop_server; cleanup' EXIT

sql() { psql "$DATABASE_URL" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }

own_migrated_database

# --- refusing to listen on the network without a token -------------------------

TIX_ADMIN_TOKEN="" expect 2 serve --bind 0.0.0.0 --port 0
grep -q "TIX_ADMIN_TOKEN" "$work/err" || fail "the refusal does not name TIX_ADMIN_TOKEN"
expect 2 serve --port 70000
expect 0 serve --help
ok "no token: no address but loopback; bad flags exit 2"

# --- start on a free port -----------------------------------------------------------

TIX_ADMIN_TOKEN=$token "$TIX" serve --port 0 2>"$work/server.log" &
server_pid=$!
port=""
for _ in $(seq 1 100); do # up to 10 s
  port=$(sed -n 's/.*listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$work/server.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/server.log" >&2; fail "tix serve did not start"; }
base="http://127.0.0.1:$port"

# http METHOD PATH [BODY] [curl options…]: the body goes to $work/out, the
# headers to $work/headers, the status to $status.
http() {
  local method=$1 path=$2 body=${3:-}
  shift 3 || shift $#
  local data=()
  [ -n "$body" ] && data=(-H 'Content-Type: application/json' --data-binary "$body")
  status=$(curl -s -o "$work/out" -D "$work/headers" -w '%{http_code}' -X "$method" \
    "${data[@]}" "$@" "$base$path")
}
admin=(-H "Authorization: Bearer $token")
want() { # status [error code]
  [ "$status" = "$1" ] || fail "$2 answered $status, not $1: $(cat "$work/out")"
  if [ -n "${3:-}" ]; then
    [ "$(field error.code)" = "$3" ] || fail "$2: error code $(field error.code), not $3"
    [ -n "$(field error.message)" ] || fail "$2: no error message"
  fi
}
header() { grep -i "^$1:" "$work/headers" | cut -d' ' -f2- | tr -d '\r'; }

http GET /healthz
want 200 healthz
[ "$(field database)" = ok ] || fail "healthz does not say the database is ok"
ok "healthz"

# --- events --------------------------------------------------------------------------

event_body='{"name":"Concert","date":"2030-06-01T20:00:00Z","total_tickets":20}'
http POST /events "$event_body"
want 401 "create without token" unauthorized
http POST /events "$event_body" -H "Authorization: Bearer wrong"
want 403 "create with a wrong token" forbidden
http POST /events "$event_body" "${admin[@]}"
want 201 "create"
event=$(field id)
[ "$(header Location)" = "/events/$event" ] || fail "Location is $(header Location)"
[ "$(header ETag)" = '"1"' ] || fail "ETag is $(header ETag)"
ok "POST /events: 401, 403, 201 with Location and ETag"

http POST /events '{"name":"Second","date":"2030-07-01T20:00:00Z","total_tickets":5,"max_per_customer":2}' "${admin[@]}"
want 201 "create a second"
second=$(field id)
http GET "/events?limit=1"
want 200 "list"
[ "$(field events.0.id)" = "$event" ] || fail "the first page does not start with the earliest"
cursor=$(field next_cursor)
http GET "/events?limit=1&cursor=$cursor"
want 200 "second page"
[ "$(field events.0.id)" = "$second" ] || fail "the second page is not the next event"
http GET "/events?q=concert"
[ "$(field events.0.id)" = "$event" ] || fail "search did not find the concert"
http GET "/events?limit=0"
want 400 "limit 0" invalid_argument
http GET "/events?limit=abc"
want 400 "limit abc" invalid_argument
http GET "/events?colour=red"
want 400 "unknown parameter" invalid_argument
http GET "/events?cursor=garbage"
want 400 "bad cursor" invalid_argument
ok "GET /events: keyset pages, search, bad query strings 400"

http GET "/events/$event"
want 200 "get"
etag=$(header ETag)
[ "$(field name)" = Concert ] || fail "the event is not the one created"
http GET /events/00000000-0000-0000-0000-000000000001
want 404 "unknown event" not_found
http GET /events/not-a-uuid
want 400 "non-uuid id" invalid_argument
ok "GET /events/{id}: 200 with ETag, 404, 400"

http PATCH "/events/$event" '{"name":"Renamed"}' "${admin[@]}"
want 428 "patch without If-Match" precondition_required
http PATCH "/events/$event" '{"name":"Renamed"}' "${admin[@]}" -H 'If-Match: "999"'
want 412 "stale patch" version_mismatch
http PATCH "/events/$event" '{"name":"Renamed"}' -H "If-Match: $etag"
want 401 "patch without token" unauthorized
http PATCH "/events/$event" '{"name":"Renamed"}' "${admin[@]}" -H "If-Match: $etag"
want 200 "patch"
[ "$(field name)" = Renamed ] || fail "the patch did not rename"
[ "$(header ETag)" != "$etag" ] || fail "the ETag did not change"
ok "PATCH: 428, 412, 401, 200 with a new ETag"

# --- purchases -------------------------------------------------------------------------

pid=11111111-2222-3333-4444-555555555555
http POST "/events/$event/purchases" "{\"quantity\":3,\"purchase_id\":\"$pid\",\"customer\":\"ann\"}"
want 201 "buy"
cp "$work/out" "$work/first"
[ "$(header Location)" = "/purchases/$pid" ] || fail "purchase Location is $(header Location)"
[ "$(field status)" = confirmed ] || fail "the purchase is not confirmed"
http POST "/events/$event/purchases" "{\"quantity\":3,\"purchase_id\":\"$pid\",\"customer\":\"ann\"}"
want 200 "replay"
cmp -s "$work/out" "$work/first" || fail "the replay's body differs from the first answer"
http POST "/events/$event/purchases" "{\"quantity\":2,\"purchase_id\":\"$pid\"}"
want 409 "same id, other quantity" purchase_id_conflict
http POST "/events/$event/purchases" '{"quantity":100}'
want 409 "too many" insufficient_tickets
[ "$(field error.available)" = 17 ] || fail "available is $(field error.available), not 17"
http GET "/purchases/$pid"
want 200 "get purchase"
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["tickets"]))' "$work/out")" = 3 ] ||
  fail "the purchase does not have 3 tickets"
http GET /purchases/00000000-0000-0000-0000-000000000002
want 404 "unknown purchase" not_found
ok "purchases: 201 with Location, replay 200 same body, 409s, GET 200/404"

http POST "/events/$event/purchases" '{"quantity":2,"hold_seconds":600}'
want 201 "hold"
hold=$(field purchase_id)
[ "$(field status)" = held ] || fail "the hold is $(field status)"
http POST "/purchases/$hold/confirm"
want 200 "confirm"
[ "$(field status)" = confirmed ] || fail "the confirmed hold is $(field status)"
http POST "/events/$event/purchases" '{"quantity":1,"hold_seconds":1}'
short_hold=$(field purchase_id)
sleep 2
http POST "/purchases/$short_hold/confirm"
want 410 "confirm an expired hold" hold_expired
http POST "/purchases/$hold/refund"
want 401 "refund without token" unauthorized
http POST "/purchases/$hold/refund" "" "${admin[@]}"
want 200 "refund"
[ "$(field status)" = refunded ] || fail "the refund is $(field status)"
ok "hold, confirm 200, expired 410, refund 401/200"

# --- bad requests: a 4xx with the error shape, nothing changed ---------------------------

before=$(sql "SELECT (SELECT count(*) FROM purchases) || '/' || (SELECT count(*) FROM tickets) || '/' || (SELECT sum(available_tickets) FROM events)")
bad() { # status code body [curl options…]
  local wanted=$1 code=$2 body=$3
  shift 3
  http POST "/events/$event/purchases" "$body" "$@"
  want "$wanted" "body $body" "$code"
}
bad 400 invalid_json '{"quantity":'
bad 400 invalid_json '{"quantity":1,"quantity":2}'
bad 400 invalid_json '[1]'
bad 400 invalid_json 'null'
bad 400 invalid_json "$(printf '{"quantity":1,"customer":"\xff"}')"
bad 400 invalid_json "$(python3 -c 'print("["*40 + "]"*40)')"
bad 400 invalid_json '{"quantity":99999999999999999999999}'
bad 400 invalid_argument '{"quantity":"2"}'
bad 400 invalid_argument '{"quantity":1.5}'
bad 400 invalid_argument '{"quantity":0}'
bad 400 invalid_argument '{"quantity":-1}'
bad 400 invalid_argument '{"quantity":1000}'
bad 400 invalid_argument '{"quantity":1,"colour":"red"}'
bad 400 invalid_argument '{"quantity":1,"purchase_id":"nope"}'
bad 400 invalid_argument '{"quantity":1,"customer":7}'
bad 400 invalid_argument '{}'
http POST "/events/$event/purchases" "" -H 'Content-Type: text/plain' --data-binary '{"quantity":1}'
want 415 "a text/plain body" unsupported_media_type
http POST "/events/$event/purchases" "" --data-binary '{"quantity":1}'
want 415 "a form body" unsupported_media_type
python3 -c 'print("{\"quantity\":1,\"customer\":\"" + "x"*70000 + "\"}")' >"$work/big.json"
http POST "/events/$event/purchases" "" -H 'Content-Type: application/json' --data-binary "@$work/big.json"
want 413 "a 70 kB body" body_too_large
http POST "/events/$event/purchases" "" -H 'Content-Type: application/json' \
  -H 'Transfer-Encoding: chunked' --data-binary "@$work/big.json"
want 413 "a 70 kB chunked body" body_too_large
http POST "/events/not-a-uuid/purchases" '{"quantity":1}'
want 400 "purchase for a non-uuid event" invalid_argument
http GET /nowhere
want 404 "unknown route" not_found
http GET "/events/$event/purchases"
want 405 "GET on purchases" method_not_allowed
[ "$(header Allow)" = POST ] || fail "Allow is $(header Allow)"
http DELETE /events
want 405 "DELETE /events" method_not_allowed
after=$(sql "SELECT (SELECT count(*) FROM purchases) || '/' || (SELECT count(*) FROM tickets) || '/' || (SELECT sum(available_tickets) FROM events)")
[ "$before" = "$after" ] || fail "bad requests changed the database: $before then $after"
http GET /healthz
want 200 "healthz after the bad requests"
ok "bad requests: 400/413/415/404/405 with the error shape, the database unchanged"

# --- cancel ---------------------------------------------------------------------------------

http DELETE "/events/$event"
want 401 "cancel without token" unauthorized
http DELETE "/events/$event" "" "${admin[@]}"
want 200 "cancel"
[ "$(field cancelled_at)" != null ] || fail "the cancelled event has no cancelled_at"
http POST "/events/$event/purchases" '{"quantity":1}'
want 409 "buy from a cancelled event" event_cancelled
ok "DELETE cancels; no further sales"

# --- the database after, then SIGTERM ---------------------------------------------------------

invariant=$(sql "SELECT count(*) FROM events e WHERE e.available_tickets + (SELECT count(*) FROM tickets t JOIN purchases p ON p.id = t.purchase_id WHERE t.event_id = e.id AND p.status IN ('held','confirmed') AND t.voided_at IS NULL) <> e.total_tickets")
[ "$invariant" = 0 ] || fail "an event's availability does not add up"
[ "$(sql "SELECT count(*) FROM purchases WHERE id = '$pid' AND quantity = 3")" = 1 ] ||
  fail "the first purchase is not in the database"

kill -TERM "$server_pid"
code=0
wait "$server_pid" || code=$?
server_pid=""
[ "$code" = 0 ] || fail "tix serve exited $code after SIGTERM"
grep -q "POST /events/$event/purchases 201" "$work/server.log" || fail "no request log line"
ok "the database adds up; SIGTERM: exit 0"
