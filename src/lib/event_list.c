/*
 * event_list.c — listing events in keyset pages ordered by (date, id), with
 * the filters of GET /events (a date range, upcoming events only, a
 * full-text query, cancelled events or not) and the plan PostgreSQL makes
 * for it, which the tests hold to the (date, id) index.
 */
#include "event.h"

#include "db.h"
#include "error.h"
#include "sql.h"
#include "text.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_LIMIT_DEFAULT   50
#define INTEGER_TEXT_SIZE    16
#define PLAN_MAX_BYTES       65536
#define LIST_PARAMETER_COUNT 7

/* NULL parameters switch a filter off; with PQexecParams the statement is
 * planned for the values at hand, so those conditions fold away and the
 * row comparison becomes an index condition on events_date_id_idx. ORDER BY
 * names the table's columns: a bare "id" would sort by the id::text output
 * column, which no index serves. */
#define LIST_SQL                                                                                   \
  "SELECT " TIX_EVENT_COLUMNS " FROM events "                                                      \
  "WHERE deleted_at IS NULL "                                                                      \
  "AND ($1::timestamptz IS NULL OR date >= $1::timestamptz) "                                      \
  "AND ($2::timestamptz IS NULL OR date < $2::timestamptz) "                                       \
  "AND ($3::text IS NULL OR search @@ websearch_to_tsquery('simple', $3::text)) "                  \
  "AND ($4::timestamptz IS NULL OR (date, id) > ($4::timestamptz, $5::uuid)) "                     \
  "AND ($6::boolean OR cancelled_at IS NULL) "                                                     \
  "ORDER BY events.date, events.id LIMIT $7::int"

static const char list_sql[] = LIST_SQL;
static const char list_plan_sql[] = "EXPLAIN " LIST_SQL;

/* --------------------------------------------------------------- list */

struct list_query {
  char cursor_date[TIX_TIMESTAMP_SIZE];
  char cursor_id[TIX_UUID_SIZE];
  char fetch_limit[INTEGER_TEXT_SIZE];
  const char *values[LIST_PARAMETER_COUNT];
  int limit;
  bool matches_nothing;
};

/* websearch_to_tsquery finds no word in a query of ASCII punctuation alone;
 * it then matches nothing, and PostgreSQL sends a NOTICE that would end up
 * on the caller's stderr, so such a query stops here. (A blank query is no
 * query at all: it never gets here.) */
static bool query_has_words(const char *query) {
  for (size_t i = 0; i < TIX_EVENT_QUERY_MAX_BYTES && query[i] != '\0'; i++) {
    unsigned char c = (unsigned char)query[i];
    if (c >= 0x80 || isalnum(c)) {
      return true;
    }
  }
  return false;
}

static int prepare_list(const tix_event_filter *filter, struct list_query *query) {
  memset(query, 0, sizeof *query);
  int status = tix_event_filter_check(filter);
  if (status == TIX_OK && tix_event_given(filter->cursor) != NULL) {
    status = tix_event_cursor_decode(filter->cursor, query->cursor_date, query->cursor_id);
  }
  if (status != TIX_OK) {
    return status;
  }
  query->limit = filter->limit > 0 ? filter->limit : LIST_LIMIT_DEFAULT;
  /* One row more than asked tells whether another page follows. */
  snprintf(query->fetch_limit, sizeof query->fetch_limit, "%d", query->limit + 1);
  bool has_cursor = tix_event_given(filter->cursor) != NULL;
  query->values[0] = tix_event_given(filter->from);
  if (query->values[0] == NULL && filter->upcoming) {
    /* PostgreSQL reads 'now' as the transaction's start: the database's
     * clock decides what has passed, as it does for sales. */
    query->values[0] = "now";
  }
  query->values[1] = tix_event_given(filter->to);
  query->values[2] = tix_text_is_blank(filter->query) ? NULL : filter->query;
  query->values[3] = has_cursor ? query->cursor_date : NULL;
  query->values[4] = has_cursor ? query->cursor_id : NULL;
  query->values[5] = filter->include_cancelled ? "true" : "false";
  query->values[6] = query->fetch_limit;
  query->matches_nothing = query->values[2] != NULL && !query_has_words(query->values[2]);
  return TIX_OK;
}

static int fill_page(const PGresult *result, int limit, tix_event_page *out) {
  int rows = PQntuples(result);
  size_t count = (size_t)(rows < limit ? rows : limit);
  if (count == 0) {
    return TIX_OK;
  }
  out->events = calloc(count, sizeof *out->events);
  if (out->events == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory for %zu events", count);
  }
  for (size_t i = 0; i < count; i++) {
    tix_event_read(result, (int)i, &out->events[i]);
  }
  out->count = count;
  int status = TIX_OK;
  if (rows > limit) {
    status = tix_event_cursor_encode(&out->events[count - 1], out->next_cursor);
  }
  if (status != TIX_OK) {
    tix_event_page_free(out);
  }
  return status;
}

void tix_event_page_free(tix_event_page *page) {
  if (page == NULL) {
    return;
  }
  free(page->events);
  memset(page, 0, sizeof *page);
}

/* One line per row of EXPLAIN's output, in a string the caller frees. */
static int join_plan_lines(const PGresult *result, char **plan_out) {
  char *plan = calloc(1, PLAN_MAX_BYTES);
  if (plan == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory for a query plan");
  }
  size_t used = 0;
  for (int row = 0; row < PQntuples(result) && used < PLAN_MAX_BYTES; row++) {
    int written = snprintf(plan + used, PLAN_MAX_BYTES - used, "%s\n", PQgetvalue(result, row, 0));
    used += written > 0 ? (size_t)written : 0;
  }
  *plan_out = plan;
  return TIX_OK;
}

/* What a listing does with its rows: a page of events, or the plan's text. */
typedef int (*list_reader)(const PGresult *result, const struct list_query *query, void *out);

static int read_page(const PGresult *result, const struct list_query *query, void *out) {
  return fill_page(result, query->limit, out);
}

static int read_plan(const PGresult *result, const struct list_query *query, void *out) {
  return join_plan_lines(result, out);
}

/* Runs sql (the list query or its EXPLAIN) with query's parameters on a
 * pooled connection and hands the rows to read. */
static int run_list(tix *db, const char *sql, const struct list_query *query, list_reader read,
                    void *out) {
  PGconn *conn = NULL;
  int status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  PGresult *result = NULL;
  status = tix_sql_exec(conn, sql, LIST_PARAMETER_COUNT, query->values, &result);
  if (status == TIX_OK) {
    status = read(result, query, out);
  }
  PQclear(result);
  tix_db_release(db, conn, tix_status_is_connection_loss(status));
  return status;
}

int tix_event_list(tix *db, const tix_event_filter *filter, tix_event_page *out) {
  if (db == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "listing events needs a database and a place for the page");
  }
  memset(out, 0, sizeof *out);
  struct list_query query;
  int status = prepare_list(filter, &query);
  if (status != TIX_OK || query.matches_nothing) {
    return status;
  }
  return run_list(db, list_sql, &query, read_page, out);
}

int tix_event_list_plan(tix *db, const tix_event_filter *filter, char **plan_out) {
  assert(db != NULL && plan_out != NULL);
  *plan_out = NULL;
  struct list_query query;
  int status = prepare_list(filter, &query);
  return status != TIX_OK ? status : run_list(db, list_plan_sql, &query, read_plan, plan_out);
}
