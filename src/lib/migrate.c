/*
 * migrate.c — applies and rolls back schema migrations, keeping the ledger
 * schema_migrations. Each migration runs in its own transaction with its
 * ledger row, so it is applied whole or not at all; a session advisory lock
 * on a connection of its own makes concurrent migrators apply each migration
 * exactly once; checksums of the normalised files catch edited history.
 */
#include "migrate.h"

#include "catalog.h"
#include "config.h"
#include "error.h"
#include "migration_file.h"
#include "pool.h"
#include "sql.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The first 8 bytes of SHA-256("tix.migrate") as a signed bigint: fixed, so
 * every tix version and every host agrees on it, and unlikely to collide
 * with another application's advisory locks. */
#define LOCK_KEY                   INT64_C(888637997003307873)
#define LOCK_POLL_MS               200
#define LOCK_TIMEOUT_DEFAULT_MS    60000
#define LOCK_TIMEOUT_MAX_MS        (24 * 60 * 60 * 1000)
#define CONNECT_TIMEOUT_DEFAULT_MS 10000
#define CONNECT_TIMEOUT_MAX_MS     (60 * 60 * 1000)
#define CHECKSUM_HEX_SIZE          65
#define LEDGER_ROWS_MAX            MIGRATION_FILES_MAX
#define HOLDER_BYTES               512
#define COPY_DRAIN_MAX             1000000
#define CONNINFO_MAX_BYTES         8192
#define MIGRATION_TEMPLATE                                                                         \
  "-- %s: say what this migration changes and why.\n"                                              \
  "\n"                                                                                             \
  "-- migrate:up\n"                                                                                \
  "\n"                                                                                             \
  "\n"                                                                                             \
  "-- migrate:down\n"                                                                              \
  "\n"
#define BYTEA_OID 17

struct ledger_row {
  int64_t version;
  char name[MIGRATION_NAME_MAX_BYTES];
  char checksum[CHECKSUM_HEX_SIZE];
  char applied_at[TIX_TIMESTAMP_SIZE];
  int execution_ms;
};

/* A version known from the files, the ledger or both. */
struct entry {
  int64_t version;
  const migration_file *file;   /* NULL: its file is gone */
  const struct ledger_row *row; /* NULL: not applied */
  const char *checksum;         /* of the file now; NULL without a file */
  tix_migration_state state;
};

/* Everything one command works with. */
struct session {
  tix_migrate_options options;
  char directory[PATH_MAX];
  char schema_path[PATH_MAX]; /* empty: no schema.sql */
  const char *conninfo;
  migration_set set;
  char (*checksums)[CHECKSUM_HEX_SIZE]; /* parallel to set.files */
  PGconn *conn;                         /* runs the migrations */
  PGconn *lock_conn;                    /* holds the advisory lock, nothing else */
  bool ledger_exists;
  struct ledger_row *rows; /* by version */
  size_t row_count;
  struct entry *entries; /* by version */
  size_t entry_count;
  bool changed;
};

enum session_mode {
  SESSION_READ,  /* look only: no lock, no ledger created */
  SESSION_WRITE, /* take the lock and create the ledger */
};

/* ------------------------------------------------------------- utilities */

static void progress(const struct session *session, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void progress(const struct session *session, const char *format, ...) {
  if (session->options.progress == NULL) {
    return;
  }
  va_list arguments;
  va_start(arguments, format);
  vfprintf(session->options.progress, format, arguments);
  va_end(arguments);
  fflush(session->options.progress);
}

static void sleep_ms(int64_t milliseconds) {
  struct timespec pause = {.tv_sec = milliseconds / 1000,
                           .tv_nsec = (milliseconds % 1000) * 1000000};
  while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
  }
}

static void forward_notice(void *stream, const char *message) {
  if (stream != NULL) {
    fputs(message, stream);
  }
}

int migrate_connect(const char *conninfo, FILE *progress_stream, PGconn **out) {
  int timeout_ms = tix_env_milliseconds(MIGRATE_CONNECT_TIMEOUT_ENV, CONNECT_TIMEOUT_DEFAULT_MS,
                                        CONNECT_TIMEOUT_MAX_MS);
  int status = tix_connect(conninfo, MIGRATE_APPLICATION_NAME, timeout_ms, out);
  if (status == TIX_OK) {
    PQsetNoticeProcessor(*out, forward_notice, progress_stream);
  }
  return status;
}

int migrate_fail_query(PGconn *conn, const PGresult *result, const char *doing) {
  const char *sqlstate = result != NULL ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
  if (sqlstate == NULL) {
    return tix_fail_from_result(conn, result);
  }
  const char *primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  const char *detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL);
  int status = tix_status_from_sqlstate(sqlstate, NULL);
  if (status == TIX_ESCHEMA) { /* a missing relation here is not "not migrated" */
    status = TIX_EDATABASE;
  }
  tix_fail(status, "%s: %s", doing, primary != NULL ? primary : "unknown error");
  if (detail != NULL) {
    tix_fail_detail("%s", detail);
  }
  return status;
}

static int exec_command(PGconn *conn, const char *sql, const char *doing) {
  PGresult *result = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
  ExecStatusType outcome = PQresultStatus(result);
  int status = outcome == PGRES_COMMAND_OK || outcome == PGRES_TUPLES_OK
                   ? TIX_OK
                   : migrate_fail_query(conn, result, doing);
  PQclear(result);
  return status;
}

int migrate_conninfo_rewrite(const char *conninfo, const char *dbname, char **out,
                             char **password_out) {
  *out = NULL;
  if (password_out != NULL) {
    *password_out = NULL;
  }
  PQconninfoOption *options = PQconninfoParse(conninfo, NULL);
  if (options == NULL) {
    return tix_fail(TIX_EINVAL, "the connection string cannot be parsed");
  }
  int status = TIX_OK;
  char *buffer = calloc(1, CONNINFO_MAX_BYTES);
  bool fits = buffer != NULL;
  for (PQconninfoOption *option = options; fits && option->keyword != NULL; option++) {
    const char *value = option->val;
    if (strcmp(option->keyword, "dbname") == 0 && dbname != NULL) {
      value = dbname;
    } else if (strcmp(option->keyword, "password") == 0 && password_out != NULL) {
      *password_out = value != NULL ? strdup(value) : NULL;
      value = NULL;
    }
    if (value != NULL && value[0] != '\0') {
      fits = tix_conninfo_append(buffer, CONNINFO_MAX_BYTES, option->keyword, value);
    }
  }
  if (!fits) {
    status =
        tix_fail(buffer == NULL ? TIX_ENOMEM : TIX_EINVAL, "the connection string is too long");
    free(buffer);
    buffer = NULL;
  }
  PQconninfoFree(options);
  *out = buffer;
  return status;
}

/* ----------------------------------------------------------------- ledger */

static int ledger_check_exists(struct session *session) {
  PGresult *result =
      PQexecParams(session->conn, "SELECT to_regclass('" MIGRATE_LEDGER_TABLE "') IS NOT NULL", 0,
                   NULL, NULL, NULL, NULL, 0);
  int status = TIX_OK;
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
    status = migrate_fail_query(session->conn, result, "cannot look for the migration ledger");
  } else {
    session->ledger_exists = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
  }
  PQclear(result);
  return status;
}

static int ledger_create(struct session *session) {
  int status = ledger_check_exists(session);
  if (status != TIX_OK || session->ledger_exists) {
    return status;
  }
  status = exec_command(session->conn,
                        "CREATE TABLE " MIGRATE_LEDGER_TABLE " ("
                        " version bigint PRIMARY KEY,"
                        " name text NOT NULL,"
                        " checksum text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now(),"
                        " execution_ms integer NOT NULL)",
                        "cannot create the migration ledger");
  session->ledger_exists = status == TIX_OK;
  return status;
}

static void ledger_row_read(const PGresult *result, int row, struct ledger_row *out) {
  out->version = strtoll(PQgetvalue(result, row, 0), NULL, 10);
  snprintf(out->name, sizeof out->name, "%s", PQgetvalue(result, row, 1));
  snprintf(out->checksum, sizeof out->checksum, "%s", PQgetvalue(result, row, 2));
  snprintf(out->applied_at, sizeof out->applied_at, "%s", PQgetvalue(result, row, 3));
  out->execution_ms = atoi(PQgetvalue(result, row, 4));
}

static int ledger_load(struct session *session) {
  free(session->rows);
  session->rows = NULL;
  session->row_count = 0;
  int status = ledger_check_exists(session);
  if (status != TIX_OK || !session->ledger_exists) {
    return status;
  }
  PGresult *result = PQexecParams(
      session->conn,
      "SELECT version, name, checksum,"
      " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), execution_ms"
      " FROM " MIGRATE_LEDGER_TABLE " ORDER BY version",
      0, NULL, NULL, NULL, NULL, 0);
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    status = migrate_fail_query(session->conn, result, "cannot read the migration ledger");
    tix_fail_hint("The table " MIGRATE_LEDGER_TABLE " must have the columns version, name, "
                  "checksum, applied_at and execution_ms.");
    goto clear_result;
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

static int ledger_record(PGconn *conn, const migration_file *file, const char *checksum,
                         int execution_ms, bool up) {
  char version[32];
  char milliseconds[16];
  snprintf(version, sizeof version, "%lld", (long long)file->version);
  snprintf(milliseconds, sizeof milliseconds, "%d", execution_ms);
  const char *values[] = {version, file->name, checksum, milliseconds};
  PGresult *result =
      up ? PQexecParams(conn,
                        "INSERT INTO " MIGRATE_LEDGER_TABLE
                        " (version, name, checksum, execution_ms) VALUES ($1, $2, $3, $4)",
                        4, NULL, values, NULL, NULL, 0)
         : PQexecParams(conn, "DELETE FROM " MIGRATE_LEDGER_TABLE " WHERE version = $1", 1, NULL,
                        values, NULL, NULL, 0);
  int status = PQresultStatus(result) == PGRES_COMMAND_OK
                   ? TIX_OK
                   : migrate_fail_query(conn, result, "cannot update the migration ledger");
  PQclear(result);
  return status;
}

/* -------------------------------------------------------------- checksums */

/* SHA-256 by the server, of the normalised text sent as binary bytea so no
 * byte of the file is interpreted on the way. */
static int checksum_compute(PGconn *conn, const migration_file *file, char *out) {
  const Oid types[] = {BYTEA_OID};
  const char *values[] = {file->text};
  const int lengths[] = {(int)file->text_length};
  const int formats[] = {1};
  PGresult *result = PQexecParams(conn, "SELECT encode(sha256($1::bytea), 'hex')", 1, types, values,
                                  lengths, formats, 0);
  int status = TIX_OK;
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
    status = migrate_fail_query(conn, result, "cannot compute a migration checksum");
  } else {
    snprintf(out, CHECKSUM_HEX_SIZE, "%s", PQgetvalue(result, 0, 0));
  }
  PQclear(result);
  return status;
}

static int checksums_compute(struct session *session) {
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

static struct entry entry_for(const struct session *session, size_t file_index,
                              const struct ledger_row *row, int64_t highest_applied) {
  const migration_file *file =
      file_index < session->set.count ? &session->set.files[file_index] : NULL;
  struct entry entry = {.file = file, .row = row};
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
static int plan_build(struct session *session) {
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
    const struct ledger_row *row =
        row_index < session->row_count ? &session->rows[row_index] : NULL;
    struct entry *entry = &session->entries[session->entry_count++];
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

static int session_refresh(struct session *session) {
  int status = ledger_load(session);
  return status == TIX_OK ? plan_build(session) : status;
}

/* ------------------------------------------------------------------- lock */

static void lock_key_parts(char *high, char *low, size_t size) {
  uint64_t key = (uint64_t)LOCK_KEY;
  snprintf(high, size, "%u", (unsigned)(key >> 32));
  snprintf(low, size, "%u", (unsigned)(key & 0xffffffffu));
}

static int lock_try(PGconn *conn, bool *taken) {
  char key[32];
  snprintf(key, sizeof key, "%lld", (long long)LOCK_KEY);
  const char *values[] = {key};
  PGresult *result =
      PQexecParams(conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL, values, NULL, NULL, 0);
  int status = TIX_OK;
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
    status = migrate_fail_query(conn, result, "cannot take the migration lock");
  } else {
    *taken = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
  }
  PQclear(result);
  return status;
}

/* Who holds the lock, for the person waiting: pid, application, client
 * address and since when its lock connection has been idle. */
static void lock_describe_holder(PGconn *conn, char *out, size_t size) {
  char high[16];
  char low[16];
  lock_key_parts(high, low, sizeof high);
  const char *values[] = {high, low};
  PGresult *result = PQexecParams(
      conn,
      "SELECT format('pid %s (application %s, client %s) since %s', a.pid,"
      " coalesce(nullif(a.application_name, ''), 'unnamed'),"
      " coalesce(host(a.client_addr), 'local socket'),"
      " coalesce(to_char(a.state_change, 'YYYY-MM-DD HH24:MI:SS OF'), 'an unknown time'))"
      " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
      " WHERE l.locktype = 'advisory' AND l.granted"
      " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
      " AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 1"
      " LIMIT 1",
      2, NULL, values, NULL, NULL, 0);
  if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
    snprintf(out, size, "%s", PQgetvalue(result, 0, 0));
  } else {
    snprintf(out, size, "a session that could not be identified");
  }
  PQclear(result);
}

/* Polls rather than blocks: a waiter blocked in pg_advisory_lock would sit
 * in a transaction with a snapshot, and CREATE INDEX CONCURRENTLY on the
 * holder waits for every such snapshot: a deadlock nobody detects. */
static int lock_acquire(struct session *session) {
  int status = migrate_connect(session->conninfo, NULL, &session->lock_conn);
  if (status != TIX_OK) {
    return status;
  }
  int timeout_ms = session->options.lock_timeout_ms;
  int64_t deadline_ms = tix_now_ms() + timeout_ms;
  int attempts_max = timeout_ms / LOCK_POLL_MS + 2;
  char holder[HOLDER_BYTES] = "";
  for (int attempt = 0; attempt < attempts_max; attempt++) {
    bool taken = false;
    status = lock_try(session->lock_conn, &taken);
    if (status != TIX_OK || taken) {
      return status;
    }
    if (attempt == 0) {
      lock_describe_holder(session->lock_conn, holder, sizeof holder);
      progress(session, "waiting for the migration lock, held by %s\n", holder);
    }
    int64_t left_ms = deadline_ms - tix_now_ms();
    if (left_ms <= 0) {
      break;
    }
    sleep_ms(left_ms < LOCK_POLL_MS ? left_ms : LOCK_POLL_MS);
  }
  lock_describe_holder(session->lock_conn, holder, sizeof holder);
  tix_fail(TIX_ELOCKED, "another migration holds the migration lock");
  tix_fail_detail("Waited %d ms. The lock is held by %s.", timeout_ms, holder);
  tix_fail_hint("Wait for it to finish and try again (--lock-timeout SECONDS waits longer), or "
                "end a stuck session with pg_terminate_backend(pid).");
  return TIX_ELOCKED;
}

/* ---------------------------------------------------------------- session */

static int schema_path_resolve(struct session *session) {
  const char *configured = session->options.schema_file;
  if (configured == NULL) {
    configured = getenv(MIGRATE_SCHEMA_FILE_ENV);
  }
  int written = configured != NULL
                    ? snprintf(session->schema_path, sizeof session->schema_path, "%s", configured)
                    : snprintf(session->schema_path, sizeof session->schema_path,
                               "%s/../schema.sql", session->directory);
  if (written < 0 || (size_t)written >= sizeof session->schema_path) {
    return tix_fail(TIX_EINVAL, "the schema file path is too long");
  }
  return TIX_OK;
}

static int options_resolve(struct session *session, const tix_migrate_options *options) {
  if (options != NULL) {
    session->options = *options;
  } else {
    tix_migrate_options_default(&session->options);
  }
  if (session->options.lock_timeout_ms < 0 ||
      session->options.lock_timeout_ms > LOCK_TIMEOUT_MAX_MS) {
    return tix_fail(TIX_EINVAL, "the lock timeout must be between 0 and %d ms",
                    LOCK_TIMEOUT_MAX_MS);
  }
  if (session->options.steps < 0 || session->options.target_version < 0) {
    return tix_fail(TIX_EINVAL, "steps and target version cannot be negative");
  }
  int status = migration_directory_resolve(session->options.directory, session->directory,
                                           sizeof session->directory);
  return status == TIX_OK ? schema_path_resolve(session) : status;
}

/* Bad files are refused before the database is touched. */
static int session_open(struct session *session, const char *conninfo,
                        const tix_migrate_options *options, enum session_mode mode) {
  *session = (struct session){.conninfo = conninfo};
  if (conninfo == NULL) {
    return tix_fail(TIX_EINVAL, "no connection string given");
  }
  int status = options_resolve(session, options);
  if (status == TIX_OK) {
    status = migration_set_load(session->directory, &session->set);
  }
  if (status == TIX_OK) {
    status = migrate_connect(conninfo, session->options.progress, &session->conn);
  }
  if (status == TIX_OK && mode == SESSION_WRITE) {
    status = lock_acquire(session);
  }
  if (status == TIX_OK && mode == SESSION_WRITE) {
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

static void session_close(struct session *session) {
  PQfinish(session->lock_conn); /* ends the session: the advisory lock goes with it */
  PQfinish(session->conn);
  migration_set_clear(&session->set);
  free(session->checksums);
  free(session->rows);
  free(session->entries);
  *session = (struct session){0};
}

/* ---------------------------------------------------------------- running */

/* Leaves a COPY that a migration started, since it has no data to send. */
static void abandon_copy(PGconn *conn, ExecStatusType outcome) {
  if (outcome == PGRES_COPY_IN) {
    PQputCopyEnd(conn, "COPY FROM STDIN is not supported in migrations");
  }
  char *buffer = NULL;
  for (int i = 0; outcome == PGRES_COPY_OUT && i < COPY_DRAIN_MAX; i++) {
    if (PQgetCopyData(conn, &buffer, 0) < 0) {
      break;
    }
    PQfreemem(buffer);
  }
  PGresult *result = NULL;
  for (int i = 0; i < COPY_DRAIN_MAX && (result = PQgetResult(conn)) != NULL; i++) {
    PQclear(result);
  }
}

static void fail_statement_detail(const PGresult *result, const migration_section *section,
                                  bool up) {
  const char *detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL);
  const char *consequence =
      section->transaction
          ? (up ? "The migration was rolled back as a whole and later ones were not run."
                : "The roll-back was undone: the migration stays applied.")
          : "This section runs outside a transaction (transaction:false): the statements "
            "before this one stay applied.";
  tix_fail_detail("%s%s%s", detail != NULL ? detail : "", detail != NULL ? " " : "", consequence);
  const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char *hint = PQresultErrorField(result, PG_DIAG_MESSAGE_HINT);
  if (sqlstate != NULL && strcmp(sqlstate, "25001") == 0) {
    tix_fail_hint("Put transaction:false after \"-- migrate:%s\" for statements that cannot run "
                  "inside a transaction, such as CREATE INDEX CONCURRENTLY.",
                  up ? "up" : "down");
  } else if (hint != NULL) {
    tix_fail_hint("%s", hint);
  }
}

/* Names the file, the line (where the statement starts plus where in it
 * PostgreSQL points) and PostgreSQL's own message. */
static int fail_statement(PGconn *conn, const PGresult *result, const migration_file *file,
                          const migration_section *section, const migration_statement *statement,
                          bool up) {
  const char *sqlstate = result != NULL ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
  if (sqlstate == NULL && PQstatus(conn) != CONNECTION_OK) {
    tix_fail(TIX_EUNAVAILABLE, "lost the connection to the database during migration %s",
             file->file_name);
    return TIX_EUNAVAILABLE;
  }
  const char *position =
      result != NULL ? PQresultErrorField(result, PG_DIAG_STATEMENT_POSITION) : NULL;
  int line =
      position != NULL ? migration_statement_line_at(statement, atoi(position)) : statement->line;
  const char *primary = result != NULL ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  ExecStatusType outcome = PQresultStatus(result);
  if (outcome == PGRES_COPY_IN || outcome == PGRES_COPY_OUT || outcome == PGRES_COPY_BOTH) {
    primary = "COPY to or from the client is not supported in migrations";
  }
  tix_fail(TIX_EMIGRATION, "%s %s failed at line %d: %s", up ? "migration" : "roll-back of",
           file->file_name, line, primary != NULL ? primary : "unknown error");
  if (result != NULL) {
    fail_statement_detail(result, section, up);
  }
  return TIX_EMIGRATION;
}

/* One statement at a time, so a failure can say where it is. */
static int run_statements(PGconn *conn, const migration_file *file, bool up) {
  const migration_section *section = up ? &file->up : &file->down;
  for (size_t i = 0; i < section->statement_count; i++) {
    const migration_statement *statement = &section->statements[i];
    PGresult *result = PQexec(conn, statement->sql); /* the file's own SQL */
    ExecStatusType outcome = PQresultStatus(result);
    if (outcome == PGRES_COMMAND_OK || outcome == PGRES_TUPLES_OK || outcome == PGRES_EMPTY_QUERY) {
      PQclear(result);
      continue;
    }
    if (outcome == PGRES_COPY_IN || outcome == PGRES_COPY_OUT || outcome == PGRES_COPY_BOTH) {
      abandon_copy(conn, outcome);
    }
    int status = fail_statement(conn, result, file, section, statement, up);
    PQclear(result);
    return status;
  }
  return TIX_OK;
}

/* A migration's section and its ledger change, together: in one
 * transaction, or (transaction:false) one statement after another. */
static int run_section(struct session *session, const migration_file *file, const char *checksum,
                       bool up) {
  const migration_section *section = up ? &file->up : &file->down;
  PGconn *conn = session->conn;
  int status = TIX_OK;
  if (section->transaction) {
    status = exec_command(conn, "BEGIN", "cannot start a transaction");
  }
  int64_t started_ms = tix_now_ms();
  if (status == TIX_OK) {
    status = run_statements(conn, file, up);
  }
  int execution_ms = (int)(tix_now_ms() - started_ms);
  /* A SET in a migration must not leak into the ledger INSERT (search_path)
   * nor into the next migration. */
  if (status == TIX_OK) {
    status = exec_command(conn, "RESET ALL", "cannot reset the session settings");
  }
  if (status == TIX_OK) { /* RESET ALL leaves a SET ROLE in place */
    status = exec_command(conn, "RESET ROLE", "cannot reset the role");
  }
  if (status == TIX_OK) {
    status = ledger_record(conn, file, checksum, execution_ms, up);
  }
  if (status == TIX_OK && section->transaction) {
    status = exec_command(conn, "COMMIT", "cannot commit the migration");
  }
  if (status != TIX_OK && section->transaction && PQstatus(conn) == CONNECTION_OK) {
    tix_sql_rollback(conn);
  }
  if (status == TIX_OK) {
    session->changed = true;
    progress(session, "%s %s in %d ms\n", up ? "applied" : "rolled back", file->file_name,
             execution_ms);
  }
  return status;
}

static const char *transaction_mode(const migration_section *section) {
  return section->transaction ? "in a transaction" : "outside a transaction (transaction:false)";
}

/* ------------------------------------------------------------------- up */

static int refuse_drift(const struct session *session) {
  for (size_t i = 0; i < session->entry_count; i++) {
    const struct entry *entry = &session->entries[i];
    if (entry->state != TIX_MIGRATION_DRIFTED) {
      continue;
    }
    tix_fail(TIX_EDRIFT, "migration %s was changed after it was applied", entry->file->file_name);
    tix_fail_detail("Its checksum is %.12s… in the ledger and %.12s… in the file. "
                    "Nothing was run.",
                    entry->row->checksum, entry->checksum);
    tix_fail_hint("If the change is intended and already reflected in the database, run "
                  "\"tix migrate accept %lld\".",
                  (long long)entry->version);
    return TIX_EDRIFT;
  }
  return TIX_OK;
}

static bool selected_for_up(const struct entry *entry, int64_t target_version) {
  bool pending =
      entry->state == TIX_MIGRATION_PENDING || entry->state == TIX_MIGRATION_OUT_OF_ORDER;
  return pending && (target_version == 0 || entry->version <= target_version);
}

static int refuse_out_of_order(const struct session *session, int64_t target_version) {
  char names[sizeof tix_last_diag()->detail / 2] = "";
  const struct entry *first = NULL;
  for (size_t i = 0; i < session->entry_count; i++) {
    const struct entry *entry = &session->entries[i];
    if (entry->state == TIX_MIGRATION_OUT_OF_ORDER && selected_for_up(entry, target_version)) {
      first = first == NULL ? entry : first;
      size_t used = strlen(names);
      snprintf(names + used, sizeof names - used, "%s%s", used > 0 ? ", " : "",
               entry->file->file_name);
    }
  }
  if (first == NULL || session->options.allow_out_of_order) {
    return TIX_OK;
  }
  tix_fail(TIX_EORDER, "migration %s is older than the newest applied migration (%lld)",
           first->file->file_name, (long long)session->rows[session->row_count - 1].version);
  tix_fail_detail("Out of order: %s. Nothing was run.", names);
  tix_fail_hint("If they do not depend on later migrations, run again with "
                "--allow-out-of-order; otherwise renumber them after the newest.");
  return TIX_EORDER;
}

static void warn_missing_files(const struct session *session) {
  for (size_t i = 0; i < session->entry_count; i++) {
    const struct entry *entry = &session->entries[i];
    if (entry->state == TIX_MIGRATION_MISSING_FILE) {
      progress(session, "warning: migration %lld (%s) is applied but its file is missing\n",
               (long long)entry->version, entry->row->name);
    }
  }
}

static int up_run(struct session *session) {
  int64_t target_version = session->options.target_version;
  warn_missing_files(session);
  int status = refuse_drift(session);
  if (status == TIX_OK) {
    status = refuse_out_of_order(session, target_version);
  }
  size_t selected = 0;
  for (size_t i = 0; status == TIX_OK && i < session->entry_count; i++) {
    const struct entry *entry = &session->entries[i];
    if (!selected_for_up(entry, target_version)) {
      continue;
    }
    selected++;
    if (session->options.dry_run) {
      progress(session, "would apply %s %s\n", entry->file->file_name,
               transaction_mode(&entry->file->up));
    } else {
      status = run_section(session, entry->file, entry->checksum, true);
    }
  }
  if (status == TIX_OK && selected == 0) {
    progress(session, "nothing to apply: the database is up to date\n");
  }
  return status;
}

static int write_schema_if_changed(struct session *session) {
  if (!session->changed || session->schema_path[0] == '\0') {
    return TIX_OK;
  }
  int status = catalog_write_schema(session->conninfo, session->conn, session->schema_path);
  if (status == TIX_OK) {
    progress(session, "wrote %s\n", session->schema_path);
  } else if (tix_last_diag()->hint[0] == '\0') {
    tix_fail_hint("The migrations were applied; only %s was not written. Set TIX_SCHEMA_FILE= "
                  "(empty) to skip it.",
                  session->schema_path);
  }
  return status;
}

void tix_migrate_options_default(tix_migrate_options *options) {
  *options = (tix_migrate_options){
      .steps = 1,
      .lock_timeout_ms = tix_env_milliseconds(MIGRATE_LOCK_TIMEOUT_ENV, LOCK_TIMEOUT_DEFAULT_MS,
                                              LOCK_TIMEOUT_MAX_MS),
  };
}

int tix_migrate_up(const char *conninfo, const tix_migrate_options *options) {
  struct session session;
  bool dry_run = options != NULL && options->dry_run;
  int status = session_open(&session, conninfo, options, dry_run ? SESSION_READ : SESSION_WRITE);
  if (status == TIX_OK) {
    status = up_run(&session);
  }
  if (status == TIX_OK) {
    status = write_schema_if_changed(&session);
  }
  session_close(&session);
  return status;
}

/* ------------------------------------------------------------------ down */

static bool selected_for_down(const struct session *session, size_t row_index) {
  const tix_migrate_options *options = &session->options;
  size_t from_newest = session->row_count - 1 - row_index;
  if (options->steps > 0) {
    return from_newest < (size_t)options->steps;
  }
  return session->rows[row_index].version > options->target_version;
}

static const struct entry *entry_find(const struct session *session, int64_t version) {
  for (size_t i = 0; i < session->entry_count; i++) {
    if (session->entries[i].version == version) {
      return &session->entries[i];
    }
  }
  return NULL;
}

/* Everything to roll back must have its file, unchanged, before any runs. */
static int refuse_down(const struct session *session) {
  for (size_t i = session->row_count; i-- > 0;) {
    const struct entry *entry = entry_find(session, session->rows[i].version);
    if (!selected_for_down(session, i) || entry == NULL) {
      continue;
    }
    if (entry->state == TIX_MIGRATION_MISSING_FILE) {
      tix_fail(TIX_EMIGRATION, "cannot roll back migration %lld (%s): its file is missing",
               (long long)entry->version, entry->row->name);
      tix_fail_detail("Its down section is in that file. Nothing was run.");
      tix_fail_hint("Restore the file from version control.");
      return TIX_EMIGRATION;
    }
    if (entry->state == TIX_MIGRATION_DRIFTED) {
      tix_fail(TIX_EDRIFT, "migration %s was changed after it was applied", entry->file->file_name);
      tix_fail_detail("Its down section may no longer match what was applied. Nothing was run.");
      tix_fail_hint("Check the change; if it is intended, run \"tix migrate accept %lld\".",
                    (long long)entry->version);
      return TIX_EDRIFT;
    }
  }
  return TIX_OK;
}

/* Newest first. *last_version_out gets the oldest version rolled back. */
static int down_run(struct session *session, int64_t *last_version_out) {
  int status = refuse_down(session);
  size_t selected = 0;
  for (size_t i = session->row_count; status == TIX_OK && i-- > 0;) {
    if (!selected_for_down(session, i)) {
      continue;
    }
    const struct entry *entry = entry_find(session, session->rows[i].version);
    selected++;
    *last_version_out = entry->version;
    if (session->options.dry_run) {
      progress(session, "would roll back %s %s\n", entry->file->file_name,
               transaction_mode(&entry->file->down));
    } else {
      status = run_section(session, entry->file, entry->checksum, false);
    }
  }
  if (status == TIX_OK && selected == 0) {
    progress(session, "nothing to roll back\n");
  }
  return status;
}

int tix_migrate_down(const char *conninfo, const tix_migrate_options *options) {
  struct session session;
  bool dry_run = options != NULL && options->dry_run;
  int status = session_open(&session, conninfo, options, dry_run ? SESSION_READ : SESSION_WRITE);
  int64_t last_version = 0;
  if (status == TIX_OK) {
    status = down_run(&session, &last_version);
  }
  if (status == TIX_OK) {
    status = write_schema_if_changed(&session);
  }
  session_close(&session);
  return status;
}

/* Down one, then up that one again, under one hold of the lock. */
int tix_migrate_redo(const char *conninfo, const tix_migrate_options *options) {
  struct session session;
  bool dry_run = options != NULL && options->dry_run;
  int status = session_open(&session, conninfo, options, dry_run ? SESSION_READ : SESSION_WRITE);
  session.options.steps = 1;
  int64_t version = 0;
  if (status == TIX_OK && session.row_count == 0) {
    progress(&session, "nothing to redo: no migration is applied\n");
  } else if (status == TIX_OK) {
    status = down_run(&session, &version);
    const migration_file *file = migration_set_find(&session.set, version);
    const struct entry *entry = entry_find(&session, version);
    if (status == TIX_OK && session.options.dry_run) {
      progress(&session, "would apply %s %s\n", file->file_name, transaction_mode(&file->up));
    } else if (status == TIX_OK) {
      status = run_section(&session, file, entry->checksum, true);
    }
  }
  if (status == TIX_OK) {
    status = write_schema_if_changed(&session);
  }
  session_close(&session);
  return status;
}

/* ---------------------------------------------------------------- status */

static void status_fill(const struct entry *entry, tix_migration_status *out) {
  *out = (tix_migration_status){.version = entry->version, .state = entry->state};
  snprintf(out->name, sizeof out->name, "%s",
           entry->file != NULL ? entry->file->name : entry->row->name);
  if (entry->row != NULL) {
    snprintf(out->applied_at, sizeof out->applied_at, "%s", entry->row->applied_at);
    out->execution_ms = entry->row->execution_ms;
  }
}

int tix_migrate_status(const char *conninfo, const tix_migrate_options *options,
                       tix_migration_status **list, size_t *count) {
  if (list == NULL || count == NULL) {
    return tix_fail(TIX_EINVAL, "tix_migrate_status needs a place for the list");
  }
  *list = NULL;
  *count = 0;
  struct session session;
  int status = session_open(&session, conninfo, options, SESSION_READ);
  if (status == TIX_OK) {
    *list = calloc(session.entry_count + 1, sizeof **list);
    status = *list != NULL ? TIX_OK : tix_fail(TIX_ENOMEM, "out of memory");
  }
  for (size_t i = 0; status == TIX_OK && i < session.entry_count; i++) {
    status_fill(&session.entries[i], &(*list)[i]);
  }
  if (status == TIX_OK) {
    *count = session.entry_count;
  }
  session_close(&session);
  return status;
}

const char *tix_migration_state_name(tix_migration_state state) {
  switch (state) {
  case TIX_MIGRATION_PENDING:
    return "pending";
  case TIX_MIGRATION_APPLIED:
    return "applied";
  case TIX_MIGRATION_DRIFTED:
    return "drifted";
  case TIX_MIGRATION_OUT_OF_ORDER:
    return "out_of_order";
  case TIX_MIGRATION_MISSING_FILE:
    return "missing_file";
  }
  return "unknown";
}

/* ---------------------------------------------------------------- accept */

static int accept_entry(struct session *session, const struct entry *entry, int64_t version) {
  if (entry == NULL || entry->row == NULL) {
    tix_fail(TIX_ENOTFOUND, "migration %lld is not applied", (long long)version);
    tix_fail_hint("accept records the new checksum of an applied migration whose file changed.");
    return TIX_ENOTFOUND;
  }
  if (entry->file == NULL) {
    return tix_fail(TIX_ENOTFOUND, "migration %lld has no file to take the checksum of",
                    (long long)version);
  }
  if (entry->state != TIX_MIGRATION_DRIFTED) {
    progress(session, "%s already matches the ledger\n", entry->file->file_name);
    return TIX_OK;
  }
  char version_text[32];
  snprintf(version_text, sizeof version_text, "%lld", (long long)version);
  const char *values[] = {version_text, entry->checksum, entry->file->name};
  PGresult *result = PQexecParams(session->conn,
                                  "UPDATE " MIGRATE_LEDGER_TABLE
                                  " SET checksum = $2, name = $3 WHERE version = $1",
                                  3, NULL, values, NULL, NULL, 0);
  int status = PQresultStatus(result) == PGRES_COMMAND_OK
                   ? TIX_OK
                   : migrate_fail_query(session->conn, result, "cannot update the ledger");
  PQclear(result);
  if (status == TIX_OK) {
    progress(session, "accepted the new checksum of %s\n", entry->file->file_name);
  }
  return status;
}

int tix_migrate_accept(const char *conninfo, const tix_migrate_options *options, int64_t version) {
  struct session session;
  int status = session_open(&session, conninfo, options, SESSION_WRITE);
  if (status == TIX_OK) {
    status = accept_entry(&session, entry_find(&session, version), version);
  }
  session_close(&session);
  return status;
}

/* ------------------------------------------------------------------- new */

static int write_new_file(const char *path, const char *name) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    return tix_fail(TIX_EIO, "cannot create %s: %s", path, strerror(errno));
  }
  char text[sizeof MIGRATION_TEMPLATE + MIGRATION_NAME_MAX_BYTES];
  int length = snprintf(text, sizeof text, MIGRATION_TEMPLATE, name);
  int status = TIX_OK;
  if (write(fd, text, (size_t)length) != length) {
    status = tix_fail(TIX_EIO, "cannot write %s: %s", path, strerror(errno));
    unlink(path);
  }
  close(fd);
  return status;
}

int tix_migrate_new(const tix_migrate_options *options, const char *name, char *path_out,
                    size_t path_size) {
  if (name == NULL || !migration_name_is_valid(name)) {
    tix_fail(TIX_EINVAL, "invalid migration name \"%s\"", name != NULL ? name : "");
    tix_fail_detail("A name is lowercase letters, digits and underscores, at most %d bytes.",
                    MIGRATION_NAME_MAX_BYTES - 1);
    return TIX_EINVAL;
  }
  char directory[PATH_MAX];
  int status = migration_directory_resolve(options != NULL ? options->directory : NULL, directory,
                                           sizeof directory);
  if (status == TIX_OK && mkdir(directory, 0755) != 0 && errno != EEXIST) {
    status = tix_fail(TIX_EIO, "cannot create the directory %s: %s", directory, strerror(errno));
  }
  int64_t highest = 0;
  if (status == TIX_OK) {
    status = migration_directory_highest_version(directory, &highest);
  }
  if (status != TIX_OK) {
    return status;
  }
  if ((size_t)snprintf(path_out, path_size, "%s/%04lld_%s.sql", directory, (long long)highest + 1,
                       name) >= path_size) {
    return tix_fail(TIX_EINVAL, "the path of the new migration is too long");
  }
  return write_new_file(path_out, name);
}

/* ---------------------------------------------------------------- verify */

#define VERIFY_DATABASE_PREFIX "tix_verify_"
#define VERIFY_SQL_MAX_BYTES   512
#define VERIFY_DETAIL_BYTES    (sizeof tix_last_diag()->detail - 128)

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
static int verify_one(struct session *session, size_t index, catalog_snapshot *before,
                      char **difference_out) {
  const migration_file *file = &session->set.files[index];
  const char *checksum = session->checksums[index];
  catalog_snapshot after_up = {0};
  catalog_snapshot after_down = {0};
  catalog_snapshot again = {0};
  int status = run_section(session, file, checksum, true);
  if (status == TIX_OK) {
    status = catalog_snapshot_take(session->conn, &after_up);
  }
  if (status == TIX_OK) {
    status = run_section(session, file, checksum, false);
  }
  if (status == TIX_OK) {
    status = catalog_snapshot_take(session->conn, &after_down);
  }
  if (status == TIX_OK) {
    status = verify_compare(before, &after_down, file,
                            "the down section does not undo the up section", difference_out);
  }
  if (status == TIX_OK) {
    status = run_section(session, file, checksum, true);
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
  struct session session;
  int status = session_open(&session, conninfo, options, SESSION_WRITE);
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
  session_close(&session);
  return status;
}

static int scratch_command(PGconn *conn, const char *before, const char *database,
                           const char *after, const char *doing, bool report) {
  char *identifier = PQescapeIdentifier(conn, database, strlen(database));
  if (identifier == NULL) {
    return report ? tix_fail(TIX_ENOMEM, "out of memory") : TIX_ENOMEM;
  }
  char sql[VERIFY_SQL_MAX_BYTES];
  snprintf(sql, sizeof sql, "%s%s%s", before, identifier, after);
  PQfreemem(identifier);
  if (report) {
    return exec_command(conn, sql, doing);
  }
  PGresult *result = PQexec(conn, sql); /* cleanup after a failure: keep its diagnostic */
  PQclear(result);
  return TIX_OK;
}

static int require_createdb(PGconn *conn) {
  PGresult *result = PQexecParams(conn,
                                  "SELECT rolcreatedb OR rolsuper, current_user FROM pg_roles"
                                  " WHERE rolname = current_user",
                                  0, NULL, NULL, NULL, NULL, 0);
  int status = TIX_OK;
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
    status = migrate_fail_query(conn, result, "cannot read the role's privileges");
  } else if (strcmp(PQgetvalue(result, 0, 0), "t") != 0) {
    status = tix_fail(TIX_EDATABASE, "verify needs permission to create a scratch database");
    tix_fail_detail("Role \"%s\" has neither CREATEDB nor SUPERUSER.", PQgetvalue(result, 0, 1));
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
  char *scratch_conninfo = NULL;
  status = migrate_conninfo_rewrite(conninfo, database, &scratch_conninfo, NULL);
  if (status == TIX_OK) {
    status = verify_migrations(scratch_conninfo, options);
  }
  free(scratch_conninfo);
  bool report = status == TIX_OK;
  int drop_status = scratch_command(admin, "DROP DATABASE IF EXISTS ", database, " WITH (FORCE)",
                                    "cannot drop the scratch database", report);
  return status == TIX_OK ? drop_status : status;
}

int tix_migrate_verify(const char *conninfo, const tix_migrate_options *options) {
  tix_migrate_options resolved;
  if (options != NULL) {
    resolved = *options;
  } else {
    tix_migrate_options_default(&resolved);
  }
  char directory[PATH_MAX];
  migration_set set = {0};
  /* Bad files are reported before any database is created. */
  int status = migration_directory_resolve(resolved.directory, directory, sizeof directory);
  if (status == TIX_OK) {
    status = migration_set_load(directory, &set);
  }
  migration_set_clear(&set);
  resolved.directory = directory;
  resolved.schema_file = "";
  resolved.dry_run = false;
  PGconn *admin = NULL;
  if (status == TIX_OK && conninfo == NULL) {
    status = tix_fail(TIX_EINVAL, "no connection string given");
  }
  if (status == TIX_OK) {
    status = migrate_connect(conninfo, NULL, &admin);
  }
  if (status == TIX_OK) {
    /* The counter keeps two verifies of one process (threads) apart. */
    static int verify_count;
    int number = __atomic_fetch_add(&verify_count, 1, __ATOMIC_RELAXED);
    char database[64];
    snprintf(database, sizeof database, VERIFY_DATABASE_PREFIX "%ld_%d", (long)getpid(), number);
    status = verify_in_scratch(admin, conninfo, database, &resolved);
  }
  PQfinish(admin);
  return status;
}
