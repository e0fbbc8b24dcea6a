#!/usr/bin/env bash
# fault_proxy_test.sh — the `fault-proxy` program as shell tests use it: it
# prints its port, forwards psql to the suite's cluster, takes commands on
# standard input (a COMMIT cut, stats) and exits cleanly on SIGTERM.
# Needs FAULT_PROXY (the built program) and TIX_TEST_ADMIN_URL (scripts/test).
set -euo pipefail
: "${FAULT_PROXY:?FAULT_PROXY must name the built fault-proxy}"
: "${TIX_TEST_CLUSTER_DIR:?TIX_TEST_CLUSTER_DIR is not set: run the suite with scripts/test}"

fail() {
  echo "FAIL - $*" >&2
  exit 1
}
answer() { # command: sends it, prints the proxy's one-line answer
  echo "$1" >&"${PROXY[1]}"
  local line
  read -r -t 10 line <&"${PROXY[0]}" || fail "no answer to $1"
  echo "$line"
}

coproc PROXY { exec "$FAULT_PROXY" --upstream "$TIX_TEST_CLUSTER_DIR" --listen 127.0.0.1:0; }
proxy_pid=$PROXY_PID # bash forgets PROXY_PID once the program exits
trap 'kill "$proxy_pid" 2>/dev/null || true' EXIT
read -r -t 10 port <&"${PROXY[0]}" || fail "no port printed"
url="host=127.0.0.1 port=$port user=postgres dbname=postgres"

[ "$(psql "$url" -X -Atc 'SELECT 40 + 2')" = 42 ] || fail "a query through the proxy"
echo "ok - queries pass through"

[ "$(answer 'cut-after-commit 1')" = "ok cut-after-commit" ] || fail "arming a cut"
if psql "$url" -X -q -c 'CREATE TEMP TABLE t (x int)' -c 'BEGIN' -c 'INSERT INTO t VALUES (1)' \
  -c 'COMMIT' 2>/dev/null; then
  fail "psql did not lose its connection on COMMIT"
fi
stats=$(answer stats)
[[ $stats == *"commits=1 cuts=1"* ]] || fail "stats after a cut: $stats"
echo "ok - cut after COMMIT: $stats"

[ "$(answer 'no-such-mode')" = "error: unknown command" ] || fail "a bad command is refused"
echo "ok - bad commands are refused"

kill -TERM "$proxy_pid"
status=0
wait "$proxy_pid" || status=$?
[ "$status" -eq 0 ] || fail "exit status $status after SIGTERM"
echo "ok - exits cleanly on SIGTERM"
