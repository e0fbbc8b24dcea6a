/*
 * migrate.h — internal: what another subsystem asks of the migration runner
 * beyond tix.h. tix_config_prepare applies the migrations when it has just
 * started the embedded cluster, and must tell a migration that failed from
 * a schema file that could not be written once they were applied.
 */
#ifndef TIX_MIGRATE_H
#define TIX_MIGRATE_H

#include "tix.h"

/* tix_migrate_up with the schema file's outcome kept apart: the status is
 * the migrations' own; *schema_status_out is the schema file's (TIX_OK when
 * it was written or had nothing to say), and when only it failed the
 * diagnostic says that the migrations were applied. */
int migrate_up(const char *conninfo, const tix_migrate_options *options, int *schema_status_out);

#endif /* TIX_MIGRATE_H */
