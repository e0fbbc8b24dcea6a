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

#include <cmocka.h>

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
