#!/usr/bin/env bash
# Proves db/migrations/*.sql against a real, throwaway PostgreSQL cluster:
# every up section applies in order, the constraints are enforced by the
# database itself (not by application code), and every down section restores
# the catalog exactly as it was before its up. Needs the PostgreSQL server
# binaries (pg_config --bindir); runs in a few seconds; touches nothing outside
# its own temporary directory.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# TIX_MIGRATIONS_DIR lets the test itself be tested on altered copies.
migrations_dir=${TIX_MIGRATIONS_DIR:-$repo/db/migrations}
bindir=$(pg_config --bindir)

ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; exit 1; }

# Whatever PG* variables the caller has must not point psql elsewhere.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^PG' || true)

# A Unix socket path is limited to 107 bytes: keep the directory short.
base=${TMPDIR:-/tmp}
if [ ${#base} -gt 60 ]; then base=/tmp; fi
tmp=$(mktemp -d "$base/tix-sql.XXXXXX")
pgdata=$tmp/data
work=$tmp/work
race_pid=

# PostgreSQL refuses to run as root: run the server as the postgres user.
run_as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$tmp" && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

cleanup() {
    local status=$?
    if [ -n "$race_pid" ]; then kill "$race_pid" 2>/dev/null || true; fi
    if [ -f "$pgdata/postmaster.pid" ]; then
        run_as_server_user "$bindir/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" -eq 0 ]; then chown postgres: "$tmp"; fi
chmod 700 "$tmp"
mkdir "$work"

# --- the cluster -------------------------------------------------------------

run_as_server_user "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust \
    --no-locale -E UTF8 --no-sync >"$work/initdb.log" 2>&1 ||
    { cat "$work/initdb.log"; fail "initdb"; }
# Durability is irrelevant for a throwaway cluster; speed is not.
run_as_server_user "$bindir/pg_ctl" -D "$pgdata" -w -t 60 -l "$tmp/postgres.log" \
    -o "-c listen_addresses='' -k '$tmp' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >"$work/pg_ctl.log" 2>&1 ||
    { cat "$work/pg_ctl.log" "$tmp/postgres.log" 2>/dev/null; fail "pg_ctl start"; }
ok "throwaway cluster started in $tmp"

export PGHOST=$tmp PGUSER=postgres PGDATABASE=tix_test
psql_run() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_run -d postgres -c 'CREATE DATABASE tix_test'

# --- migration files ---------------------------------------------------------

mapfile -t migrations < <(find "$migrations_dir" -maxdepth 1 -type f -name '*.sql' | LC_ALL=C sort)
[ "${#migrations[@]}" -gt 0 ] || fail "no migrations in $migrations_dir"
for file in "${migrations[@]}"; do
    name=$(basename "$file")
    [[ $name =~ ^[0-9]{4}_[a-z0-9_]+\.sql$ ]] || fail "$name: not named NNNN_snake_name.sql"
    markers=$(grep -nE '^-- migrate:(up|down)$' "$file" | cut -d: -f2- | tr '\n' ' ')
    [ "$markers" = "-- migrate:up -- migrate:down " ] ||
        fail "$name: needs exactly one '-- migrate:up' line followed by one '-- migrate:down' line"
done
duplicate=$(printf '%s\n' "${migrations[@]##*/}" | cut -c1-4 | uniq -d)
[ -z "$duplicate" ] || fail "two migrations numbered $duplicate"
ok "${#migrations[@]} migration files well formed"

# Prints one section (up or down) of a migration file.
section() {
    awk -v want="$2" '
        $0 == "-- migrate:up"   { inside = (want == "up");   next }
        $0 == "-- migrate:down" { inside = (want == "down"); next }
        inside' "$1"
}

run_section() {
    local file=$1 which=$2 name
    name=$(basename "$file")
    section "$file" "$which" | psql_run --single-transaction -f - >"$work/section.log" 2>&1 ||
        { cat "$work/section.log"; fail "$name: $which section failed"; }
}

# One sorted line per catalog object of the database's own schemas, named
# and defined without OIDs, so two snapshots compare equal exactly when the
# schema is the same.
snapshot() {
    psql_run -At >"$1" <<'SQL'
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
     WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
), rel AS (
    SELECT c.* FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
)
SELECT 'schema ' || nspname FROM ns
UNION ALL
SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension
UNION ALL
SELECT format('relation %s kind=%s persistence=%s rls=%s acl=%s',
              oid::regclass, relkind, relpersistence, relrowsecurity, relacl)
  FROM rel
UNION ALL
SELECT format('column %s.%s #%s %s%s%s%s%s%s',
              c.oid::regclass, a.attname,
              row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
              format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
              ' default ' || pg_get_expr(d.adbin, d.adrelid),
              CASE a.attidentity WHEN 'a' THEN ' identity always'
                                 WHEN 'd' THEN ' identity by default' ELSE '' END,
              CASE a.attgenerated WHEN 's' THEN ' generated stored' ELSE '' END,
              ' collate ' || nullif(a.attcollation, 0)::regcollation)
  FROM pg_attribute a
  JOIN rel c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT format('sequence %s %s start=%s inc=%s min=%s max=%s cycle=%s',
              s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement,
              s.seqmin, s.seqmax, s.seqcycle)
  FROM pg_sequence s JOIN rel c ON c.oid = s.seqrelid
UNION ALL
SELECT format('type %s kind=%s', t.oid::regtype, t.typtype)
  FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
UNION ALL
SELECT format('enum %s %s', e.enumtypid::regtype,
              string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder))
  FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN ns ON ns.oid = t.typnamespace
 GROUP BY e.enumtypid
UNION ALL
SELECT format('constraint %s %s %s', coalesce(nullif(k.conrelid, 0)::regclass::text,
                                             k.contypid::regtype::text),
              k.conname, pg_get_constraintdef(k.oid))
  FROM pg_constraint k JOIN ns ON ns.oid = k.connamespace
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
       || CASE WHEN i.indisclustered THEN ' clustered' ELSE '' END
  FROM pg_index i JOIN rel c ON c.oid = i.indexrelid
UNION ALL
SELECT 'view ' || c.oid::regclass || ' ' || regexp_replace(pg_get_viewdef(c.oid), '\s+', ' ', 'g')
  FROM rel c WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT format('function %s kind=%s %s', p.oid::regprocedure, p.prokind,
              CASE WHEN p.prokind IN ('f', 'p')
                   THEN regexp_replace(pg_get_functiondef(p.oid), '\s+', ' ', 'g') END)
  FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
UNION ALL
SELECT format('trigger %s enabled=%s', pg_get_triggerdef(g.oid), g.tgenabled)
  FROM pg_trigger g JOIN rel c ON c.oid = g.tgrelid
 WHERE NOT g.tgisinternal
UNION ALL
SELECT format('policy %s %s %s', pl.polrelid::regclass, pl.polname, pg_get_expr(pl.polqual, pl.polrelid))
  FROM pg_policy pl JOIN rel c ON c.oid = pl.polrelid
UNION ALL
SELECT format('comment %s %s %s', o.type, o.identity, d.description)
  FROM pg_description d,
       LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
 WHERE d.objoid >= 16384 AND o.schema IN (SELECT nspname FROM ns)
ORDER BY 1;
SQL
}

# Compares the catalog now with an earlier snapshot file.
expect_snapshot() {
    local want=$1 what=$2
    snapshot "$work/now.snap"
    if ! diff -u "$want" "$work/now.snap" >"$work/snap.diff"; then
        cat "$work/snap.diff"
        fail "$what"
    fi
    ok "$what"
}

# --- up, in order ------------------------------------------------------------

# before[i] is the catalog before migration i; before[count] after them all.
snapshot "$work/before.0.snap"
for i in "${!migrations[@]}"; do
    run_section "${migrations[$i]}" up
    snapshot "$work/before.$((i + 1)).snap"
    ok "up $(basename "${migrations[$i]}")"
done

# --- constraints, enforced by the database -----------------------------------

sql() { psql_run -At -c "$1" 2>&1; }

expect_value() {
    local what=$1 want=$2 query=$3 got
    got=$(sql "$query") || fail "$what: query failed: $got"
    [ "$got" = "$want" ] || fail "$what: expected '$want', got '$got'"
    ok "$what"
}

expect_success() {
    local what=$1 query=$2 out
    out=$(sql "$query") || fail "$what: refused: $out"
    ok "$what"
}

# Runs a statement that must be refused with this SQLSTATE and constraint
# name, as the C code will see them (PG_DIAG_SQLSTATE, PG_DIAG_CONSTRAINT_NAME).
expect_refused() {
    local what=$1 sqlstate=$2 constraint=$3 query=$4 out
    if out=$(printf '\\set VERBOSITY verbose\n%s\n' "$query" | psql_run -f - 2>&1); then
        fail "$what: accepted, expected SQLSTATE $sqlstate on $constraint"
    fi
    grep -q "ERROR:  $sqlstate:" <<<"$out" ||
        fail "$what: expected SQLSTATE $sqlstate, got: $out"
    grep -qx "CONSTRAINT NAME:  $constraint" <<<"$out" ||
        fail "$what: expected constraint $constraint, got: $out"
    ok "$what refused by $constraint"
}

ev_a=00000000-0000-0000-0000-0000000000a1   # 10 tickets, at most 4 per customer
ev_b=00000000-0000-0000-0000-0000000000b1   # 5 tickets, no limit
ev_c=00000000-0000-0000-0000-0000000000c1   # for the concurrent limit test
ev_d=00000000-0000-0000-0000-0000000000d1   # to be deleted
p1=00000000-0000-0000-0000-000000000001
p2=00000000-0000-0000-0000-000000000002
p3=00000000-0000-0000-0000-000000000003

expect_value "every named constraint exists" 16 "
    SELECT count(*) FROM pg_constraint WHERE conname IN (
        'events_name_not_blank', 'events_max_per_customer_positive', 'events_date_offset_range',
        'events_available_nonnegative', 'events_total_nonnegative',
        'events_available_within_total', 'events_total_bounded',
        'purchases_event_id_fkey', 'purchases_customer_length',
        'purchases_quantity_positive', 'purchases_status_valid',
        'purchases_held_has_expiry', 'tickets_event_id_fkey',
        'tickets_purchase_id_fkey', 'audit_log_action_valid', 'audit_log_pkey')"

expect_success "insert events" "
    INSERT INTO events (id, name, date, total_tickets, available_tickets, max_per_customer) VALUES
        ('$ev_a', 'Concert A', '2030-01-01T20:00:00Z', 10, 10, 4),
        ('$ev_b', 'Concert B', '2030-01-02T20:00:00Z', 5, 5, NULL),
        ('$ev_c', 'Concert C', '2030-01-03T20:00:00Z', 10, 10, 2),
        ('$ev_d', 'Concert D', '2030-01-04T20:00:00Z', 1, 1, NULL)"

expect_refused "available_tickets < 0" 23514 events_available_nonnegative \
    "UPDATE events SET available_tickets = -1 WHERE id = '$ev_a'"
expect_refused "available_tickets > total_tickets" 23514 events_available_within_total \
    "UPDATE events SET available_tickets = 11 WHERE id = '$ev_a'"
expect_refused "total_tickets > 10,000,000" 23514 events_total_bounded \
    "INSERT INTO events (name, date, total_tickets, available_tickets)
     VALUES ('Huge', now(), 10000001, 0)"
expect_refused "blank event name" 23514 events_name_not_blank \
    "INSERT INTO events (name, date, total_tickets, available_tickets) VALUES ('  ', now(), 1, 1)"
expect_refused "max_per_customer 0" 23514 events_max_per_customer_positive \
    "UPDATE events SET max_per_customer = 0 WHERE id = '$ev_a'"
expect_refused "an offset from UTC of 24 hours" 23514 events_date_offset_range \
    "UPDATE events SET date_offset_minutes = 1440 WHERE id = '$ev_a'"
expect_refused "an offset from UTC of -24 hours" 23514 events_date_offset_range \
    "UPDATE events SET date_offset_minutes = -1440 WHERE id = '$ev_a'"
expect_value "events keep the offset they were given, 0 (UTC) by default" "0|-570" "
    UPDATE events SET date_offset_minutes = -570 WHERE id = '$ev_b';
    SELECT string_agg(date_offset_minutes::text, '|' ORDER BY id) FROM events
     WHERE id IN ('$ev_a', '$ev_b')"
expect_value "moving an event to another offset is audited" "-570" "
    SELECT new_values->>'date_offset_minutes' FROM audit_log
     WHERE table_name = 'events' AND row_id = '$ev_b' AND action = 'update'
     ORDER BY id DESC LIMIT 1"
expect_value "search vector generated from the name" "$ev_a" "
    SELECT id FROM events WHERE search @@ to_tsquery('simple', 'concert & a')"

expect_refused "purchase quantity 0" 23514 purchases_quantity_positive \
    "INSERT INTO purchases (event_id, quantity, status) VALUES ('$ev_a', 0, 'confirmed')"
expect_refused "purchase with a bad status" 23514 purchases_status_valid \
    "INSERT INTO purchases (event_id, quantity, status) VALUES ('$ev_a', 1, 'sold')"
expect_refused "held purchase without expires_at" 23514 purchases_held_has_expiry \
    "INSERT INTO purchases (event_id, quantity, status) VALUES ('$ev_a', 1, 'held')"
expect_refused "customer longer than 255 characters" 23514 purchases_customer_length \
    "INSERT INTO purchases (event_id, customer, quantity, status)
     VALUES ('$ev_a', repeat('x', 256), 1, 'confirmed')"
expect_refused "purchase of an unknown event" 23503 purchases_event_id_fkey \
    "INSERT INTO purchases (event_id, quantity, status)
     VALUES ('00000000-0000-0000-0000-00000000dead', 1, 'confirmed')"
expect_refused "purchase_id reused" 23505 purchases_pkey \
    "INSERT INTO purchases (id, event_id, quantity, status) VALUES
        ('$p3', '$ev_b', 1, 'confirmed'), ('$p3', '$ev_b', 1, 'confirmed')"

# The per-customer limit (event A allows 4).
expect_success "customer buys 3 of 4" "
    INSERT INTO purchases (id, event_id, customer, quantity, status)
    VALUES ('$p1', '$ev_a', 'alice', 3, 'confirmed')"
expect_refused "customer holding 2 more (5 > 4)" 23514 purchases_customer_limit "
    INSERT INTO purchases (event_id, customer, quantity, status, expires_at)
    VALUES ('$ev_a', 'alice', 2, 'held', now() + interval '5 minutes')"
expect_success "customer holds 1 more (4 of 4)" "
    INSERT INTO purchases (id, event_id, customer, quantity, status, expires_at)
    VALUES ('$p2', '$ev_a', 'alice', 1, 'held', now() + interval '5 minutes')"
expect_value "idempotent replay is not counted against the limit" 0 "
    WITH replay AS (
        INSERT INTO purchases (id, event_id, customer, quantity, status)
        VALUES ('$p1', '$ev_a', 'alice', 3, 'confirmed')
        ON CONFLICT (id) DO NOTHING RETURNING id)
    SELECT count(*) FROM replay"
expect_success "refunded tickets leave the limit" "
    UPDATE purchases SET status = 'refunded' WHERE id = '$p1';
    INSERT INTO purchases (event_id, customer, quantity, status)
    VALUES ('$ev_a', 'alice', 3, 'confirmed')"
expect_refused "one multi-row INSERT going over the limit" 23514 purchases_customer_limit "
    INSERT INTO purchases (event_id, customer, quantity, status)
    VALUES ('$ev_a', 'bob', 2, 'confirmed'), ('$ev_a', 'bob', 3, 'confirmed')"
expect_success "a lapsed hold does not count against the limit" "
    INSERT INTO purchases (event_id, customer, quantity, status, expires_at)
    VALUES ('$ev_a', 'frank', 4, 'held', now() - interval '1 second');
    INSERT INTO purchases (event_id, customer, quantity, status)
    VALUES ('$ev_a', 'frank', 4, 'confirmed')"
expect_refused "a live hold does" 23514 purchases_customer_limit "
    INSERT INTO purchases (event_id, customer, quantity, status, expires_at)
    VALUES ('$ev_a', 'grace', 3, 'held', now() + interval '1 minute');
    INSERT INTO purchases (event_id, customer, quantity, status)
    VALUES ('$ev_a', 'grace', 2, 'confirmed')"
expect_success "anonymous and unlimited purchases are not limited" "
    INSERT INTO purchases (event_id, customer, quantity, status) VALUES
        ('$ev_a', NULL, 5, 'confirmed'), ('$ev_b', 'carol', 5, 'confirmed')"

# Two buyers of one event race for the last tickets one customer may have:
# the first holds the event row lock while its purchase is uncommitted; the
# second must wait for that lock and then see the first one's purchase.
# Event C allows 2 per customer; each round the first buyer takes 1 ticket
# for a new customer, and the second then asks for 2 more.
purchase_separate_statements() {   # customer, quantity, seconds to keep the lock
    printf '%s\n' "BEGIN;" \
        "UPDATE events SET available_tickets = available_tickets - $2 WHERE id = '$ev_c';" \
        "INSERT INTO purchases (event_id, customer, quantity, status) VALUES ('$ev_c', '$1', $2, 'confirmed');" \
        "SELECT pg_sleep($3);" \
        "COMMIT;"
}
# One statement: its snapshot predates the lock wait, so only the trigger's
# own fresh snapshot (VOLATILE) sees the first buyer's purchase.
purchase_one_statement() {   # customer, quantity, seconds to keep the lock
    printf '%s\n' "BEGIN;" \
        "WITH taken AS (UPDATE events SET available_tickets = available_tickets - $2
                        WHERE id = '$ev_c' AND available_tickets >= $2 RETURNING id)
         INSERT INTO purchases (event_id, customer, quantity, status)
         SELECT id, '$1', $2, 'confirmed' FROM taken;" \
        "SELECT pg_sleep($3);" \
        "COMMIT;"
}
race() {   # what, function writing the purchase SQL, customer, tickets left after
    local what=$1 purchase=$2 customer=$3 left=$4 sleeping=0
    "$purchase" "$customer" 1 2 | PGAPPNAME=tix_race_first psql_run -f - >"$work/race.log" 2>&1 &
    race_pid=$!
    for _ in $(seq 100); do
        sleeping=$(sql "SELECT count(*) FROM pg_stat_activity
                        WHERE application_name = 'tix_race_first' AND wait_event = 'PgSleep'") || true
        [ "$sleeping" = 1 ] && break
        sleep 0.1
    done
    [ "$sleeping" = 1 ] || fail "$what: first buyer never reached its sleep with the event locked"
    expect_refused "$what: second buyer waiting on the event lock" 23514 purchases_customer_limit \
        "$("$purchase" "$customer" 2 0)"
    wait "$race_pid" || { cat "$work/race.log"; fail "$what: first buyer failed"; }
    race_pid=
    expect_value "$what: only the first buyer's ticket left the event" "$left" \
        "SELECT available_tickets FROM events WHERE id = '$ev_c'"
}
race "race in separate statements" purchase_separate_statements dave 9
race "race in one statement" purchase_one_statement erin 8

expect_refused "ticket of an unknown purchase" 23503 tickets_purchase_id_fkey "
    INSERT INTO tickets (event_id, purchase_id)
    VALUES ('$ev_a', '00000000-0000-0000-0000-00000000dead')"
expect_refused "ticket of an unknown event" 23503 tickets_event_id_fkey "
    INSERT INTO tickets (event_id, purchase_id)
    VALUES ('00000000-0000-0000-0000-00000000dead', '$p2')"
expect_value "tickets are valid (not voided) when created" 1 "
    INSERT INTO tickets (event_id, purchase_id) VALUES ('$ev_a', '$p2');
    SELECT count(*) FROM tickets WHERE purchase_id = '$p2' AND voided_at IS NULL"

# updated_at: each psql call is its own transaction, so now() moves on.
expect_value "events.updated_at changes on update, whatever the client sends" t "
    UPDATE events SET name = 'Concert A!', updated_at = '2000-01-01' WHERE id = '$ev_a';
    SELECT updated_at > created_at FROM events WHERE id = '$ev_a'"
expect_value "purchases.updated_at changes on update" t "
    UPDATE purchases SET status = 'confirmed', expires_at = NULL WHERE id = '$p2';
    SELECT updated_at > created_at FROM purchases WHERE id = '$p2'"

# The audit log.
expect_value "audit row for an event insert" "psql:postgres|Concert A|f" "
    SELECT actor, new_values->>'name', new_values ? 'search' FROM audit_log
     WHERE table_name = 'events' AND row_id = '$ev_a' AND action = 'insert'
       AND old_values IS NULL"
expect_value "audit row for an event edit, with the actor set by the code" \
    "clerk-7|Concert A!|Concert A (late show)" "
    BEGIN;
    SET LOCAL tix.actor = 'clerk-7';
    UPDATE events SET name = 'Concert A (late show)' WHERE id = '$ev_a';
    COMMIT;
    SELECT actor, old_values->>'name', new_values->>'name'
      FROM audit_log WHERE table_name = 'events' AND row_id = '$ev_a' AND action = 'update'
     ORDER BY id DESC LIMIT 1"
expect_value "no audit row for a sale moving the counter and the version" 0 "
    CREATE TEMP TABLE before_sale AS SELECT count(*) AS n FROM audit_log;
    UPDATE events SET available_tickets = available_tickets - 1, version = version + 1
     WHERE id = '$ev_a';
    SELECT (SELECT count(*) FROM audit_log) - n FROM before_sale"
expect_value "no audit row for an update that changes nothing" 0 "
    CREATE TEMP TABLE before AS SELECT count(*) AS n FROM audit_log;
    UPDATE events SET name = name WHERE id = '$ev_a';
    SELECT (SELECT count(*) FROM audit_log) - n FROM before"
expect_value "no audit row for a sale's own purchase row" 0 "
    SELECT count(*) FROM audit_log WHERE table_name = 'purchases' AND action = 'insert'"
expect_value "audit row for a purchase status change" "refunded|confirmed|refunded" "
    SELECT new_values->>'status', old_values->>'status', new_values->>'status' FROM audit_log
     WHERE table_name = 'purchases' AND row_id = '$p1' AND action = 'update'
     ORDER BY id DESC LIMIT 1"
expect_value "audit rows for a cascaded delete" "events|t|purchases|t" "
    INSERT INTO purchases (id, event_id, quantity, status) VALUES ('$p3', '$ev_d', 1, 'confirmed');
    DELETE FROM events WHERE id = '$ev_d';
    SELECT string_agg(format('%s|%s', table_name, old_values IS NOT NULL AND new_values IS NULL),
                      '|' ORDER BY table_name)
      FROM audit_log WHERE row_id IN ('$ev_d', '$p3') AND action = 'delete'"
expect_value "audit_log.id cannot be forged" f "
    SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'audit_log'::regclass
                   AND attname = 'id' AND attidentity <> 'a')"

# --- down, in reverse order, then up again -----------------------------------

count=${#migrations[@]}
for ((i = count - 1; i >= 0; i--)); do
    name=$(basename "${migrations[$i]}")
    expect_snapshot "$work/before.$((i + 1)).snap" "catalog as left by up $name before its down"
    run_section "${migrations[$i]}" down
    expect_snapshot "$work/before.$i.snap" "down $name restores the catalog"
done

for i in "${!migrations[@]}"; do
    run_section "${migrations[$i]}" up
done
expect_snapshot "$work/before.$count.snap" "all ups apply again after all downs, same catalog"

echo "ok - all schema tests passed"
