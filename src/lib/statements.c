/*
 * statements.c — every statement of the selling path, prepared on each
 * pooled connection (see statements.h). The comments say what each one
 * relies on; the locking order every path keeps is: the event row first,
 * then purchase rows, then tickets.
 */
#include "statements.h"

#include "error.h"
#include "event.h"
#include "purchase_read.h"
#include "sql.h"

#include <assert.h>
#include <stdio.h>

/* The columns of an event's state, as tix_event_state_read expects them.
 * The database's clock says whether the date has passed, for every buyer
 * alike. */
#define EVENT_STATE_COLUMNS                                                                        \
  "available_tickets, version, cancelled_at IS NOT NULL, coalesce(max_per_customer, 0), "          \
  "date <= now()"

/* A customer's tickets that count against the limit: confirmed ones and
 * live holds. A hold past its deadline holds nothing, released or not. */
#define LIVE_PURCHASE "(status = 'confirmed' OR (status = 'held' AND expires_at > now()))"

static const char *const statement_sql[TIX_STATEMENT_COUNT_] = {
    [TIX_SQL_EVENT_GET] =
        "SELECT " TIX_EVENT_COLUMNS " FROM events WHERE id = $1::uuid AND deleted_at IS NULL",

    [TIX_SQL_EVENT_READ] =
        "SELECT " EVENT_STATE_COLUMNS " FROM events WHERE id = $1::uuid AND deleted_at IS NULL",
    /* The seed's pattern: the strongest row lock, held to the end. */
    [TIX_SQL_EVENT_LOCK] = "SELECT " EVENT_STATE_COLUMNS
                           " FROM events WHERE id = $1::uuid AND deleted_at IS NULL FOR UPDATE",
    /* What the batch's UPDATE of the counter takes anyway: it does not
     * conflict with the FOR KEY SHARE of foreign-key checks, so inserts of
     * other events' purchases never wait on it. */
    [TIX_SQL_EVENT_LOCK_FOR_BATCH] =
        "SELECT " EVENT_STATE_COLUMNS " FROM events WHERE id = $1::uuid AND deleted_at IS NULL"
        " FOR NO KEY UPDATE",
    [TIX_SQL_EVENT_LOCK_FOR_RELEASE] = "SELECT 1 FROM events WHERE id = $1::uuid FOR NO KEY UPDATE",
    [TIX_SQL_EVENT_TRY_LOCK_FOR_RELEASE] =
        "SELECT 1 FROM events WHERE id = $1::uuid FOR NO KEY UPDATE SKIP LOCKED",

    /* Expires the lapsed holds of one event (or one purchase, $2), voids
     * their tickets and puts them back on sale, in one statement, through
     * purchases_event_held_expires_idx and bounded by $3. The conditions are
     * repeated on the UPDATE itself so that a hold confirmed meanwhile (we
     * wait for its row, then re-check it) is skipped. The caller holds the
     * event row's lock. The version stays: every read counted these tickets
     * as available already, so nothing a client sees changes. */
    [TIX_SQL_HOLDS_RELEASE_LAPSED] =
        "WITH expired AS ("
        "  UPDATE purchases SET status = 'expired'"
        "   WHERE id IN (SELECT id FROM purchases"
        "                 WHERE event_id = $1::uuid AND status = 'held' AND expires_at <= now()"
        "                   AND ($2::uuid IS NULL OR id = $2::uuid)"
        "                 ORDER BY expires_at LIMIT $3::int)"
        "     AND status = 'held' AND expires_at <= now()"
        "  RETURNING id, quantity),"
        " voided AS ("
        "  UPDATE tickets SET voided_at = now()"
        "   WHERE purchase_id IN (SELECT id FROM expired) AND voided_at IS NULL"
        "  RETURNING 1),"
        " returned AS ("
        "  UPDATE events SET available_tickets = available_tickets"
        "                      + (SELECT sum(quantity) FROM expired)"
        "   WHERE id = $1::uuid AND EXISTS (SELECT 1 FROM expired)"
        "  RETURNING available_tickets, version)"
        "SELECT (SELECT count(*) FROM expired), (SELECT count(*) FROM voided),"
        "       returned.available_tickets, returned.version"
        "  FROM (SELECT 1) one LEFT JOIN returned ON true",

    /* Run after the event row is locked (or, atomic, after its statement
     * failed), so in READ COMMITTED it sees every purchase committed by
     * whoever held the lock before. */
    [TIX_SQL_SALE_CONTEXT] =
        "SELECT EXISTS (SELECT 1 FROM purchases WHERE id = $1::uuid),"
        "       coalesce((SELECT sum(quantity) FROM purchases"
        "                  WHERE event_id = $2::uuid AND customer = $3::text"
        "                    AND " LIVE_PURCHASE "), 0),"
        "       EXISTS (SELECT 1 FROM purchases"
        "                WHERE event_id = $2::uuid AND status = 'held' AND expires_at <= now())",
    [TIX_SQL_SALE_TAKE_TICKETS] =
        "UPDATE events SET available_tickets = available_tickets - $2::int, version = version + 1"
        " WHERE id = $1::uuid AND version = $3::int"
        " RETURNING available_tickets",
    [TIX_SQL_SALE_INSERT_PURCHASE] =
        "INSERT INTO purchases AS p"
        "       (id, event_id, customer, quantity, status, expires_at, hold_seconds)"
        " VALUES ($1::uuid, $2::uuid, $3::text, $4::int,"
        "         CASE WHEN $5::int > 0 THEN 'held' ELSE 'confirmed' END,"
        "         CASE WHEN $5::int > 0 THEN now() + make_interval(secs => $5::int) END, $5::int)"
        " RETURNING " TIX_PURCHASE_COLUMNS,
    [TIX_SQL_SALE_INSERT_TICKETS] = "INSERT INTO tickets (event_id, purchase_id)"
                                    " SELECT $1::uuid, $2::uuid FROM generate_series(1, $3::int)"
                                    " RETURNING id::text",
    /* One statement, one round trip: the conditional UPDATE feeds the
     * purchase and ticket INSERTs. No ON CONFLICT on the purchase: a used id
     * must fail the whole statement (23505), the UPDATE included, so nothing
     * is sold twice. Availability is reported as every read reports it,
     * lapsed holds counted; the last column tells whether some wait to be
     * released. */
    [TIX_SQL_SALE_ATOMIC] =
        "WITH taken AS ("
        "  UPDATE events SET available_tickets = available_tickets - $2::int,"
        "                    version = version + 1"
        "   WHERE id = $1::uuid AND available_tickets >= $2::int"
        "     AND cancelled_at IS NULL AND deleted_at IS NULL AND date > now()"
        "  RETURNING id, available_tickets),"
        " purchase AS ("
        "  INSERT INTO purchases AS p"
        "         (id, event_id, customer, quantity, status, expires_at, hold_seconds)"
        "  SELECT $3::uuid, taken.id, $4::text, $2::int,"
        "         CASE WHEN $5::int > 0 THEN 'held' ELSE 'confirmed' END,"
        "         CASE WHEN $5::int > 0 THEN now() + make_interval(secs => $5::int) END, $5::int"
        "    FROM taken"
        "  RETURNING p.*),"
        " ticket AS ("
        "  INSERT INTO tickets (event_id, purchase_id)"
        "  SELECT purchase.event_id, purchase.id FROM purchase, generate_series(1, $2::int)"
        "  RETURNING id)"
        "SELECT " TIX_PURCHASE_COLUMNS ", taken.available_tickets + lapsed.tickets,"
        "       ticket.id::text, lapsed.tickets > 0"
        "  FROM purchase p, taken, ticket,"
        "       (SELECT " TIX_SQL_LAPSED_TICKETS("$1::uuid") " AS tickets) lapsed",

    /* Everything a batch's decision needs beyond the event row, in one
     * statement: which of its purchase ids exist (second column NULL), and
     * each of its customers' tickets that count against the limit. */
    [TIX_SQL_BATCH_CONTEXT] = "SELECT id::text, NULL::bigint FROM purchases"
                              " WHERE id = ANY ($1::uuid[])"
                              " UNION ALL "
                              "SELECT customer, sum(quantity) FROM purchases"
                              " WHERE event_id = $2::uuid AND customer = ANY ($3::text[])"
                              "   AND " LIVE_PURCHASE " GROUP BY customer",
    [TIX_SQL_BATCH_TAKE_TICKETS] =
        "UPDATE events SET available_tickets = available_tickets - $2::int, version = version + 1"
        " WHERE id = $1::uuid RETURNING available_tickets",
    /* No ON CONFLICT: an id someone else stored after the context was read
     * fails the statement (23505) and with it the batch, which runs again
     * and then finds the id. */
    [TIX_SQL_BATCH_INSERT_PURCHASES] =
        "INSERT INTO purchases (id, event_id, customer, quantity, status, expires_at, hold_seconds)"
        " SELECT sale.id, $1::uuid, sale.customer, sale.quantity,"
        "        CASE WHEN sale.hold_seconds > 0 THEN 'held' ELSE 'confirmed' END,"
        "        CASE WHEN sale.hold_seconds > 0"
        "             THEN now() + make_interval(secs => sale.hold_seconds) END,"
        "        sale.hold_seconds"
        "   FROM unnest($2::uuid[], $3::text[], $4::int[], $5::int[])"
        "        AS sale(id, customer, quantity, hold_seconds)"
        " RETURNING id::text, coalesce(" TIX_SQL_TIMESTAMP(
            "expires_at") ", ''),"
                          "           " TIX_SQL_TIMESTAMP("created_at"),
    [TIX_SQL_BATCH_INSERT_TICKETS] = "INSERT INTO tickets (event_id, purchase_id)"
                                     " SELECT $1::uuid, sale.id"
                                     "   FROM unnest($2::uuid[], $3::int[]) AS sale(id, quantity),"
                                     "        generate_series(1, sale.quantity)"
                                     " RETURNING purchase_id::text, id::text",
    /* After a connection broke during COMMIT: did it land? A transaction is
     * all or nothing, so any one of its ids tells. */
    [TIX_SQL_BATCH_COUNT_STORED] = "SELECT count(*) FROM purchases WHERE id = ANY ($1::uuid[])",

    [TIX_SQL_PURCHASE_LOAD] = "SELECT " TIX_PURCHASE_COLUMNS ", "
                              "       e.available_tickets + " TIX_SQL_LAPSED_TICKETS(
                                  "e.id") ","
                                          "       t.id::text"
                                          "  FROM purchases p"
                                          "  JOIN events e ON e.id = p.event_id"
                                          "  LEFT JOIN tickets t ON t.purchase_id = p.id"
                                          " WHERE p.id = $1::uuid",
    [TIX_SQL_PURCHASE_STORED_REQUEST] = "SELECT p.event_id::text, p.customer, p.quantity,"
                                        "       p.hold_seconds"
                                        "  FROM purchases p WHERE p.id = $1::uuid",
    /* Only a live hold: its tickets stay taken, so no event lock is needed. */
    [TIX_SQL_PURCHASE_CONFIRM] = "UPDATE purchases SET status = 'confirmed', expires_at = NULL"
                                 " WHERE id = $1::uuid AND status = 'held' AND expires_at > now()",
};

static const int statement_parameters[TIX_STATEMENT_COUNT_] = {
#define TIX_STATEMENT_PARAMETERS_(name, parameters) [name] = parameters,
    TIX_STATEMENT_TABLE(TIX_STATEMENT_PARAMETERS_)
#undef TIX_STATEMENT_PARAMETERS_
};

static void statement_name(tix_statement statement, char name[16]) {
  snprintf(name, 16, "tix_%d", (int)statement);
}

/* Reads the pipeline's answers: one per PQsendPrepare, then the sync. */
static int collect_prepared(PGconn *conn) {
  int status = TIX_OK;
  for (int statement = 0; statement < TIX_STATEMENT_COUNT_; statement++) {
    PGresult *result = PQgetResult(conn);
    if (PQresultStatus(result) != PGRES_COMMAND_OK && status == TIX_OK) {
      status = tix_fail_from_result(conn, result);
    }
    PQclear(result);
    PQclear(PQgetResult(conn)); /* the NULL that ends each command's results */
  }
  PGresult *sync = PQgetResult(conn);
  if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC && status == TIX_OK) {
    status = tix_fail_from_result(conn, sync);
  }
  PQclear(sync);
  return status;
}

int tix_statements_prepare(PGconn *conn, void *context) {
  (void)context;
  if (PQenterPipelineMode(conn) != 1) {
    return tix_fail_from_result(conn, NULL);
  }
  bool sent = true;
  for (int statement = 0; statement < TIX_STATEMENT_COUNT_ && sent; statement++) {
    char name[16];
    statement_name((tix_statement)statement, name);
    sent = PQsendPrepare(conn, name, statement_sql[statement], 0, NULL) == 1;
  }
  int status =
      sent && PQpipelineSync(conn) == 1 ? collect_prepared(conn) : tix_fail_from_result(conn, NULL);
  PQexitPipelineMode(conn);
  if (status != TIX_OK && !tix_status_is_connection_loss(status)) {
    /* A table or column the statements name is missing: the schema is
     * older than this tix. */
    char sqlstate[sizeof tix_last_diag()->sqlstate];
    snprintf(sqlstate, sizeof sqlstate, "%s", tix_last_diag()->sqlstate);
    tix_fail(TIX_ESCHEMA, "the database schema is not migrated");
    tix_fail_detail("Preparing tix's statements failed with SQLSTATE %s.", sqlstate);
    tix_fail_hint("Run \"tix migrate up\".");
    status = TIX_ESCHEMA;
  }
  return status;
}

int tix_sql_run(PGconn *conn, tix_statement statement, const char *const *values,
                PGresult **result_out) {
  assert(statement >= 0 && statement < TIX_STATEMENT_COUNT_);
  char name[16];
  statement_name(statement, name);
  PGresult *result =
      PQexecPrepared(conn, name, statement_parameters[statement], values, NULL, NULL, 0);
  return tix_sql_result(conn, result, result_out);
}

/* ------------------------------------------------------------ pipelines */

/* Results a pipeline may leave unread: its statements, their terminators
 * and the sync. */
#define PIPELINE_RESULTS_MAX 64

int tix_pipeline_enter(PGconn *conn) {
  return PQenterPipelineMode(conn) == 1 ? TIX_OK : tix_fail_from_result(conn, NULL);
}

int tix_pipeline_send(PGconn *conn, tix_statement statement, const char *const *values) {
  assert(statement >= 0 && statement < TIX_STATEMENT_COUNT_);
  char name[16];
  statement_name(statement, name);
  int sent =
      PQsendQueryPrepared(conn, name, statement_parameters[statement], values, NULL, NULL, 0);
  return sent == 1 ? TIX_OK : tix_fail_from_result(conn, NULL);
}

int tix_pipeline_send_command(PGconn *conn, const char *command) {
  int sent = PQsendQueryParams(conn, command, 0, NULL, NULL, NULL, NULL, 0);
  return sent == 1 ? TIX_OK : tix_fail_from_result(conn, NULL);
}

int tix_pipeline_sync(PGconn *conn) {
  return PQpipelineSync(conn) == 1 ? TIX_OK : tix_fail_from_result(conn, NULL);
}

int tix_pipeline_next(PGconn *conn, PGresult **result_out) {
  if (result_out != NULL) {
    *result_out = NULL;
  }
  PGresult *result = PQgetResult(conn);
  if (result == NULL) {
    return tix_fail_from_result(conn, NULL);
  }
  if (PQresultStatus(result) == PGRES_PIPELINE_ABORTED) {
    PQclear(result);
    PQclear(PQgetResult(conn)); /* the statement's terminating NULL */
    return TIX_ECANCELED;       /* the failure that aborted it is already reported */
  }
  int status = tix_sql_result(conn, result, result_out);
  PQclear(PQgetResult(conn));
  return status;
}

void tix_pipeline_exit(PGconn *conn) {
  for (int read = 0; read < PIPELINE_RESULTS_MAX && PQstatus(conn) == CONNECTION_OK; read++) {
    PGresult *result = PQgetResult(conn);
    bool synced = result != NULL && PQresultStatus(result) == PGRES_PIPELINE_SYNC;
    PQclear(result);
    if (synced) {
      break;
    }
  }
  PQexitPipelineMode(conn);
}
