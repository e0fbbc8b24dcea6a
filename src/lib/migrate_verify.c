/*
 * migrate_verify.c — `tix migrate verify`: on a scratch database, every
 * migration up, down and up again, with the catalog compared after each
 * down (it must be as before the up) and after the second up (as after the
 * first), so a down section that forgets something is caught before it is
 * needed. The scratch database is dropped whatever happens; one left by a
 * verifier that was killed is dropped by the next verify.
 */
#include "migrate_internal.h"

#include "catalog.h"
#include "config.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

/* Says whose it is; the pid and start time of the server process of the
 * verifier's admin connection follow (see scratch_name). */
#define VERIFY_DATABASE_PREFIX "tix_migrate_verify_"
#define VERIFY_NAME_BYTES      64 /* NAMEDATALEN */
#define VERIFY_SQL_MAX_BYTES   512
#define VERIFY_DETAIL_BYTES    (sizeof tix_last_diag()->detail - 128)
#define VERIFY_LEFTOVERS_MAX   100 /* dropped by one verify; the next one drops more */

/* A server process's start, in whole microseconds since the epoch: with
 * its pid, what names it for good (pids are reused, start times are not). */
#define BACKEND_START_US "(extract(epoch FROM backend_start) * 1000000)::bigint"

#define SCRATCH_NAME_SQL                                                                           \
  "SELECT pid, " BACKEND_START_US " FROM pg_stat_activity WHERE pid = pg_backend_pid()"

/* Scratch databases whose verifier's server process is gone. A start time
 * hidden from this role (another role's session) counts as alive. */
#define LEFTOVERS_SQL                                                                              \
  "SELECT d.datname FROM pg_database d"                                                            \
  " WHERE d.datname ~ '^" VERIFY_DATABASE_PREFIX "[0-9]{1,9}_[0-9]{1,18}$'"                        \
  " AND pg_has_role(d.datdba, 'MEMBER')"                                                           \
  " AND NOT EXISTS (SELECT 1 FROM pg_stat_activity"                                                \
  "  WHERE pid = split_part(d.datname, '_', 4)::int AND (backend_start IS NULL"                    \
  "  OR split_part(d.datname, '_', 5)::bigint = " BACKEND_START_US "))"                            \
  " ORDER BY d.datname LIMIT $1"

/* On a difference, *difference_out keeps it for the report (free() it). */
static int verify_compare(const catalog_snapshot *expected, const catalog_snapshot *actual,
                          const migration_file *file, const char *problem, char **difference_out) {
  char *difference = NULL;
  size_t changed = 0;
  int status = catalog_snapshot_diff(expected, actual, &difference, &changed);
  if (status == TIX_OK && changed > 0) {
    status = tix_fail(TIX_EMIGRATION, "migration %s: %s", file->file_name, problem);
    tix_fail_detail("%zu catalog lines differ (- only before, + only after):\n%.*s", changed,
                    (int)strlen(difference) - 1, difference); /* without the last newline */
    tix_fail_hint("Make the down section drop or restore exactly what the up section changes.");
    *difference_out = difference;
    difference = NULL;
  }
  free(difference);
  return status;
}

/* Up, down (the catalog must be as before up), up again (as after the
 * first up). *before becomes the catalog after this migration. */
static int verify_one(struct migrate_session *session, size_t index, catalog_snapshot *before,
                      char **difference_out) {
  const migration_file *file = &session->set.files[index];
  const char *checksum = session->checksums[index];
  catalog_snapshot after_up = {0};
  catalog_snapshot after_down = {0};
  catalog_snapshot again = {0};
  int status = migrate_run_section(session, file, checksum, true);
  if (status == TIX_OK) {
    status = catalog_snapshot_take(session->conn, &after_up);
  }
  if (status == TIX_OK) {
    status = migrate_run_section(session, file, checksum, false);
  }
  if (status == TIX_OK) {
    status = catalog_snapshot_take(session->conn, &after_down);
  }
  if (status == TIX_OK) {
    status = verify_compare(before, &after_down, file,
                            "the down section does not undo the up section", difference_out);
  }
  if (status == TIX_OK) {
    status = migrate_run_section(session, file, checksum, true);
  }
  if (status == TIX_OK) {
    status = catalog_snapshot_take(session->conn, &again);
  }
  if (status == TIX_OK) {
    status = verify_compare(&after_up, &again, file,
                            "applying it again after its down section gives another schema",
                            difference_out);
  }
  if (status == TIX_OK) {
    catalog_snapshot_clear(before);
    *before = again;
    again = (catalog_snapshot){0};
  }
  catalog_snapshot_clear(&after_up);
  catalog_snapshot_clear(&after_down);
  catalog_snapshot_clear(&again);
  return status;
}

static void verify_report(FILE *report, const migration_file *file, int status,
                          const char *difference) {
  if (report == NULL) {
    return;
  }
  fprintf(report, "%s\n", status == TIX_OK ? "ok" : "FAILED");
  /* The detail has a bounded size: a long difference is shown whole here. */
  if (difference != NULL && strlen(difference) >= VERIFY_DETAIL_BYTES) {
    fprintf(report, "the whole difference for %s:\n%s", file->file_name, difference);
  }
}

static int verify_migrations(const char *conninfo, const tix_migrate_options *options) {
  struct migrate_session session;
  int status = migrate_session_open(&session, conninfo, options, MIGRATE_SESSION_WRITE);
  FILE *report = session.options.progress;
  session.options.progress = NULL; /* one line per migration, not three */
  catalog_snapshot before = {0};
  if (status == TIX_OK) {
    status = catalog_snapshot_take(session.conn, &before);
  }
  for (size_t i = 0; status == TIX_OK && i < session.set.count; i++) {
    if (report != NULL) {
      fprintf(report, "verifying %s: up, down, up … ", session.set.files[i].file_name);
      fflush(report);
    }
    char *difference = NULL;
    status = verify_one(&session, i, &before, &difference);
    verify_report(report, &session.set.files[i], status, difference);
    free(difference);
  }
  if (status == TIX_OK && report != NULL) {
    fprintf(report, "verified %zu migrations\n", session.set.count);
  }
  catalog_snapshot_clear(&before);
  migrate_session_close(&session);
  return status;
}

/* A statement on the scratch database; its name is an identifier, which
 * cannot be a parameter, so it is quoted here. A clean-up after a failure
 * (report false) keeps that failure's diagnostic. */
static int scratch_command(PGconn *conn, const char *before, const char *database,
                           const char *after, const char *doing, bool report) {
  char *identifier = PQescapeIdentifier(conn, database, strlen(database));
  if (identifier == NULL) {
    return report ? tix_fail(TIX_ENOMEM, "out of memory") : TIX_ENOMEM;
  }
  char sql[VERIFY_SQL_MAX_BYTES];
  snprintf(sql, sizeof sql, "%s%s%s", before, identifier, after);
  PQfreemem(identifier);
  if (!report) {
    tix_admin_cleanup(conn, sql);
    return TIX_OK;
  }
  return tix_admin_exec(conn, doing, sql, 0, NULL, NULL);
}

static int require_createdb(PGconn *conn) {
  PGresult *result = NULL;
  int status = tix_admin_exec(conn, "cannot read the role's privileges",
                              "SELECT rolcreatedb OR rolsuper, current_user FROM pg_roles"
                              " WHERE rolname = current_user",
                              0, NULL, &result);
  if (status != TIX_OK) {
    return status;
  }
  if (PQntuples(result) != 1 || strcmp(PQgetvalue(result, 0, 0), "t") != 0) {
    status = tix_fail(TIX_EDATABASE, "verify needs permission to create a scratch database");
    tix_fail_detail("Role \"%s\" has neither CREATEDB nor SUPERUSER.",
                    PQntuples(result) == 1 ? PQgetvalue(result, 0, 1) : "?");
    tix_fail_hint("Grant it (ALTER ROLE … CREATEDB), or run verify against a development "
                  "server where you may create databases.");
  }
  PQclear(result);
  return status;
}

static int verify_in_scratch(PGconn *admin, const char *conninfo, const char *database,
                             const tix_migrate_options *options) {
  int status = require_createdb(admin);
  if (status == TIX_OK) {
    status = scratch_command(admin, "DROP DATABASE IF EXISTS ", database, " WITH (FORCE)",
                             "cannot drop an old scratch database", true);
  }
  if (status == TIX_OK) {
    status = scratch_command(admin, "CREATE DATABASE ", database, "",
                             "cannot create the scratch database", true);
  }
  if (status != TIX_OK) {
    return status;
  }
  if (options->progress != NULL) {
    fprintf(options->progress, "verifying in the scratch database %s\n", database);
  }
  char *scratch_conninfo = NULL;
  status = tix_conninfo_rewrite(conninfo, database, &scratch_conninfo, NULL);
  if (status == TIX_OK) {
    status = verify_migrations(scratch_conninfo, options);
  }
  free(scratch_conninfo);
  bool report = status == TIX_OK;
  int drop_status = scratch_command(admin, "DROP DATABASE IF EXISTS ", database, " WITH (FORCE)",
                                    "cannot drop the scratch database", report);
  return status == TIX_OK ? drop_status : status;
}

/* The scratch database is named after the admin connection's server
 * process, its pid and start time: unique on the server, wherever the
 * verifiers run, and a name whose process is gone is a leftover. */
static int scratch_name(PGconn *admin, char *out, size_t size) {
  PGresult *result = NULL;
  int status =
      tix_admin_exec(admin, "cannot name the scratch database", SCRATCH_NAME_SQL, 0, NULL, &result);
  if (status == TIX_OK && PQntuples(result) != 1) {
    status = tix_fail(TIX_EDATABASE, "cannot name the scratch database: "
                                     "pg_stat_activity does not show this session");
  }
  if (status == TIX_OK) {
    snprintf(out, size, VERIFY_DATABASE_PREFIX "%s_%s", PQgetvalue(result, 0, 0),
             PQgetvalue(result, 0, 1));
  }
  PQclear(result);
  return status;
}

/* Scratch databases of verifiers that were killed (kill -9, a lost
 * terminal): their server process is gone, so nobody will drop them. Only
 * those this role may drop are looked at; one that cannot be dropped is
 * left with a warning, since this verify does not need it gone. */
static void drop_leftovers(PGconn *admin, FILE *progress) {
  char limit[16];
  snprintf(limit, sizeof limit, "%d", VERIFY_LEFTOVERS_MAX);
  const char *const values[] = {limit};
  PGresult *result = NULL;
  if (tix_admin_exec(admin, "cannot look for old scratch databases", LEFTOVERS_SQL, 1, values,
                     &result) != TIX_OK) {
    tix_diag_clear();
    return;
  }
  for (int row = 0; row < PQntuples(result); row++) {
    const char *database = PQgetvalue(result, row, 0);
    int status = scratch_command(admin, "DROP DATABASE IF EXISTS ", database, " WITH (FORCE)",
                                 "cannot drop it", true);
    if (progress != NULL && status == TIX_OK) {
      fprintf(progress, "dropped %s, left by a verify that was stopped\n", database);
    } else if (progress != NULL) {
      fprintf(progress, "warning: %s, left by a verify that was stopped: %s\n", database,
              tix_last_diag()->message);
    }
    tix_diag_clear();
  }
  PQclear(result);
}

/* Bad files are reported before any database is created. */
static int verify_load_files(tix_migrate_options *resolved, char *directory, size_t size) {
  migration_set set = {0};
  int status = migration_directory_resolve(resolved->directory, directory, size);
  if (status == TIX_OK) {
    status = migration_set_load(directory, &set);
  }
  for (size_t i = 0; status == TIX_OK && i < set.count; i++) {
    status = migration_file_require_up(&set.files[i]);
  }
  migration_set_clear(&set);
  resolved->directory = directory;
  resolved->schema_file = "";
  resolved->dry_run = false;
  return status;
}

int tix_migrate_verify(const char *conninfo, const tix_migrate_options *options) {
  tix_migrate_options resolved;
  if (options != NULL) {
    resolved = *options;
  } else {
    tix_migrate_options_default(&resolved);
  }
  char directory[PATH_MAX];
  int status = verify_load_files(&resolved, directory, sizeof directory);
  PGconn *admin = NULL;
  if (status == TIX_OK && conninfo == NULL) {
    status = tix_fail(TIX_EINVAL, "no connection string given");
  }
  if (status == TIX_OK) {
    status = tix_admin_connect(conninfo, NULL, &admin);
  }
  char database[VERIFY_NAME_BYTES];
  if (status == TIX_OK) {
    status = scratch_name(admin, database, sizeof database);
  }
  if (status == TIX_OK) {
    drop_leftovers(admin, resolved.progress);
    status = verify_in_scratch(admin, conninfo, database, &resolved);
  }
  PQfinish(admin);
  return status;
}
