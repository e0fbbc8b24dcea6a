/*
 * purchase.c — the public purchase functions: strategies by name, argument
 * validation, purchase ids, idempotent replays, reading purchases back, and
 * the one retry on a fresh connection when the database drops ours
 * mid-purchase. The strategies themselves live in strategy.c, holds and
 * refunds in hold.c.
 */
#include "purchase.h"

#include "db.h"
#include "error.h"
#include "sql.h"
#include "text.h"

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* A purchase whose connection broke is tried once more on a fresh one: the
 * purchase id makes that safe (the retry replays what committed, or sells
 * what rolled back); a second break means the database is really gone. */
#define CONNECTION_RETRIES_MAX 1

static const char *const strategy_names[TIX_STRATEGY_COUNT_] = {
    [TIX_STRATEGY_LOCKING] = "locking",
    [TIX_STRATEGY_OPTIMISTIC] = "optimistic",
    [TIX_STRATEGY_ATOMIC] = "atomic",
    [TIX_STRATEGY_SERIALIZABLE] = "serializable",
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
  tix_fail_hint("Use locking, optimistic, atomic or serializable.");
  return TIX_EINVAL;
}

const char *tix_strategy_name(tix_strategy strategy) {
  if ((int)strategy < 0 || strategy >= TIX_STRATEGY_COUNT_) {
    return "unknown";
  }
  return strategy_names[strategy];
}

/* An unknown name falls back to locking, the strategy every other one is
 * measured against, rather than failing a program that cannot report it. */
tix_strategy tix_strategy_from_env(void) {
  const char *text = getenv("TIX_STRATEGY");
  tix_strategy strategy = TIX_STRATEGY_LOCKING;
  if (text != NULL && text[0] != '\0' && tix_strategy_parse(text, &strategy) != TIX_OK) {
    tix_diag_clear();
    strategy = TIX_STRATEGY_LOCKING;
  }
  return strategy;
}

/* ------------------------------------------------------------ validation */

static int check_uuid(const char *text, const char *what) {
  if (text == NULL) {
    return tix_fail(TIX_EINVAL, "the %s is required", what);
  }
  if (!tix_uuid_is_valid(text)) {
    tix_fail(TIX_EINVAL, "the %s \"%.40s\" is not a UUID", what, text);
    tix_fail_hint("A UUID looks like 123e4567-e89b-42d3-a456-426614174000.");
    return TIX_EINVAL;
  }
  return TIX_OK;
}

static int check_customer(const char *customer) {
  if (customer == NULL) {
    return TIX_OK;
  }
  if (customer[0] == '\0') {
    tix_fail(TIX_EINVAL, "the customer must not be empty");
    tix_fail_hint("Leave the customer out for an anonymous purchase.");
    return TIX_EINVAL;
  }
  if (strlen(customer) > TIX_CUSTOMER_MAX_BYTES) {
    return tix_fail(TIX_EINVAL, "the customer must be at most %d bytes long",
                    TIX_CUSTOMER_MAX_BYTES);
  }
  if (tix_utf8_length(customer, strlen(customer)) < 0) {
    return tix_fail(TIX_EINVAL, "the customer is not valid UTF-8 text");
  }
  return TIX_OK;
}

static int check_request(const tix_purchase_request *request) {
  if (request == NULL) {
    return tix_fail(TIX_EINVAL, "a purchase request is required");
  }
  int status = check_uuid(request->event_id, "event id");
  if (status == TIX_OK && request->purchase_id != NULL) {
    status = check_uuid(request->purchase_id, "purchase id");
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
  return check_uuid(purchase_id, "purchase id");
}

static void copy_lowercase(char destination[TIX_UUID_SIZE], const char *uuid) {
  size_t i = 0;
  for (; i < TIX_UUID_SIZE - 1 && uuid[i] != '\0'; i++) {
    destination[i] = (char)tolower((unsigned char)uuid[i]);
  }
  destination[i] = '\0';
}

/* A version 4 UUID from the kernel's generator, made here rather than by
 * the database so that the retry after a lost connection reuses it. */
static int generate_uuid(char destination[TIX_UUID_SIZE]) {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
    return tix_fail(TIX_EINTERNAL, "could not make a purchase id");
  }
  bytes[6] = (unsigned char)((bytes[6] & 0x0F) | 0x40);
  bytes[8] = (unsigned char)((bytes[8] & 0x3F) | 0x80);
  static const char digits[] = "0123456789abcdef";
  char *cursor = destination;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      *cursor++ = '-';
    }
    *cursor++ = digits[bytes[i] >> 4];
    *cursor++ = digits[bytes[i] & 0x0F];
  }
  *cursor = '\0';
  return TIX_OK;
}

static int sale_init(tix_sale *sale, const tix_purchase_request *request) {
  *sale = (tix_sale){
      .customer = request->customer,
      .quantity = request->quantity,
      .hold_seconds = request->hold_seconds,
      .available_after = -1,
  };
  copy_lowercase(sale->event_id, request->event_id);
  if (request->purchase_id != NULL) {
    copy_lowercase(sale->purchase_id, request->purchase_id);
    return TIX_OK;
  }
  return generate_uuid(sale->purchase_id);
}

/* ------------------------------------------------------------ statements */

bool tix_purchase_connection_lost(PGconn *conn, int status) {
  return status != TIX_OK &&
         (tix_status_is_connection_loss(status) || PQstatus(conn) != CONNECTION_OK);
}

/* --------------------------------------------------------------- results */

void tix_purchase_reset(tix_purchase *out) {
  *out = (tix_purchase){.available_tickets = -1};
}

void tix_purchase_free(tix_purchase *purchase) {
  if (purchase == NULL) {
    return;
  }
  free(purchase->tickets);
  purchase->tickets = NULL;
  purchase->ticket_count = 0;
}

void tix_purchase_read(const PGresult *result, int row, tix_purchase *out) {
  assert(PQnfields(result) >= TIX_PURCHASE_COLUMN_COUNT);
  tix_text_copy(out->purchase_id, sizeof out->purchase_id, PQgetvalue(result, row, 0));
  tix_text_copy(out->event_id, sizeof out->event_id, PQgetvalue(result, row, 1));
  tix_text_copy(out->customer, sizeof out->customer, PQgetvalue(result, row, 2));
  out->quantity = atoi(PQgetvalue(result, row, 3));
  tix_text_copy(out->status, sizeof out->status, PQgetvalue(result, row, 4));
  tix_text_copy(out->expires_at, sizeof out->expires_at, PQgetvalue(result, row, 5));
  tix_text_copy(out->created_at, sizeof out->created_at, PQgetvalue(result, row, 6));
}

static int compare_tickets(const void *left, const void *right) {
  return strcmp(left, right);
}

int tix_purchase_read_tickets(const PGresult *result, int column, tix_purchase *out) {
  tix_purchase_free(out);
  int rows = PQntuples(result);
  if (rows == 0) {
    return TIX_OK;
  }
  out->tickets = calloc((size_t)rows, sizeof *out->tickets);
  if (out->tickets == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  for (int row = 0; row < rows; row++) {
    if (!PQgetisnull(result, row, column)) {
      tix_text_copy(out->tickets[out->ticket_count++], TIX_UUID_SIZE,
                    PQgetvalue(result, row, column));
    }
  }
  qsort(out->tickets, out->ticket_count, sizeof *out->tickets, compare_tickets);
  return TIX_OK;
}

static const char load_sql[] = "SELECT " TIX_PURCHASE_COLUMNS ", e.available_tickets, t.id::text"
                               "  FROM purchases p"
                               "  JOIN events e ON e.id = p.event_id"
                               "  LEFT JOIN tickets t ON t.purchase_id = p.id"
                               " WHERE p.id = $1";

int tix_purchase_load(PGconn *conn, const char *purchase_id, tix_purchase *out) {
  PGresult *result = NULL;
  const char *values[] = {purchase_id};
  int status = tix_sql_exec(conn, load_sql, 1, values, &result);
  if (status != TIX_OK) {
    return status;
  }
  if (PQntuples(result) == 0) {
    status = tix_fail(TIX_ENOTFOUND, "purchase %s does not exist", purchase_id);
    goto clear_result;
  }
  tix_purchase_read(result, 0, out);
  out->available_tickets = atoi(PQgetvalue(result, 0, TIX_PURCHASE_COLUMN_COUNT));
  status = tix_purchase_read_tickets(result, TIX_PURCHASE_COLUMN_COUNT + 1, out);

clear_result:
  PQclear(result);
  return status;
}

/* ----------------------------------------------------------- idempotency */

static const char stored_request_sql[] = "SELECT p.event_id::text, p.customer, p.quantity,"
                                         "       p.hold_seconds"
                                         "  FROM purchases p WHERE p.id = $1";

/* Names the first parameter that differs from the stored purchase's, or
 * NULL when the request repeats it exactly. */
static const char *differing_parameter(const PGresult *stored, const tix_sale *sale) {
  bool stored_anonymous = PQgetisnull(stored, 0, 1);
  if (strcmp(PQgetvalue(stored, 0, 0), sale->event_id) != 0) {
    return "event";
  }
  if (stored_anonymous != (sale->customer == NULL) ||
      (!stored_anonymous && strcmp(PQgetvalue(stored, 0, 1), sale->customer) != 0)) {
    return "customer";
  }
  if (atoi(PQgetvalue(stored, 0, 2)) != sale->quantity) {
    return "quantity";
  }
  if (atoi(PQgetvalue(stored, 0, 3)) != sale->hold_seconds) {
    return "hold";
  }
  return NULL;
}

int tix_sale_answer_existing(PGconn *conn, const tix_sale *sale, tix_purchase *out) {
  PGresult *stored = NULL;
  const char *values[] = {sale->purchase_id};
  int status = tix_sql_exec(conn, stored_request_sql, 1, values, &stored);
  if (status != TIX_OK) {
    return status;
  }
  if (PQntuples(stored) == 0) { /* only a rolled-back insert had it */
    status =
        tix_fail(TIX_EINTERNAL, "purchase %s vanished while being answered", sale->purchase_id);
    goto clear_stored;
  }
  const char *difference = differing_parameter(stored, sale);
  if (difference != NULL) {
    status = tix_fail(TIX_ECONFLICT, "purchase id %s was already used for a different request",
                      sale->purchase_id);
    tix_fail_detail("The earlier request had a different %s.", difference);
    tix_fail_hint("Send a new purchase id for a new purchase.");
    goto clear_stored;
  }
  status = tix_purchase_load(conn, sale->purchase_id, out);
  out->replayed = status == TIX_OK;

clear_stored:
  PQclear(stored);
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
  *lost = tix_purchase_connection_lost(conn, status);
  if (!*lost) {
    tix_sql_rollback(conn);
  }
  tix_db_release(db, conn, *lost);
  return status;
}

int tix_purchase_buy(tix *db, tix_strategy strategy, const tix_purchase_request *request,
                     tix_purchase *out) {
  if (out != NULL) {
    tix_purchase_reset(out);
  }
  tix_sale sale;
  int status = check_buy_arguments(db, strategy, request, out);
  if (status == TIX_OK) {
    status = sale_init(&sale, request);
  }
  if (status != TIX_OK) {
    return status;
  }
  bool first_saw_id_taken = false;
  for (int attempt = 0; attempt <= CONNECTION_RETRIES_MAX; attempt++) {
    tix_purchase_free(out);
    tix_purchase_reset(out);
    sale.id_taken = false;
    bool lost = false;
    status = sell_on_fresh_connection(db, strategy, &sale, out, &lost);
    if (!lost) {
      /* Finding our id only on the retry means the first attempt committed
       * before its connection broke: to the caller that is the sale itself. */
      out->replayed = out->replayed && (attempt == 0 || first_saw_id_taken);
      if (status != TIX_OK) {
        tix_purchase_free(out); /* a failure owns no memory */
      }
      return status;
    }
    first_saw_id_taken = first_saw_id_taken || sale.id_taken;
  }
  tix_purchase_free(out);
  tix_fail(TIX_EUNAVAILABLE, "lost the connection to the database during the purchase");
  tix_fail_hint("The purchase may or may not have been made: look up purchase %s, or retry "
                "with the same purchase id.",
                sale.purchase_id);
  return TIX_EUNAVAILABLE;
}

int tix_purchase_check_id(const char *purchase_id, char id_out[TIX_UUID_SIZE]) {
  int status = check_uuid(purchase_id, "purchase id");
  if (status == TIX_OK) {
    copy_lowercase(id_out, purchase_id);
  }
  return status;
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
  tix_db_release(db, conn, tix_purchase_connection_lost(conn, status));
  return status;
}
