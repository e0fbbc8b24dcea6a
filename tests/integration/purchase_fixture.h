/*
 * purchase_fixture.h — what the purchase tests share: a tix handle on the
 * test database, events made with plain SQL, parameterized counting queries,
 * the DESIGN §1 invariants checked in the database itself, what the library
 * reports checked against them, and one cmocka test per strategy.
 */
#ifndef TIX_PURCHASE_FIXTURE_H
#define TIX_PURCHASE_FIXTURE_H

#include "tix.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>

/* Opens a pool of connections named application_name; fails the test
 * program when the database does not answer. */
tix *fixture_open(const char *conninfo, int connections, const char *application_name);
/* Inserts an event of total tickets (max_per_customer 0: no limit). */
void fixture_create_event(PGconn *admin, int total, int max_per_customer,
                          char event_id[TIX_UUID_SIZE]);
/* Runs sql with one text parameter (may be NULL) and returns the first
 * field of the first row as a long, -1 for NULL. Fails on error. */
long fixture_query(PGconn *admin, const char *sql, const char *parameter);
/* The same, for a text: copies the first field of the first row into out
 * ("null" for NULL). Fails when there is no row. */
void fixture_query_text(PGconn *admin, const char *sql, const char *parameter, char *out,
                        size_t size);
/* Runs sql with one parameter and returns its SQLSTATE ("" on success)
 * and, in constraint (may be NULL), the constraint the error named. */
const char *fixture_sqlstate(PGconn *admin, const char *sql, const char *parameter,
                             char constraint[64]);
/* Asserts DESIGN §1 for the event as stored: available_tickets + the valid
 * tickets of purchases whose row says held or confirmed == total, each
 * purchase owns exactly quantity tickets, those purchases own only valid
 * tickets and refunded/expired ones none. A hold past expires_at that no
 * one has released yet still has status 'held' and valid tickets in the
 * rows, and available_tickets does not count it: the rows balance. That it
 * holds nothing any more is what fixture_check_reported checks. */
void fixture_check_invariants(PGconn *admin, const char *event_id);
/* Asserts that what the library reports (tix_event_get) counts only live
 * tickets (DESIGN §1's "held" is a live hold): available == total - the
 * tickets of confirmed purchases and of holds whose expires_at is still in
 * the future. Call it when no hold is about to lapse. */
void fixture_check_reported(tix *db, PGconn *admin, const char *event_id);
/* Waits (at most timeout_ms) until no hold of the event (of every event
 * when event_id is NULL) is live any more; false when the time ran out. */
bool fixture_wait_until_lapsed(PGconn *admin, const char *event_id, long timeout_ms);
/* The valid tickets of an event, and its availability. */
long fixture_valid_tickets(PGconn *admin, const char *event_id);
long fixture_available(PGconn *admin, const char *event_id);
/* Milliseconds on a monotonic clock. */
long fixture_now_ms(void);

/* The test functions of a program that runs each once per strategy: they
 * read their strategy with fixture_strategy(state). */
typedef struct fixture_test {
  const char *name;
  CMUnitTestFunction function;
} fixture_test;

/* Fills tests (room for capacity) with every test of the list for every
 * strategy of tix.h, TIX_STRATEGY_COUNT_ included in the loop so that a new
 * strategy is tested at once; test by test, strategy by strategy, named
 * "name/strategy". Returns how many; fails the program when they do not fit. */
size_t fixture_tests_per_strategy(const fixture_test *list, size_t count, struct CMUnitTest *tests,
                                  size_t capacity);
tix_strategy fixture_strategy(void **state);

#endif /* TIX_PURCHASE_FIXTURE_H */
