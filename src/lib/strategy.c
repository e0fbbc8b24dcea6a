/*
 * strategy.c — the four ways tix sells tickets, held to the same tests:
 *
 *   locking       SELECT … FOR UPDATE on the event row, version-checked
 *                 UPDATE, INSERT the purchase, INSERT its tickets (the seed's
 *                 pattern, which the benchmark measures everything against);
 *   optimistic    the same without the row lock: a version-checked UPDATE
 *                 that matches no row means someone sold first, so retry;
 *   atomic        one statement whose conditional UPDATE feeds the purchase
 *                 and ticket INSERTs: one round trip, the row lock held only
 *                 for that statement;
 *   serializable  the locking flow without FOR UPDATE under SERIALIZABLE,
 *                 retried on serialization failures and deadlocks.
 *
 * Every path locks in one order — the event row, then purchase rows, then
 * tickets — so two sales, a refund, a sweep and a confirm can never wait on
 * each other in a cycle. The decision itself (enough tickets? within the
 * customer's limit?) is tix_sales_decide, over a list of sales, so that a
 * batch of purchases of one event can later share one lock and one commit.
 */
#include "purchase.h"

#include "error.h"
#include "sql.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Attempts of one sale when others keep winning the race (optimistic
 * version conflicts, serialization failures); then TIX_EBUSY. */
#define CONTENTION_ATTEMPTS_MAX 40
/* Backoff between them: full jitter up to a ceiling doubling from the first
 * to the last value, so colliding buyers spread out instead of colliding
 * again in lockstep. */
#define BACKOFF_FIRST_US 200
#define BACKOFF_LAST_US  20000

/* -------------------------------------------------------------- decision */

static bool same_customer(const tix_sale *left, const tix_sale *right) {
  return left->customer != NULL && right->customer != NULL &&
         strcmp(left->customer, right->customer) == 0;
}

static bool id_decided_earlier(const tix_sale *sales, size_t index) {
  for (size_t earlier = 0; earlier < index; earlier++) {
    if (strcmp(sales[earlier].purchase_id, sales[index].purchase_id) == 0) {
      return true;
    }
  }
  return false;
}

static int decide_one(const tix_event_state *event, int remaining, const tix_sale *sale) {
  if (!event->found) {
    return TIX_ENOTFOUND;
  }
  if (event->cancelled) {
    return TIX_ECANCELLED;
  }
  if (sale->quantity > remaining) {
    return TIX_EINSUFFICIENT;
  }
  if (event->max_per_customer > 0 && sale->customer != NULL &&
      sale->customer_bought + sale->quantity > event->max_per_customer) {
    return TIX_ELIMIT;
  }
  return TIX_OK;
}

void tix_sales_decide(const tix_event_state *event, tix_sale *sales, size_t count) {
  int remaining = event->available;
  for (size_t index = 0; index < count; index++) {
    tix_sale *sale = &sales[index];
    /* A repeated id is answered from the purchase that holds it: within a
     * list, from the first sale that used it. */
    if (sale->id_taken || id_decided_earlier(sales, index)) {
      sale->verdict = TIX_EUNIQUE;
      sale->available_after = remaining;
      continue;
    }
    for (size_t earlier = 0; earlier < index; earlier++) {
      if (sales[earlier].verdict == TIX_OK && same_customer(&sales[earlier], sale)) {
        sale->customer_bought += sales[earlier].quantity;
      }
    }
    sale->verdict = decide_one(event, remaining, sale);
    if (sale->verdict == TIX_OK) {
      remaining -= sale->quantity;
    }
    sale->available_after = remaining;
  }
}

int tix_sale_fail(const tix_sale *sale, const tix_event_state *event) {
  switch (sale->verdict) {
  case TIX_ENOTFOUND:
    return tix_fail(TIX_ENOTFOUND, "event %s does not exist", sale->event_id);
  case TIX_ECANCELLED:
    return tix_fail(TIX_ECANCELLED, "event %s is cancelled", sale->event_id);
  case TIX_EINSUFFICIENT:
    if (sale->available_after == 0) {
      tix_fail(TIX_EINSUFFICIENT, "the event is sold out");
    } else {
      tix_fail(TIX_EINSUFFICIENT, "only %d %s left", sale->available_after,
               sale->available_after == 1 ? "ticket is" : "tickets are");
    }
    tix_fail_detail("%d %s asked for.", sale->quantity, sale->quantity == 1 ? "was" : "were");
    return TIX_EINSUFFICIENT;
  case TIX_ELIMIT:
    tix_fail(TIX_ELIMIT, "customer \"%s\" may have at most %d tickets for this event",
             sale->customer, event->max_per_customer);
    tix_fail_detail("They already have %d and asked for %d more.", sale->customer_bought,
                    sale->quantity);
    return TIX_ELIMIT;
  default:
    return tix_fail(sale->verdict, "%s", tix_strerror(sale->verdict));
  }
}

/* ---------------------------------------------------------------- reads */

static const char lock_event_sql[] =
    "SELECT available_tickets, version, cancelled_at IS NOT NULL, coalesce(max_per_customer, 0)"
    "  FROM events WHERE id = $1 AND deleted_at IS NULL FOR UPDATE";
static const char read_event_sql[] =
    "SELECT available_tickets, version, cancelled_at IS NOT NULL, coalesce(max_per_customer, 0)"
    "  FROM events WHERE id = $1 AND deleted_at IS NULL";

static int read_event(PGconn *conn, const char *event_id, bool lock, tix_event_state *event) {
  PGresult *result = NULL;
  const char *values[] = {event_id};
  int status = tix_sql_exec(conn, lock ? lock_event_sql : read_event_sql, 1, values, &result);
  if (status != TIX_OK) {
    return status;
  }
  *event = (tix_event_state){.found = PQntuples(result) == 1};
  if (event->found) {
    event->available = atoi(PQgetvalue(result, 0, 0));
    event->version = atoi(PQgetvalue(result, 0, 1));
    event->cancelled = PQgetvalue(result, 0, 2)[0] == 't';
    event->max_per_customer = atoi(PQgetvalue(result, 0, 3));
  }
  PQclear(result);
  return TIX_OK;
}

/* Run after the event row is locked (locking), so in READ COMMITTED it sees
 * every purchase committed by whoever held the lock before. */
static const char context_sql[] =
    "SELECT EXISTS (SELECT 1 FROM purchases WHERE id = $1),"
    "       coalesce((SELECT sum(quantity) FROM purchases"
    "                  WHERE event_id = $2 AND customer = $3"
    "                    AND status IN ('held', 'confirmed')), 0),"
    "       EXISTS (SELECT 1 FROM purchases"
    "                WHERE event_id = $2 AND status = 'held' AND expires_at <= now())";

static int read_context(PGconn *conn, tix_sale *sale, tix_event_state *event) {
  PGresult *result = NULL;
  const char *values[] = {sale->purchase_id, sale->event_id, sale->customer};
  int status = tix_sql_exec(conn, context_sql, 3, values, &result);
  if (status != TIX_OK) {
    return status;
  }
  sale->id_taken = PQgetvalue(result, 0, 0)[0] == 't';
  sale->customer_bought = atoi(PQgetvalue(result, 0, 1));
  event->expired_holds = PQgetvalue(result, 0, 2)[0] == 't';
  PQclear(result);
  return TIX_OK;
}

/* ---------------------------------------------------------------- writes */

static const char take_tickets_sql[] =
    "UPDATE events SET available_tickets = available_tickets - $2, version = version + 1"
    " WHERE id = $1 AND version = $3"
    " RETURNING available_tickets";

static const char insert_purchase_sql[] =
    "INSERT INTO purchases AS p"
    "       (id, event_id, customer, quantity, status, expires_at, hold_seconds)"
    " VALUES ($1, $2, $3, $4, CASE WHEN $5::int > 0 THEN 'held' ELSE 'confirmed' END,"
    "         CASE WHEN $5::int > 0 THEN now() + make_interval(secs => $5::int) END, $5::int)"
    " RETURNING " TIX_PURCHASE_COLUMNS;

static const char insert_tickets_sql[] = "INSERT INTO tickets (event_id, purchase_id)"
                                         " SELECT $1::uuid, $2::uuid FROM generate_series(1, $3)"
                                         " RETURNING id::text";

static int take_tickets(PGconn *conn, const tix_event_state *event, tix_sale *sale) {
  char quantity[16], version[16];
  snprintf(quantity, sizeof quantity, "%d", sale->quantity);
  snprintf(version, sizeof version, "%d", event->version);
  const char *values[] = {sale->event_id, quantity, version};
  PGresult *result = NULL;
  int status = tix_sql_exec(conn, take_tickets_sql, 3, values, &result);
  if (status != TIX_OK) {
    return status;
  }
  if (PQntuples(result) == 0) { /* another buyer changed the event first */
    status = tix_fail(TIX_EVERSION, "the event changed during the purchase");
  } else {
    sale->available_after = atoi(PQgetvalue(result, 0, 0));
  }
  PQclear(result);
  return status;
}

/* Inserts the purchase and its tickets into out. */
static int record_purchase(PGconn *conn, const tix_sale *sale, tix_purchase *out) {
  char quantity[16], hold_seconds[16];
  snprintf(quantity, sizeof quantity, "%d", sale->quantity);
  snprintf(hold_seconds, sizeof hold_seconds, "%d", sale->hold_seconds);
  const char *purchase_values[] = {sale->purchase_id, sale->event_id, sale->customer, quantity,
                                   hold_seconds};
  PGresult *result = NULL;
  int status = tix_sql_exec(conn, insert_purchase_sql, 5, purchase_values, &result);
  if (status != TIX_OK) {
    return status;
  }
  tix_purchase_read(result, 0, out);
  PQclear(result);
  const char *ticket_values[] = {sale->event_id, sale->purchase_id, quantity};
  status = tix_sql_exec(conn, insert_tickets_sql, 3, ticket_values, &result);
  if (status != TIX_OK) {
    return status;
  }
  status = tix_purchase_read_tickets(result, 0, out);
  PQclear(result);
  return status;
}

/* --------------------------------------------- locking, optimistic, serializable */

static const char *begin_sql(tix_strategy strategy) {
  return strategy == TIX_STRATEGY_SERIALIZABLE ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN";
}

/* Opens the transaction, reads (locking: locks) the event, learns about the
 * sale and decides it. When expired holds are what stands in the way, the
 * locking strategies release them here, under the event lock they hold (or,
 * serializable, take now), and decide again; optimistic, which holds no
 * lock, asks the caller to release them in a transaction of its own. */
static int open_and_decide(PGconn *conn, tix_strategy strategy, tix_sale *sale,
                           tix_event_state *event, bool may_release, bool *release_first) {
  int status = tix_sql_exec(conn, begin_sql(strategy), 0, NULL, NULL);
  if (status == TIX_OK) {
    status = read_event(conn, sale->event_id, strategy == TIX_STRATEGY_LOCKING, event);
  }
  if (status == TIX_OK && event->found) {
    status = read_context(conn, sale, event);
  }
  if (status != TIX_OK) {
    return status;
  }
  tix_sales_decide(event, sale, 1);
  bool releasable = sale->verdict == TIX_EINSUFFICIENT && event->expired_holds && may_release;
  if (!releasable) {
    return TIX_OK;
  }
  if (strategy == TIX_STRATEGY_OPTIMISTIC) {
    *release_first = true;
    return TIX_OK;
  }
  if (strategy == TIX_STRATEGY_SERIALIZABLE) {
    status = read_event(conn, sale->event_id, true, event);
  }
  int released = 0;
  if (status == TIX_OK) {
    status = tix_holds_release_locked(conn, sale->event_id, NULL, TIX_RELEASE_ON_DEMAND_MAX,
                                      &released, event);
  }
  if (status == TIX_OK) {
    tix_sales_decide(event, sale, 1);
  }
  return status;
}

static bool is_purchase_id_taken(int status) {
  return status == TIX_EUNIQUE && strcmp(tix_last_diag()->constraint, "purchases_pkey") == 0;
}

static int sell_in_transaction(PGconn *conn, tix_strategy strategy, tix_sale *sale,
                               tix_purchase *out, bool may_release, bool *release_first) {
  tix_event_state event;
  int status = open_and_decide(conn, strategy, sale, &event, may_release, release_first);
  if (status != TIX_OK || *release_first) {
    return status;
  }
  if (sale->verdict == TIX_EUNIQUE) {
    tix_sql_rollback(conn);
    return tix_sale_answer_existing(conn, sale, out);
  }
  if (sale->verdict != TIX_OK) {
    /* COMMIT, not ROLLBACK: holds released on demand stay released. */
    status = tix_sql_exec(conn, "COMMIT", 0, NULL, NULL);
    out->available_tickets = sale->available_after;
    return status != TIX_OK ? status : tix_sale_fail(sale, &event);
  }
  status = take_tickets(conn, &event, sale);
  if (status == TIX_OK) {
    status = record_purchase(conn, sale, out);
  }
  if (status == TIX_OK) {
    status = tix_sql_exec(conn, "COMMIT", 0, NULL, NULL);
  }
  if (is_purchase_id_taken(status)) {
    /* A concurrent request with this id committed while we waited on its
     * key: ours rolls back and answers from theirs. */
    tix_sql_rollback(conn);
    sale->id_taken = true;
    return tix_sale_answer_existing(conn, sale, out);
  }
  out->available_tickets = sale->available_after;
  return status;
}

/* ---------------------------------------------------------------- atomic */

/* No ON CONFLICT on the purchase: a used id must fail the whole statement
 * (23505), event update included, so nothing is sold twice. */
static const char atomic_sql[] =
    "WITH taken AS ("
    "  UPDATE events SET available_tickets = available_tickets - $2::int, version = version + 1"
    "   WHERE id = $1::uuid AND available_tickets >= $2::int"
    "     AND cancelled_at IS NULL AND deleted_at IS NULL"
    "  RETURNING id, available_tickets),"
    " purchase AS ("
    "  INSERT INTO purchases AS p"
    "         (id, event_id, customer, quantity, status, expires_at, hold_seconds)"
    "  SELECT $3::uuid, taken.id, $4::text, $2::int,"
    "         CASE WHEN $5::int > 0 THEN 'held' ELSE 'confirmed' END,"
    "         CASE WHEN $5::int > 0 THEN now() + make_interval(secs => $5::int) END, $5::int"
    "    FROM taken"
    "  RETURNING p.*),"
    " ticket AS ("
    "  INSERT INTO tickets (event_id, purchase_id)"
    "  SELECT purchase.event_id, purchase.id FROM purchase, generate_series(1, $2::int)"
    "  RETURNING id)"
    "SELECT " TIX_PURCHASE_COLUMNS ", taken.available_tickets, ticket.id::text"
    "  FROM purchase p, taken, ticket";

/* The atomic statement sold nothing: find out why, without a lock. */
static int explain_refusal(PGconn *conn, tix_sale *sale, tix_purchase *out, bool may_release,
                           bool *release_first) {
  tix_event_state event;
  int status = read_event(conn, sale->event_id, false, &event);
  if (status == TIX_OK && event.found) {
    status = read_context(conn, sale, &event);
  }
  if (status != TIX_OK) {
    return status;
  }
  tix_sales_decide(&event, sale, 1);
  if (sale->verdict == TIX_EUNIQUE) {
    return tix_sale_answer_existing(conn, sale, out);
  }
  if (sale->verdict == TIX_OK) { /* tickets came back since: try again */
    return tix_fail(TIX_EVERSION, "the event changed during the purchase");
  }
  if (sale->verdict == TIX_EINSUFFICIENT && event.expired_holds && may_release) {
    *release_first = true;
    return TIX_OK;
  }
  out->available_tickets = sale->available_after;
  return tix_sale_fail(sale, &event);
}

static int sell_atomic(PGconn *conn, tix_sale *sale, tix_purchase *out, bool may_release,
                       bool *release_first) {
  char quantity[16], hold_seconds[16];
  snprintf(quantity, sizeof quantity, "%d", sale->quantity);
  snprintf(hold_seconds, sizeof hold_seconds, "%d", sale->hold_seconds);
  const char *values[] = {sale->event_id, quantity, sale->purchase_id, sale->customer,
                          hold_seconds};
  PGresult *result = NULL;
  int status = tix_sql_exec(conn, atomic_sql, 5, values, &result);
  if (is_purchase_id_taken(status)) {
    sale->id_taken = true;
    return tix_sale_answer_existing(conn, sale, out);
  }
  if (status == TIX_ELIMIT) { /* the trigger refused: explain with numbers */
    return explain_refusal(conn, sale, out, false, release_first);
  }
  if (status != TIX_OK) {
    return status;
  }
  if (PQntuples(result) == 0) {
    PQclear(result);
    return explain_refusal(conn, sale, out, may_release, release_first);
  }
  tix_purchase_read(result, 0, out);
  out->available_tickets = atoi(PQgetvalue(result, 0, TIX_PURCHASE_COLUMN_COUNT));
  status = tix_purchase_read_tickets(result, TIX_PURCHASE_COLUMN_COUNT + 1, out);
  PQclear(result);
  return status;
}

/* ------------------------------------------------------------- the loop */

static bool is_contention(int status) {
  return status == TIX_EVERSION || status == TIX_ESERIALIZATION || status == TIX_EDEADLOCK;
}

static _Thread_local uint64_t jitter_state;

static uint64_t next_jitter(void) {
  if (jitter_state == 0) {
    if (getrandom(&jitter_state, sizeof jitter_state, 0) != (ssize_t)sizeof jitter_state) {
      jitter_state = (uint64_t)time(NULL);
    }
    jitter_state |= 1;
  }
  /* xorshift64: statistical quality is all a backoff needs. */
  jitter_state ^= jitter_state << 13;
  jitter_state ^= jitter_state >> 7;
  jitter_state ^= jitter_state << 17;
  return jitter_state;
}

static void back_off(int attempt) {
  int64_t ceiling_us = BACKOFF_FIRST_US;
  for (int i = 0; i < attempt && ceiling_us < BACKOFF_LAST_US; i++) {
    ceiling_us *= 2;
  }
  if (ceiling_us > BACKOFF_LAST_US) {
    ceiling_us = BACKOFF_LAST_US;
  }
  int64_t pause_us = (int64_t)(next_jitter() % (uint64_t)ceiling_us) + 1;
  struct timespec pause = {.tv_sec = pause_us / 1000000, .tv_nsec = (pause_us % 1000000) * 1000};
  while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
  }
}

int tix_strategy_sell(PGconn *conn, tix_strategy strategy, tix_sale *sale, tix_purchase *out) {
  bool released = false; /* expired holds are released on demand once per sale */
  for (int attempt = 0; attempt < CONTENTION_ATTEMPTS_MAX; attempt++) {
    bool release_first = false;
    int status = strategy == TIX_STRATEGY_ATOMIC
                     ? sell_atomic(conn, sale, out, !released, &release_first)
                     : sell_in_transaction(conn, strategy, sale, out, !released, &release_first);
    if (tix_purchase_connection_lost(conn, status)) {
      return status;
    }
    tix_sql_rollback(conn);
    if (status == TIX_OK && release_first) {
      released = true;
      status = tix_holds_release_event(conn, sale->event_id, NULL);
      if (status != TIX_OK) {
        return status;
      }
      continue;
    }
    if (!is_contention(status)) {
      return status;
    }
    tix_purchase_free(out);
    tix_purchase_reset(out);
    back_off(attempt);
  }
  tix_fail(TIX_EBUSY, "too many concurrent buyers, try again");
  tix_fail_detail("The purchase lost the race for the event %d times.", CONTENTION_ATTEMPTS_MAX);
  return TIX_EBUSY;
}
