/*
 * catalog.h — internal: what a database's schema looks like. Snapshots of
 * the catalog as sorted text lines, so that verify can tell whether a down
 * section undid its up section, and the schema.sql dump written after a
 * migration changed the schema.
 */
#ifndef TIX_CATALOG_H
#define TIX_CATALOG_H

#include "tix.h"

#include <libpq-fe.h>

#define CATALOG_LINES_MAX        200000
#define CATALOG_DUMP_TIMEOUT_ENV "TIX_SCHEMA_DUMP_TIMEOUT_MS" /* default 120 s */

/* One line per schema object of the user's schemas, sorted bytewise. */
typedef struct catalog_snapshot {
  char **lines;
  size_t count;
} catalog_snapshot;

int catalog_snapshot_take(PGconn *conn, catalog_snapshot *out);
void catalog_snapshot_clear(catalog_snapshot *snapshot);

/* The lines only in before ("- line") and only in after ("+ line"), one per
 * line of *difference_out (empty when the snapshots are equal; free() it). */
int catalog_snapshot_diff(const catalog_snapshot *before, const catalog_snapshot *after,
                          char **difference_out, size_t *changed_count_out);

/* TIX_SCHEMA_DUMP_TIMEOUT_MS, default 120 s; TIX_EINVAL naming it when it
 * is bad. A migration asks before it changes anything, not after. */
int catalog_dump_timeout_ms(int *out);

/* Writes the schema (pg_dump --schema-only of the server's major version)
 * and the ledger rows as INSERT statements to path, atomically. conn is an
 * open connection to the same database. pg_dump is stopped when it takes
 * longer than TIX_SCHEMA_DUMP_TIMEOUT_MS, since it waits for table locks. */
int catalog_write_schema(const char *conninfo, PGconn *conn, const char *path);

#endif /* TIX_CATALOG_H */
