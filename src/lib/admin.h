/*
 * admin.h — internal: the connections and bookkeeping statements of tix's
 * administrative work, which runs as the schema's owner: the migration
 * runner and the catalog code beneath it share them. Connecting waits for
 * the server (bounded by TIX_CONNECT_TIMEOUT_MS); a failed statement says
 * what was being done and what PostgreSQL said, since the person reading it
 * is the operator. This layer calls neither of them.
 */
#ifndef TIX_ADMIN_H
#define TIX_ADMIN_H

#include <libpq-fe.h>
#include <stdio.h>

#define TIX_LEDGER_TABLE           "schema_migrations"
#define TIX_ADMIN_APPLICATION_NAME "tix-migrate"

/* Opens a connection, waiting while the server is not up yet. Server
 * notices go to notices when it is not NULL. */
int tix_admin_connect(const char *conninfo, FILE *notices, PGconn **out);

/* tix_sql_exec, but a failure's diagnostic reads "doing: what PostgreSQL
 * said" (with its detail), and a missing relation is TIX_EDATABASE, not
 * TIX_ESCHEMA: here it does not mean the database is not migrated. */
int tix_admin_exec(PGconn *conn, const char *doing, const char *sql, int count,
                   const char *const *values, PGresult **result_out);

/* Runs a clean-up statement after a failure: its own failure is ignored
 * and the diagnostic of the failure that made it necessary is kept. */
void tix_admin_cleanup(PGconn *conn, const char *sql);

#endif /* TIX_ADMIN_H */
