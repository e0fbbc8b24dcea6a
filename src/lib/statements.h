/*
 * statements.h — internal: the statements of the selling path, prepared
 * once on every pooled connection (and again on its replacement after a
 * reconnect), so a sale spends no server time parsing and planning.
 *
 * X(NAME, parameter count): the SQL itself is in statements.c, one place to
 * read everything a sale, a batch or a hold asks of the database.
 */
#ifndef TIX_STATEMENTS_H
#define TIX_STATEMENTS_H

#include <libpq-fe.h>

#define TIX_STATEMENT_TABLE(X)                                                                     \
  X(TIX_SQL_EVENT_GET, 1)                                                                          \
  X(TIX_SQL_EVENT_READ, 1)                                                                         \
  X(TIX_SQL_EVENT_LOCK, 1)                                                                         \
  X(TIX_SQL_EVENT_LOCK_FOR_BATCH, 1)                                                               \
  X(TIX_SQL_EVENT_LOCK_FOR_RELEASE, 1)                                                             \
  X(TIX_SQL_EVENT_TRY_LOCK_FOR_RELEASE, 1)                                                         \
  X(TIX_SQL_HOLDS_RELEASE_LAPSED, 3)                                                               \
  X(TIX_SQL_SALE_CONTEXT, 3)                                                                       \
  X(TIX_SQL_SALE_TAKE_TICKETS, 3)                                                                  \
  X(TIX_SQL_SALE_INSERT_PURCHASE, 5)                                                               \
  X(TIX_SQL_SALE_INSERT_TICKETS, 3)                                                                \
  X(TIX_SQL_SALE_ATOMIC, 5)                                                                        \
  X(TIX_SQL_BATCH_CONTEXT, 3)                                                                      \
  X(TIX_SQL_BATCH_TAKE_TICKETS, 2)                                                                 \
  X(TIX_SQL_BATCH_INSERT_PURCHASES, 5)                                                             \
  X(TIX_SQL_BATCH_INSERT_TICKETS, 3)                                                               \
  X(TIX_SQL_BATCH_COUNT_STORED, 1)                                                                 \
  X(TIX_SQL_PURCHASE_LOAD, 1)                                                                      \
  X(TIX_SQL_PURCHASE_STORED_REQUEST, 1)                                                            \
  X(TIX_SQL_PURCHASE_CONFIRM, 1)

typedef enum tix_statement {
#define TIX_STATEMENT_ENUM_(name, parameters) name,
  TIX_STATEMENT_TABLE(TIX_STATEMENT_ENUM_)
#undef TIX_STATEMENT_ENUM_
      TIX_STATEMENT_COUNT_
} tix_statement;

/* Prepares every statement on conn, in one round trip. Fits the pool's
 * connect hook (context unused). TIX_ESCHEMA when the schema is behind. */
int tix_statements_prepare(PGconn *conn, void *context);

/* Runs a prepared statement with its parameters (text format), like
 * tix_sql_exec: on success *result_out (when given) owns the result. */
int tix_sql_run(PGconn *conn, tix_statement statement, const char *const *values,
                PGresult **result_out);

/* A pipeline (libpq's pipeline mode): statements sent together and their
 * results read back in order, one round trip for all of them. An error ends
 * the pipeline's work: the statements after it are skipped by the server
 * and tix_pipeline_next reports them as TIX_ECANCELED. */
int tix_pipeline_enter(PGconn *conn);
int tix_pipeline_send(PGconn *conn, tix_statement statement, const char *const *values);
/* A command without parameters (BEGIN, COMMIT). */
int tix_pipeline_send_command(PGconn *conn, const char *command);
/* Marks the end of what was sent and flushes it to the server. */
int tix_pipeline_sync(PGconn *conn);
/* The next statement's result, checked like tix_sql_exec's. */
int tix_pipeline_next(PGconn *conn, PGresult **result_out);
/* Reads whatever is left up to the sync and leaves pipeline mode. */
void tix_pipeline_exit(PGconn *conn);

#endif /* TIX_STATEMENTS_H */
