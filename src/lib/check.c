/*
 * check.c — the invariants of DESIGN §1 for one event, counted by the
 * database in one snapshot: for the benchmark after every cell, for tests,
 * and for operators who want to see for themselves.
 */
#include "db.h"
#include "error.h"
#include "purchase_read.h"
#include "sql.h"

#include <stdlib.h>
#include <string.h>

/* A lapsed hold not yet released still owns its tickets in the rows: the
 * counter left them out when they were taken and gets them back when the
 * hold is released, so the rows balance either way. */
static const char check_sql[] =
    "SELECT e.total_tickets, e.available_tickets,"
    "       (SELECT count(*) FROM tickets t JOIN purchases p ON p.id = t.purchase_id"
    "         WHERE t.event_id = e.id AND t.voided_at IS NULL"
    "           AND p.status IN ('held', 'confirmed')),"
    "       (SELECT count(*) FROM purchases p"
    "         WHERE p.event_id = e.id"
    "           AND p.quantity <> (SELECT count(*) FROM tickets t WHERE t.purchase_id = p.id)),"
    "       (SELECT count(*) FROM purchases p JOIN tickets t ON t.purchase_id = p.id"
    "         WHERE p.event_id = e.id"
    "           AND (p.status IN ('held', 'confirmed')) = (t.voided_at IS NOT NULL))"
    "  FROM events e WHERE e.id = $1::uuid";

static long field_long(const PGresult *result, int column) {
  return atol(PQgetvalue(result, 0, column));
}

static void fill_check(const PGresult *result, tix_event_check *out) {
  *out = (tix_event_check){
      .total_tickets = field_long(result, 0),
      .available_tickets = field_long(result, 1),
      .live_tickets = field_long(result, 2),
      .incomplete_purchases = field_long(result, 3),
      .misvoided_tickets = field_long(result, 4),
  };
  out->ok = out->available_tickets >= 0 && out->available_tickets <= out->total_tickets &&
            out->available_tickets + out->live_tickets == out->total_tickets &&
            out->incomplete_purchases == 0 && out->misvoided_tickets == 0;
}

int tix_event_check_invariants(tix *db, const char *event_id, tix_event_check *out) {
  if (db == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "checking an event needs a database and a place for the result");
  }
  memset(out, 0, sizeof *out);
  int status = tix_uuid_check(event_id, "event id");
  PGconn *conn = NULL;
  if (status == TIX_OK) {
    status = tix_db_acquire(db, &conn);
  }
  if (status != TIX_OK) {
    return status;
  }
  PGresult *result = NULL;
  const char *values[] = {event_id};
  /* One statement: one snapshot for all the counts. */
  status = tix_sql_exec(conn, check_sql, 1, values, &result);
  if (status == TIX_OK && PQntuples(result) == 0) {
    status = tix_fail(TIX_ENOTFOUND, "event %s does not exist", event_id);
  } else if (status == TIX_OK) {
    fill_check(result, out);
  }
  PQclear(result);
  tix_db_release(db, conn, tix_connection_lost(conn, status));
  return status;
}
