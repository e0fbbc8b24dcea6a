/*
 * sql.c — the one place a libtix statement meets libpq: parameters always
 * travel separately from the SQL text, and every failure is mapped through
 * tix_fail_from_result.
 */
#include "sql.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tix.h"

int tix_sql_exec(PGconn *conn, const char *sql, int count, const char *const *values,
                 PGresult **result_out) {
  assert(conn != NULL && sql != NULL);
  PGresult *result = PQexecParams(conn, sql, count, NULL, values, NULL, NULL, 0);
  return tix_sql_result(conn, result, result_out);
}

int tix_sql_result(PGconn *conn, PGresult *result, PGresult **result_out) {
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

/* ------------------------------------------------------------- arrays */

#define ARRAY_FIRST_CAPACITY 256

void tix_sql_array_init(tix_sql_array *array) {
  *array = (tix_sql_array){0};
}

static bool array_reserve(tix_sql_array *array, size_t more) {
  if (array->failed) {
    return false;
  }
  size_t needed = array->length + more + 1;
  if (needed <= array->capacity) {
    return true;
  }
  char *text = NULL;
  if (needed <= TIX_SQL_ARRAY_MAX_BYTES) {
    size_t capacity = array->capacity == 0 ? ARRAY_FIRST_CAPACITY : array->capacity;
    while (capacity < needed) {
      capacity *= 2;
    }
    text = realloc(array->text, capacity);
    array->capacity = text != NULL ? capacity : array->capacity;
  }
  if (text == NULL) {
    array->failed = true;
    return false;
  }
  array->text = text;
  return true;
}

static void array_put(tix_sql_array *array, char c) {
  if (array_reserve(array, 1)) {
    array->text[array->length++] = c;
  }
}

void tix_sql_array_add(tix_sql_array *array, const char *element) {
  array_put(array, array->length == 0 ? '{' : ',');
  if (element == NULL) {
    for (const char *c = "NULL"; *c != '\0'; c++) {
      array_put(array, *c);
    }
    return;
  }
  /* Inside double quotes only a backslash and a double quote need one. */
  array_put(array, '"');
  for (const char *c = element; *c != '\0' && !array->failed; c++) {
    if (*c == '"' || *c == '\\') {
      array_put(array, '\\');
    }
    array_put(array, *c);
  }
  array_put(array, '"');
}

void tix_sql_array_add_int(tix_sql_array *array, int element) {
  char text[16];
  snprintf(text, sizeof text, "%d", element);
  tix_sql_array_add(array, text);
}

const char *tix_sql_array_finish(tix_sql_array *array) {
  if (array->length == 0) {
    array_put(array, '{');
  }
  array_put(array, '}');
  if (!array_reserve(array, 0)) {
    tix_fail(TIX_ENOMEM, "out of memory for an array of %zu bytes", array->length);
    return NULL;
  }
  array->text[array->length] = '\0';
  return array->text;
}

void tix_sql_array_free(tix_sql_array *array) {
  free(array->text);
  *array = (tix_sql_array){0};
}
