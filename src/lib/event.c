/*
 * event.c — events: creating, reading, listing in keyset pages ordered by
 * (date, id), updating under optimistic locking, and cancelling, which also
 * releases the event's held tickets. Every argument is checked here, before
 * the database sees it, so bad input is refused with a message fit for the
 * person who typed it rather than with whatever PostgreSQL would say.
 */
#include "event.h"

#include "db.h"
#include "error.h"
#include "release.h"
#include "sql.h"
#include "statements.h"
#include "text.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES         (TIX_NAME_MAX_CHARS * 4)
#define TIMESTAMP_MAX_BYTES    (TIX_TIMESTAMP_SIZE - 1)
#define FRACTION_DIGITS_MAX    9
#define QUERY_MAX_BYTES        1000
#define LIST_LIMIT_DEFAULT     50
#define CURSOR_TEXT_MAX_BYTES  ((TIX_CURSOR_SIZE - 1) / 4 * 3)
#define INTEGER_TEXT_SIZE      16
#define QUOTED_VALUE_MAX_CHARS 40
#define QUOTED_VALUE_SIZE      (QUOTED_VALUE_MAX_CHARS + 4)
#define PLAN_MAX_BYTES         65536
#define LIST_PARAMETER_COUNT   7

static const char create_sql[] =
    "INSERT INTO events (name, date, total_tickets, available_tickets, max_per_customer) "
    "VALUES ($1::text, $2::timestamptz, $3::int, $3::int, nullif($4::int, 0)) "
    "RETURNING " TIX_EVENT_COLUMNS;

/* Every condition a change must meet sits in the WHERE clause, so the row
 * is only written when all hold; the CHECK constraints stay a backstop. It
 * runs with the row locked and its lapsed holds released, so "sold or held"
 * (total - available) counts only tickets really taken.
 * Each SET expression reads the row as it was before this statement. */
static const char update_sql[] =
    "UPDATE events SET name = coalesce($3::text, name), "
    "date = coalesce($4::timestamptz, date), "
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

static const char base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ------------------------------------------------------------- checks */

/* A bad value quoted in a message: printable ASCII only and short, so the
 * message stays one readable line of valid UTF-8 whatever was passed. */
static const char *quote_value(const char *value, char buffer[QUOTED_VALUE_SIZE]) {
  size_t used = 0;
  for (; used < QUOTED_VALUE_MAX_CHARS && value[used] != '\0'; used++) {
    unsigned char c = (unsigned char)value[used];
    buffer[used] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  if (value[used] != '\0') {
    memcpy(buffer + used, "...", 3);
    used += 3;
  }
  buffer[used] = '\0';
  return buffer;
}

static int check_name(const char *name) {
  if (name == NULL) {
    return tix_fail(TIX_EINVAL, "event name is required");
  }
  size_t size = strnlen(name, NAME_MAX_BYTES + 1);
  long characters = size > NAME_MAX_BYTES ? TIX_NAME_MAX_CHARS + 1 : tix_utf8_length(name, size);
  if (characters < 0) {
    return tix_fail(TIX_EINVAL, "event name is not valid UTF-8");
  }
  if (characters > TIX_NAME_MAX_CHARS) {
    tix_fail(TIX_EINVAL, "event name is too long");
    tix_fail_detail("An event name has at most %d characters.", TIX_NAME_MAX_CHARS);
    return TIX_EINVAL;
  }
  bool blank = true;
  for (size_t i = 0; i < size; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7f) {
      return tix_fail(TIX_EINVAL, "event name must not contain control characters");
    }
    blank = blank && c == ' ';
  }
  if (blank) {
    return tix_fail(TIX_EINVAL, "event name must not be empty");
  }
  return TIX_OK;
}

/* Reads exactly count digits; false when one of them is not a digit. */
static bool read_digits(const char *text, int count, int *value) {
  *value = 0;
  for (int i = 0; i < count; i++) {
    if (!isdigit((unsigned char)text[i])) {
      return false;
    }
    *value = *value * 10 + (text[i] - '0');
  }
  return true;
}

static int days_in_month(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DDTHH:MM:SS", with a real calendar date; 60 seconds is a leap
 * second, which RFC 3339 allows and PostgreSQL accepts. */
static bool date_and_time_valid(const char *text) {
  int year, month, day, hour, minute, second;
  bool shape = read_digits(text, 4, &year) && text[4] == '-' && read_digits(text + 5, 2, &month) &&
               text[7] == '-' && read_digits(text + 8, 2, &day) &&
               (text[10] == 'T' || text[10] == 't') && read_digits(text + 11, 2, &hour) &&
               text[13] == ':' && read_digits(text + 14, 2, &minute) && text[16] == ':' &&
               read_digits(text + 17, 2, &second);
  return shape && year >= 1 && month >= 1 && month <= 12 && day >= 1 &&
         day <= days_in_month(year, month) && hour <= 23 && minute <= 59 && second <= 60;
}

/* "[.fraction](Z|±HH:MM)" to the end of the text. */
static bool fraction_and_offset_valid(const char *text) {
  if (*text == '.') {
    int digits = 0;
    for (text++; digits <= FRACTION_DIGITS_MAX && isdigit((unsigned char)*text); text++) {
      digits++;
    }
    if (digits == 0 || digits > FRACTION_DIGITS_MAX) {
      return false;
    }
  }
  if (*text == 'Z' || *text == 'z') {
    return text[1] == '\0';
  }
  int hours, minutes;
  return (*text == '+' || *text == '-') && read_digits(text + 1, 2, &hours) && text[3] == ':' &&
         read_digits(text + 4, 2, &minutes) && text[6] == '\0' && hours <= 23 && minutes <= 59;
}

static bool timestamp_valid(const char *text) {
  size_t length = strnlen(text, TIMESTAMP_MAX_BYTES + 1);
  return length <= TIMESTAMP_MAX_BYTES && date_and_time_valid(text) &&
         fraction_and_offset_valid(text + 19);
}

/* what names the value in the message: "event date", "from", … */
static int check_timestamp(const char *text, const char *what) {
  if (text == NULL) {
    return tix_fail(TIX_EINVAL, "%s is required", what);
  }
  if (!timestamp_valid(text)) {
    char quoted[QUOTED_VALUE_SIZE];
    tix_fail(TIX_EINVAL, "invalid %s \"%s\"", what, quote_value(text, quoted));
    tix_fail_hint("Write an RFC 3339 timestamp such as 2026-05-01T20:00:00Z.");
    return TIX_EINVAL;
  }
  return TIX_OK;
}

static int check_event_id(const char *event_id) {
  if (event_id == NULL) {
    return tix_fail(TIX_EINVAL, "event id is required");
  }
  if (!tix_uuid_is_valid(event_id)) {
    char quoted[QUOTED_VALUE_SIZE];
    tix_fail(TIX_EINVAL, "invalid event id \"%s\"", quote_value(event_id, quoted));
    tix_fail_hint("An event id is a UUID such as 0b7c5a2e-4f1d-4c3b-9a8e-2d6f1e0c9b7a.");
    return TIX_EINVAL;
  }
  return TIX_OK;
}

static int check_total_tickets(int total_tickets) {
  if (total_tickets < 0 || total_tickets > TIX_TICKETS_MAX) {
    tix_fail(TIX_EINVAL, "total tickets must be between 0 and %d", TIX_TICKETS_MAX);
    tix_fail_detail("Got %d.", total_tickets);
    return TIX_EINVAL;
  }
  return TIX_OK;
}

/* total_tickets < 0 when the total is not known here (a patch). */
static int check_max_per_customer(int max_per_customer, int total_tickets) {
  int maximum = total_tickets >= 0 ? total_tickets : TIX_TICKETS_MAX;
  if (max_per_customer < 0 || max_per_customer > maximum) {
    tix_fail(TIX_EINVAL, "max per customer must be between 1 and %d, or 0 for no limit", maximum);
    tix_fail_detail("Got %d.", max_per_customer);
    return TIX_EINVAL;
  }
  return TIX_OK;
}

int tix_event_input_check(const tix_event_input *input) {
  if (input == NULL) {
    return tix_fail(TIX_EINVAL, "the event to create is missing");
  }
  int status = check_name(input->name);
  if (status == TIX_OK) {
    status = check_timestamp(input->date, "event date");
  }
  if (status == TIX_OK) {
    status = check_total_tickets(input->total_tickets);
  }
  if (status == TIX_OK) {
    status = check_max_per_customer(input->max_per_customer, input->total_tickets);
  }
  return status;
}

int tix_event_patch_check(const tix_event_patch *patch) {
  if (patch == NULL) {
    return tix_fail(TIX_EINVAL, "the change to make is missing");
  }
  if (patch->name == NULL && patch->date == NULL && patch->total_tickets < 0 &&
      patch->max_per_customer < 0) {
    tix_fail(TIX_EINVAL, "nothing to update");
    tix_fail_hint("Change at least one of name, date, total tickets or max per customer.");
    return TIX_EINVAL;
  }
  int status = patch->name != NULL ? check_name(patch->name) : TIX_OK;
  if (status == TIX_OK && patch->date != NULL) {
    status = check_timestamp(patch->date, "event date");
  }
  if (status == TIX_OK && patch->total_tickets >= 0) {
    status = check_total_tickets(patch->total_tickets);
  }
  if (status == TIX_OK && patch->max_per_customer >= 0) {
    status = check_max_per_customer(patch->max_per_customer, patch->total_tickets);
  }
  return status;
}

/* ------------------------------------------------------------- cursor */

static void base64url_encode(const unsigned char *data, size_t size, char *out, size_t out_size) {
  assert((size * 4 + 2) / 3 < out_size);
  size_t used = 0;
  for (size_t at = 0; at < size; at += 3) {
    unsigned long group = (unsigned long)data[at] << 16;
    group |= at + 1 < size ? (unsigned long)data[at + 1] << 8 : 0;
    group |= at + 2 < size ? data[at + 2] : 0;
    size_t characters = size - at >= 3 ? 4 : size - at + 1;
    for (size_t k = 0; k < characters; k++) {
      out[used++] = base64url_alphabet[(group >> (18 - 6 * k)) & 0x3f];
    }
  }
  out[used] = '\0';
}

/* Decodes unpadded base64url into out (NUL-terminated); false when the
 * text is not that or does not fit. */
static bool base64url_decode(const char *text, char *out, size_t out_size) {
  size_t length = strnlen(text, TIX_CURSOR_SIZE);
  if (length >= TIX_CURSOR_SIZE || length % 4 == 1 || length * 3 / 4 >= out_size) {
    return false;
  }
  size_t used = 0;
  unsigned long group = 0;
  for (size_t at = 0; at < length; at++) {
    const char *found = strchr(base64url_alphabet, text[at]);
    if (found == NULL || *found == '\0') {
      return false;
    }
    group = group << 6 | (unsigned long)(found - base64url_alphabet);
    if (at % 4 == 3 || at == length - 1) {
      size_t characters = at % 4 + 1;
      group <<= 6 * (4 - characters);
      for (size_t k = 0; k + 1 < characters; k++) {
        out[used++] = (char)((group >> (16 - 8 * k)) & 0xff);
      }
      group = 0;
    }
  }
  out[used] = '\0';
  return strlen(out) == used;
}

/* A cursor is base64url("<date>|<id>") of the last row of a page. */
static int encode_cursor(const tix_event *last, char cursor[TIX_CURSOR_SIZE]) {
  char text[CURSOR_TEXT_MAX_BYTES + 1];
  int length = snprintf(text, sizeof text, "%s|%s", last->date, last->id);
  if (length < 0 || (size_t)length >= sizeof text) {
    return tix_fail(TIX_EINTERNAL, "event %s has a date that cannot go in a cursor", last->id);
  }
  base64url_encode((const unsigned char *)text, (size_t)length, cursor, TIX_CURSOR_SIZE);
  return TIX_OK;
}

static int decode_cursor(const char *cursor, char date[TIX_TIMESTAMP_SIZE],
                         char id[TIX_UUID_SIZE]) {
  char text[CURSOR_TEXT_MAX_BYTES + 1];
  char *separator = NULL;
  bool valid = base64url_decode(cursor, text, sizeof text) &&
               (separator = strchr(text, '|')) != NULL &&
               (size_t)(separator - text) < TIX_TIMESTAMP_SIZE;
  if (valid) {
    *separator = '\0';
    valid = timestamp_valid(text) && tix_uuid_is_valid(separator + 1);
  }
  if (!valid) {
    char quoted[QUOTED_VALUE_SIZE];
    tix_fail(TIX_EINVAL, "invalid cursor \"%s\"", quote_value(cursor, quoted));
    tix_fail_hint("Pass the next_cursor of the previous page unchanged.");
    return TIX_EINVAL;
  }
  /* Both parts were measured by the checks above. */
  memcpy(date, text, (size_t)(separator - text) + 1);
  memcpy(id, separator + 1, TIX_UUID_SIZE);
  return TIX_OK;
}

/* An empty string means "not given", as an empty query parameter does. */
static const char *given(const char *text) {
  return text != NULL && text[0] != '\0' ? text : NULL;
}

int tix_event_filter_check(const tix_event_filter *filter) {
  if (filter == NULL) {
    return tix_fail(TIX_EINVAL, "the list filter is missing");
  }
  int status = TIX_OK;
  if (given(filter->from) != NULL) {
    status = check_timestamp(filter->from, "from");
  }
  if (status == TIX_OK && given(filter->to) != NULL) {
    status = check_timestamp(filter->to, "to");
  }
  const char *query = given(filter->query);
  if (status == TIX_OK && query != NULL) {
    size_t size = strnlen(query, QUERY_MAX_BYTES + 1);
    if (size > QUERY_MAX_BYTES || tix_utf8_length(query, size) < 0) {
      status = tix_fail(TIX_EINVAL, "the search query must be UTF-8 of at most %d bytes",
                        QUERY_MAX_BYTES);
    }
  }
  if (status == TIX_OK && (filter->limit < 0 || filter->limit > TIX_LIST_LIMIT_MAX)) {
    status = tix_fail(TIX_EINVAL, "limit must be between 1 and %d", TIX_LIST_LIMIT_MAX);
  }
  if (status == TIX_OK && given(filter->cursor) != NULL) {
    char date[TIX_TIMESTAMP_SIZE], id[TIX_UUID_SIZE];
    status = decode_cursor(filter->cursor, date, id);
  }
  return status;
}

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
  char total[INTEGER_TEXT_SIZE], limit[INTEGER_TEXT_SIZE];
  format_int(input->total_tickets, total);
  format_int(input->max_per_customer, limit);
  const char *values[] = {input->name, input->date, total, limit};
  PGconn *conn = NULL;
  status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  bool found = false;
  status = fetch_event(conn, create_sql, 4, values, out, &found);
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
  int status = check_event_id(event_id);
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

/* ------------------------------------------------------------- update */

struct update_values {
  char version[INTEGER_TEXT_SIZE];
  char total[INTEGER_TEXT_SIZE];
  char limit[INTEGER_TEXT_SIZE];
  const char *values[6];
};

static void prepare_update(const char *event_id, int expected_version, const tix_event_patch *patch,
                           struct update_values *update) {
  format_int(expected_version, update->version);
  format_int(patch->total_tickets, update->total);
  format_int(patch->max_per_customer, update->limit);
  update->values[0] = event_id;
  update->values[1] = update->version;
  update->values[2] = patch->name;
  update->values[3] = patch->date;
  update->values[4] = patch->total_tickets >= 0 ? update->total : NULL;
  update->values[5] = patch->max_per_customer >= 0 ? update->limit : NULL;
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
    tix_fail_detail("%d tickets are already sold or held.", stored->taken);
    return TIX_EINSUFFICIENT;
  }
  if (limit > total) {
    tix_fail(TIX_EINVAL, "max per customer %d exceeds the %d tickets of the event", limit, total);
    tix_fail_hint("Lower max per customer, or set it to 0 for no limit.");
    return TIX_EINVAL;
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
    status = fetch_event(conn, update_sql, 6, update.values, out, &found);
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
  int status = check_event_id(event_id);
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
  return status;
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
  int status = check_event_id(event_id);
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
  return status;
}

/* --------------------------------------------------------------- list */

struct list_query {
  char cursor_date[TIX_TIMESTAMP_SIZE];
  char cursor_id[TIX_UUID_SIZE];
  char fetch_limit[INTEGER_TEXT_SIZE];
  const char *values[LIST_PARAMETER_COUNT];
  int limit;
  bool matches_nothing;
};

/* websearch_to_tsquery finds no word in a query of ASCII spaces and
 * punctuation alone; it then matches nothing, and PostgreSQL sends a NOTICE
 * that would end up on the caller's stderr, so such a query stops here. */
static bool query_has_words(const char *query) {
  for (size_t i = 0; i < QUERY_MAX_BYTES && query[i] != '\0'; i++) {
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
  if (status == TIX_OK && given(filter->cursor) != NULL) {
    status = decode_cursor(filter->cursor, query->cursor_date, query->cursor_id);
  }
  if (status != TIX_OK) {
    return status;
  }
  query->limit = filter->limit > 0 ? filter->limit : LIST_LIMIT_DEFAULT;
  /* One row more than asked tells whether another page follows. */
  format_int(query->limit + 1, query->fetch_limit);
  bool has_cursor = given(filter->cursor) != NULL;
  query->values[0] = given(filter->from);
  query->values[1] = given(filter->to);
  query->values[2] = given(filter->query);
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
    status = encode_cursor(&out->events[count - 1], out->next_cursor);
  }
  if (status != TIX_OK) {
    tix_event_page_free(out);
  }
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
  PGconn *conn = NULL;
  status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  PGresult *result = NULL;
  status = tix_sql_exec(conn, list_sql, LIST_PARAMETER_COUNT, query.values, &result);
  if (status == TIX_OK) {
    status = fill_page(result, query.limit, out);
  }
  PQclear(result);
  tix_db_release(db, conn, tix_status_is_connection_loss(status));
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

int tix_event_list_plan(tix *db, const tix_event_filter *filter, char **plan_out) {
  assert(db != NULL && plan_out != NULL);
  *plan_out = NULL;
  struct list_query query;
  int status = prepare_list(filter, &query);
  if (status != TIX_OK) {
    return status;
  }
  PGconn *conn = NULL;
  status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  PGresult *result = NULL;
  status = tix_sql_exec(conn, list_plan_sql, LIST_PARAMETER_COUNT, query.values, &result);
  if (status == TIX_OK) {
    status = join_plan_lines(result, plan_out);
  }
  PQclear(result);
  tix_db_release(db, conn, tix_status_is_connection_loss(status));
  return status;
}
