/*
 * purchase_fixture.c — the purchase tests' shared helpers (see the header).
 */
#include "purchase_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* Test names made by fixture_tests_per_strategy. */
#define FIXTURE_TEST_NAMES_MAX 256
#define FIXTURE_TEST_NAME_SIZE 96
/* How often fixture_wait_until_lapsed looks. */
#define LAPSE_POLL_MS 50

tix *fixture_open(const char *conninfo, int connections, const char *application_name) {
  tix_options options;
  tix_options_default(&options);
  options.max_connections = connections;
  options.application_name = application_name;
  tix *db = NULL;
  int status = tix_open(conninfo, &options, &db);
  if (status != TIX_OK) {
    fprintf(stderr, "fixture: cannot open the database: %s\n", tix_last_diag()->message);
    exit(1);
  }
  return db;
}

static PGresult *run(PGconn *admin, const char *sql, const char *parameter) {
  const char *values[] = {parameter};
  return PQexecParams(admin, sql, parameter != NULL ? 1 : 0, NULL, values, NULL, NULL, 0);
}

void fixture_create_event(PGconn *admin, int total, int max_per_customer,
                          char event_id[TIX_UUID_SIZE]) {
  char total_text[16], limit_text[16];
  snprintf(total_text, sizeof total_text, "%d", total);
  snprintf(limit_text, sizeof limit_text, "%d", max_per_customer);
  const char *values[] = {total_text, limit_text};
  PGresult *result = PQexecParams(admin,
                                  "INSERT INTO events (name, date, total_tickets,"
                                  "                    available_tickets, max_per_customer)"
                                  " VALUES ('Test event', now() + interval '30 days', $1, $1,"
                                  "         nullif($2::int, 0))"
                                  " RETURNING id::text",
                                  2, NULL, values, NULL, NULL, 0);
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    fprintf(stderr, "fixture: cannot create an event: %s", PQerrorMessage(admin));
    exit(1);
  }
  snprintf(event_id, TIX_UUID_SIZE, "%s", PQgetvalue(result, 0, 0));
  PQclear(result);
}

long fixture_query(PGconn *admin, const char *sql, const char *parameter) {
  PGresult *result = run(admin, sql, parameter);
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) < 1) {
    fprintf(stderr, "fixture: query failed: %s\n%s", sql, PQerrorMessage(admin));
    exit(1);
  }
  long value = PQgetisnull(result, 0, 0) ? -1 : atol(PQgetvalue(result, 0, 0));
  PQclear(result);
  return value;
}

void fixture_query_text(PGconn *admin, const char *sql, const char *parameter, char *out,
                        size_t size) {
  PGresult *result = run(admin, sql, parameter);
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) < 1) {
    fprintf(stderr, "fixture: query failed: %s\n%s", sql, PQerrorMessage(admin));
    exit(1);
  }
  snprintf(out, size, "%s", PQgetisnull(result, 0, 0) ? "null" : PQgetvalue(result, 0, 0));
  PQclear(result);
}

const char *fixture_sqlstate(PGconn *admin, const char *sql, const char *parameter,
                             char constraint[64]) {
  static _Thread_local char sqlstate[6];
  PGresult *result = run(admin, sql, parameter);
  const char *state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char *name = PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
  snprintf(sqlstate, sizeof sqlstate, "%s", state != NULL ? state : "");
  if (constraint != NULL) {
    snprintf(constraint, 64, "%s", name != NULL ? name : "");
  }
  PQclear(result);
  return sqlstate;
}

long fixture_valid_tickets(PGconn *admin, const char *event_id) {
  return fixture_query(
      admin, "SELECT count(*) FROM tickets WHERE event_id = $1 AND voided_at IS NULL", event_id);
}

long fixture_available(PGconn *admin, const char *event_id) {
  return fixture_query(admin, "SELECT available_tickets FROM events WHERE id = $1", event_id);
}

void fixture_check_invariants(PGconn *admin, const char *event_id) {
  long unbalanced =
      fixture_query(admin,
                    "SELECT count(*) FROM events e WHERE e.id = $1"
                    "   AND e.available_tickets + (SELECT count(*) FROM tickets t"
                    "                                JOIN purchases p ON p.id = t.purchase_id"
                    "                               WHERE t.event_id = e.id AND t.voided_at IS NULL"
                    "                                 AND p.status IN ('held', 'confirmed'))"
                    "       <> e.total_tickets",
                    event_id);
  assert_int_equal(unbalanced, 0);
  long partial = fixture_query(admin,
                               "SELECT count(*) FROM purchases p WHERE p.event_id = $1"
                               "   AND p.quantity <> (SELECT count(*) FROM tickets t"
                               "                       WHERE t.purchase_id = p.id)",
                               event_id);
  assert_int_equal(partial, 0);
  long mismatched =
      fixture_query(admin,
                    "SELECT count(*) FROM purchases p JOIN tickets t ON t.purchase_id = p.id"
                    " WHERE p.event_id = $1"
                    "   AND (p.status IN ('held', 'confirmed')) = (t.voided_at IS NOT NULL)",
                    event_id);
  assert_int_equal(mismatched, 0);
  long foreign = fixture_query(admin,
                               "SELECT count(*) FROM tickets t JOIN purchases p"
                               "    ON p.id = t.purchase_id"
                               " WHERE p.event_id = $1 AND t.event_id <> p.event_id",
                               event_id);
  assert_int_equal(foreign, 0);
  long out_of_range = fixture_query(admin,
                                    "SELECT count(*) FROM events WHERE id = $1"
                                    "   AND (available_tickets < 0"
                                    "        OR available_tickets > total_tickets)",
                                    event_id);
  assert_int_equal(out_of_range, 0);
}

long fixture_now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void fixture_check_reported(tix *db, PGconn *admin, const char *event_id) {
  tix_event event;
  assert_int_equal(tix_event_get(db, event_id, &event), TIX_OK);
  long live =
      fixture_query(admin,
                    "SELECT count(*) FROM tickets t JOIN purchases p ON p.id = t.purchase_id"
                    " WHERE t.event_id = $1 AND t.voided_at IS NULL"
                    "   AND (p.status = 'confirmed'"
                    "        OR (p.status = 'held' AND p.expires_at > now()))",
                    event_id);
  assert_int_equal(event.available_tickets, event.total_tickets - live);
}

bool fixture_wait_until_lapsed(PGconn *admin, const char *event_id, long timeout_ms) {
  long deadline_ms = fixture_now_ms() + timeout_ms;
  for (;;) {
    long live = event_id == NULL
                    ? fixture_query(admin,
                                    "SELECT count(*) FROM purchases"
                                    " WHERE status = 'held' AND expires_at > now()",
                                    NULL)
                    : fixture_query(admin,
                                    "SELECT count(*) FROM purchases WHERE event_id = $1"
                                    "   AND status = 'held' AND expires_at > now()",
                                    event_id);
    if (live == 0) {
      return true;
    }
    if (fixture_now_ms() >= deadline_ms) {
      return false;
    }
    usleep(LAPSE_POLL_MS * 1000);
  }
}

size_t fixture_tests_per_strategy(const fixture_test *list, size_t count, struct CMUnitTest *tests,
                                  size_t capacity) {
  static char names[FIXTURE_TEST_NAMES_MAX][FIXTURE_TEST_NAME_SIZE];
  static tix_strategy strategies[TIX_STRATEGY_COUNT_];
  size_t made = 0;
  if (count * TIX_STRATEGY_COUNT_ > capacity ||
      count * TIX_STRATEGY_COUNT_ > FIXTURE_TEST_NAMES_MAX) {
    fprintf(stderr, "fixture: %zu tests for %d strategies do not fit\n", count,
            (int)TIX_STRATEGY_COUNT_);
    exit(1);
  }
  for (int strategy = 0; strategy < TIX_STRATEGY_COUNT_; strategy++) {
    strategies[strategy] = (tix_strategy)strategy;
  }
  for (size_t test = 0; test < count; test++) {
    for (int strategy = 0; strategy < TIX_STRATEGY_COUNT_; strategy++) {
      snprintf(names[made], FIXTURE_TEST_NAME_SIZE, "%s/%s", list[test].name,
               tix_strategy_name((tix_strategy)strategy));
      tests[made] = (struct CMUnitTest){.name = names[made],
                                        .test_func = list[test].function,
                                        .initial_state = &strategies[strategy]};
      made++;
    }
  }
  return made;
}

tix_strategy fixture_strategy(void **state) {
  return *(const tix_strategy *)*state;
}
