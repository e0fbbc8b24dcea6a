/*
 * purchase_read.c — reading purchases back (see purchase_read.h): the row
 * reader, a purchase with its tickets, the answer to a repeated purchase id,
 * and the event state a sale decides on.
 */
#include "purchase_read.h"

#include "error.h"
#include "text.h"

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

bool tix_connection_lost(PGconn *conn, int status) {
  return status != TIX_OK &&
         (tix_status_is_connection_loss(status) || PQstatus(conn) != CONNECTION_OK);
}

int tix_uuid_check(const char *text, const char *what) {
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

int tix_purchase_check_id(const char *purchase_id, char id_out[TIX_UUID_SIZE]) {
  int status = tix_uuid_check(purchase_id, "purchase id");
  for (int i = 0; status == TIX_OK && i < TIX_UUID_SIZE; i++) {
    id_out[i] = (char)tolower((unsigned char)purchase_id[i]);
  }
  return status;
}

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

int tix_purchase_load(PGconn *conn, const char *purchase_id, tix_purchase *out) {
  PGresult *result = NULL;
  const char *values[] = {purchase_id};
  int status = tix_sql_run(conn, TIX_SQL_PURCHASE_LOAD, values, &result);
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
  int status = tix_sql_run(conn, TIX_SQL_PURCHASE_STORED_REQUEST, values, &stored);
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

int tix_event_state_read(PGconn *conn, tix_statement statement, const char *event_id,
                         tix_event_state *out) {
  PGresult *result = NULL;
  const char *values[] = {event_id};
  int status = tix_sql_run(conn, statement, values, &result);
  if (status == TIX_OK) {
    tix_event_state_from_result(result, out);
  }
  PQclear(result);
  return status;
}

void tix_event_state_from_result(const PGresult *result, tix_event_state *out) {
  *out = (tix_event_state){.found = PQntuples(result) == 1};
  if (out->found) {
    out->available = atoi(PQgetvalue(result, 0, 0));
    out->version = atoi(PQgetvalue(result, 0, 1));
    out->cancelled = PQgetvalue(result, 0, 2)[0] == 't';
    out->max_per_customer = atoi(PQgetvalue(result, 0, 3));
    out->past = PQgetvalue(result, 0, 4)[0] == 't';
  }
}
