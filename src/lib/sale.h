/*
 * sale.h — internal: one purchase request on its way through the engine
 * (a sale), the state of its event's row that every decision needs, and the
 * decision itself, kept apart from any SQL so that a strategy deciding one
 * sale and a group-commit batch deciding hundreds use the same rules.
 */
#ifndef TIX_SALE_H
#define TIX_SALE_H

#include "tix.h"

/* The state of an event's row, as read (and, for the locking paths, locked)
 * at the start of a sale. */
typedef struct tix_event_state {
  bool found; /* the event exists and is not deleted */
  bool cancelled;
  bool past; /* its date has passed: sales are closed */
  int available;
  int version;
  int max_per_customer; /* 0: no limit */
  bool lapsed_holds;    /* holds past expires_at not released yet */
} tix_event_state;

/* One purchase request, normalized (ids in lower case, the purchase id
 * generated when the caller gave none), with what the engine learnt about it
 * and what it decided. */
typedef struct tix_sale {
  char event_id[TIX_UUID_SIZE];
  char purchase_id[TIX_UUID_SIZE];
  const char *customer; /* NULL: anonymous, not limited */
  int quantity;
  int hold_seconds;
  int customer_bought; /* the customer's confirmed tickets and live holds */
  bool id_taken;       /* a purchase with this id exists: answer from it */
  int verdict;         /* TIX_OK: sell; TIX_EUNIQUE: replay or conflict; else why not */
  int available_after; /* after this sale, or what is left on refusal */
} tix_sale;

/* Fills sale from a checked request, making a purchase id when it has none.
 * The customer is not copied: the request's must outlive the sale. */
int tix_sale_init(tix_sale *sale, const tix_purchase_request *request);

/* Decides each sale all-or-nothing, in order: sales accepted earlier in the
 * list reduce what later ones may take (tickets and the customer's limit),
 * and a purchase id that an earlier sale of the list sells is a replay.
 * Pure: no SQL, no diagnostic. */
void tix_sales_decide(const tix_event_state *event, tix_sale *sales, size_t count);

/* Records the diagnostic for a refused sale and returns its verdict. */
int tix_sale_fail(const tix_sale *sale, const tix_event_state *event);

/* Fills the request part of an answer (ids, customer, quantity) so that a
 * caller told "unknown outcome" still learns which purchase to look up. */
void tix_sale_identify(const tix_sale *sale, tix_purchase *out);

#endif /* TIX_SALE_H */
