/*
 * purchase.c — the public purchase functions: strategies by name, argument
 * validation, buying with one of the five strategies (group commit through
 * its queues, the other four on a connection of their own, retried once on
 * a fresh one when the database drops it mid-purchase), and reading a
 * purchase back. The top of the engine: it calls strategy.c and group.c,
 * which call nothing above them.
 */
#include "config.h"
#include "db.h"
#include "error.h"
#include "group.h"
#include "purchase_read.h"
#include "sql.h"
#include "strategy.h"
#include "text.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A purchase whose connection broke is tried once more on a fresh one: the
 * purchase id makes that safe (the retry replays what committed, or sells
 * what rolled back); a second break means the database is really gone. */
#define CONNECTION_RETRIES_MAX 1
#define STRATEGY_ENV           "TIX_STRATEGY"

static const char *const strategy_names[TIX_STRATEGY_COUNT_] = {
    [TIX_STRATEGY_LOCKING] = "locking", [TIX_STRATEGY_OPTIMISTIC] = "optimistic",
    [TIX_STRATEGY_ATOMIC] = "atomic",   [TIX_STRATEGY_SERIALIZABLE] = "serializable",
    [TIX_STRATEGY_GROUP] = "group",
};

int tix_strategy_parse(const char *text, tix_strategy *out) {
  if (text == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "a strategy name and a place for it are required");
  }
  for (int strategy = 0; strategy < TIX_STRATEGY_COUNT_; strategy++) {
    if (strcmp(text, strategy_names[strategy]) == 0) {
      *out = (tix_strategy)strategy;
      return TIX_OK;
    }
  }
  tix_fail(TIX_EINVAL, "unknown strategy \"%.64s\"", text);
  tix_fail_hint("Use locking, optimistic, atomic, serializable or group.");
  return TIX_EINVAL;
}

const char *tix_strategy_name(tix_strategy strategy) {
  if ((int)strategy < 0 || strategy >= TIX_STRATEGY_COUNT_) {
    return "unknown";
  }
  return strategy_names[strategy];
}

/* A bad TIX_STRATEGY is refused like a bad --strategy: buying with
 * another strategy than the one asked for would hide the mistake. */
int tix_strategy_from_env(tix_strategy *out) {
  *out = TIX_STRATEGY_LOCKING;
  const char *text = getenv(STRATEGY_ENV);
  if (text == NULL || text[0] == '\0' || tix_strategy_parse(text, out) == TIX_OK) {
    return TIX_OK;
  }
  *out = TIX_STRATEGY_LOCKING;
  tix_fail_setting(STRATEGY_ENV, text, "is not a purchase strategy");
  tix_fail_hint("Set it to locking, optimistic, atomic, serializable or group, or unset it for "
                "locking.");
  return TIX_EINVAL;
}

/* ------------------------------------------------------------ validation */

/* The customer is printed wherever the purchase is shown, and names the
 * holder of a limit: the rule of human-readable text applies (text.h). */
static const tix_text_rule customer_rule = {
    .what = "customer",
    .max_characters = TIX_CUSTOMER_MAX_BYTES,
    .max_bytes = TIX_CUSTOMER_MAX_BYTES,
    .blank_hint = "Leave the customer out for an anonymous purchase.",
};

static int check_customer(const char *customer) {
  return customer == NULL ? TIX_OK : tix_text_check(customer, &customer_rule);
}

static int check_request(const tix_purchase_request *request) {
  if (request == NULL) {
    return tix_fail(TIX_EINVAL, "a purchase request is required");
  }
  int status = tix_uuid_check(request->event_id, "event id");
  if (status == TIX_OK && request->purchase_id != NULL) {
    status = tix_uuid_check(request->purchase_id, "purchase id");
  }
  if (status != TIX_OK) {
    return status;
  }
  if (request->quantity < 1 || request->quantity > TIX_QUANTITY_MAX) {
    return tix_fail(TIX_EINVAL, "the quantity must be between 1 and %d, not %d", TIX_QUANTITY_MAX,
                    request->quantity);
  }
  if (request->hold_seconds < 0 || request->hold_seconds > TIX_HOLD_SECONDS_MAX) {
    return tix_fail(TIX_EINVAL, "a hold must last between 0 and %d seconds, not %d",
                    TIX_HOLD_SECONDS_MAX, request->hold_seconds);
  }
  return check_customer(request->customer);
}

int tix_purchase_request_check(const tix_purchase_request *request) {
  return check_request(request);
}

int tix_purchase_id_check(const char *purchase_id) {
  return tix_uuid_check(purchase_id, "purchase id");
}

/* ------------------------------------------------- four strategies, sync */

/* One sale on one connection; *lost says whether the connection broke. */
static int sell_on_fresh_connection(tix *db, tix_strategy strategy, tix_sale *sale,
                                    tix_purchase *out, bool *lost) {
  PGconn *conn = NULL;
  *lost = false;
  int status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  status = tix_strategy_sell(conn, strategy, sale, out);
  *lost = tix_connection_lost(conn, status);
  if (!*lost) {
    tix_sql_rollback(conn);
  }
  tix_db_release(db, conn, *lost);
  return status;
}

/* The connection broke and the retry could not tell what happened. */
static int fail_unknown(const tix_sale *sale, tix_purchase *out) {
  tix_purchase_free(out);
  tix_purchase_reset(out);
  tix_sale_identify(sale, out);
  tix_fail(TIX_EUNKNOWN, "lost the connection to the database during the purchase");
  tix_fail_hint("The purchase may or may not have been made: look up purchase %s, or retry "
                "with the same purchase id.",
                sale->purchase_id);
  return TIX_EUNKNOWN;
}

static int buy_on_connection(tix *db, tix_strategy strategy, tix_sale *sale, tix_purchase *out) {
  bool first_saw_id_taken = false;
  for (int attempt = 0; attempt <= CONNECTION_RETRIES_MAX; attempt++) {
    tix_purchase_free(out);
    tix_purchase_reset(out);
    sale->id_taken = false;
    bool lost = false;
    int status = sell_on_fresh_connection(db, strategy, sale, out, &lost);
    if (attempt > 0 && tix_status_is_connection_loss(status)) {
      break; /* the first attempt may have committed: we cannot tell */
    }
    if (!lost) {
      /* Finding our id only on the retry means the first attempt committed
       * before its connection broke: to the caller that is the sale itself. */
      out->replayed = out->replayed && (attempt == 0 || first_saw_id_taken);
      if (status != TIX_OK) {
        tix_purchase_free(out); /* a failure owns no memory */
        tix_sale_identify(sale, out);
      }
      return status;
    }
    first_saw_id_taken = first_saw_id_taken || sale->id_taken;
  }
  return fail_unknown(sale, out);
}

/* --------------------------------------------------------- group commit */

/* A thread waiting in tix_purchase_buy for group commit's answer. */
typedef struct group_waiter {
  pthread_mutex_t mutex;
  pthread_cond_t answered;
  bool done;
  int status;
  tix_purchase purchase;
  tix_diag diag;
} group_waiter;

static void copy_answer(group_waiter *waiter, int status, const tix_purchase *purchase) {
  waiter->status = status;
  waiter->purchase = *purchase;
  waiter->purchase.tickets = NULL;
  waiter->purchase.ticket_count = 0;
  if (purchase->ticket_count == 0) {
    return;
  }
  waiter->purchase.tickets = calloc(purchase->ticket_count, sizeof *purchase->tickets);
  if (waiter->purchase.tickets == NULL) {
    waiter->status = TIX_ENOMEM;
    snprintf(waiter->diag.message, sizeof waiter->diag.message, "out of memory");
    return;
  }
  memcpy(waiter->purchase.tickets, purchase->tickets,
         purchase->ticket_count * sizeof *purchase->tickets);
  waiter->purchase.ticket_count = purchase->ticket_count;
}

static void wake_waiter(void *context, int status, const tix_purchase *purchase,
                        const tix_diag *diag) {
  group_waiter *waiter = context;
  pthread_mutex_lock(&waiter->mutex);
  waiter->diag = *diag;
  copy_answer(waiter, status, purchase);
  waiter->diag.status = waiter->status;
  waiter->done = true;
  pthread_cond_signal(&waiter->answered);
  pthread_mutex_unlock(&waiter->mutex);
}

static int buy_through_group(tix *db, const tix_sale *sale, tix_purchase *out) {
  group_waiter waiter = {.done = false};
  pthread_mutex_init(&waiter.mutex, NULL);
  pthread_cond_init(&waiter.answered, NULL);
  int status = tix_group_submit(db->group, sale, wake_waiter, &waiter);
  if (status == TIX_OK) {
    /* Bounded by the batch's own bounds: its connection's acquire timeout,
     * connect timeout and a bounded number of attempts. */
    pthread_mutex_lock(&waiter.mutex);
    while (!waiter.done) {
      pthread_cond_wait(&waiter.answered, &waiter.mutex);
    }
    pthread_mutex_unlock(&waiter.mutex);
    status = waiter.status;
    *out = waiter.purchase;
    if (status != TIX_OK) {
      tix_diag_set(&waiter.diag);
    }
  } else {
    tix_sale_identify(sale, out);
  }
  pthread_cond_destroy(&waiter.answered);
  pthread_mutex_destroy(&waiter.mutex);
  return status;
}

/* ------------------------------------------------------ public functions */

static int check_buy_arguments(tix *db, tix_strategy strategy, const tix_purchase_request *request,
                               tix_purchase *out) {
  if (db == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "a database handle and a place for the purchase are required");
  }
  if ((int)strategy < 0 || strategy >= TIX_STRATEGY_COUNT_) {
    return tix_fail(TIX_EINVAL, "unknown strategy %d", (int)strategy);
  }
  return check_request(request);
}

int tix_purchase_buy(tix *db, tix_strategy strategy, const tix_purchase_request *request,
                     tix_purchase *out) {
  if (out != NULL) {
    tix_purchase_reset(out);
  }
  tix_sale sale;
  int status = check_buy_arguments(db, strategy, request, out);
  if (status == TIX_OK) {
    status = tix_sale_init(&sale, request);
  }
  if (status != TIX_OK) {
    return status;
  }
  return strategy == TIX_STRATEGY_GROUP ? buy_through_group(db, &sale, out)
                                        : buy_on_connection(db, strategy, &sale, out);
}

int tix_purchase_submit(tix *db, const tix_purchase_request *request, tix_purchase_done done,
                        void *context) {
  if (db == NULL || done == NULL) {
    return tix_fail(TIX_EINVAL, "a database handle and a completion callback are required");
  }
  tix_sale sale;
  int status = check_request(request);
  if (status == TIX_OK) {
    status = tix_sale_init(&sale, request);
  }
  return status == TIX_OK ? tix_group_submit(db->group, &sale, done, context) : status;
}

void tix_group_stats_get(tix *db, tix_group_stats *out) {
  tix_group_stats_read(db->group, out);
}

int tix_purchase_get(tix *db, const char *purchase_id, tix_purchase *out) {
  if (out != NULL) {
    tix_purchase_reset(out);
  }
  if (db == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "a database handle and a place for the purchase are required");
  }
  char id[TIX_UUID_SIZE];
  int status = tix_purchase_check_id(purchase_id, id);
  if (status != TIX_OK) {
    return status;
  }
  PGconn *conn = NULL;
  status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    return status;
  }
  status = tix_purchase_load(conn, id, out);
  if (status != TIX_OK) {
    tix_purchase_free(out);
  }
  tix_db_release(db, conn, tix_connection_lost(conn, status));
  return status;
}
