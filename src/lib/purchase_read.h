/*
 * purchase_read.h — internal: purchases as every part of the engine reads
 * them back: the one column list and its readers, loading a purchase with
 * its tickets, answering a request whose purchase id is already stored
 * (a replay, or a conflict), and the event state a sale decides on. Below
 * the strategies, the batch and the hold functions, which all use it.
 */
#ifndef TIX_PURCHASE_READ_H
#define TIX_PURCHASE_READ_H

#include "sale.h"
#include "sql.h"
#include "statements.h"
#include "tix.h"

#include <libpq-fe.h>

/* The columns tix_purchase_read expects, of a purchases row aliased p. A
 * hold past its deadline reads as expired at once, released or not. */
// clang-format off
#define TIX_PURCHASE_COLUMNS                                                                      \
  "p.id::text, p.event_id::text, p.customer, p.quantity, "                                        \
  "CASE WHEN p.status = 'held' AND p.expires_at <= now() THEN 'expired' ELSE p.status END, "      \
  "coalesce(" TIX_SQL_TIMESTAMP("p.expires_at") ", ''), "                                         \
  TIX_SQL_TIMESTAMP("p.created_at") ", "                                                          \
  "p.hold_seconds"
// clang-format on
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
/* The answer for a sale whose purchase id already exists: the stored
 * purchase as a replay when the parameters match, else TIX_ECONFLICT. */
int tix_sale_answer_existing(PGconn *conn, const tix_sale *sale, tix_purchase *out);
/* Empties out: no tickets, availability unknown. Frees nothing. */
void tix_purchase_reset(tix_purchase *out);

/* TIX_EINVAL, naming what (e.g. "event id"), unless text is a UUID. */
int tix_uuid_check(const char *text, const char *what);
/* Checks a purchase id argument and copies it in lower case. */
int tix_purchase_check_id(const char *purchase_id, char id_out[TIX_UUID_SIZE]);

/* Fills out from a result of one of the TIX_SQL_EVENT_READ/LOCK… statements. */
void tix_event_state_from_result(const PGresult *result, tix_event_state *out);
/* Reads an event's state with one of the TIX_SQL_EVENT_READ/LOCK… statements. */
int tix_event_state_read(PGconn *conn, tix_statement statement, const char *event_id,
                         tix_event_state *out);

/* True when status, on conn, means the connection is gone. */
bool tix_connection_lost(PGconn *conn, int status);

#endif /* TIX_PURCHASE_READ_H */
