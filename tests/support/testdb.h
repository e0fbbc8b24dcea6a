/*
 * testdb.h — integration tests' own database: each test gets a fresh,
 * migrated database in the throwaway cluster that scripts/test started.
 */
#ifndef TIX_TESTDB_H
#define TIX_TESTDB_H

#include "tix.h"

#include <libpq-fe.h>
#include <stddef.h>

/* Creates an empty database named after label and the process; conninfo_out
 * receives its conninfo. Aborts the test program when the cluster is absent. */
void testdb_create(const char *label, char *conninfo_out, size_t size);
/* Creates a database and applies every migration of db/migrations. */
void testdb_create_migrated(const char *label, char *conninfo_out, size_t size);
/* Drops it (terminating leftover sessions). */
void testdb_drop(const char *conninfo);
/* The repository's db/migrations directory. */
const char *testdb_migrations_dir(void);
/* Runs one SQL command and returns the first field as a long (-1 on NULL). */
long testdb_query_long(PGconn *conn, const char *sql);
/* Opens a plain libpq connection; aborts on failure. */
PGconn *testdb_connect(const char *conninfo);

#endif /* TIX_TESTDB_H */
