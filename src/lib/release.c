/*
 * release.c — lapsed holds given back under the event's lock (see
 * release.h). The statement itself is TIX_SQL_HOLDS_RELEASE_LAPSED.
 */
#include "release.h"

#include "sql.h"
#include "statements.h"

#include <stdio.h>
#include <stdlib.h>

void tix_holds_release_values(const char *event_id, const char *purchase_id, int limit,
                              tix_release_values *out) {
  snprintf(out->limit, sizeof out->limit, "%d", limit < TIX_RELEASE_MAX ? limit : TIX_RELEASE_MAX);
  out->values[0] = event_id;
  out->values[1] = purchase_id;
  out->values[2] = out->limit;
}

void tix_holds_release_read(const PGresult *result, int limit, int *released_out,
                            tix_event_state *event) {
  int released = atoi(PQgetvalue(result, 0, 0));
  if (released_out != NULL) {
    *released_out = released;
  }
  if (event != NULL && !PQgetisnull(result, 0, 2)) {
    event->available = atoi(PQgetvalue(result, 0, 2));
    event->version = atoi(PQgetvalue(result, 0, 3));
  }
  if (event != NULL) {
    event->lapsed_holds = released == limit; /* there may be more */
  }
}

int tix_holds_release_locked(PGconn *conn, const char *event_id, const char *purchase_id, int limit,
                             int *released_out, tix_event_state *event) {
  tix_release_values release;
  tix_holds_release_values(event_id, purchase_id, limit, &release);
  PGresult *result = NULL;
  int status = tix_sql_run(conn, TIX_SQL_HOLDS_RELEASE_LAPSED, release.values, &result);
  if (status == TIX_OK) {
    tix_holds_release_read(result, limit, released_out, event);
  } else if (released_out != NULL) {
    *released_out = 0;
  }
  PQclear(result);
  return status;
}

int tix_holds_release_in_transaction(PGconn *conn, const char *event_id, const char *purchase_id,
                                     int limit, bool skip_locked, int *released_out) {
  *released_out = 0;
  PGresult *locked = NULL;
  const char *values[] = {event_id};
  int status = tix_sql_exec(conn, "BEGIN", 0, NULL, NULL);
  if (status == TIX_OK) {
    status = tix_sql_run(
        conn, skip_locked ? TIX_SQL_EVENT_TRY_LOCK_FOR_RELEASE : TIX_SQL_EVENT_LOCK_FOR_RELEASE,
        values, &locked);
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
