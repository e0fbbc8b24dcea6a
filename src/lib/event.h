/*
 * event.h — internal: what other subsystems share with events.c: the one
 * column list every event query returns and the reader for it, the id check,
 * and the list query's plan for tests and diagnostics.
 */
#ifndef TIX_EVENT_H
#define TIX_EVENT_H

#include "tix.h"

#include <libpq-fe.h>

/* A timestamp column as RFC 3339 text in UTC with microseconds (shared
 * with the purchase queries). */
#define TIX_SQL_TIMESTAMP(column)                                                                  \
  "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The columns, in the order tix_event_read expects them, of the events
 * table; a query selecting them must not name the table by another alias.
 * Timestamps leave SQL as RFC 3339 text in UTC with microseconds. */
#define TIX_EVENT_COLUMNS                                                                          \
  "events.id::text, events.name, "                                                                 \
  "to_char(events.date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                 \
  "events.total_tickets, events.available_tickets, coalesce(events.max_per_customer, 0), "         \
  "events.version, "                                                                               \
  "to_char(events.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "           \
  "to_char(events.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "           \
  "coalesce(to_char(events.cancelled_at AT TIME ZONE 'UTC', "                                      \
  "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '')"
#define TIX_EVENT_COLUMN_COUNT 10

/* Fills out from row of a result that selected TIX_EVENT_COLUMNS first. */
void tix_event_read(const PGresult *result, int row, tix_event *out);

/* True for a UUID in its canonical 8-4-4-4-12 hexadecimal form. */
bool tix_event_id_is_valid(const char *text);

/* The plan PostgreSQL chooses for tix_event_list with this filter, as the
 * text of EXPLAIN, one line per row; free it with free(). */
int tix_event_list_plan(tix *db, const tix_event_filter *filter, char **plan_out);

#endif /* TIX_EVENT_H */
