/*
 * migrate.h — internal: what the migration runner shares with the catalog
 * code (verify's snapshots, the schema.sql dump): connecting the way
 * migrations do and rewriting a conninfo for another database.
 */
#ifndef TIX_MIGRATE_H
#define TIX_MIGRATE_H

#include "tix.h"

#include <libpq-fe.h>

#define MIGRATE_LEDGER_TABLE        "schema_migrations"
#define MIGRATE_APPLICATION_NAME    "tix-migrate"
#define MIGRATE_CONNECT_TIMEOUT_ENV "TIX_CONNECT_TIMEOUT_MS"
#define MIGRATE_LOCK_TIMEOUT_ENV    "TIX_MIGRATE_LOCK_TIMEOUT_MS"
#define MIGRATE_SCHEMA_FILE_ENV     "TIX_SCHEMA_FILE"

/* Opens a connection for migrations, waiting (bounded by
 * TIX_CONNECT_TIMEOUT_MS, default 10 s) while the server is not up. Server
 * notices go to progress when it is not NULL. */
int migrate_connect(const char *conninfo, FILE *progress, PGconn **out);

/* Rebuilds conninfo as keyword='value' pairs: dbname replaced when dbname is
 * not NULL, the password left out when password_out is not NULL (it gets a
 * copy of the password, or NULL), so a child process need not see it in
 * its arguments. Free the results with free(). */
int migrate_conninfo_rewrite(const char *conninfo, const char *dbname, char **out,
                             char **password_out);

/* Sets the thread's diagnostic for a failed bookkeeping query: "doing: what
 * PostgreSQL said", or a lost connection. Returns the status. */
int migrate_fail_query(PGconn *conn, const PGresult *result, const char *doing);

#endif /* TIX_MIGRATE_H */
