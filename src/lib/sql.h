/*
 * sql.h — internal: running one parameterised statement and ending a
 * transaction after a failure, the way every subsystem does it.
 */
#ifndef TIX_SQL_H
#define TIX_SQL_H

#include <libpq-fe.h>
#include <stdbool.h>

/* A timestamptz column as RFC 3339 text in UTC with microseconds, the form
 * every tix object shows. */
#define TIX_SQL_TIMESTAMP(column)                                                                  \
  "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* True for a uuid in its canonical 8-4-4-4-12 hexadecimal form: checked
 * before a statement, so a malformed id is the caller's error, not 22P02. */
bool tix_uuid_is_valid(const char *text);

/* Runs sql with $n parameters (text format). On success *result_out (when
 * given) owns the result; on failure the result is cleared, the thread's
 * diagnostic describes it and a TIX_E… status comes back. */
int tix_sql_exec(PGconn *conn, const char *sql, int count, const char *const *values,
                 PGresult **result_out);

/* Checks a statement's result the way tix_sql_exec does (for callers that
 * ran it themselves): takes ownership of result. */
int tix_sql_result(PGconn *conn, PGresult *result, PGresult **result_out);

/* Rolls back an open or failed transaction, keeping the diagnostic of the
 * failure that made it necessary. Harmless outside a transaction. */
void tix_sql_rollback(PGconn *conn);

/* A PostgreSQL array literal ("{\"a\",NULL}") built element by element, for
 * = ANY ($n) and unnest ($n) parameters: every element is quoted, so any
 * text is safe in it. Growth is bounded by TIX_SQL_ARRAY_MAX_BYTES. */
#define TIX_SQL_ARRAY_MAX_BYTES (64 * 1024 * 1024)

typedef struct tix_sql_array {
  char *text;
  size_t length;
  size_t capacity;
  bool failed; /* out of memory or over the bound: the literal is unusable */
} tix_sql_array;

void tix_sql_array_init(tix_sql_array *array);
/* Appends an element; NULL appends SQL NULL. */
void tix_sql_array_add(tix_sql_array *array, const char *element);
void tix_sql_array_add_int(tix_sql_array *array, int element);
/* Closes the literal; NULL (with a diagnostic) when building it failed. */
const char *tix_sql_array_finish(tix_sql_array *array);
void tix_sql_array_free(tix_sql_array *array);

#endif /* TIX_SQL_H */
