/*
 * batch.h — internal: group commit's transaction (DESIGN §7). Many purchases
 * of one event are decided together: the event row is locked once, what the
 * decisions need is read with array parameters, each purchase is decided in
 * arrival order (all-or-nothing, with its own answer), the counter is updated
 * once, all purchases and all tickets are inserted with one statement each,
 * and the transaction commits once. Answers exist only after COMMIT returned.
 */
#ifndef TIX_BATCH_H
#define TIX_BATCH_H

#include "sale.h"
#include "tix.h"

/* Purchases decided in one transaction at most: bounds the arrays sent,
 * the time the event row stays locked and the memory of one batch. */
#define TIX_BATCH_MAX 1000

/* One purchase of a batch: the sale going in, its answer coming out. */
typedef struct tix_batch_entry {
  tix_sale sale;         /* in: the normalized request */
  int status;            /* out: TIX_OK, or why not */
  tix_diag diag;         /* out: the diagnostic when status is not TIX_OK */
  tix_purchase purchase; /* out: the answer; owns its tickets (tix_purchase_free) */
} tix_batch_entry;

/* What tix_batch_commit learnt about the batches it ran, for metrics. */
typedef struct tix_batch_report {
  int transactions; /* committed or rolled back, splits and retries included */
  int splits;       /* times a failing batch was halved to isolate a culprit */
} tix_batch_report;

/* Decides and commits entries (all of one event, in arrival order) on
 * connections from db's pool, and fills in every entry's answer. One bad
 * purchase never fails the others: a batch the database refuses is split
 * and retried in halves until the culprit stands alone. A connection lost
 * during COMMIT is resolved by looking the purchase ids up on a fresh one;
 * when that cannot be done either, the sold entries get TIX_EUNKNOWN. */
void tix_batch_commit(tix *db, tix_batch_entry *entries, size_t count, tix_batch_report *report);

#endif /* TIX_BATCH_H */
