/*
 * sql.h — internal: running one parameterised statement and ending a
 * transaction after a failure, the way every subsystem does it.
 */
#ifndef TIX_SQL_H
#define TIX_SQL_H

#include <libpq-fe.h>

/* Runs sql with $n parameters (text format). On success *result_out (when
 * given) owns the result; on failure the result is cleared, the thread's
 * diagnostic describes it and a TIX_E… status comes back. */
int tix_sql_exec(PGconn *conn, const char *sql, int count, const char *const *values,
                 PGresult **result_out);

/* Rolls back an open or failed transaction, keeping the diagnostic of the
 * failure that made it necessary. Harmless outside a transaction. */
void tix_sql_rollback(PGconn *conn);

#endif /* TIX_SQL_H */
