/*
 * strategy.c — the four ways tix sells one purchase, held to the same tests:
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
 * tickets — so two sales, a refund, a sweep and a confirm never wait on each
 * other in a cycle. Lapsed holds are released under the event lock when the
 * strategy holds one (locking, serializable), else in a transaction of their
 * own that takes it (optimistic, atomic); either way everything the decision
 * reads is read again afterwards. The decision itself is tix_sales_decide.
 */
#include "strategy.h"

#include "clock.h"
#include "error.h"
#include "purchase_read.h"
#include "release.h"
#include "sql.h"
#include "statements.h"

#include <stdio.h>
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

/* What one attempt asks of the loop in tix_strategy_sell besides its status. */
typedef enum attempt_next {
  ATTEMPT_DONE,
  ATTEMPT_NO_RELEASE,    /* in: lapsed holds were released once already */
  ATTEMPT_RELEASE_FIRST, /* lapsed holds stand in the way and no lock is held */
  ATTEMPT_RELEASE_AFTER, /* sold; lapsed holds wait to be released */
} attempt_next;

static void format_int(int value, char text[16]) {
  snprintf(text, 16, "%d", value);
}

/* ---------------------------------------------------------------- reads */

static int read_context(PGconn *conn, tix_sale *sale, tix_event_state *event) {
  PGresult *result = NULL;
  const char *values[] = {sale->purchase_id, sale->event_id, sale->customer};
  int status = tix_sql_run(conn, TIX_SQL_SALE_CONTEXT, values, &result);
  if (status != TIX_OK) {
    return status;
  }
  sale->id_taken = PQgetvalue(result, 0, 0)[0] == 't';
  sale->customer_bought = atoi(PQgetvalue(result, 0, 1));
  event->lapsed_holds = PQgetvalue(result, 0, 2)[0] == 't';
  PQclear(result);
  return TIX_OK;
}

/* ---------------------------------------------------------------- writes */

static int take_tickets(PGconn *conn, const tix_event_state *event, tix_sale *sale) {
  char quantity[16], version[16];
  format_int(sale->quantity, quantity);
  format_int(event->version, version);
  const char *values[] = {sale->event_id, quantity, version};
  PGresult *result = NULL;
  int status = tix_sql_run(conn, TIX_SQL_SALE_TAKE_TICKETS, values, &result);
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
  format_int(sale->quantity, quantity);
  format_int(sale->hold_seconds, hold_seconds);
  const char *purchase_values[] = {sale->purchase_id, sale->event_id, sale->customer, quantity,
                                   hold_seconds};
  PGresult *result = NULL;
  int status = tix_sql_run(conn, TIX_SQL_SALE_INSERT_PURCHASE, purchase_values, &result);
  if (status != TIX_OK) {
    return status;
  }
  tix_purchase_read(result, 0, out);
  PQclear(result);
  const char *ticket_values[] = {sale->event_id, sale->purchase_id, quantity};
  status = tix_sql_run(conn, TIX_SQL_SALE_INSERT_TICKETS, ticket_values, &result);
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

/* Opens the transaction, reads (locking: locks) the event and learns about
 * the sale. Lapsed holds are released here when the transaction may take the
 * event's lock (locking holds it; serializable takes it with the release's
 * UPDATE), and then the event and the context are read again. */
static int open_and_read(PGconn *conn, tix_strategy strategy, tix_sale *sale,
                         tix_event_state *event, attempt_next *next) {
  tix_statement read = strategy == TIX_STRATEGY_LOCKING ? TIX_SQL_EVENT_LOCK : TIX_SQL_EVENT_READ;
  int status = tix_sql_exec(conn, begin_sql(strategy), 0, NULL, NULL);
  if (status == TIX_OK) {
    status = tix_event_state_read(conn, read, sale->event_id, event);
  }
  if (status == TIX_OK && event->found) {
    status = read_context(conn, sale, event);
  }
  if (status != TIX_OK || !event->lapsed_holds) {
    return status;
  }
  if (strategy == TIX_STRATEGY_OPTIMISTIC) {
    /* No lock to release them under: the loop does it in a transaction of
     * its own, once; after that, decide with what is left. */
    *next = *next == ATTEMPT_NO_RELEASE ? ATTEMPT_DONE : ATTEMPT_RELEASE_FIRST;
    return TIX_OK;
  }
  if (strategy == TIX_STRATEGY_SERIALIZABLE) {
    /* The event row before the purchase rows, as every path locks them. */
    status = tix_event_state_read(conn, TIX_SQL_EVENT_LOCK, sale->event_id, event);
  }
  if (status == TIX_OK) {
    status = tix_holds_release_locked(conn, sale->event_id, NULL, TIX_RELEASE_MAX, NULL, event);
  }
  if (status == TIX_OK) {
    status = tix_event_state_read(conn, read, sale->event_id, event);
  }
  if (status == TIX_OK) {
    status = read_context(conn, sale, event);
  }
  return status;
}

static bool is_purchase_id_taken(int status) {
  return status == TIX_EUNIQUE && strcmp(tix_last_diag()->constraint, "purchases_pkey") == 0;
}

static int sell_decided(PGconn *conn, const tix_event_state *event, tix_sale *sale,
                        tix_purchase *out) {
  int status = take_tickets(conn, event, sale);
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

static int sell_in_transaction(PGconn *conn, tix_strategy strategy, tix_sale *sale,
                               tix_purchase *out, attempt_next *next) {
  tix_event_state event;
  int status = open_and_read(conn, strategy, sale, &event, next);
  if (status != TIX_OK || *next == ATTEMPT_RELEASE_FIRST) {
    return status;
  }
  tix_sales_decide(&event, sale, 1);
  if (sale->verdict == TIX_EUNIQUE) {
    tix_sql_rollback(conn);
    return tix_sale_answer_existing(conn, sale, out);
  }
  if (sale->verdict != TIX_OK) {
    /* COMMIT, not ROLLBACK: holds released on the way stay released. */
    status = tix_sql_exec(conn, "COMMIT", 0, NULL, NULL);
    out->available_tickets = sale->available_after;
    return status != TIX_OK ? status : tix_sale_fail(sale, &event);
  }
  return sell_decided(conn, &event, sale, out);
}

/* ---------------------------------------------------------------- atomic */

/* The atomic statement sold nothing: find out why, without a lock. */
static int explain_refusal(PGconn *conn, tix_sale *sale, tix_purchase *out, attempt_next *next) {
  tix_event_state event;
  int status = tix_event_state_read(conn, TIX_SQL_EVENT_READ, sale->event_id, &event);
  if (status == TIX_OK && event.found) {
    status = read_context(conn, sale, &event);
  }
  if (status != TIX_OK) {
    return status;
  }
  if (event.lapsed_holds && *next != ATTEMPT_NO_RELEASE) {
    *next = ATTEMPT_RELEASE_FIRST;
    return TIX_OK;
  }
  tix_sales_decide(&event, sale, 1);
  if (sale->verdict == TIX_EUNIQUE) {
    return tix_sale_answer_existing(conn, sale, out);
  }
  if (sale->verdict == TIX_OK) { /* tickets came back since: try again */
    return tix_fail(TIX_EVERSION, "the event changed during the purchase");
  }
  out->available_tickets = sale->available_after;
  return tix_sale_fail(sale, &event);
}

static int sell_atomic(PGconn *conn, tix_sale *sale, tix_purchase *out, attempt_next *next) {
  char quantity[16], hold_seconds[16];
  format_int(sale->quantity, quantity);
  format_int(sale->hold_seconds, hold_seconds);
  const char *values[] = {sale->event_id, quantity, sale->purchase_id, sale->customer,
                          hold_seconds};
  PGresult *result = NULL;
  int status = tix_sql_run(conn, TIX_SQL_SALE_ATOMIC, values, &result);
  if (is_purchase_id_taken(status)) {
    sale->id_taken = true;
    return tix_sale_answer_existing(conn, sale, out);
  }
  if (status == TIX_ELIMIT) { /* the trigger refused: explain with numbers */
    return explain_refusal(conn, sale, out, next);
  }
  if (status != TIX_OK) {
    return status;
  }
  if (PQntuples(result) == 0) {
    PQclear(result);
    return explain_refusal(conn, sale, out, next);
  }
  tix_purchase_read(result, 0, out);
  out->available_tickets = atoi(PQgetvalue(result, 0, TIX_PURCHASE_COLUMN_COUNT));
  if (PQgetvalue(result, 0, TIX_PURCHASE_COLUMN_COUNT + 2)[0] == 't') {
    *next = ATTEMPT_RELEASE_AFTER;
  }
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
  tix_sleep_us((int64_t)(next_jitter() % (uint64_t)ceiling_us) + 1);
}

static int attempt_once(PGconn *conn, tix_strategy strategy, tix_sale *sale, tix_purchase *out,
                        bool released, attempt_next *next) {
  *next = released ? ATTEMPT_NO_RELEASE : ATTEMPT_DONE;
  int status = strategy == TIX_STRATEGY_ATOMIC
                   ? sell_atomic(conn, sale, out, next)
                   : sell_in_transaction(conn, strategy, sale, out, next);
  if (*next == ATTEMPT_NO_RELEASE) {
    *next = ATTEMPT_DONE;
  }
  return status;
}

int tix_strategy_sell(PGconn *conn, tix_strategy strategy, tix_sale *sale, tix_purchase *out) {
  bool released = false; /* lapsed holds are released before a sale once at most */
  for (int attempt = 0; attempt < CONTENTION_ATTEMPTS_MAX; attempt++) {
    attempt_next next;
    int status = attempt_once(conn, strategy, sale, out, released, &next);
    if (tix_connection_lost(conn, status)) {
      return status;
    }
    tix_sql_rollback(conn);
    int unused = 0;
    if (status == TIX_OK && next == ATTEMPT_RELEASE_AFTER) {
      /* The sale is committed: a failure to tidy up after it is not its. */
      tix_holds_release_in_transaction(conn, sale->event_id, NULL, TIX_RELEASE_MAX, false, &unused);
      tix_diag_clear();
    }
    if (status == TIX_OK && next == ATTEMPT_RELEASE_FIRST) {
      released = true;
      status = tix_holds_release_in_transaction(conn, sale->event_id, NULL, TIX_RELEASE_MAX, false,
                                                &unused);
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
