/*
 * release.h — internal: giving the tickets of lapsed holds back. A hold
 * past its deadline holds nothing from that moment (reads already count it
 * as expired); its row and tickets are brought in line by whoever next
 * takes the event's lock anyway: a sale, a batch, an update, a refund, a
 * confirm that finds it lapsed, or the sweeper.
 */
#ifndef TIX_RELEASE_H
#define TIX_RELEASE_H

#include "sale.h"

#include <libpq-fe.h>

/* Holds released at most per statement, so no caller does unbounded work
 * under an event's lock; the rest waits for the next lock holder. */
#define TIX_RELEASE_MAX 1000

/* Releases up to limit (at most TIX_RELEASE_MAX) lapsed holds of an event
 * whose row the caller has locked in the open transaction: the purchases
 * become expired, their tickets voided and back on sale. purchase_id (NULL:
 * any) narrows it to one purchase.
 * released_out (may be NULL) gets how many purchases; event (may be NULL)
 * gets the new availability and version. */
int tix_holds_release_locked(PGconn *conn, const char *event_id, const char *purchase_id, int limit,
                             int *released_out, tix_event_state *event);

/* The parameters of TIX_SQL_HOLDS_RELEASE_LAPSED, for a caller that sends it
 * itself (a pipeline), and the reader of its result. */
typedef struct tix_release_values {
  char limit[16];
  const char *values[3];
} tix_release_values;
void tix_holds_release_values(const char *event_id, const char *purchase_id, int limit,
                              tix_release_values *out);
void tix_holds_release_read(const PGresult *result, int limit, int *released_out,
                            tix_event_state *event);

/* The same in a transaction of its own that locks the event row first; with
 * skip_locked it gives up (releasing nothing) when someone else holds it. */
int tix_holds_release_in_transaction(PGconn *conn, const char *event_id, const char *purchase_id,
                                     int limit, bool skip_locked, int *released_out);

#endif /* TIX_RELEASE_H */
