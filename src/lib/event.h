/*
 * event.h — internal: what event.c, event_list.c and event_input.c share
 * with each other and with other subsystems: the one column list every
 * event query returns and the reader for it, the dates' offsets, and the
 * list query's plan for tests and diagnostics.
 */
#ifndef TIX_EVENT_H
#define TIX_EVENT_H

#include "tix.h"

#include <libpq-fe.h>

#include "sql.h"

/* The columns, in the order tix_event_read expects them, of the events
 * table; a query selecting them must not name the table by another alias.
 * Timestamps leave SQL as RFC 3339 text in UTC with microseconds; the
 * offset the date was given with comes apart, in minutes. */
// clang-format off
/* Tickets of lapsed holds not released yet: they are back on sale the
 * moment the hold lapses, so every read adds them to available_tickets. */
#define TIX_SQL_LAPSED_TICKETS(event_id)                                                          \
  "(SELECT coalesce(sum(lapsed.quantity), 0) FROM purchases lapsed"                               \
  "  WHERE lapsed.event_id = " event_id " AND lapsed.status = 'held'"                             \
  "    AND lapsed.expires_at <= now())"

#define TIX_EVENT_COLUMNS                                                                         \
  "events.id::text, events.name, " TIX_SQL_TIMESTAMP("events.date") ", "                          \
  "events.total_tickets, "                                                                        \
  "events.available_tickets + " TIX_SQL_LAPSED_TICKETS("events.id") ", "                          \
  "coalesce(events.max_per_customer, 0), events.version, "                                        \
  TIX_SQL_TIMESTAMP("events.created_at") ", " TIX_SQL_TIMESTAMP("events.updated_at") ", "         \
  "coalesce(" TIX_SQL_TIMESTAMP("events.cancelled_at") ", ''), "                                  \
  "events.date_offset_minutes, events.date <= now()"
// clang-format on
#define TIX_EVENT_COLUMN_COUNT 12

/* The longest full-text query a listing accepts. */
#define TIX_EVENT_QUERY_MAX_BYTES 1000

/* An empty string means "not given", as an empty query parameter does. */
static inline const char *tix_event_given(const char *text) {
  return text != NULL && text[0] != '\0' ? text : NULL;
}

/* The offset from UTC, in minutes east, that a valid RFC 3339 date was
 * written with ("+01:00" is 60, "Z" 0); 0 for anything else. */
int tix_event_date_offset_minutes(const char *date);
/* The UTC date the database returns, shown at offset_minutes from UTC as
 * RFC 3339 ("2030-03-14T20:00:00+01:00"; the fraction only when it is not
 * zero); a text of another form is copied as it is. */
void tix_event_local_date(const char *utc, int offset_minutes, char out[TIX_TIMESTAMP_SIZE]);

/* TIX_EINVAL with a message fit for a person unless event_id is a UUID. */
int tix_event_id_check(const char *event_id);
/* A listing's cursor: base64url("<date>|<id>") of the last row of a page. */
int tix_event_cursor_encode(const tix_event *last, char cursor[TIX_CURSOR_SIZE]);
int tix_event_cursor_decode(const char *cursor, char date[TIX_TIMESTAMP_SIZE],
                            char id[TIX_UUID_SIZE]);

/* Fills out from row of a result that selected TIX_EVENT_COLUMNS first. */
void tix_event_read(const PGresult *result, int row, tix_event *out);

/* The plan PostgreSQL chooses for tix_event_list with this filter, as the
 * text of EXPLAIN, one line per row; free it with free(). */
int tix_event_list_plan(tix *db, const tix_event_filter *filter, char **plan_out);

#endif /* TIX_EVENT_H */
