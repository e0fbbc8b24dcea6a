/*
 * test_events.c — events against a real PostgreSQL: create/get round trip,
 * bad input refused before anything is written, keyset pages that return
 * every event exactly once, filters, optimistic locking (also under two
 * racing threads), cancelling that releases held tickets, the audit trail,
 * and the list query's use of the (date, id) index.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "testdb.h"

#define PAGING_EVENTS    25
#define PAGING_DATES     5
#define PAGE_LIMIT       10
#define PAGES_MAX        10
#define RACE_ROUNDS      8
#define PLAN_EVENTS      3000
#define UNKNOWN_ID       "00000000-0000-4000-8000-000000000000"
#define TEXT_RESULT_SIZE 512
#define LONG_NAME_BYTES  1024
#define PARAMETERS_MAX   4

static char conninfo[1024];
static tix *db;
static PGconn *admin;

/* ------------------------------------------------------------ helpers */

static PGresult *run(const char *sql, int count, const char *const *values) {
  PGresult *result = PQexecParams(admin, sql, count, NULL, values, NULL, NULL, 0);
  ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    fail_msg("%s: %s", sql, PQerrorMessage(admin));
  }
  return result;
}

static long query_long(const char *sql, const char *parameter) {
  const char *values[] = {parameter};
  PGresult *result = run(sql, parameter != NULL ? 1 : 0, values);
  long value =
      PQntuples(result) > 0 && !PQgetisnull(result, 0, 0) ? atol(PQgetvalue(result, 0, 0)) : -1;
  PQclear(result);
  return value;
}

static void query_text(const char *sql, const char *parameter, char out[TEXT_RESULT_SIZE]) {
  const char *values[] = {parameter};
  PGresult *result = run(sql, 1, values);
  assert_true(PQntuples(result) > 0);
  snprintf(out, TEXT_RESULT_SIZE, "%s", PQgetvalue(result, 0, 0));
  PQclear(result);
}

static long event_count(void) {
  return query_long("SELECT count(*) FROM events", NULL);
}

static tix_event create_event(const char *name, const char *date, int total, int limit) {
  tix_event_input input = {
      .name = name, .date = date, .total_tickets = total, .max_per_customer = limit};
  tix_event event;
  int status = tix_event_create(db, &input, &event);
  if (status != TIX_OK) {
    fail_msg("create %s: %s", name, tix_last_diag()->message);
  }
  return event;
}

/* A purchase with its ticket rows, written directly as the purchase engine
 * would, with the event's availability lowered to match. */
static void insert_purchase(const char *event_id, int quantity, const char *status) {
  char quantity_text[16];
  snprintf(quantity_text, sizeof quantity_text, "%d", quantity);
  const char *values[] = {event_id, quantity_text, status};
  PQclear(run("WITH p AS (INSERT INTO purchases (event_id, quantity, status, expires_at)"
              " VALUES ($1::uuid, $2::int, $3::text,"
              " CASE WHEN $3::text = 'held' THEN now() + interval '10 minutes' END)"
              " RETURNING id) "
              "INSERT INTO tickets (event_id, purchase_id)"
              " SELECT $1::uuid, p.id FROM p, generate_series(1, $2::int)",
              3, values));
  PQclear(run("UPDATE events SET available_tickets = available_tickets - $2::int"
              " WHERE id = $1::uuid",
              2, values));
}

static tix_event_patch no_change(void) {
  return (tix_event_patch){.total_tickets = -1, .max_per_customer = -1};
}

/* ------------------------------------------------------ create, get */

static void create_and_get_round_trip(void **state) {
  tix_event created = create_event("Rock Night à Zürich", "2035-05-01T20:00:00+02:00", 100, 4);
  assert_true(tix_uuid_is_valid(created.id));
  assert_string_equal(created.name, "Rock Night à Zürich");
  assert_string_equal(created.date, "2035-05-01T18:00:00.000000Z");
  assert_int_equal(created.date_offset_minutes, 120);
  assert_string_equal(created.local_date, "2035-05-01T20:00:00+02:00");
  assert_false(created.past);
  assert_int_equal(created.total_tickets, 100);
  assert_int_equal(created.available_tickets, 100);
  assert_int_equal(created.max_per_customer, 4);
  assert_int_equal(created.version, 1);
  assert_int_equal(strlen(created.created_at), 27);
  assert_string_equal(created.cancelled_at, "");

  tix_event fetched;
  assert_int_equal(tix_event_get(db, created.id, &fetched), TIX_OK);
  assert_memory_equal(&created, &fetched, sizeof created);

  /* RFC 3339 allows lower-case separators and a fraction of any length. */
  tix_event other = create_event("Late Show", "2035-05-01t23:59:59.1234567z", 1, 0);
  assert_string_equal(other.date, "2035-05-01T23:59:59.123457Z");
  assert_string_equal(other.local_date, "2035-05-01T23:59:59.123457Z");
  assert_int_equal(other.max_per_customer, 0);

  /* An offset that crosses midnight, and one west of UTC with minutes. */
  other = create_event("Far East", "2035-12-31T23:30:00+14:00", 1, 0);
  assert_string_equal(other.date, "2035-12-31T09:30:00.000000Z");
  assert_string_equal(other.local_date, "2035-12-31T23:30:00+14:00");
  other = create_event("Newfoundland", "2035-01-01T00:15:00-03:30", 1, 0);
  assert_string_equal(other.date, "2035-01-01T03:45:00.000000Z");
  assert_int_equal(other.date_offset_minutes, -210);
  assert_string_equal(other.local_date, "2035-01-01T00:15:00-03:30");
}

static void zero_tickets_allowed(void **state) {
  tix_event event = create_event("Invitation Only", "2035-06-01T19:00:00Z", 0, 0);
  assert_int_equal(event.total_tickets, 0);
  assert_int_equal(event.available_tickets, 0);

  /* 255 characters of two bytes each is still a valid name. */
  char name[LONG_NAME_BYTES] = "";
  for (int i = 0; i < TIX_NAME_MAX_CHARS; i++) {
    strcat(name, "é");
  }
  event = create_event(name, "2035-06-01T19:00:00Z", TIX_TICKETS_MAX, TIX_TICKETS_MAX);
  assert_string_equal(event.name, name);
}

struct invalid_input {
  const char *name;
  const char *date;
  int total_tickets;
  int max_per_customer;
};

static void invalid_inputs_refused(void **state) {
  static char long_name[LONG_NAME_BYTES];
  memset(long_name, 'a', TIX_NAME_MAX_CHARS + 1);
  static const char *const good_date = "2035-07-01T20:00:00Z";
  const struct invalid_input cases[] = {
      {"Negative", good_date, -1, 0},
      {"Absurd", good_date, TIX_TICKETS_MAX + 1, 0},
      {"", good_date, 10, 0},
      {"   ", good_date, 10, 0},
      {long_name, good_date, 10, 0},
      {"bad \xff\xfe bytes", good_date, 10, 0},
      {"overlong \xc0\xaf slash", good_date, 10, 0},
      {"surrogate \xed\xa0\x80", good_date, 10, 0},
      {"truncated \xe2\x82", good_date, 10, 0},
      {"line\nbreak", good_date, 10, 0},
      {"escape \x1b[2J", good_date, 10, 0},
      {"tab\there", good_date, 10, 0},
      {"c1 \xC2\x85", good_date, 10, 0},
      {"separator \xE2\x80\xA8", good_date, 10, 0},
      {"override \xE2\x80\xAE", good_date, 10, 0},
      {"\xC2\xA0\xE2\x80\x8B\xEF\xBB\xBF", good_date, 10, 0},
      {"\xE3\x85\xA4", good_date, 10, 0}, /* HANGUL FILLER */
      {"trailing ", good_date, 10, 0},
      {"\xE2\x80\x8B"
       "leading",
       good_date, 10, 0},
      {"Past", "1999-01-01T00:00:00Z", 10, 0},
      {NULL, good_date, 10, 0},
      {"Bad month", "2035-13-01T00:00:00Z", 10, 0},
      {"Words", "tomorrow", 10, 0},
      {"Empty date", "", 10, 0},
      {"No date", NULL, 10, 0},
      {"No such day", "2035-02-29T00:00:00Z", 10, 0},
      {"Space", "2035-07-01 20:00:00Z", 10, 0},
      {"No offset", "2035-07-01T20:00:00", 10, 0},
      {"Hour 24", "2035-07-01T24:00:00Z", 10, 0},
      {"Empty fraction", "2035-07-01T20:00:00.Z", 10, 0},
      {"Bad offset", "2035-07-01T20:00:00+2:00", 10, 0},
      {"Trailing", "2035-07-01T20:00:00Zx", 10, 0},
      {"Negative limit", good_date, 10, -1},
      {"Limit above total", good_date, 10, 11},
  };
  long before = event_count();
  tix_event event;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tix_event_input input = {cases[i].name, cases[i].date, cases[i].total_tickets,
                             cases[i].max_per_customer, false};
    int status = tix_event_create(db, &input, &event);
    if (status != TIX_EINVAL) {
      fail_msg("case %zu (%s, %s) gave %d", i, cases[i].name ? cases[i].name : "NULL",
               cases[i].date ? cases[i].date : "NULL", status);
    }
    assert_int_equal(tix_last_diag()->status, TIX_EINVAL);
    assert_true(tix_last_diag()->message[0] != '\0');
  }
  tix_event_input good = {"Good", good_date, 10, 0, false};
  assert_int_equal(tix_event_create(db, NULL, &event), TIX_EINVAL);
  assert_int_equal(tix_event_create(NULL, &good, &event), TIX_EINVAL);
  assert_int_equal(tix_event_create(db, &good, NULL), TIX_EINVAL);
  assert_int_equal(event_count(), before);
}

static void unknown_and_malformed_ids(void **state) {
  tix_event event;
  tix_event_patch patch = no_change();
  patch.name = "Renamed";
  assert_int_equal(tix_event_get(db, UNKNOWN_ID, &event), TIX_ENOTFOUND);
  assert_string_equal(tix_last_diag()->message, "event " UNKNOWN_ID " does not exist");
  assert_int_equal(tix_event_update(db, UNKNOWN_ID, 1, &patch, &event), TIX_ENOTFOUND);
  assert_int_equal(tix_event_cancel(db, UNKNOWN_ID, &event), TIX_ENOTFOUND);

  static const char *const malformed[] = {
      "abc",
      "",
      UNKNOWN_ID "0",
      "00000000-0000-4000-8000-00000000000g",
      "00000000000040008000000000000000",
      "'; DROP TABLE events; --",
  };
  for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
    assert_int_equal(tix_event_get(db, malformed[i], &event), TIX_EINVAL);
    assert_int_equal(tix_event_update(db, malformed[i], 1, &patch, &event), TIX_EINVAL);
    assert_int_equal(tix_event_cancel(db, malformed[i], &event), TIX_EINVAL);
  }
  assert_int_equal(tix_event_get(db, NULL, &event), TIX_EINVAL);
  assert_int_equal(tix_event_get(db, UNKNOWN_ID, NULL), TIX_EINVAL);

  /* A soft-deleted event is gone for every call. */
  tix_event deleted = create_event("Deleted", "2035-08-01T20:00:00Z", 5, 0);
  const char *values[] = {deleted.id};
  PQclear(run("UPDATE events SET deleted_at = now() WHERE id = $1::uuid", 1, values));
  assert_int_equal(tix_event_get(db, deleted.id, &event), TIX_ENOTFOUND);
  assert_int_equal(tix_event_update(db, deleted.id, 1, &patch, &event), TIX_ENOTFOUND);
  assert_int_equal(tix_event_cancel(db, deleted.id, &event), TIX_ENOTFOUND);
}

/* --------------------------------------------------------------- list */

static void pages_cover_every_event_once(void **state) {
  for (int i = 0; i < PAGING_EVENTS; i++) {
    char date[32];
    snprintf(date, sizeof date, "2031-01-%02dT12:00:00Z", 1 + i % PAGING_DATES);
    create_event("Paged", date, 1, 0);
  }
  PGresult *expected = run("SELECT id::text FROM events WHERE date >= '2031-01-01'"
                           " AND date < '2032-01-01' ORDER BY date, id",
                           0, NULL);
  assert_int_equal(PQntuples(expected), PAGING_EVENTS);

  tix_event_filter filter = {
      .from = "2031-01-01T00:00:00Z", .to = "2032-01-01T00:00:00Z", .limit = PAGE_LIMIT};
  char cursor[TIX_CURSOR_SIZE] = "";
  int seen = 0, pages = 0;
  do {
    tix_event_page page;
    filter.cursor = cursor;
    assert_int_equal(tix_event_list(db, &filter, &page), TIX_OK);
    assert_true(page.count <= PAGE_LIMIT);
    for (size_t i = 0; i < page.count; i++, seen++) {
      assert_true(seen < PAGING_EVENTS);
      assert_string_equal(page.events[i].id, PQgetvalue(expected, seen, 0));
    }
    snprintf(cursor, sizeof cursor, "%s", page.next_cursor);
    tix_event_page_free(&page);
    pages++;
  } while (cursor[0] != '\0' && pages < PAGES_MAX);
  assert_int_equal(seen, PAGING_EVENTS);
  assert_int_equal(pages, 3);
  PQclear(expected);
}

static size_t list_count(const tix_event_filter *filter) {
  tix_event_page page;
  int status = tix_event_list(db, filter, &page);
  if (status != TIX_OK) {
    fail_msg("list: %s", tix_last_diag()->message);
  }
  size_t count = page.count;
  tix_event_page_free(&page);
  return count;
}

static void filters_narrow_the_list(void **state) {
  create_event("Jazz Evening", "2032-03-01T10:00:00Z", 10, 0);
  tix_event rock = create_event("Rock Festival", "2032-03-02T00:00:00Z", 10, 0);
  create_event("Jazz Brunch", "2032-03-03T00:00:00Z", 10, 0);
  tix_event_filter filter = {.from = "2032-01-01T00:00:00Z", .to = "2033-01-01T00:00:00Z"};
  assert_int_equal(list_count(&filter), 3);

  filter.from = "2032-03-02T00:00:00Z"; /* inclusive */
  filter.to = "2032-03-03T00:00:00Z";   /* exclusive */
  tix_event_page page;
  assert_int_equal(tix_event_list(db, &filter, &page), TIX_OK);
  assert_int_equal(page.count, 1);
  assert_string_equal(page.events[0].id, rock.id);
  assert_string_equal(page.next_cursor, "");
  tix_event_page_free(&page);

  filter = (tix_event_filter){.from = "2032-01-01T00:00:00+01:00", .to = "2033-01-01T00:00:00Z"};
  filter.query = "JAZZ";
  assert_int_equal(list_count(&filter), 2);
  filter.query = "jazz -brunch";
  assert_int_equal(list_count(&filter), 1);
  filter.query = "\"rock festival\"";
  assert_int_equal(list_count(&filter), 1);
  filter.query = "!!! ???"; /* no words at all: nothing matches */
  assert_int_equal(list_count(&filter), 0);
  filter.query = "";
  assert_int_equal(list_count(&filter), 3);
  filter.query = " \xC2\xA0 "; /* blank: no filter, like an empty query */
  assert_int_equal(list_count(&filter), 3);

  tix_event cancelled;
  assert_int_equal(tix_event_cancel(db, rock.id, &cancelled), TIX_OK);
  assert_int_equal(list_count(&filter), 2);
  filter.include_cancelled = true;
  assert_int_equal(list_count(&filter), 3);
}

static void past_dates_need_allow_past(void **state) {
  tix_event_input input = {
      .name = "Imported", .date = "1999-12-31T23:00:00-01:00", .total_tickets = 5};
  tix_event event;
  long before = event_count();
  assert_int_equal(tix_event_create(db, &input, &event), TIX_EINVAL);
  assert_non_null(strstr(tix_last_diag()->message, "in the past"));
  assert_int_equal(event_count(), before);
  input.allow_past = true;
  assert_int_equal(tix_event_create(db, &input, &event), TIX_OK);
  assert_true(event.past);
  assert_string_equal(event.local_date, "1999-12-31T23:00:00-01:00");

  tix_event_patch patch = no_change();
  patch.date = "1998-01-01T00:00:00Z";
  tix_event moved;
  assert_int_equal(tix_event_update(db, event.id, 1, &patch, &moved), TIX_EINVAL);
  patch.allow_past = true;
  assert_int_equal(tix_event_update(db, event.id, 1, &patch, &moved), TIX_OK);
  patch = no_change();
  patch.name = "Imported, renamed"; /* a past event's other fields may change */
  assert_int_equal(tix_event_update(db, event.id, 2, &patch, &moved), TIX_OK);

  /* Upcoming listings leave it out; a from in the past reaches it. */
  tix_event_filter filter = {.to = "2000-01-01T00:00:00Z", .upcoming = true};
  assert_int_equal(list_count(&filter), 0);
  filter.from = "1990-01-01T00:00:00Z";
  assert_int_equal(list_count(&filter), 1);
  filter = (tix_event_filter){.to = "2000-01-01T00:00:00Z"};
  assert_int_equal(list_count(&filter), 1);
}

static void bad_filters_refused(void **state) {
  char forged[TEXT_RESULT_SIZE];
  static const char encode_sql[] = "SELECT rtrim(translate(encode(convert_to($1, 'UTF8'), "
                                   "'base64'), '+/' || chr(10), '-_'), '=')";
  tix_event_page page;
  char too_long[TIX_CURSOR_SIZE + 10];
  memset(too_long, 'A', sizeof too_long - 1);
  too_long[sizeof too_long - 1] = '\0';
  const char *cursors[] = {"!!!!", "A", "abcd", too_long, NULL, NULL, NULL};
  query_text(encode_sql, "2031-01-01T00:00:00.000000Z|not-a-uuid", forged);
  cursors[4] = strdup(forged);
  query_text(encode_sql, "yesterday|" UNKNOWN_ID, forged);
  cursors[5] = strdup(forged);
  for (size_t i = 0; cursors[i] != NULL; i++) {
    tix_event_filter filter = {.cursor = cursors[i]};
    assert_int_equal(tix_event_list(db, &filter, &page), TIX_EINVAL);
    assert_string_equal(tix_error_code(tix_last_diag()->status), "invalid_argument");
    assert_null(page.events);
  }
  free((void *)cursors[4]);
  free((void *)cursors[5]);

  /* A cursor in the documented shape is accepted: it is only base64url. */
  query_text(encode_sql, "2031-01-03T12:00:00.000000Z|" UNKNOWN_ID, forged);
  tix_event_filter filter = {.cursor = forged, .to = "2032-01-01T00:00:00Z"};
  assert_int_equal(list_count(&filter), 15);

  tix_event_filter bad[] = {{.limit = -1},
                            {.limit = TIX_LIST_LIMIT_MAX + 1},
                            {.from = "today"},
                            {.to = "2031-01-01"},
                            {.query = "\xff"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(tix_event_list(db, &bad[i], &page), TIX_EINVAL);
  }
  assert_int_equal(tix_event_list(db, NULL, &page), TIX_EINVAL);
  filter = (tix_event_filter){.limit = TIX_LIST_LIMIT_MAX};
  assert_int_equal(tix_event_list(db, &filter, NULL), TIX_EINVAL);
}

/* ------------------------------------------------------------- update */

static void update_bumps_version(void **state) {
  tix_event event = create_event("Before", "2035-09-01T20:00:00Z", 10, 0);
  tix_event_patch patch = no_change();
  patch.name = "After";
  patch.date = "2035-09-02T21:30:00-01:00";
  tix_event updated;
  assert_int_equal(tix_event_update(db, event.id, 1, &patch, &updated), TIX_OK);
  assert_int_equal(updated.version, 2);
  assert_string_equal(updated.name, "After");
  assert_string_equal(updated.date, "2035-09-02T22:30:00.000000Z");
  assert_string_equal(updated.local_date, "2035-09-02T21:30:00-01:00");
  assert_int_equal(updated.total_tickets, 10);
  assert_string_equal(updated.created_at, event.created_at);

  patch = no_change();
  patch.total_tickets = 20;
  patch.max_per_customer = 5;
  assert_int_equal(tix_event_update(db, event.id, 2, &patch, &updated), TIX_OK);
  assert_int_equal(updated.version, 3);
  assert_int_equal(updated.total_tickets, 20);
  assert_int_equal(updated.available_tickets, 20);
  assert_int_equal(updated.max_per_customer, 5);
  assert_string_equal(updated.local_date, "2035-09-02T21:30:00-01:00"); /* the offset stays */

  /* Sold and held tickets stay: the total cannot go below them. */
  insert_purchase(event.id, 6, "confirmed");
  patch = no_change();
  patch.total_tickets = 5;
  assert_int_equal(tix_event_update(db, event.id, 3, &patch, &updated), TIX_EINSUFFICIENT);
  assert_non_null(strstr(tix_last_diag()->detail, "6 tickets"));
  patch.total_tickets = 6;
  patch.max_per_customer = 0;
  assert_int_equal(tix_event_update(db, event.id, 3, &patch, &updated), TIX_OK);
  assert_int_equal(updated.available_tickets, 0);
  assert_int_equal(updated.max_per_customer, 0);

  patch = no_change();
  patch.max_per_customer = 7; /* more than the 6 tickets stored: the event refuses */
  assert_int_equal(tix_event_update(db, event.id, 4, &patch, &updated), TIX_ESTATE);
  patch = no_change();
  patch.total_tickets = 5;
  patch.max_per_customer = 6; /* clashes with itself: a bad argument */
  assert_int_equal(tix_event_update(db, event.id, 4, &patch, &updated), TIX_EINVAL);
  patch = no_change();
  patch.date = "1999-01-01T00:00:00Z"; /* into the past */
  assert_int_equal(tix_event_update(db, event.id, 4, &patch, &updated), TIX_EINVAL);
  patch = no_change();
  assert_int_equal(tix_event_update(db, event.id, 4, &patch, &updated), TIX_EINVAL);
  assert_int_equal(tix_event_update(db, event.id, 0, &patch, &updated), TIX_EINVAL);
  assert_int_equal(tix_event_update(db, event.id, 4, NULL, &updated), TIX_EINVAL);
  patch.name = " ";
  assert_int_equal(tix_event_update(db, event.id, 4, &patch, &updated), TIX_EINVAL);
  assert_int_equal(query_long("SELECT version FROM events WHERE id = $1::uuid", event.id), 4);
}

static void stale_version_refused(void **state) {
  tix_event event = create_event("Stale", "2035-10-01T20:00:00Z", 10, 0);
  tix_event_patch patch = no_change();
  patch.name = "First";
  tix_event current;
  assert_int_equal(tix_event_update(db, event.id, 1, &patch, &current), TIX_OK);

  patch.name = "Second";
  tix_event refused;
  assert_int_equal(tix_event_update(db, event.id, 1, &patch, &refused), TIX_EVERSION);
  assert_non_null(strstr(tix_last_diag()->detail, "current version is 2"));
  tix_event stored;
  assert_int_equal(tix_event_get(db, event.id, &stored), TIX_OK);
  assert_memory_equal(&stored, &current, sizeof stored);
}

struct racer {
  pthread_barrier_t *start;
  const char *event_id;
  const char *name;
  int status;
};

static void *race_update(void *argument) {
  struct racer *racer = argument;
  tix_event_patch patch = no_change();
  patch.name = racer->name;
  tix_event out;
  pthread_barrier_wait(racer->start);
  racer->status = tix_event_update(db, racer->event_id, 1, &patch, &out);
  return NULL;
}

static void racing_updates_one_wins(void **state) {
  for (int round = 0; round < RACE_ROUNDS; round++) {
    tix_event event = create_event("Race", "2035-11-01T20:00:00Z", 10, 0);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    struct racer racers[2] = {{&start, event.id, "Left", -1}, {&start, event.id, "Right", -1}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
      assert_int_equal(pthread_create(&threads[i], NULL, race_update, &racers[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
      pthread_join(threads[i], NULL);
    }
    pthread_barrier_destroy(&start);
    int winners = (racers[0].status == TIX_OK) + (racers[1].status == TIX_OK);
    int losers = (racers[0].status == TIX_EVERSION) + (racers[1].status == TIX_EVERSION);
    assert_int_equal(winners, 1);
    assert_int_equal(losers, 1);
    assert_int_equal(query_long("SELECT version FROM events WHERE id = $1::uuid", event.id), 2);
  }
}

/* Lowering the limit below what customers hold takes nothing from them;
 * the library counts them so that whoever lowered it can be told. */
static void customers_over_a_lowered_limit_are_counted(void **state) {
  tix_event event = create_event("Lowered", "2036-02-01T20:00:00Z", 20, 5);
  static const struct {
    const char *customer;
    int quantity;
    int hold_seconds;
  } sales[] = {{"ann", 4, 0}, {"bob", 3, 600}, {"cid", 2, 0}, {"dan", 5, 600}};
  for (size_t i = 0; i < sizeof sales / sizeof sales[0]; i++) {
    tix_purchase_request request = {.event_id = event.id,
                                    .quantity = sales[i].quantity,
                                    .customer = sales[i].customer,
                                    .hold_seconds = sales[i].hold_seconds};
    tix_purchase purchase;
    assert_int_equal(tix_purchase_buy(db, TIX_STRATEGY_ATOMIC, &request, &purchase), TIX_OK);
    tix_purchase_free(&purchase);
  }
  PQclear(run("UPDATE purchases SET expires_at = now() - interval '1 second'"
              " WHERE customer = 'dan'",
              0, NULL)); /* a lapsed hold holds nothing */
  static const struct {
    int limit;
    int over;
  } steps[] = {{2, 2}, {3, 1}, {4, 0}, {0, 0}};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    tix_event_patch patch = no_change();
    patch.max_per_customer = steps[i].limit;
    tix_event current, updated;
    assert_int_equal(tix_event_get(db, event.id, &current), TIX_OK); /* sales moved the version */
    assert_int_equal(tix_event_update(db, event.id, current.version, &patch, &updated), TIX_OK);
    int over = -1;
    assert_int_equal(tix_event_customers_over_limit(db, event.id, &over), TIX_OK);
    assert_int_equal(over, steps[i].over);
  }
  int over = -1;
  assert_int_equal(tix_event_customers_over_limit(db, "nope", &over), TIX_EINVAL);
  assert_int_equal(tix_event_customers_over_limit(db, event.id, NULL), TIX_EINVAL);
}

/* ------------------------------------------------------------- cancel */

static void cancel_releases_held_tickets(void **state) {
  tix_event event = create_event("Cancelled", "2035-12-01T20:00:00Z", 10, 0);
  insert_purchase(event.id, 3, "held");
  insert_purchase(event.id, 2, "confirmed");
  assert_int_equal(query_long("SELECT available_tickets FROM events WHERE id = $1::uuid", event.id),
                   5);

  tix_event cancelled;
  assert_int_equal(tix_event_cancel(db, event.id, &cancelled), TIX_OK);
  assert_int_equal(cancelled.available_tickets, 8);
  assert_int_equal(cancelled.version, 2);
  assert_true(cancelled.cancelled_at[0] != '\0');
  assert_int_equal(query_long("SELECT count(*) FROM purchases WHERE event_id = $1::uuid"
                              " AND status = 'held'",
                              event.id),
                   0);
  assert_int_equal(query_long("SELECT count(*) FROM purchases WHERE event_id = $1::uuid"
                              " AND status = 'confirmed'",
                              event.id),
                   1);
  /* available + valid tickets == total, as DESIGN §1 demands. */
  assert_int_equal(query_long("SELECT count(*) FROM tickets WHERE event_id = $1::uuid"
                              " AND voided_at IS NULL",
                              event.id),
                   2);

  tix_event again;
  assert_int_equal(tix_event_cancel(db, event.id, &again), TIX_OK);
  assert_memory_equal(&again, &cancelled, sizeof again);

  tix_event fetched;
  assert_int_equal(tix_event_get(db, event.id, &fetched), TIX_OK);
  assert_string_equal(fetched.cancelled_at, cancelled.cancelled_at);

  tix_event_patch patch = no_change();
  patch.name = "Revived";
  assert_int_equal(tix_event_update(db, event.id, 2, &patch, &fetched), TIX_ECANCELLED);
  assert_int_equal(tix_event_cancel(db, event.id, NULL), TIX_EINVAL);
}

static void audit_trail_written(void **state) {
  tix_event event = create_event("Audited", "2036-01-01T20:00:00Z", 10, 0);
  tix_event_patch patch = no_change();
  patch.total_tickets = 12;
  tix_event out;
  assert_int_equal(tix_event_update(db, event.id, 1, &patch, &out), TIX_OK);
  assert_int_equal(tix_event_cancel(db, event.id, &out), TIX_OK);
  assert_int_equal(tix_event_cancel(db, event.id, &out), TIX_OK);

  assert_int_equal(query_long("SELECT count(*) FROM audit_log WHERE table_name = 'events'"
                              " AND row_id = $1::uuid AND action = 'insert' AND actor <> ''",
                              event.id),
                   1);
  /* The second cancel changed nothing, so it left no row. */
  assert_int_equal(query_long("SELECT count(*) FROM audit_log WHERE table_name = 'events'"
                              " AND row_id = $1::uuid AND action = 'update' AND actor <> ''",
                              event.id),
                   2);
  assert_int_equal(query_long("SELECT count(*) FROM audit_log WHERE row_id = $1::uuid"
                              " AND action = 'update'"
                              " AND (new_values->>'cancelled_at') IS NOT NULL"
                              " AND (old_values->>'cancelled_at') IS NULL",
                              event.id),
                   1);
}

static void list_query_uses_the_index(void **state) {
  char count[16];
  snprintf(count, sizeof count, "%d", PLAN_EVENTS);
  const char *values[] = {count};
  PQclear(run("INSERT INTO events (name, date, total_tickets, available_tickets)"
              " SELECT 'Planned ' || n, '2040-01-01'::timestamptz + n * interval '1 hour', 10, 10"
              " FROM generate_series(1, $1::int) AS n",
              1, values));
  PQclear(run("ANALYZE events", 0, NULL));

  tix_event_page page;
  tix_event_filter filter = {.from = "2040-01-01T00:00:00Z", .limit = 20};
  assert_int_equal(tix_event_list(db, &filter, &page), TIX_OK);
  assert_int_equal(page.count, 20);
  char cursor[TIX_CURSOR_SIZE];
  snprintf(cursor, sizeof cursor, "%s", page.next_cursor);
  tix_event_page_free(&page);

  tix_event_filter next = {.cursor = cursor, .limit = 20};
  char *plan = NULL;
  assert_int_equal(tix_event_list_plan(db, &next, &plan), TIX_OK);
  if (strstr(plan, "events_date_id_idx") == NULL) {
    fail_msg("the next page does not use events_date_id_idx:\n%s", plan);
  }
  free(plan);

  filter.cursor = cursor;
  filter.to = "2040-02-01T00:00:00Z";
  assert_int_equal(tix_event_list_plan(db, &filter, &plan), TIX_OK);
  if (strstr(plan, "Index") == NULL) {
    fail_msg("a date range is not read through an index:\n%s", plan);
  }
  free(plan);
}

/* ------------------------------------------------------------- set-up */

static int set_up(void **state) {
  testdb_create_migrated("events", conninfo, sizeof conninfo);
  tix_options options;
  tix_options_default(&options);
  options.max_connections = 4;
  options.application_name = "tix-events-test";
  if (tix_open(conninfo, &options, &db) != TIX_OK) {
    fprintf(stderr, "tix_open: %s\n", tix_last_diag()->message);
    return -1;
  }
  admin = testdb_connect(conninfo);
  return 0;
}

static int tear_down(void **state) {
  PQfinish(admin);
  tix_close(db);
  testdb_drop(conninfo);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(create_and_get_round_trip),
      cmocka_unit_test(zero_tickets_allowed),
      cmocka_unit_test(invalid_inputs_refused),
      cmocka_unit_test(unknown_and_malformed_ids),
      cmocka_unit_test(pages_cover_every_event_once),
      cmocka_unit_test(filters_narrow_the_list),
      cmocka_unit_test(past_dates_need_allow_past),
      cmocka_unit_test(bad_filters_refused),
      cmocka_unit_test(update_bumps_version),
      cmocka_unit_test(customers_over_a_lowered_limit_are_counted),
      cmocka_unit_test(stale_version_refused),
      cmocka_unit_test(racing_updates_one_wins),
      cmocka_unit_test(cancel_releases_held_tickets),
      cmocka_unit_test(audit_trail_written),
      cmocka_unit_test(list_query_uses_the_index),
  };
  return cmocka_run_group_tests(tests, set_up, tear_down);
}
