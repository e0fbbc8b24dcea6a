/*
 * hold.c — what happens to a purchase after the sale: a hold confirmed, a
 * purchase refunded, lapsed holds swept back onto sale.
 *
 * Whatever gives tickets back changes the event's availability, so it locks
 * the event row first and the purchase rows after it, the order every sale
 * uses: a refund, a sweep and a buyer releasing holds therefore queue on the
 * event row instead of deadlocking. Confirming touches only the purchase row
 * (its tickets stay taken), so it needs no event lock.
 */
#include "db.h"
#include "error.h"
#include "purchase_read.h"
#include "release.h"
#include "sql.h"
#include "statements.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Events visited by one sweep, and purchases released by one call. */
#define SWEEP_EVENTS_MAX 100
#define SWEEP_BATCH_MAX  10000

/* ---------------------------------------------------------------- sweep */

static const char sweep_candidates_sql[] =
    "SELECT DISTINCT event_id::text FROM purchases"
    " WHERE status = 'held' AND expires_at <= now() LIMIT $1";

static int sweep_events(PGconn *conn, const PGresult *candidates, int batch_limit,
                        int *released_out) {
  int status = TIX_OK;
  for (int row = 0; row < PQntuples(candidates) && *released_out < batch_limit; row++) {
    int released = 0;
    /* SKIP LOCKED: an event busy with buyers is left alone, since its next
     * sale releases its lapsed holds under the lock it takes anyway. */
    status = tix_holds_release_in_transaction(conn, PQgetvalue(candidates, row, 0), NULL,
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
  tix_db_release(db, conn, tix_connection_lost(conn, status));
  return status;
}

/* ------------------------------------------------- why a hold is gone */

/* What happened to the event of a hold that is no longer live: a hold whose
 * deadline was still to come when its event was cancelled was released by
 * the cancellation, not by time. */
static const char hold_fate_sql[] =
    "SELECT e.cancelled_at IS NOT NULL, coalesce(p.expires_at > e.cancelled_at, false),"
    "       coalesce(" TIX_SQL_TIMESTAMP(
        "e.cancelled_at") ", ''), e.date <= now()"
                          "  FROM purchases p JOIN events e ON e.id = p.event_id WHERE p.id = "
                          "$1::uuid";

typedef struct hold_fate {
  bool event_cancelled;
  bool released_by_cancel;
  char cancelled_at[TIX_TIMESTAMP_SIZE];
  bool event_past;
} hold_fate;

static int read_hold_fate(PGconn *conn, const char *purchase_id, hold_fate *fate) {
  const char *values[] = {purchase_id};
  PGresult *result = NULL;
  *fate = (hold_fate){.event_cancelled = false};
  int status = tix_sql_exec(conn, hold_fate_sql, 1, values, &result);
  if (status == TIX_OK && PQntuples(result) == 1) {
    fate->event_cancelled = PQgetvalue(result, 0, 0)[0] == 't';
    fate->released_by_cancel = PQgetvalue(result, 0, 1)[0] == 't';
    snprintf(fate->cancelled_at, sizeof fate->cancelled_at, "%s", PQgetvalue(result, 0, 2));
    fate->event_past = PQgetvalue(result, 0, 3)[0] == 't';
  }
  PQclear(result);
  return status;
}

/* -------------------------------------------------------------- confirm */

/* The hold is gone: say whether time or a cancellation took it, and tell
 * to buy again only where buying is still possible. */
static int fail_hold_gone(PGconn *conn, const tix_purchase *purchase) {
  hold_fate fate;
  int status = read_hold_fate(conn, purchase->purchase_id, &fate);
  if (status != TIX_OK) {
    return status;
  }
  if (fate.released_by_cancel) {
    tix_fail(TIX_ECANCELLED, "purchase %s cannot be confirmed: event %s was cancelled",
             purchase->purchase_id, purchase->event_id);
    tix_fail_detail("Cancelling the event at %s released this hold; nothing was sold.",
                    fate.cancelled_at);
    return TIX_ECANCELLED;
  }
  tix_fail(TIX_EEXPIRED, "the hold on purchase %s has expired", purchase->purchase_id);
  if (fate.event_cancelled) {
    tix_fail_detail("It expired at %s, and the event was cancelled at %s.", purchase->expires_at,
                    fate.cancelled_at);
  } else if (fate.event_past) {
    tix_fail_detail("It expired at %s, and the event's date has passed since.",
                    purchase->expires_at);
  } else {
    tix_fail_detail("It expired at %s; its tickets went back on sale.", purchase->expires_at);
    tix_fail_hint("Buy the tickets again.");
  }
  return TIX_EEXPIRED;
}

/* The purchase was not a live hold: answer from its state, releasing a
 * lapsed hold that no one has released yet. */
static int confirm_refused(PGconn *conn, const char *purchase_id, tix_purchase *out) {
  int status = tix_purchase_load(conn, purchase_id, out);
  if (status == TIX_OK && strcmp(out->status, "expired") == 0) {
    int released = 0;
    status =
        tix_holds_release_in_transaction(conn, out->event_id, purchase_id, 1, false, &released);
  }
  if (status != TIX_OK || strcmp(out->status, "confirmed") == 0) {
    return status; /* confirming twice is fine */
  }
  if (strcmp(out->status, "refunded") == 0) {
    return tix_fail(TIX_ESTATE, "purchase %s was refunded and cannot be confirmed", purchase_id);
  }
  return fail_hold_gone(conn, out);
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
  status = tix_sql_run(conn, TIX_SQL_PURCHASE_CONFIRM, values, &result);
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
  tix_db_release(db, conn, tix_connection_lost(conn, status));
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

static int fail_nothing_to_refund(PGconn *conn, const char *id, const char *event_id) {
  hold_fate fate;
  int status = read_hold_fate(conn, id, &fate);
  if (status != TIX_OK) {
    return status;
  }
  if (fate.released_by_cancel) {
    tix_fail(TIX_ESTATE, "purchase %s has nothing to refund: event %s was cancelled", id, event_id);
    tix_fail_detail("Cancelling the event at %s released this hold; nothing was sold.",
                    fate.cancelled_at);
    return TIX_ESTATE;
  }
  return tix_fail(TIX_ESTATE, "the hold on purchase %s expired: there is nothing to refund", id);
}

/* Inside the caller's transaction: refunds a live purchase under the event
 * and purchase locks, leaves a refunded one as it is (refunding twice changes
 * nothing). A lapsed hold is released, not refunded: *keep says to commit
 * that although the refund itself is refused. */
static int refund_locked(PGconn *conn, const char *id, bool *keep) {
  char event_id[TIX_UUID_SIZE], state[16];
  bool lapsed = false, unused = false;
  *keep = false;
  int status = lock_and_read(conn, refund_lock_event_sql, id, event_id, sizeof event_id, &unused);
  if (status == TIX_OK) {
    status = lock_and_read(conn, refund_lock_purchase_sql, id, state, sizeof state, &lapsed);
  }
  if (status != TIX_OK || strcmp(state, "refunded") == 0) {
    return status;
  }
  if (strcmp(state, "expired") == 0) {
    return fail_nothing_to_refund(conn, id, event_id);
  }
  if (lapsed) {
    int released = 0;
    status = tix_holds_release_locked(conn, event_id, id, 1, &released, NULL);
    *keep = status == TIX_OK;
    return status != TIX_OK ? status : fail_nothing_to_refund(conn, id, event_id);
  }
  const char *values[] = {id};
  return tix_sql_exec(conn, refund_sql, 1, values, NULL);
}

static int refund_in_transaction(PGconn *conn, const char *id) {
  bool keep = false;
  int status = tix_sql_exec(conn, "BEGIN", 0, NULL, NULL);
  if (status == TIX_OK) {
    status = refund_locked(conn, id, &keep);
  }
  if (status == TIX_OK || keep) {
    int committed = tix_sql_exec(conn, "COMMIT", 0, NULL, NULL);
    status = committed != TIX_OK ? committed : status;
  }
  if (status != TIX_OK && !tix_connection_lost(conn, status)) {
    tix_sql_rollback(conn);
  }
  return status;
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
  if (status == TIX_OK) {
    status = tix_purchase_load(conn, id, out);
  }
  if (status != TIX_OK) {
    tix_purchase_free(out);
  }
  tix_db_release(db, conn, tix_connection_lost(conn, status));
  return status;
}
