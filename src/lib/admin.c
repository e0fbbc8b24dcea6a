/*
 * admin.c — connections and bookkeeping statements for migrations and the
 * catalog (see admin.h). Every statement goes through tix_sql_exec; only
 * the wording of a failure differs from the selling side's.
 */
#include "admin.h"

#include "config.h"
#include "error.h"
#include "pool.h"
#include "sql.h"
#include "tix.h"

#include <string.h>

#define SEVERITY_SEPARATOR ":  "
#define DETAIL_LABEL       "\nDETAIL:  "

static void forward_notice(void *stream, const char *message) {
  if (stream != NULL) {
    fputs(message, stream);
  }
}

int tix_admin_connect(const char *conninfo, FILE *notices, PGconn **out) {
  int timeout_ms = 0;
  int status =
      tix_env_milliseconds(TIX_CONNECT_TIMEOUT_ENV, TIX_CONNECT_TIMEOUT_DEFAULT_MS,
                           TIX_CONNECT_TIMEOUT_MIN_MS, TIX_CONNECT_TIMEOUT_MAX_MS, &timeout_ms);
  if (status == TIX_OK) {
    status = tix_connect(conninfo, TIX_ADMIN_APPLICATION_NAME, timeout_ms, out);
  }
  if (status == TIX_OK) {
    PQsetNoticeProcessor(*out, forward_notice, notices);
  }
  return status;
}

/* One line of text after label, "" when there is none. */
static void line_after(const char *text, const char *label, char *out, size_t size) {
  const char *start = text != NULL ? strstr(text, label) : NULL;
  if (start == NULL) {
    out[0] = '\0';
    return;
  }
  start += strlen(label);
  snprintf(out, size, "%.*s", (int)strcspn(start, "\n"), start);
}

/* PostgreSQL's own words for the statement that just failed on conn: the
 * result is gone, but libpq keeps its text as "SEVERITY:  primary\n" and
 * then lines such as "DETAIL:  …" (a translated label is simply missed). */
static void server_words(PGconn *conn, char *primary, size_t primary_size, char *detail,
                         size_t detail_size) {
  const char *text = PQerrorMessage(conn);
  line_after(text, SEVERITY_SEPARATOR, primary, primary_size);
  if (primary[0] == '\0') {
    snprintf(primary, primary_size, "%.*s", (int)strcspn(text, "\n"), text);
  }
  line_after(text, DETAIL_LABEL, detail, detail_size);
}

int tix_admin_exec(PGconn *conn, const char *doing, const char *sql, int count,
                   const char *const *values, PGresult **result_out) {
  int status = tix_sql_exec(conn, sql, count, values, result_out);
  if (status == TIX_OK) {
    return TIX_OK;
  }
  const tix_diag *diag = tix_last_diag();
  char primary[sizeof diag->message];
  char detail[sizeof diag->detail];
  if (diag->sqlstate[0] == '\0') { /* no answer from the server: the connection */
    snprintf(primary, sizeof primary, "%s", diag->message);
    detail[0] = '\0';
  } else {
    server_words(conn, primary, sizeof primary, detail, sizeof detail);
  }
  if (status == TIX_ESCHEMA) {
    status = TIX_EDATABASE;
  }
  tix_fail(status, "%s: %s", doing, primary[0] != '\0' ? primary : "unknown error");
  if (detail[0] != '\0') {
    tix_fail_detail("%s", detail);
  }
  return status;
}

void tix_admin_cleanup(PGconn *conn, const char *sql) {
  tix_diag saved = *tix_last_diag();
  tix_sql_exec(conn, sql, 0, NULL, NULL);
  tix_fail(saved.status, "%s", saved.message);
  tix_fail_detail("%s", saved.detail);
  tix_fail_hint("%s", saved.hint);
}
