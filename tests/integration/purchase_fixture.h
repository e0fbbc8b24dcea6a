/*
 * purchase_fixture.h — what the purchase tests share: a tix handle on the
 * test database, events made with plain SQL, parameterized counting queries
 * and the DESIGN §1 invariants checked in the database itself.
 */
#ifndef TIX_PURCHASE_FIXTURE_H
#define TIX_PURCHASE_FIXTURE_H

#include "tix.h"

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
/* Runs sql with one parameter and returns its SQLSTATE ("" on success)
 * and, in constraint (may be NULL), the constraint the error named. */
const char *fixture_sqlstate(PGconn *admin, const char *sql, const char *parameter,
                             char constraint[64]);
/* Asserts DESIGN §1 for the event: available + live tickets == total, each
 * purchase owns exactly quantity tickets, live purchases own only valid
 * tickets and refunded/expired ones none. */
void fixture_check_invariants(PGconn *admin, const char *event_id);
/* The valid tickets of an event, and its availability. */
long fixture_valid_tickets(PGconn *admin, const char *event_id);
long fixture_available(PGconn *admin, const char *event_id);
/* Milliseconds on a monotonic clock. */
long fixture_now_ms(void);

#endif /* TIX_PURCHASE_FIXTURE_H */
