/*
 * migrate_check.c — whether a database has every migration of the
 * directory applied, cheaply enough to ask before every command: the
 * directory's file names (the files themselves are not read) against the
 * ledger's versions, read in one query. A command other than migrate and
 * db refuses a schema that is behind rather than migrating it behind the
 * user's back: only a cluster that tix has just created is migrated
 * without being asked (tix_config_prepare).
 */
#include "migrate.h"

#include "admin.h"
#include "error.h"
#include "migrate_internal.h"
#include "sql.h"

#include <stdlib.h>
#include <string.h>

#define PENDING_NAMED_MAX   5 /* file names in the message; the rest are counted */
#define PENDING_NAMES_BYTES (PENDING_NAMED_MAX * MIGRATION_FILE_NAME_MAX_BYTES + 64)
#define UNDEFINED_TABLE     "42P01"

/* The applied versions, ascending, in *result_out; NULL when there is no
 * ledger at all (nothing was ever applied). */
static int ledger_versions(PGconn *conn, PGresult **result_out) {
  *result_out = NULL;
  int status = tix_sql_exec(conn, "SELECT version FROM " TIX_LEDGER_TABLE " ORDER BY version", 0,
                            NULL, result_out);
  if (status == TIX_OK || tix_status_is_connection_loss(status)) {
    return status;
  }
  if (strcmp(tix_last_diag()->sqlstate, UNDEFINED_TABLE) == 0) {
    tix_diag_clear();
    return TIX_OK;
  }
  tix_diag cause = *tix_last_diag();
  tix_fail(status == TIX_ESCHEMA ? TIX_EDATABASE : status, "cannot read the migration ledger: %s",
           cause.message);
  tix_fail_detail("%s", cause.detail);
  tix_fail_hint("The table " TIX_LEDGER_TABLE " must have a column version.");
  return tix_last_diag()->status;
}

static void pending_append(char *names, size_t size, size_t pending, const char *file_name) {
  size_t used = strlen(names);
  if (pending <= PENDING_NAMED_MAX) {
    snprintf(names + used, size - used, "%s%s", pending > 1 ? ", " : "", file_name);
  }
}

static int fail_pending(size_t pending, const char *names) {
  char more[64] = "";
  if (pending > PENDING_NAMED_MAX) {
    snprintf(more, sizeof more, " and %zu more", pending - PENDING_NAMED_MAX);
  }
  if (pending == 1) {
    tix_fail(TIX_EPENDING, "the database schema is behind: migration %s is pending", names);
  } else {
    tix_fail(TIX_EPENDING, "the database schema is behind: %zu migrations are pending (%s%s)",
             pending, names, more);
  }
  tix_fail_detail("tix applies migrations by itself only to an embedded cluster it has just "
                  "created. Nothing was done.");
  tix_fail_hint("Review them, then run \"tix migrate up\".");
  return TIX_EPENDING;
}

/* Files and ledger are both sorted by version: one pass over each. */
static int compare(const migration_set *set, const PGresult *ledger) {
  int rows = ledger != NULL ? PQntuples(ledger) : 0;
  int row = 0;
  size_t pending = 0;
  char names[PENDING_NAMES_BYTES] = "";
  for (size_t i = 0; i < set->count; i++) {
    int64_t version = set->files[i].version;
    while (row < rows && strtoll(PQgetvalue(ledger, row, 0), NULL, 10) < version) {
      row++;
    }
    if (row < rows && strtoll(PQgetvalue(ledger, row, 0), NULL, 10) == version) {
      continue;
    }
    pending++;
    pending_append(names, sizeof names, pending, set->files[i].file_name);
  }
  return pending == 0 ? TIX_OK : fail_pending(pending, names);
}

int migrate_check_connection(PGconn *conn, const tix_migrate_options *options) {
  char directory[PATH_MAX];
  migration_set set = {0};
  int status = migration_directory_resolve(options != NULL ? options->directory : NULL, directory,
                                           sizeof directory);
  if (status == TIX_OK) {
    status = migration_set_list(directory, &set);
  }
  PGresult *ledger = NULL;
  if (status == TIX_OK) {
    status = ledger_versions(conn, &ledger);
  }
  if (status == TIX_OK) {
    status = compare(&set, ledger);
  }
  PQclear(ledger);
  migration_set_clear(&set);
  return status;
}

int tix_schema_check(const char *conninfo, const tix_migrate_options *options) {
  if (conninfo == NULL) {
    return tix_fail(TIX_EINVAL, "no connection string given");
  }
  PGconn *conn = NULL;
  int status = tix_admin_connect(conninfo, NULL, &conn);
  if (status == TIX_OK) {
    status = migrate_check_connection(conn, options);
  }
  PQfinish(conn);
  return status;
}
