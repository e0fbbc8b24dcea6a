/*
 * migrate_run.c — running one section of a migration file with its ledger
 * change: in one transaction, or (transaction:false) statement by
 * statement; a failure names the file, the line and PostgreSQL's message,
 * and says what stayed applied.
 */
#include "migrate_internal.h"

#include "clock.h"
#include "error.h"
#include "sql.h"

#include <stdlib.h>
#include <string.h>

#define COPY_DRAIN_MAX 1000000

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

/* One statement at a time, so a failure can say where it is. The only
 * place a migration's own SQL reaches the server: it is the file's text,
 * run as a simple query since it may be anything (DO blocks, COPY). */
static int run_statements(PGconn *conn, const migration_file *file, bool up) {
  const migration_section *section = up ? &file->up : &file->down;
  for (size_t i = 0; i < section->statement_count; i++) {
    const migration_statement *statement = &section->statements[i];
    PGresult *result = PQexec(conn, statement->sql);
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

int migrate_run_section(struct migrate_session *session, const migration_file *file,
                        const char *checksum, bool up) {
  const migration_section *section = up ? &file->up : &file->down;
  PGconn *conn = session->conn;
  int status = TIX_OK;
  if (section->transaction) {
    status = tix_admin_exec(conn, "cannot start a transaction", "BEGIN", 0, NULL, NULL);
  }
  int64_t started_ms = tix_now_ms();
  if (status == TIX_OK) {
    status = run_statements(conn, file, up);
  }
  int execution_ms = (int)(tix_now_ms() - started_ms);
  /* A SET in a migration must not leak into the ledger INSERT (search_path)
   * nor into the next migration. */
  if (status == TIX_OK) {
    status = tix_admin_exec(conn, "cannot reset the session settings", "RESET ALL", 0, NULL, NULL);
  }
  if (status == TIX_OK) { /* RESET ALL leaves a SET ROLE in place */
    status = tix_admin_exec(conn, "cannot reset the role", "RESET ROLE", 0, NULL, NULL);
  }
  if (status == TIX_OK) {
    status = migrate_ledger_record(conn, file, checksum, execution_ms, up);
  }
  if (status == TIX_OK && section->transaction) {
    status = tix_admin_exec(conn, "cannot commit the migration", "COMMIT", 0, NULL, NULL);
  }
  if (status != TIX_OK && section->transaction && PQstatus(conn) == CONNECTION_OK) {
    tix_sql_rollback(conn);
  }
  if (status == TIX_OK) {
    session->changed = true;
    migrate_progress(session, "%s %s in %d ms\n", up ? "applied" : "rolled back", file->file_name,
                     execution_ms);
  }
  return status;
}

const char *migrate_transaction_mode(const migration_section *section) {
  return section->transaction ? "in a transaction" : "outside a transaction (transaction:false)";
}
