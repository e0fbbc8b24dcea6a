/*
 * hold.c — what happens to a purchase after the sale: a hold confirmed or
 * expired, a purchase refunded, expired holds swept back onto sale.
 *
 * Whatever gives tickets back changes the event's availability, so it locks
 * the event row first and the purchase rows after it, the order every sale
 * uses: a refund, a sweep and a buyer releasing holds on demand therefore
 * queue on the event row instead of deadlocking. Confirming touches only
 * the purchase row (its tickets stay taken), so it needs no event lock.
 */
#include "purchase.h"

#include "db.h"
#include "error.h"
#include "sql.h"

#include <stdlib.h>
#include <string.h>

/* Events visited by one sweep, and purchases released by one call. */
#define SWEEP_EVENTS_MAX 100
#define SWEEP_BATCH_MAX  10000

/* Expires the held purchases past their deadline (all of the event's, or
 * one), voids their tickets and puts them back on sale, in one statement.
 * The conditions are repeated on the UPDATE itself so that a purchase
 * confirmed meanwhile (we wait for its row, then re-check it) is skipped. */
static const char release_sql[] =
    "WITH expired AS ("
    "  UPDATE purchases SET status = 'expired'"
    "   WHERE id IN (SELECT id FROM purchases"
    "                 WHERE event_id = $1 AND status = 'held' AND expires_at <= now()"
    "                   AND ($2::uuid IS NULL OR id = $2::uuid)"
    "                 ORDER BY expires_at LIMIT $3)"
    "     AND status = 'held' AND expires_at <= now()"
    "  RETURNING id, quantity),"
    " voided AS ("
    "  UPDATE tickets SET voided_at = now()"
    "   WHERE purchase_id IN (SELECT id FROM expired) AND voided_at IS NULL"
    "  RETURNING 1),"
    " returned AS ("
    "  UPDATE events SET available_tickets = available_tickets"
    "                      + (SELECT sum(quantity) FROM expired),"
    "                    version = version + 1"
    "   WHERE id = $1 AND EXISTS (SELECT 1 FROM expired)"
    "  RETURNING available_tickets, version)"
    "SELECT (SELECT count(*) FROM expired), (SELECT count(*) FROM voided),"
    "       returned.available_tickets, returned.version"
    "  FROM (SELECT 1) one LEFT JOIN returned ON true";

int tix_holds_release_locked(PGconn *conn, const char *event_id, const char *purchase_id, int limit,
                             int *released_out, tix_event_state *event) {
  char limit_text[16];
  snprintf(limit_text, sizeof limit_text, "%d", limit);
  const char *values[] = {event_id, purchase_id, limit_text};
  PGresult *result = NULL;
  *released_out = 0;
  int status = tix_sql_exec(conn, release_sql, 3, values, &result);
  if (status != TIX_OK) {
    return status;
  }
  *released_out = atoi(PQgetvalue(result, 0, 0));
  if (event != NULL && !PQgetisnull(result, 0, 2)) {
    event->available = atoi(PQgetvalue(result, 0, 2));
    event->version = atoi(PQgetvalue(result, 0, 3));
    event->expired_holds = *released_out == limit; /* there may be more */
  }
  PQclear(result);
  return TIX_OK;
}

static const char lock_event_sql[] = "SELECT 1 FROM events WHERE id = $1 FOR UPDATE";
static const char try_lock_event_sql[] =
    "SELECT 1 FROM events WHERE id = $1 FOR UPDATE SKIP LOCKED";

/* In a transaction of its own: locks the event (or, skip_locked, gives up
 * when someone else holds it: *released_out stays 0) and releases. */
static int release_in_transaction(PGconn *conn, const char *event_id, const char *purchase_id,
                                  int limit, bool skip_locked, int *released_out) {
  *released_out = 0;
  PGresult *locked = NULL;
  const char *values[] = {event_id};
  int status = tix_sql_exec(conn, "BEGIN", 0, NULL, NULL);
  if (status == TIX_OK) {
    status =
        tix_sql_exec(conn, skip_locked ? try_lock_event_sql : lock_event_sql, 1, values, &locked);
  }
  if (status != TIX_OK) {
    goto roll_back;
  }
  bool have_lock = PQntuples(locked) == 1;
  PQclear(locked);
  if (have_lock) {
    status = tix_holds_release_locked(conn, event_id, purchase_id, limit, released_out, NULL);
  }
  if (status == TIX_OK) {
    status = tix_sql_exec(conn, "COMMIT", 0, NULL, NULL);
  }
  if (status == TIX_OK) {
    return TIX_OK;
  }
  *released_out = 0;

roll_back:
  tix_sql_rollback(conn);
  return status;
}

int tix_holds_release_event(PGconn *conn, const char *event_id, const char *purchase_id) {
  int released = 0;
  return release_in_transaction(conn, event_id, purchase_id, TIX_RELEASE_ON_DEMAND_MAX, false,
                                &released);
}

/* ---------------------------------------------------------------- sweep */

static const char sweep_candidates_sql[] =
    "SELECT DISTINCT event_id::text FROM purchases"
    " WHERE status = 'held' AND expires_at <= now() LIMIT $1";

static int sweep_events(PGconn *conn, const PGresult *candidates, int batch_limit,
                        int *released_out) {
  int status = TIX_OK;
  for (int row = 0; row < PQntuples(candidates) && *released_out < batch_limit; row++) {
    int released = 0;
    /* SKIP LOCKED: an event busy with buyers is left for the next sweep (a
     * buyer short of tickets releases its holds on demand anyway). */
    status = release_in_transaction(conn, PQgetvalue(candidates, row, 0), NULL,
                                    batch_limit - *released_out, true, &released);
    if (status != TIX_OK) {
      break;
    }
    *released_out += released;
  }
  return status;
}

int tix_holds_sweep(tix *db, int batch_limit, int *released_out) {
  if (released_out != NULL) {
    *released_out = 0;
  }
  if (db == NULL || released_out == NULL) {
    return tix_fail(TIX_EINVAL, "a database handle and a place for the count are required");
  }
  if (batch_limit < 1 || batch_limit > SWEEP_BATCH_MAX) {
    return tix_fail(TIX_EINVAL, "the sweep batch must be between 1 and %d holds, not %d",
                    SWEEP_BATCH_MAX, batch_limit);
  }
  PGconn *conn = NULL;
  int status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  char events_limit[16];
  snprintf(events_limit, sizeof events_limit, "%d", SWEEP_EVENTS_MAX);
  const char *values[] = {events_limit};
  PGresult *candidates = NULL;
  status = tix_sql_exec(conn, sweep_candidates_sql, 1, values, &candidates);
  if (status != TIX_OK) {
    goto release_connection;
  }
  status = sweep_events(conn, candidates, batch_limit, released_out);
  PQclear(candidates);

release_connection:
  tix_db_release(db, conn, tix_purchase_connection_lost(conn, status));
  return status;
}

/* -------------------------------------------------------------- confirm */

static const char confirm_sql[] = "UPDATE purchases SET status = 'confirmed', expires_at = NULL"
                                  " WHERE id = $1 AND status = 'held' AND expires_at > now()";

/* The purchase was not a live hold: answer from its state, releasing a
 * lapsed hold the sweeper has not reached yet. */
static int confirm_refused(PGconn *conn, const char *purchase_id, tix_purchase *out) {
  int status = tix_purchase_load(conn, purchase_id, out);
  if (status == TIX_OK && strcmp(out->status, "held") == 0) {
    status = tix_holds_release_event(conn, out->event_id, purchase_id);
    tix_purchase_free(out);
    if (status == TIX_OK) {
      status = tix_purchase_load(conn, purchase_id, out);
    }
  }
  if (status != TIX_OK || strcmp(out->status, "confirmed") == 0) {
    return status; /* confirming twice is fine */
  }
  if (strcmp(out->status, "refunded") == 0) {
    return tix_fail(TIX_ESTATE, "purchase %s was refunded and cannot be confirmed", purchase_id);
  }
  tix_fail(TIX_EEXPIRED, "the hold on purchase %s has expired", purchase_id);
  tix_fail_detail("It expired at %s; its tickets went back on sale.", out->expires_at);
  tix_fail_hint("Buy the tickets again.");
  return TIX_EEXPIRED;
}

static int check_purchase_arguments(tix *db, const char *purchase_id, tix_purchase *out,
                                    char id[TIX_UUID_SIZE]) {
  if (out != NULL) {
    tix_purchase_reset(out);
  }
  if (db == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "a database handle and a place for the purchase are required");
  }
  return tix_purchase_check_id(purchase_id, id);
}

int tix_purchase_confirm(tix *db, const char *purchase_id, tix_purchase *out) {
  char id[TIX_UUID_SIZE];
  int status = check_purchase_arguments(db, purchase_id, out, id);
  if (status != TIX_OK) {
    return status;
  }
  PGconn *conn = NULL;
  status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  PGresult *result = NULL;
  const char *values[] = {id};
  status = tix_sql_exec(conn, confirm_sql, 1, values, &result);
  if (status != TIX_OK) {
    goto release_connection;
  }
  bool confirmed_now = atoi(PQcmdTuples(result)) == 1;
  PQclear(result);
  status = confirmed_now ? tix_purchase_load(conn, id, out) : confirm_refused(conn, id, out);
  out->replayed = status == TIX_OK && !confirmed_now;

release_connection:
  if (status != TIX_OK) {
    tix_purchase_free(out);
  }
  tix_db_release(db, conn, tix_purchase_connection_lost(conn, status));
  return status;
}

/* --------------------------------------------------------------- refund */

/* The event row first (found through the purchase, whose event never
 * changes), then the purchase row: the order every sale takes. The purchase
 * is read only once its own row is locked, so its status is current. */
static const char refund_lock_event_sql[] =
    "SELECT e.id::text FROM events e"
    " WHERE e.id = (SELECT event_id FROM purchases WHERE id = $1) FOR UPDATE";
static const char refund_lock_purchase_sql[] =
    "SELECT status, status = 'held' AND expires_at <= now() FROM purchases WHERE id = $1"
    "   FOR UPDATE";

static const char refund_sql[] =
    "WITH refunded AS ("
    "  UPDATE purchases SET status = 'refunded'"
    "   WHERE id = $1 AND status IN ('held', 'confirmed')"
    "  RETURNING event_id, quantity),"
    " voided AS ("
    "  UPDATE tickets SET voided_at = now()"
    "   WHERE purchase_id = $1 AND voided_at IS NULL AND EXISTS (SELECT 1 FROM refunded)"
    "  RETURNING 1)"
    "UPDATE events e SET available_tickets = e.available_tickets + refunded.quantity,"
    "                    version = e.version + 1"
    "  FROM refunded WHERE e.id = refunded.event_id";

/* Runs a locking query for one purchase: column 0 into text, column 1 (if
 * any) as a boolean into *flag; no row is TIX_ENOTFOUND. */
static int lock_and_read(PGconn *conn, const char *sql, const char *id, char *text, size_t size,
                         bool *flag) {
  const char *values[] = {id};
  PGresult *result = NULL;
  int status = tix_sql_exec(conn, sql, 1, values, &result);
  if (status != TIX_OK) {
    return status;
  }
  if (PQntuples(result) == 0) {
    status = tix_fail(TIX_ENOTFOUND, "purchase %s does not exist", id);
  } else {
    snprintf(text, size, "%s", PQgetvalue(result, 0, 0));
    *flag = PQnfields(result) > 1 && PQgetvalue(result, 0, 1)[0] == 't';
  }
  PQclear(result);
  return status;
}

/* Refunds a live purchase under the event and purchase locks; leaves a
 * refunded one as it is (refunding twice changes nothing). */
static int refund_in_transaction(PGconn *conn, const char *id) {
  char event_id[TIX_UUID_SIZE], state[16];
  bool lapsed = false, unused = false;
  int status = tix_sql_exec(conn, "BEGIN", 0, NULL, NULL);
  if (status == TIX_OK) {
    status = lock_and_read(conn, refund_lock_event_sql, id, event_id, sizeof event_id, &unused);
  }
  if (status == TIX_OK) {
    status = lock_and_read(conn, refund_lock_purchase_sql, id, state, sizeof state, &lapsed);
  }
  if (status != TIX_OK || strcmp(state, "refunded") == 0) {
    return status;
  }
  if (strcmp(state, "expired") == 0) {
    return tix_fail(TIX_ESTATE, "the hold on purchase %s expired: there is nothing to refund", id);
  }
  if (lapsed) { /* a hold past its deadline is released, not refunded */
    int released = 0;
    status = tix_holds_release_locked(conn, event_id, id, 1, &released, NULL);
    if (status == TIX_OK) {
      status = tix_sql_exec(conn, "COMMIT", 0, NULL, NULL);
    }
    return status != TIX_OK
               ? status
               : tix_fail(TIX_ESTATE, "the hold on purchase %s expired: there is nothing to refund",
                          id);
  }
  const char *values[] = {id};
  return tix_sql_exec(conn, refund_sql, 1, values, NULL);
}

int tix_purchase_refund(tix *db, const char *purchase_id, tix_purchase *out) {
  char id[TIX_UUID_SIZE];
  int status = check_purchase_arguments(db, purchase_id, out, id);
  if (status != TIX_OK) {
    return status;
  }
  PGconn *conn = NULL;
  status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  status = refund_in_transaction(conn, id);
  if (status == TIX_OK && PQtransactionStatus(conn) == PQTRANS_INTRANS) {
    status = tix_sql_exec(conn, "COMMIT", 0, NULL, NULL);
  }
  if (status == TIX_OK) {
    status = tix_purchase_load(conn, id, out);
  }
  bool lost = tix_purchase_connection_lost(conn, status);
  if (!lost) {
    tix_sql_rollback(conn);
  }
  if (status != TIX_OK) {
    tix_purchase_free(out);
  }
  tix_db_release(db, conn, lost);
  return status;
}
