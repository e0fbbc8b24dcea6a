/*
 * batch.c — one group-commit transaction for many purchases of one event
 * (see batch.h), and what happens when it cannot simply commit: a purchase
 * id stored meanwhile by someone else (decide again), a statement the
 * database refuses (split the batch to isolate the culprit), a connection
 * lost before COMMIT (run it again on a fresh one) or during it (look the
 * ids up to learn whether it landed).
 */
#include "batch.h"

#include "db.h"
#include "error.h"
#include "purchase_read.h"
#include "release.h"
#include "sql.h"
#include "statements.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Transactions one batch may take when connections break before COMMIT or
 * purchase ids appear meanwhile; then every purchase gets the last error. */
#define BATCH_ATTEMPTS_MAX 3

/* How a transaction over a batch ended. */
typedef enum batch_outcome {
  BATCH_ANSWERED,       /* every entry has its answer */
  BATCH_RETRY,          /* rolled back: run it again from the start */
  BATCH_SPLIT,          /* the database refused a statement: isolate the culprit */
  BATCH_COMMIT_UNKNOWN, /* the connection broke during COMMIT */
} batch_outcome;

/* The sold entries sorted by purchase id, to match returned rows to them. */
typedef struct sold_index {
  tix_batch_entry **entries;
  size_t count;
} sold_index;

/* ------------------------------------------------------------- answers */

/* Records status with the thread's diagnostic (or, when none describes it,
 * the status's own sentence) as the entry's answer. */
static void answer_failure(tix_batch_entry *entry, int status) {
  if (tix_last_diag()->status != status) {
    tix_fail(status, "%s", tix_strerror(status));
  }
  entry->status = status;
  entry->diag = *tix_last_diag();
  tix_purchase_free(&entry->purchase);
  tix_purchase_reset(&entry->purchase);
  tix_sale_identify(&entry->sale, &entry->purchase);
}

/* The same answer for every entry, e.g. the database being unreachable. */
static void answer_all(tix_batch_entry *entries, size_t count, int status) {
  for (size_t i = 0; i < count; i++) {
    answer_failure(&entries[i], status);
  }
}

static void answer_refusal(tix_batch_entry *entry, const tix_event_state *event) {
  answer_failure(entry, tix_sale_fail(&entry->sale, event));
  entry->purchase.available_tickets = entry->sale.available_after;
}

static void answer_unknown(tix_batch_entry *entry) {
  tix_fail(TIX_EUNKNOWN, "lost the connection to the database while committing the purchase");
  tix_fail_hint("The purchase may or may not have been made: look up purchase %s, or retry "
                "with the same purchase id.",
                entry->sale.purchase_id);
  answer_failure(entry, TIX_EUNKNOWN);
}

/* Replays and conflicts, once the batch that may have stored their first
 * use is committed. */
static void answer_existing_ids(PGconn *conn, tix_batch_entry *entries, size_t count) {
  for (size_t i = 0; i < count; i++) {
    tix_batch_entry *entry = &entries[i];
    if (entry->sale.verdict != TIX_EUNIQUE) {
      continue;
    }
    tix_purchase_free(&entry->purchase);
    tix_purchase_reset(&entry->purchase);
    int status = tix_sale_answer_existing(conn, &entry->sale, &entry->purchase);
    if (status == TIX_OK) {
      entry->status = TIX_OK;
    } else {
      answer_failure(entry, status);
    }
  }
}

/* ---------------------------------------------------------- sold index */

static int compare_entry_ids(const void *left, const void *right) {
  const tix_batch_entry *const *a = left, *const *b = right;
  return strcmp((*a)->sale.purchase_id, (*b)->sale.purchase_id);
}

static int sold_index_build(tix_batch_entry *entries, size_t count, sold_index *index) {
  index->count = 0;
  index->entries = calloc(count, sizeof *index->entries);
  if (index->entries == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory for a batch of %zu purchases", count);
  }
  for (size_t i = 0; i < count; i++) {
    if (entries[i].sale.verdict == TIX_OK) {
      index->entries[index->count++] = &entries[i];
    }
  }
  qsort(index->entries, index->count, sizeof *index->entries, compare_entry_ids);
  return TIX_OK;
}

static int compare_id_to_entry(const void *key, const void *element) {
  const tix_batch_entry *const *entry = element;
  return strcmp(key, (*entry)->sale.purchase_id);
}

static tix_batch_entry *sold_index_find(const sold_index *index, const char *purchase_id) {
  tix_batch_entry **found = bsearch(purchase_id, index->entries, index->count,
                                    sizeof *index->entries, compare_id_to_entry);
  return found != NULL ? *found : NULL;
}

/* ------------------------------------------------------------- context */

/* Marks the entries whose purchase id is stored already. Rare: a scan. */
static void mark_id_taken(tix_batch_entry *entries, size_t count, const char *purchase_id) {
  for (size_t i = 0; i < count; i++) {
    if (strcmp(entries[i].sale.purchase_id, purchase_id) == 0) {
      entries[i].sale.id_taken = true;
    }
  }
}

static void add_customer_tickets(tix_batch_entry *entries, size_t count, const char *customer,
                                 int tickets) {
  for (size_t i = 0; i < count; i++) {
    const char *own = entries[i].sale.customer;
    if (own != NULL && strcmp(own, customer) == 0) {
      entries[i].sale.customer_bought = tickets;
    }
  }
}

/* The ids of every entry and the names of its customers, for the context
 * read (a customer named twice is simply matched twice). */
static int context_arrays(const tix_batch_entry *entries, size_t count, tix_sql_array *ids,
                          tix_sql_array *customers) {
  for (size_t i = 0; i < count; i++) {
    tix_sql_array_add(ids, entries[i].sale.purchase_id);
    if (entries[i].sale.customer != NULL) {
      tix_sql_array_add(customers, entries[i].sale.customer);
    }
  }
  return tix_sql_array_finish(ids) != NULL && tix_sql_array_finish(customers) != NULL ? TIX_OK
                                                                                      : TIX_ENOMEM;
}

/* Marks the entries whose ids are taken and what each customer holds.
 * Per customer the scan is linear in the batch; only purchases with a
 * customer pay for it. */
static void apply_context(const PGresult *result, tix_batch_entry *entries, size_t count) {
  for (int row = 0; row < PQntuples(result); row++) {
    if (PQgetisnull(result, row, 1)) {
      mark_id_taken(entries, count, PQgetvalue(result, row, 0));
    } else {
      add_customer_tickets(entries, count, PQgetvalue(result, row, 0),
                           atoi(PQgetvalue(result, row, 1)));
    }
  }
}

/* Reads the results of the opening pipeline, in the order it was sent. */
static int read_opening(PGconn *conn, tix_batch_entry *entries, size_t count,
                        tix_event_state *event) {
  PGresult *result = NULL;
  int status = tix_pipeline_next(conn, NULL); /* BEGIN */
  if (status == TIX_OK) {
    status = tix_pipeline_next(conn, &result);
  }
  if (status == TIX_OK) {
    tix_event_state_from_result(result, event);
    PQclear(result);
    status = tix_pipeline_next(conn, &result);
  }
  if (status == TIX_OK) {
    tix_holds_release_read(result, TIX_RELEASE_MAX, NULL, event);
    PQclear(result);
    status = tix_pipeline_next(conn, &result);
  }
  if (status == TIX_OK) {
    apply_context(result, entries, count);
    PQclear(result);
  }
  return status;
}

/* One round trip: BEGIN, the event row locked, its lapsed holds released,
 * and which ids are taken and what the customers hold. The transaction is
 * left open. */
static int open_and_read(PGconn *conn, tix_batch_entry *entries, size_t count,
                         tix_event_state *event) {
  const char *event_id = entries[0].sale.event_id;
  tix_sql_array ids, customers;
  tix_sql_array_init(&ids);
  tix_sql_array_init(&customers);
  tix_release_values release;
  tix_holds_release_values(event_id, NULL, TIX_RELEASE_MAX, &release);
  const char *lock_values[] = {event_id};
  int status = context_arrays(entries, count, &ids, &customers);
  if (status == TIX_OK) {
    status = tix_pipeline_enter(conn);
  }
  if (status == TIX_OK) {
    const char *context_values[] = {ids.text, event_id, customers.text};
    bool sent = tix_pipeline_send_command(conn, "BEGIN") == TIX_OK &&
                tix_pipeline_send(conn, TIX_SQL_EVENT_LOCK_FOR_BATCH, lock_values) == TIX_OK &&
                tix_pipeline_send(conn, TIX_SQL_HOLDS_RELEASE_LAPSED, release.values) == TIX_OK &&
                tix_pipeline_send(conn, TIX_SQL_BATCH_CONTEXT, context_values) == TIX_OK &&
                tix_pipeline_sync(conn) == TIX_OK;
    status = sent ? read_opening(conn, entries, count, event) : tix_last_diag()->status;
    tix_pipeline_exit(conn);
  }
  tix_sql_array_free(&ids);
  tix_sql_array_free(&customers);
  return status;
}

/* --------------------------------------------------------------- writes */

/* The sold purchases as array parameters, in the order of the sold index. */
typedef struct sale_arrays {
  tix_sql_array ids, customers, quantities, holds;
  char tickets[16]; /* all of them: what the counter loses */
} sale_arrays;

static int sale_arrays_build(const sold_index *sold, sale_arrays *arrays) {
  tix_sql_array_init(&arrays->ids);
  tix_sql_array_init(&arrays->customers);
  tix_sql_array_init(&arrays->quantities);
  tix_sql_array_init(&arrays->holds);
  int tickets = 0;
  for (size_t i = 0; i < sold->count; i++) {
    const tix_sale *sale = &sold->entries[i]->sale;
    tix_sql_array_add(&arrays->ids, sale->purchase_id);
    tix_sql_array_add(&arrays->customers, sale->customer);
    tix_sql_array_add_int(&arrays->quantities, sale->quantity);
    tix_sql_array_add_int(&arrays->holds, sale->hold_seconds);
    tickets += sale->quantity;
  }
  snprintf(arrays->tickets, sizeof arrays->tickets, "%d", tickets);
  bool built = tix_sql_array_finish(&arrays->ids) && tix_sql_array_finish(&arrays->customers) &&
               tix_sql_array_finish(&arrays->quantities) && tix_sql_array_finish(&arrays->holds);
  return built ? TIX_OK : TIX_ENOMEM;
}

static void sale_arrays_free(sale_arrays *arrays) {
  tix_sql_array_free(&arrays->ids);
  tix_sql_array_free(&arrays->customers);
  tix_sql_array_free(&arrays->quantities);
  tix_sql_array_free(&arrays->holds);
}

/* Fills a sold entry's purchase from its sale and its inserted row. */
static void fill_purchase(tix_batch_entry *entry, const PGresult *result, int row) {
  tix_purchase *purchase = &entry->purchase;
  tix_sale_identify(&entry->sale, purchase);
  tix_text_copy(purchase->status, sizeof purchase->status,
                entry->sale.hold_seconds > 0 ? "held" : "confirmed");
  tix_text_copy(purchase->expires_at, sizeof purchase->expires_at, PQgetvalue(result, row, 1));
  tix_text_copy(purchase->created_at, sizeof purchase->created_at, PQgetvalue(result, row, 2));
  purchase->available_tickets = entry->sale.available_after;
}

static void fill_purchases(const PGresult *result, const sold_index *sold) {
  for (int row = 0; row < PQntuples(result); row++) {
    tix_batch_entry *entry = sold_index_find(sold, PQgetvalue(result, row, 0));
    if (entry != NULL) {
      fill_purchase(entry, result, row);
    }
  }
}

static int allocate_tickets(const sold_index *sold) {
  for (size_t i = 0; i < sold->count; i++) {
    tix_purchase *purchase = &sold->entries[i]->purchase;
    purchase->tickets = calloc((size_t)sold->entries[i]->sale.quantity, sizeof *purchase->tickets);
    if (purchase->tickets == NULL) {
      return tix_fail(TIX_ENOMEM, "out of memory for the tickets of a batch");
    }
  }
  return TIX_OK;
}

static int compare_tickets(const void *left, const void *right) {
  return strcmp(left, right);
}

/* Hands each returned ticket to its purchase, sorted as every answer is. */
static int distribute_tickets(const PGresult *result, const sold_index *sold) {
  int status = allocate_tickets(sold);
  for (int row = 0; status == TIX_OK && row < PQntuples(result); row++) {
    tix_batch_entry *entry = sold_index_find(sold, PQgetvalue(result, row, 0));
    tix_purchase *purchase = entry != NULL ? &entry->purchase : NULL;
    if (purchase == NULL || purchase->ticket_count >= (size_t)entry->sale.quantity) {
      status = tix_fail(TIX_EINTERNAL, "the database returned a ticket the batch did not sell");
      break;
    }
    tix_text_copy(purchase->tickets[purchase->ticket_count++], TIX_UUID_SIZE,
                  PQgetvalue(result, row, 1));
  }
  for (size_t i = 0; status == TIX_OK && i < sold->count; i++) {
    tix_purchase *purchase = &sold->entries[i]->purchase;
    qsort(purchase->tickets, purchase->ticket_count, sizeof *purchase->tickets, compare_tickets);
  }
  return status;
}

/* Reads the closing pipeline's results, in the order it was sent. */
static int read_writes(PGconn *conn, const sold_index *sold) {
  PGresult *result = NULL;
  int status = tix_pipeline_next(conn, NULL); /* the counter */
  if (status == TIX_OK) {
    status = tix_pipeline_next(conn, &result);
  }
  if (status == TIX_OK) {
    fill_purchases(result, sold);
    PQclear(result);
    status = tix_pipeline_next(conn, &result);
  }
  if (status == TIX_OK) {
    status = distribute_tickets(result, sold);
    PQclear(result);
  }
  int committed = tix_pipeline_next(conn, NULL);
  return status != TIX_OK ? status : committed;
}

/* One round trip: the counter once, all purchases, all tickets, COMMIT.
 * *commit_sent says whether COMMIT reached the wire: from then on a broken
 * connection leaves the outcome unknown. */
static int write_and_commit(PGconn *conn, const char *event_id, const sold_index *sold,
                            bool *commit_sent) {
  sale_arrays arrays;
  *commit_sent = false;
  int status = sale_arrays_build(sold, &arrays);
  if (status == TIX_OK) {
    status = tix_pipeline_enter(conn);
  }
  if (status == TIX_OK) {
    const char *take[] = {event_id, arrays.tickets};
    const char *purchases[] = {event_id, arrays.ids.text, arrays.customers.text,
                               arrays.quantities.text, arrays.holds.text};
    const char *tickets[] = {event_id, arrays.ids.text, arrays.quantities.text};
    *commit_sent = tix_pipeline_send(conn, TIX_SQL_BATCH_TAKE_TICKETS, take) == TIX_OK &&
                   tix_pipeline_send(conn, TIX_SQL_BATCH_INSERT_PURCHASES, purchases) == TIX_OK &&
                   tix_pipeline_send(conn, TIX_SQL_BATCH_INSERT_TICKETS, tickets) == TIX_OK &&
                   tix_pipeline_send_command(conn, "COMMIT") == TIX_OK &&
                   tix_pipeline_sync(conn) == TIX_OK;
    status = *commit_sent ? read_writes(conn, sold) : tix_last_diag()->status;
    tix_pipeline_exit(conn);
  }
  sale_arrays_free(&arrays);
  return status;
}

/* ------------------------------------------------------- the transaction */

static void reset_entries(tix_batch_entry *entries, size_t count) {
  for (size_t i = 0; i < count; i++) {
    tix_sale *sale = &entries[i].sale;
    sale->id_taken = false;
    sale->customer_bought = 0;
    sale->available_after = -1;
    tix_purchase_free(&entries[i].purchase);
    tix_purchase_reset(&entries[i].purchase);
    entries[i].status = TIX_OK;
  }
}

/* The transaction opened, the context read and every entry decided. */
static int open_and_decide(PGconn *conn, tix_batch_entry *entries, size_t count,
                           tix_event_state *event) {
  int status = open_and_read(conn, entries, count, event);
  if (status != TIX_OK) {
    return status;
  }
  tix_sale *sales = calloc(count, sizeof *sales); /* tix_sales_decide wants them side by side */
  if (sales == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory for a batch of %zu purchases", count);
  }
  for (size_t i = 0; i < count; i++) {
    sales[i] = entries[i].sale;
  }
  tix_sales_decide(event, sales, count);
  for (size_t i = 0; i < count; i++) {
    entries[i].sale = sales[i];
  }
  free(sales);
  return TIX_OK;
}

static void answer_decided(PGconn *conn, tix_batch_entry *entries, size_t count,
                           const tix_event_state *event) {
  for (size_t i = 0; i < count; i++) {
    int verdict = entries[i].sale.verdict;
    if (verdict != TIX_OK && verdict != TIX_EUNIQUE) {
      answer_refusal(&entries[i], event);
    }
  }
  answer_existing_ids(conn, entries, count);
}

static bool is_purchase_id_taken(int status) {
  return status == TIX_EUNIQUE && strcmp(tix_last_diag()->constraint, "purchases_pkey") == 0;
}

/* Writes and commits what was decided. */
static batch_outcome commit_decided(PGconn *conn, tix_batch_entry *entries, size_t count,
                                    const tix_event_state *event) {
  sold_index sold = {0};
  bool commit_sent = false;
  int status = sold_index_build(entries, count, &sold);
  if (status == TIX_OK && sold.count > 0) {
    status = write_and_commit(conn, entries[0].sale.event_id, &sold, &commit_sent);
  } else if (status == TIX_OK) { /* nothing sold; released holds stay released */
    commit_sent = true;
    status = tix_sql_exec(conn, "COMMIT", 0, NULL, NULL);
  }
  free(sold.entries);
  if (commit_sent && tix_connection_lost(conn, status)) {
    return BATCH_COMMIT_UNKNOWN;
  }
  if (status != TIX_OK) {
    /* A lost connection before COMMIT, or an id stored meanwhile by someone
     * else: start again. Anything else the database refused: find the
     * purchase it refused. */
    bool again = tix_connection_lost(conn, status) || is_purchase_id_taken(status);
    tix_sql_rollback(conn);
    return again ? BATCH_RETRY : BATCH_SPLIT;
  }
  answer_decided(conn, entries, count, event);
  return BATCH_ANSWERED;
}

/* The batch's one transaction: BEGIN goes out in open_and_read's pipeline,
 * COMMIT in write_and_commit's (or alone when nothing sold), and every
 * failure before COMMIT is rolled back here or in commit_decided. */
static batch_outcome run_transaction(PGconn *conn, tix_batch_entry *entries, size_t count,
                                     tix_event_state *event) {
  reset_entries(entries, count);
  int status = open_and_decide(conn, entries, count, event);
  if (status != TIX_OK) {
    bool lost = tix_connection_lost(conn, status);
    tix_sql_rollback(conn);
    if (!lost) {
      answer_all(entries, count, status);
    }
    return lost ? BATCH_RETRY : BATCH_ANSWERED;
  }
  return commit_decided(conn, entries, count, event);
}

/* ------------------------------------------------- a COMMIT gone silent */

static int count_stored(PGconn *conn, const tix_batch_entry *entries, size_t count,
                        size_t *sold_out, long *stored_out) {
  tix_sql_array ids;
  tix_sql_array_init(&ids);
  *sold_out = 0;
  for (size_t i = 0; i < count; i++) {
    if (entries[i].sale.verdict == TIX_OK) {
      tix_sql_array_add(&ids, entries[i].sale.purchase_id);
      (*sold_out)++;
    }
  }
  const char *values[] = {tix_sql_array_finish(&ids)};
  PGresult *result = NULL;
  int status = values[0] != NULL ? tix_sql_run(conn, TIX_SQL_BATCH_COUNT_STORED, values, &result)
                                 : TIX_ENOMEM;
  if (status == TIX_OK) {
    *stored_out = atol(PQgetvalue(result, 0, 0));
  }
  PQclear(result);
  tix_sql_array_free(&ids);
  return status;
}

/* The batch committed but its answers may not have arrived: each sold
 * purchase is read back as stored. */
static void reload_sold(PGconn *conn, tix_batch_entry *entries, size_t count) {
  for (size_t i = 0; i < count; i++) {
    tix_batch_entry *entry = &entries[i];
    if (entry->sale.verdict != TIX_OK) {
      continue;
    }
    tix_purchase_free(&entry->purchase);
    tix_purchase_reset(&entry->purchase);
    int status = tix_purchase_load(conn, entry->sale.purchase_id, &entry->purchase);
    if (status != TIX_OK) {
      answer_failure(entry, status);
    }
  }
}

/* The connection broke after COMMIT was sent. A transaction lands whole or
 * not at all, so the sold ids, looked up on a fresh connection, tell which:
 * all there, the answers stand; none there, the batch runs again. */
static batch_outcome resolve_commit(tix *db, tix_batch_entry *entries, size_t count,
                                    const tix_event_state *event) {
  PGconn *conn = NULL;
  size_t sold = 0;
  long stored = -1;
  int status = tix_db_acquire(db, &conn);
  if (status == TIX_OK) {
    status = count_stored(conn, entries, count, &sold, &stored);
  }
  batch_outcome outcome = BATCH_COMMIT_UNKNOWN;
  if (status == TIX_OK && stored == (long)sold) {
    reload_sold(conn, entries, count);
    answer_decided(conn, entries, count, event);
    outcome = BATCH_ANSWERED;
  } else if (status == TIX_OK && stored == 0) {
    outcome = BATCH_RETRY;
  }
  if (conn != NULL) {
    tix_db_release(db, conn, tix_connection_lost(conn, status));
  }
  return outcome;
}

static void answer_commit_unknown(tix_batch_entry *entries, size_t count,
                                  const tix_event_state *event) {
  for (size_t i = 0; i < count; i++) {
    int verdict = entries[i].sale.verdict;
    if (verdict == TIX_OK || verdict == TIX_EUNIQUE) {
      answer_unknown(&entries[i]);
    } else {
      answer_refusal(&entries[i], event);
    }
  }
}

/* ------------------------------------------------------------ the loop */

/* One transaction on a pooled connection, resolved when COMMIT went silent. */
static batch_outcome run_on_pool(tix *db, tix_batch_entry *entries, size_t count,
                                 tix_batch_report *report) {
  PGconn *conn = NULL;
  int status = tix_db_acquire(db, &conn);
  if (status != TIX_OK) {
    answer_all(entries, count, status);
    return BATCH_ANSWERED;
  }
  report->transactions++;
  tix_event_state event;
  batch_outcome outcome = run_transaction(conn, entries, count, &event);
  tix_db_release(db, conn, PQstatus(conn) != CONNECTION_OK);
  if (outcome == BATCH_COMMIT_UNKNOWN) {
    outcome = resolve_commit(db, entries, count, &event);
    if (outcome == BATCH_COMMIT_UNKNOWN) {
      answer_commit_unknown(entries, count, &event);
      outcome = BATCH_ANSWERED;
    }
  }
  return outcome;
}

void tix_batch_commit(tix *db, tix_batch_entry *entries, size_t count, tix_batch_report *report) {
  if (count == 0) {
    return;
  }
  batch_outcome outcome = BATCH_RETRY;
  for (int attempt = 0; attempt < BATCH_ATTEMPTS_MAX && outcome == BATCH_RETRY; attempt++) {
    outcome = run_on_pool(db, entries, count, report);
  }
  if (outcome == BATCH_RETRY) {
    tix_fail(TIX_EUNAVAILABLE, "lost the connection to the database during the purchase");
    tix_fail_hint("Nothing was sold; try again.");
    answer_all(entries, count, TIX_EUNAVAILABLE);
  } else if (outcome == BATCH_SPLIT && count == 1) {
    answer_all(entries, count, tix_last_diag()->status);
  } else if (outcome == BATCH_SPLIT) {
    /* Halves, in order, so earlier purchases keep their place in line. */
    report->splits++;
    size_t half = count / 2;
    tix_batch_commit(db, entries, half, report);
    tix_batch_commit(db, entries + half, count - half, report);
  }
}
