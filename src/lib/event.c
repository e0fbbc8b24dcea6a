/*
 * event.c — events in the database: creating, reading, updating under
 * optimistic locking (with the event's lapsed holds released first), and
 * cancelling, which also releases the event's held tickets. Arguments are
 * checked first (event_input.c); listings are in event_list.c.
 */
#include "event.h"

#include "db.h"
#include "error.h"
#include "release.h"
#include "sql.h"
#include "statements.h"
#include "text.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTEGER_TEXT_SIZE      16
#define UPDATE_PARAMETER_COUNT 7

static const char create_sql[] =
    "INSERT INTO events (name, date, total_tickets, available_tickets, max_per_customer, "
    "date_offset_minutes) "
    "VALUES ($1::text, $2::timestamptz, $3::int, $3::int, nullif($4::int, 0), $5::int) "
    "RETURNING " TIX_EVENT_COLUMNS;

/* Every condition a change must meet sits in the WHERE clause, so the row
 * is only written when all hold; the CHECK constraints stay a backstop. It
 * runs with the row locked and its lapsed holds released, so "sold or held"
 * (total - available) counts only tickets really taken.
 * Each SET expression reads the row as it was before this statement. */
static const char update_sql[] =
    "UPDATE events SET name = coalesce($3::text, name), "
    "date = coalesce($4::timestamptz, date), "
    "date_offset_minutes = coalesce($7::int, date_offset_minutes), "
    "total_tickets = coalesce($5::int, total_tickets), "
    "available_tickets = available_tickets + coalesce($5::int, total_tickets) - total_tickets, "
    "max_per_customer = CASE WHEN $6::int IS NULL THEN max_per_customer "
    "ELSE nullif($6::int, 0) END, "
    "version = version + 1 "
    "WHERE id = $1::uuid AND version = $2::int AND deleted_at IS NULL AND cancelled_at IS NULL "
    "AND coalesce($5::int, total_tickets) >= total_tickets - available_tickets "
    "AND coalesce(CASE WHEN $6::int IS NULL THEN max_per_customer ELSE nullif($6::int, 0) END, 0) "
    "<= coalesce($5::int, total_tickets) "
    "RETURNING " TIX_EVENT_COLUMNS;

/* Customers holding more than the limit: a limit lowered below what they
 * already hold leaves them their tickets (they only cannot buy more). */
static const char over_limit_sql[] =
    "SELECT count(*) FROM (SELECT 1 FROM purchases p JOIN events e ON e.id = p.event_id"
    " WHERE p.event_id = $1::uuid AND e.deleted_at IS NULL AND p.customer IS NOT NULL"
    "   AND (p.status = 'confirmed' OR (p.status = 'held' AND p.expires_at > now()))"
    " GROUP BY p.customer, e.max_per_customer"
    " HAVING sum(p.quantity) > e.max_per_customer) over";

/* Read after an UPDATE matched nothing, to tell the caller why. */
static const char update_refusal_sql[] =
    "SELECT version, cancelled_at IS NOT NULL, total_tickets - available_tickets, "
    "coalesce(max_per_customer, 0), total_tickets "
    "FROM events WHERE id = $1::uuid AND deleted_at IS NULL";

/* The event row is locked before any of its purchases: the purchase paths
 * take the same order, so the two cannot deadlock. */
static const char cancel_lock_sql[] =
    "SELECT 1 FROM events WHERE id = $1::uuid AND deleted_at IS NULL FOR UPDATE";

/* Expires the holds, voids their tickets and gives their quantity back, in
 * one statement. A second cancel changes nothing (unless a hold slipped in),
 * so the version moves once. */
static const char cancel_release_sql[] =
    "WITH expired AS ("
    " UPDATE purchases SET status = 'expired'"
    " WHERE event_id = $1::uuid AND status = 'held' RETURNING id, quantity),"
    " voided AS ("
    " UPDATE tickets SET voided_at = now()"
    " WHERE event_id = $1::uuid AND purchase_id IN (SELECT id FROM expired)"
    " AND voided_at IS NULL RETURNING id) "
    "UPDATE events SET"
    " available_tickets = available_tickets + (SELECT coalesce(sum(quantity), 0) FROM expired),"
    " cancelled_at = coalesce(cancelled_at, now()),"
    " version = version + CASE WHEN cancelled_at IS NULL THEN 1 ELSE 0 END "
    "WHERE id = $1::uuid AND (cancelled_at IS NULL OR EXISTS (SELECT 1 FROM expired))";

/* ----------------------------------------------------------- database */

static int field_int(const PGresult *result, int row, int column) {
  return (int)strtol(PQgetvalue(result, row, column), NULL, 10);
}

void tix_event_read(const PGresult *result, int row, tix_event *out) {
  assert(PQnfields(result) >= TIX_EVENT_COLUMN_COUNT);
  memset(out, 0, sizeof *out);
  tix_text_copy(out->id, sizeof out->id, PQgetvalue(result, row, 0));
  tix_text_copy(out->name, sizeof out->name, PQgetvalue(result, row, 1));
  tix_text_copy(out->date, sizeof out->date, PQgetvalue(result, row, 2));
  out->total_tickets = field_int(result, row, 3);
  out->available_tickets = field_int(result, row, 4);
  out->max_per_customer = field_int(result, row, 5);
  out->version = field_int(result, row, 6);
  tix_text_copy(out->created_at, sizeof out->created_at, PQgetvalue(result, row, 7));
  tix_text_copy(out->updated_at, sizeof out->updated_at, PQgetvalue(result, row, 8));
  tix_text_copy(out->cancelled_at, sizeof out->cancelled_at, PQgetvalue(result, row, 9));
  out->date_offset_minutes = field_int(result, row, 10);
  tix_event_local_date(out->date, out->date_offset_minutes, out->local_date);
  out->past = PQgetvalue(result, row, 11)[0] == 't';
}

/* A statement returning at most one event; *found says whether it did. */
static int fetch_event(PGconn *conn, const char *sql, int count, const char *const *values,
                       tix_event *out, bool *found) {
  PGresult *result = NULL;
  int status = sql != NULL ? tix_sql_exec(conn, sql, count, values, &result)
                           : tix_sql_run(conn, TIX_SQL_EVENT_GET, values, &result);
  *found = status == TIX_OK && PQntuples(result) > 0;
  if (*found) {
    tix_event_read(result, 0, out);
  }
  PQclear(result);
  return status;
}

static int fail_not_found(const char *event_id) {
  return tix_fail(TIX_ENOTFOUND, "event %s does not exist", event_id);
}

static void format_int(int value, char text[INTEGER_TEXT_SIZE]) {
  snprintf(text, INTEGER_TEXT_SIZE, "%d", value);
}

int tix_event_create(tix *db, const tix_event_input *input, tix_event *out) {
  if (db == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "creating an event needs a database and a place for the event");
  }
  memset(out, 0, sizeof *out);
  int status = tix_event_input_check(input);
  if (status != TIX_OK) {
    return status;
  }
  char total[INTEGER_TEXT_SIZE], limit[INTEGER_TEXT_SIZE], offset[INTEGER_TEXT_SIZE];
  format_int(input->total_tickets, total);
  format_int(input->max_per_customer, limit);
  format_int(tix_event_date_offset_minutes(input->date), offset);
  const char *values[] = {input->name, input->date, total, limit, offset};
  PGconn *conn = NULL;
  status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  bool found = false;
  status = fetch_event(conn, create_sql, 5, values, out, &found);
  if (status == TIX_OK && !found) {
    status = tix_fail(TIX_EINTERNAL, "the new event was not returned");
  }
  tix_db_release(db, conn, tix_status_is_connection_loss(status));
  return status;
}

int tix_event_get(tix *db, const char *event_id, tix_event *out) {
  if (db == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "reading an event needs a database and a place for the event");
  }
  memset(out, 0, sizeof *out);
  int status = tix_event_id_check(event_id);
  if (status != TIX_OK) {
    return status;
  }
  PGconn *conn = NULL;
  status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  const char *values[] = {event_id};
  bool found = false;
  status = fetch_event(conn, NULL, 1, values, out, &found);
  if (status == TIX_OK && !found) {
    status = fail_not_found(event_id);
  }
  tix_db_release(db, conn, tix_status_is_connection_loss(status));
  return status;
}

/* Another transaction kept the event's row longer than the session waits
 * (lock_timeout) or crossed this one (a deadlock, a serialization failure):
 * nothing changed, and the same change may well pass in a moment. */
static int explain_busy(int status, const char *event_id) {
  if (status != TIX_ELOCKED && status != TIX_EDEADLOCK && status != TIX_ESERIALIZATION) {
    return status;
  }
  tix_fail(status, "event %s is busy: another transaction is changing it", event_id);
  tix_fail_detail("%s Nothing was changed.", tix_strerror(status));
  tix_fail_hint("Try again in a moment.");
  return status;
}

/* ------------------------------------------------------------- update */

struct update_values {
  char version[INTEGER_TEXT_SIZE];
  char total[INTEGER_TEXT_SIZE];
  char limit[INTEGER_TEXT_SIZE];
  char offset[INTEGER_TEXT_SIZE];
  const char *values[UPDATE_PARAMETER_COUNT];
};

static void prepare_update(const char *event_id, int expected_version, const tix_event_patch *patch,
                           struct update_values *update) {
  format_int(expected_version, update->version);
  format_int(patch->total_tickets, update->total);
  format_int(patch->max_per_customer, update->limit);
  format_int(patch->date != NULL ? tix_event_date_offset_minutes(patch->date) : 0, update->offset);
  update->values[0] = event_id;
  update->values[1] = update->version;
  update->values[2] = patch->name;
  update->values[3] = patch->date;
  update->values[4] = patch->total_tickets >= 0 ? update->total : NULL;
  update->values[5] = patch->max_per_customer >= 0 ? update->limit : NULL;
  update->values[6] = patch->date != NULL ? update->offset : NULL;
}

struct stored_state {
  int version;
  bool cancelled;
  int taken; /* tickets sold or held */
  int max_per_customer;
  int total_tickets;
};

/* Why the patch cannot apply to the row as it is now; TIX_OK when nothing
 * stops it any more (the row changed in between: worth another try). */
static int refusal_reason(const char *event_id, int expected_version, const tix_event_patch *patch,
                          const struct stored_state *stored) {
  int total = patch->total_tickets >= 0 ? patch->total_tickets : stored->total_tickets;
  int limit = patch->max_per_customer >= 0 ? patch->max_per_customer : stored->max_per_customer;
  if (stored->cancelled) {
    tix_fail(TIX_ECANCELLED, "event %s is cancelled", event_id);
    tix_fail_detail("A cancelled event cannot be changed.");
    return TIX_ECANCELLED;
  }
  if (stored->version != expected_version) {
    tix_fail(TIX_EVERSION, "event %s was changed by someone else", event_id);
    tix_fail_detail("The current version is %d, not %d.", stored->version, expected_version);
    tix_fail_hint("Read the event again and apply the change to version %d.", stored->version);
    return TIX_EVERSION;
  }
  if (total < stored->taken) {
    tix_fail(TIX_EINSUFFICIENT, "cannot lower the tickets of event %s to %d", event_id, total);
    tix_fail_detail("%d %s already sold or held.", stored->taken,
                    stored->taken == 1 ? "ticket is" : "tickets are");
    return TIX_EINSUFFICIENT;
  }
  /* The patch was checked against itself before: what clashes now is the
   * stored total or limit, so it is the event's state that refuses. */
  if (limit > total) {
    tix_fail(TIX_ESTATE, "max per customer %d exceeds the %d %s of the event", limit, total,
             total == 1 ? "ticket" : "tickets");
    tix_fail_detail("The event %s %d.",
                    patch->total_tickets >= 0 ? "limits each customer to" : "has a total of",
                    patch->total_tickets >= 0 ? stored->max_per_customer : stored->total_tickets);
    tix_fail_hint("Lower max per customer too, or set it to 0 for no limit.");
    return TIX_ESTATE;
  }
  return TIX_OK;
}

/* After the UPDATE matched nothing: the reason, read under the row lock. */
static int explain_refusal(PGconn *conn, const char *event_id, int expected_version,
                           const tix_event_patch *patch) {
  const char *values[] = {event_id};
  PGresult *result = NULL;
  int status = tix_sql_exec(conn, update_refusal_sql, 1, values, &result);
  if (status == TIX_OK && PQntuples(result) == 0) {
    status = fail_not_found(event_id);
  } else if (status == TIX_OK) {
    struct stored_state stored = {
        .version = field_int(result, 0, 0),
        .cancelled = PQgetvalue(result, 0, 1)[0] == 't',
        .taken = field_int(result, 0, 2),
        .max_per_customer = field_int(result, 0, 3),
        .total_tickets = field_int(result, 0, 4),
    };
    status = refusal_reason(event_id, expected_version, patch, &stored);
    if (status == TIX_OK) {
      status = tix_fail(TIX_EINTERNAL, "event %s refused a change for no known reason", event_id);
    }
  }
  PQclear(result);
  return status;
}

/* Inside the caller's transaction: locks the row, releases its lapsed holds
 * and applies the patch, or says why not. */
static int update_locked(PGconn *conn, const char *event_id, int expected_version,
                         const tix_event_patch *patch, tix_event *out) {
  struct update_values update;
  prepare_update(event_id, expected_version, patch, &update);
  const char *lock_values[] = {event_id};
  PGresult *locked = NULL;
  int status = tix_sql_run(conn, TIX_SQL_EVENT_LOCK_FOR_RELEASE, lock_values, &locked);
  if (status == TIX_OK && PQntuples(locked) == 0) {
    status = fail_not_found(event_id);
  }
  PQclear(locked);
  if (status == TIX_OK) {
    status = tix_holds_release_locked(conn, event_id, NULL, TIX_RELEASE_MAX, NULL, NULL);
  }
  bool found = false;
  if (status == TIX_OK) {
    status = fetch_event(conn, update_sql, UPDATE_PARAMETER_COUNT, update.values, out, &found);
  }
  if (status == TIX_OK && !found) {
    status = explain_refusal(conn, event_id, expected_version, patch);
  }
  return status;
}

static int update_in_transaction(PGconn *conn, const char *event_id, int expected_version,
                                 const tix_event_patch *patch, tix_event *out) {
  int status = tix_sql_exec(conn, "BEGIN", 0, NULL, NULL);
  if (status == TIX_OK) {
    status = update_locked(conn, event_id, expected_version, patch, out);
  }
  /* COMMIT even after a refusal: the released holds stay released. */
  if (PQtransactionStatus(conn) == PQTRANS_INTRANS) {
    int committed = tix_sql_exec(conn, "COMMIT", 0, NULL, NULL);
    status = status == TIX_OK ? committed : status;
  }
  tix_sql_rollback(conn);
  return status;
}

int tix_event_update(tix *db, const char *event_id, int expected_version,
                     const tix_event_patch *patch, tix_event *out) {
  if (db == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "updating an event needs a database and a place for the event");
  }
  memset(out, 0, sizeof *out);
  int status = tix_event_id_check(event_id);
  if (status == TIX_OK && expected_version < 1) {
    status = tix_fail(TIX_EINVAL, "the expected version must be a positive number");
  }
  if (status == TIX_OK) {
    status = tix_event_patch_check(patch);
  }
  if (status != TIX_OK) {
    return status;
  }
  PGconn *conn = NULL;
  status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  status = update_in_transaction(conn, event_id, expected_version, patch, out);
  tix_db_release(db, conn, tix_status_is_connection_loss(status));
  return explain_busy(status, event_id);
}

/* ------------------------------------------------------------- cancel */

static int cancel_in_transaction(PGconn *conn, const char *event_id, tix_event *out) {
  const char *values[] = {event_id};
  PGresult *locked = NULL;
  bool found = false;
  int status = tix_sql_exec(conn, "BEGIN", 0, NULL, NULL);
  if (status == TIX_OK) {
    status = tix_sql_exec(conn, cancel_lock_sql, 1, values, &locked);
  }
  if (status == TIX_OK && PQntuples(locked) == 0) {
    status = fail_not_found(event_id);
  }
  PQclear(locked);
  if (status == TIX_OK) {
    status = tix_sql_exec(conn, cancel_release_sql, 1, values, NULL);
  }
  if (status == TIX_OK) {
    status = fetch_event(conn, NULL, 1, values, out, &found);
  }
  if (status == TIX_OK) {
    status = tix_sql_exec(conn, "COMMIT", 0, NULL, NULL);
  }
  if (status != TIX_OK) {
    tix_sql_rollback(conn);
  }
  return status;
}

int tix_event_cancel(tix *db, const char *event_id, tix_event *out) {
  if (db == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "cancelling an event needs a database and a place for the event");
  }
  memset(out, 0, sizeof *out);
  int status = tix_event_id_check(event_id);
  if (status != TIX_OK) {
    return status;
  }
  PGconn *conn = NULL;
  status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  status = cancel_in_transaction(conn, event_id, out);
  tix_db_release(db, conn, tix_status_is_connection_loss(status));
  return explain_busy(status, event_id);
}

int tix_event_customers_over_limit(tix *db, const char *event_id, int *count_out) {
  if (db == NULL || count_out == NULL) {
    return tix_fail(TIX_EINVAL, "counting customers needs a database and a place for the count");
  }
  *count_out = 0;
  int status = tix_event_id_check(event_id);
  PGconn *conn = NULL;
  if (status == TIX_OK) {
    status = tix_db_acquire(db, &conn);
  }
  if (status != TIX_OK) {
    return status;
  }
  const char *values[] = {event_id};
  PGresult *result = NULL;
  status = tix_sql_exec(conn, over_limit_sql, 1, values, &result);
  if (status == TIX_OK) {
    *count_out = field_int(result, 0, 0);
  }
  PQclear(result);
  tix_db_release(db, conn, tix_status_is_connection_loss(status));
  return status;
}
