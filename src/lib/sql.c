/*
 * sql.c — the one place a libtix statement meets libpq: parameters always
 * travel separately from the SQL text, and every failure is mapped through
 * tix_fail_from_result.
 */
#include "sql.h"

#include <assert.h>
#include <ctype.h>

#include "error.h"
#include "tix.h"

int tix_sql_exec(PGconn *conn, const char *sql, int count, const char *const *values,
                 PGresult **result_out) {
  assert(conn != NULL && sql != NULL);
  PGresult *result = PQexecParams(conn, sql, count, NULL, values, NULL, NULL, 0);
  ExecStatusType outcome = PQresultStatus(result);
  if (result == NULL || (outcome != PGRES_COMMAND_OK && outcome != PGRES_TUPLES_OK)) {
    int status = tix_fail_from_result(conn, result);
    PQclear(result);
    return status;
  }
  if (result_out != NULL) {
    *result_out = result;
  } else {
    PQclear(result);
  }
  return TIX_OK;
}

void tix_sql_rollback(PGconn *conn) {
  PGTransactionStatusType state = PQtransactionStatus(conn);
  if (state == PQTRANS_INTRANS || state == PQTRANS_INERROR) {
    PQclear(PQexec(conn, "ROLLBACK"));
  }
}

bool tix_uuid_is_valid(const char *text) {
  if (text == NULL) {
    return false;
  }
  for (int i = 0; i < TIX_UUID_SIZE - 1; i++) {
    bool dash_expected = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_expected ? text[i] != '-' : !isxdigit((unsigned char)text[i])) {
      return false;
    }
  }
  return text[TIX_UUID_SIZE - 1] == '\0';
}
