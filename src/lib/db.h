/*
 * db.h — internal: the tix handle and how subsystems borrow a connection.
 */
#ifndef TIX_DB_H
#define TIX_DB_H

#include "pool.h"
#include "tix.h"

#include <libpq-fe.h>

struct tix {
  tix_pool *pool;
  tix_options options;
};

/* Borrows a pooled connection; give it back with tix_db_release. */
int tix_db_acquire(tix *db, PGconn **out);
/* broken: the connection failed mid-use and must not be reused. */
void tix_db_release(tix *db, PGconn *conn, bool broken);

#endif /* TIX_DB_H */
