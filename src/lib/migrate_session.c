/*
 * migrate_session.c — what every migration command starts from: its options
 * resolved, the migration files loaded with their checksums, the ledger
 * schema_migrations read (and created, for commands that write), and the
 * plan that merges files and ledger into one entry per version.
 */
#include "migrate_internal.h"

#include "catalog.h"
#include "config.h"
#include "error.h"
#include "sql.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_TIMEOUT_DEFAULT_MS 60000
#define LEDGER_ROWS_MAX         MIGRATION_FILES_MAX
#define HEX_DIGITS              "0123456789abcdef"

void migrate_progress(const struct migrate_session *session, const char *format, ...) {
  if (session->options.progress == NULL) {
    return;
  }
  va_list arguments;
  va_start(arguments, format);
  vfprintf(session->options.progress, format, arguments);
  va_end(arguments);
  fflush(session->options.progress);
}

void tix_migrate_options_default(tix_migrate_options *options) {
  *options = (tix_migrate_options){
      .steps = 1,
      .lock_timeout_ms = tix_env_milliseconds_or_invalid(
          MIGRATE_LOCK_TIMEOUT_ENV, LOCK_TIMEOUT_DEFAULT_MS, 0, MIGRATE_LOCK_TIMEOUT_MAX_MS),
  };
}

/* ----------------------------------------------------------------- ledger */

static int ledger_check_exists(struct migrate_session *session) {
  PGresult *result = NULL;
  int status =
      tix_admin_exec(session->conn, "cannot look for the migration ledger",
                     "SELECT to_regclass('" TIX_LEDGER_TABLE "') IS NOT NULL", 0, NULL, &result);
  if (status == TIX_OK) {
    session->ledger_exists = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    PQclear(result);
  }
  return status;
}

static int ledger_create(struct migrate_session *session) {
  int status = ledger_check_exists(session);
  if (status != TIX_OK || session->ledger_exists) {
    return status;
  }
  status = tix_admin_exec(session->conn, "cannot create the migration ledger",
                          "CREATE TABLE " TIX_LEDGER_TABLE " ("
                          " version bigint PRIMARY KEY,"
                          " name text NOT NULL,"
                          " checksum text NOT NULL,"
                          " applied_at timestamptz NOT NULL DEFAULT now(),"
                          " execution_ms integer NOT NULL)",
                          0, NULL, NULL);
  session->ledger_exists = status == TIX_OK;
  return status;
}

static void ledger_row_read(const PGresult *result, int row, struct migrate_ledger_row *out) {
  out->version = strtoll(PQgetvalue(result, row, 0), NULL, 10);
  snprintf(out->name, sizeof out->name, "%s", PQgetvalue(result, row, 1));
  snprintf(out->checksum, sizeof out->checksum, "%s", PQgetvalue(result, row, 2));
  snprintf(out->applied_at, sizeof out->applied_at, "%s", PQgetvalue(result, row, 3));
  out->execution_ms = atoi(PQgetvalue(result, row, 4));
}

static int ledger_load(struct migrate_session *session) {
  free(session->rows);
  session->rows = NULL;
  session->row_count = 0;
  int status = ledger_check_exists(session);
  if (status != TIX_OK || !session->ledger_exists) {
    return status;
  }
  PGresult *result = NULL;
  status =
      tix_admin_exec(session->conn, "cannot read the migration ledger",
                     "SELECT version, name, checksum, " TIX_SQL_TIMESTAMP(
                         "applied_at") ", execution_ms FROM " TIX_LEDGER_TABLE " ORDER BY version",
                     0, NULL, &result);
  if (status != TIX_OK) {
    tix_fail_hint("The table " TIX_LEDGER_TABLE " must have the columns version, name, "
                  "checksum, applied_at and execution_ms.");
    return status;
  }
  int rows = PQntuples(result);
  if (rows > LEDGER_ROWS_MAX) {
    status = tix_fail(TIX_EDATABASE, "the migration ledger has more than %d rows", LEDGER_ROWS_MAX);
    goto clear_result;
  }
  session->rows = calloc((size_t)rows + 1, sizeof *session->rows);
  if (session->rows == NULL) {
    status = tix_fail(TIX_ENOMEM, "out of memory");
    goto clear_result;
  }
  for (int row = 0; row < rows; row++) {
    ledger_row_read(result, row, &session->rows[row]);
  }
  session->row_count = (size_t)rows;
clear_result:
  PQclear(result);
  return status;
}

int migrate_ledger_record(PGconn *conn, const migration_file *file, const char *checksum,
                          int execution_ms, bool up) {
  char version[32];
  char milliseconds[16];
  snprintf(version, sizeof version, "%lld", (long long)file->version);
  snprintf(milliseconds, sizeof milliseconds, "%d", execution_ms);
  const char *const values[] = {version, file->name, checksum, milliseconds};
  const char *sql = up ? "INSERT INTO " TIX_LEDGER_TABLE " (version, name, checksum, execution_ms)"
                         " VALUES ($1, $2, $3, $4)"
                       : "DELETE FROM " TIX_LEDGER_TABLE " WHERE version = $1";
  return tix_admin_exec(conn, "cannot update the migration ledger", sql, up ? 4 : 1, values, NULL);
}

/* -------------------------------------------------------------- checksums */

/* SHA-256 by the server, of the normalised text sent as hexadecimal, so no
 * byte of the file is interpreted on the way (a text parameter cast to
 * bytea would read its backslashes as escapes). */
static int checksum_compute(PGconn *conn, const migration_file *file, char *out) {
  char *hex = malloc(file->text_length * 2 + 1);
  if (hex == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < file->text_length; i++) {
    unsigned char byte = (unsigned char)file->text[i];
    hex[2 * i] = HEX_DIGITS[byte >> 4];
    hex[2 * i + 1] = HEX_DIGITS[byte & 0x0F];
  }
  hex[file->text_length * 2] = '\0';
  const char *const values[] = {hex};
  PGresult *result = NULL;
  int status =
      tix_admin_exec(conn, "cannot compute a migration checksum",
                     "SELECT encode(sha256(decode($1, 'hex')), 'hex')", 1, values, &result);
  if (status == TIX_OK) {
    snprintf(out, MIGRATE_CHECKSUM_HEX_SIZE, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
  }
  free(hex);
  return status;
}

static int checksums_compute(struct migrate_session *session) {
  session->checksums = calloc(session->set.count + 1, sizeof *session->checksums);
  if (session->checksums == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  int status = TIX_OK;
  for (size_t i = 0; status == TIX_OK && i < session->set.count; i++) {
    status = checksum_compute(session->conn, &session->set.files[i], session->checksums[i]);
  }
  return status;
}

/* ------------------------------------------------------------------- plan */

static struct migrate_entry entry_for(const struct migrate_session *session, size_t file_index,
                                      const struct migrate_ledger_row *row,
                                      int64_t highest_applied) {
  const migration_file *file =
      file_index < session->set.count ? &session->set.files[file_index] : NULL;
  struct migrate_entry entry = {.file = file, .row = row};
  entry.version = file != NULL ? file->version : row->version;
  entry.checksum = file != NULL ? session->checksums[file_index] : NULL;
  if (file == NULL) {
    entry.state = TIX_MIGRATION_MISSING_FILE;
  } else if (row == NULL) {
    entry.state =
        file->version < highest_applied ? TIX_MIGRATION_OUT_OF_ORDER : TIX_MIGRATION_PENDING;
  } else {
    entry.state =
        strcmp(row->checksum, entry.checksum) == 0 ? TIX_MIGRATION_APPLIED : TIX_MIGRATION_DRIFTED;
  }
  return entry;
}

/* Merges files and ledger rows, both sorted by version: what is pending is
 * the set difference, not "everything after the newest applied". */
static int plan_build(struct migrate_session *session) {
  free(session->entries);
  session->entry_count = 0;
  session->entries = calloc(session->set.count + session->row_count + 1, sizeof *session->entries);
  if (session->entries == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  int64_t highest_applied =
      session->row_count > 0 ? session->rows[session->row_count - 1].version : 0;
  size_t file_index = 0;
  size_t row_index = 0;
  size_t none = session->set.count; /* an index meaning "no file" */
  while (file_index < session->set.count || row_index < session->row_count) {
    const migration_file *file =
        file_index < session->set.count ? &session->set.files[file_index] : NULL;
    const struct migrate_ledger_row *row =
        row_index < session->row_count ? &session->rows[row_index] : NULL;
    struct migrate_entry *entry = &session->entries[session->entry_count++];
    if (file != NULL && (row == NULL || file->version < row->version)) {
      *entry = entry_for(session, file_index++, NULL, highest_applied);
    } else if (file == NULL || row->version < file->version) {
      *entry = entry_for(session, none, row, highest_applied);
      row_index++;
    } else {
      *entry = entry_for(session, file_index++, row, highest_applied);
      row_index++;
    }
  }
  return TIX_OK;
}

static int session_refresh(struct migrate_session *session) {
  int status = ledger_load(session);
  return status == TIX_OK ? plan_build(session) : status;
}

/* ---------------------------------------------------------------- session */

static int schema_path_resolve(struct migrate_session *session) {
  const char *configured = session->options.schema_file;
  if (configured == NULL) {
    int status = tix_env_path(MIGRATE_SCHEMA_FILE_ENV, TIX_PATH_ANY, &configured);
    if (status != TIX_OK) {
      return status;
    }
  }
  int written = configured != NULL
                    ? snprintf(session->schema_path, sizeof session->schema_path, "%s", configured)
                    : snprintf(session->schema_path, sizeof session->schema_path,
                               "%s/../schema.sql", session->directory);
  if (written < 0 || (size_t)written >= sizeof session->schema_path) {
    return tix_fail(TIX_EINVAL, "the schema file path is too long");
  }
  int dump_timeout_ms = 0;
  return session->schema_path[0] != '\0' ? catalog_dump_timeout_ms(&dump_timeout_ms) : TIX_OK;
}

static int options_resolve(struct migrate_session *session, const tix_migrate_options *options) {
  if (options != NULL) {
    session->options = *options;
  } else {
    tix_migrate_options_default(&session->options);
  }
  if (session->options.lock_timeout_ms < 0 ||
      session->options.lock_timeout_ms > MIGRATE_LOCK_TIMEOUT_MAX_MS) {
    int from_environment = 0; /* a bad TIX_MIGRATE_LOCK_TIMEOUT_MS is reported by name */
    return tix_env_milliseconds(MIGRATE_LOCK_TIMEOUT_ENV, LOCK_TIMEOUT_DEFAULT_MS, 0,
                                MIGRATE_LOCK_TIMEOUT_MAX_MS, &from_environment) != TIX_OK
               ? TIX_EINVAL
               : tix_fail(TIX_EINVAL, "the lock timeout must be between 0 and %d ms",
                          MIGRATE_LOCK_TIMEOUT_MAX_MS);
  }
  if (session->options.steps < 0 || session->options.target_version < 0) {
    return tix_fail(TIX_EINVAL, "steps and target version cannot be negative");
  }
  int status = migration_directory_resolve(session->options.directory, session->directory,
                                           sizeof session->directory);
  return status == TIX_OK ? schema_path_resolve(session) : status;
}

/* Bad files are refused before the database is touched. */
int migrate_session_open(struct migrate_session *session, const char *conninfo,
                         const tix_migrate_options *options, enum migrate_session_mode mode) {
  *session = (struct migrate_session){.conninfo = conninfo};
  if (conninfo == NULL) {
    return tix_fail(TIX_EINVAL, "no connection string given");
  }
  int status = options_resolve(session, options);
  if (status == TIX_OK) {
    status = migration_set_load(session->directory, &session->set);
  }
  if (status == TIX_OK) {
    status = tix_admin_connect(conninfo, session->options.progress, &session->conn);
  }
  if (status == TIX_OK && mode == MIGRATE_SESSION_WRITE) {
    status = migrate_lock_acquire(session);
  }
  if (status == TIX_OK && mode == MIGRATE_SESSION_WRITE) {
    status = ledger_create(session);
  }
  if (status == TIX_OK) {
    status = checksums_compute(session);
  }
  /* Read after the lock: whoever held it may have applied what we meant to. */
  if (status == TIX_OK) {
    status = session_refresh(session);
  }
  return status;
}

void migrate_session_close(struct migrate_session *session) {
  PQfinish(session->lock_conn); /* ends the session: the advisory lock goes with it */
  PQfinish(session->conn);
  migration_set_clear(&session->set);
  free(session->checksums);
  free(session->rows);
  free(session->entries);
  *session = (struct migrate_session){0};
}

const struct migrate_entry *migrate_entry_find(const struct migrate_session *session,
                                               int64_t version) {
  for (size_t i = 0; i < session->entry_count; i++) {
    if (session->entries[i].version == version) {
      return &session->entries[i];
    }
  }
  return NULL;
}
