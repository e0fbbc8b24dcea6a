#!/usr/bin/env bash
# bench.sh — `tix bench` as a user runs it: help, usage errors (exit 2,
# before any database), and a short run of two strategies whose JSON has the
# cells of DESIGN §4 with purchases made, invariants checked and, for group,
# purchases sharing transactions. Needs TIX, TIX_SOURCE_ROOT and
# TIX_TEST_ADMIN_URL; makes and drops a database of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
database="cli_bench_$$"

own_migrated_database

expect 0 bench --help
grep -q "Usage: tix bench" "$work/out" || fail "no usage in --help"
ok "bench --help"

expect 2 bench --strategies locking,teleport
grep -q 'unknown strategy "teleport"' "$work/err" || fail "unknown strategy not named"
expect 2 bench --clients 0
expect 2 bench --duration 0
expect 2 bench --json --csv
ok "bad options exit 2 with a reason"

expect 0 bench --duration 1 --clients 8 --strategies locking,group --json
python3 - "$work/out" <<'PY' || fail "bench JSON is not what DESIGN §4 says"
import json, sys
cells = json.load(open(sys.argv[1]))["cells"]
assert [c["strategy"] for c in cells] == ["locking", "group"], cells
keys = {"strategy", "clients", "events", "purchases_per_s", "tickets_per_s", "p50_ms",
        "p95_ms", "p99_ms", "refused", "failed", "mean_batch"}
for cell in cells:
    assert keys <= set(cell), cell
    assert cell["clients"] == 8 and cell["events"] == 1, cell
    assert cell["purchases_per_s"] > 0 and cell["failed"] == 0, cell
    assert cell["tickets_per_s"] >= cell["purchases_per_s"], cell
    assert cell["p50_ms"] <= cell["p95_ms"] <= cell["p99_ms"], cell
    assert cell["invariants_ok"] is True, cell
assert cells[0]["mean_batch"] == 1, cells[0]
assert cells[1]["mean_batch"] > 1, cells[1]   # 8 buyers share transactions
PY
ok "a short run measures both strategies and checks the invariants"

expect 0 bench --duration 1 --clients 2 --strategies atomic --csv
head -1 "$work/out" | grep -q "^strategy,clients,events,purchases_per_s" || fail "no CSV header"
[ "$(wc -l <"$work/out")" -eq 2 ] || fail "CSV has not one row per cell"
ok "CSV has a header and a row per cell"
