/*
 * purchase.h — internal: what the purchase engine's files share. A sale is
 * one purchase request on its way through a strategy; the decision over a
 * list of sales of one event is kept apart from the SQL so that a batch
 * (DESIGN §7: one lock, one ticket INSERT, one commit) can reuse it, a
 * single purchase being a batch of one. Also the purchase column list and
 * its readers, the statement helpers, and the release of expired holds.
 */
#ifndef TIX_PURCHASE_H
#define TIX_PURCHASE_H

#include "event.h"
#include "tix.h"

#include <libpq-fe.h>

/* Tickets released at most per statement when a buyer finds too few, so a
 * buyer never does unbounded work under the event lock. */
#define TIX_RELEASE_ON_DEMAND_MAX 1000

/* The state of an event's row that every decision needs, as read (and, for
 * the locking strategies, locked) at the start of a sale. */
typedef struct tix_event_state {
  bool found; /* the event exists and is not deleted */
  bool cancelled;
  int available;
  int version;
  int max_per_customer; /* 0: no limit */
  bool expired_holds;   /* held purchases past expires_at still count against it */
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
  int customer_bought; /* the customer's held and confirmed tickets of the event */
  bool id_taken;       /* a purchase with this id exists: answer from it */
  int verdict;         /* TIX_OK: sell; TIX_EUNIQUE: replay or conflict; else why not */
  int available_after; /* after this sale, or what is left on refusal */
} tix_sale;

/* Decides each sale all-or-nothing, in order: sales accepted earlier in the
 * list reduce what later ones may take (tickets and the customer's limit).
 * Pure: no SQL, no diagnostic. */
void tix_sales_decide(const tix_event_state *event, tix_sale *sales, size_t count);

/* Records the diagnostic for a refused sale and returns its verdict. */
int tix_sale_fail(const tix_sale *sale, const tix_event_state *event);

/* Sells (or answers a replay) with one strategy on one connection, retrying
 * contention within a bound. A lost connection comes back as
 * TIX_EUNAVAILABLE; the caller retries on a fresh one. */
int tix_strategy_sell(PGconn *conn, tix_strategy strategy, tix_sale *sale, tix_purchase *out);

/* The answer for a sale whose purchase id already exists: the stored
 * purchase as a replay when the parameters match, else TIX_ECONFLICT. */
int tix_sale_answer_existing(PGconn *conn, const tix_sale *sale, tix_purchase *out);

/* The columns tix_purchase_read expects, of a purchases row aliased p. */
#define TIX_PURCHASE_COLUMNS                                                                       \
  "p.id::text, p.event_id::text, p.customer, p.quantity, p.status, "                               \
  "coalesce(" TIX_SQL_TIMESTAMP("p.expires_at") ", ''), " TIX_SQL_TIMESTAMP(                       \
      "p.created_at") ", p.hold_seconds"
#define TIX_PURCHASE_COLUMN_COUNT 8

/* Fills out (not its tickets) from a row that selected TIX_PURCHASE_COLUMNS
 * first. */
void tix_purchase_read(const PGresult *result, int row, tix_purchase *out);
/* Replaces out's tickets with the non-NULL ids of column, sorted, so every
 * answer about one purchase lists its tickets in the same order. */
int tix_purchase_read_tickets(const PGresult *result, int column, tix_purchase *out);
/* Reads a purchase by id with its tickets (all of them, valid or voided)
 * and its event's availability. TIX_ENOTFOUND when there is none. */
int tix_purchase_load(PGconn *conn, const char *purchase_id, tix_purchase *out);
/* Checks a purchase id argument and copies it in lower case. */
int tix_purchase_check_id(const char *purchase_id, char id_out[TIX_UUID_SIZE]);
/* Empties out: no tickets, availability unknown. Frees nothing. */
void tix_purchase_reset(tix_purchase *out);

/* True when status, on conn, means the connection is gone. */
bool tix_purchase_connection_lost(PGconn *conn, int status);

/* Releases expired holds of an event whose row the caller has locked in the
 * open transaction: the purchases become expired, their tickets voided, the
 * tickets back on sale. purchase_id (NULL: any) narrows it to one purchase.
 * released_out gets how many purchases; event (may be NULL) is updated. */
int tix_holds_release_locked(PGconn *conn, const char *event_id, const char *purchase_id, int limit,
                             int *released_out, tix_event_state *event);
/* The same in a transaction of its own that locks the event row first. */
int tix_holds_release_event(PGconn *conn, const char *event_id, const char *purchase_id);

#endif /* TIX_PURCHASE_H */
