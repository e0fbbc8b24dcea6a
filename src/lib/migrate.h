/*
 * migrate.h — internal: what another subsystem asks of the migration runner
 * beyond tix.h. tix_config_prepare applies the migrations when it has just
 * created the embedded cluster, and must tell a migration that failed from
 * a schema file that could not be written once they were applied; and
 * tix_open_from_env checks the schema on a connection it already has.
 */
#ifndef TIX_MIGRATE_H
#define TIX_MIGRATE_H

#include "tix.h"

#include <libpq-fe.h>

/* tix_migrate_up with the schema file's outcome kept apart: the status is
 * the migrations' own; *schema_status_out is the schema file's (TIX_OK when
 * it was written or had nothing to say), and when only it failed the
 * diagnostic says that the migrations were applied. */
int migrate_up(const char *conninfo, const tix_migrate_options *options, int *schema_status_out);

/* tix_schema_check on an open connection, which it leaves idle. */
int migrate_check_connection(PGconn *conn, const tix_migrate_options *options);

#endif /* TIX_MIGRATE_H */
