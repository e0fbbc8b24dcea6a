/*
 * db.h — internal: the tix handle and how subsystems borrow a connection.
 * Borrowing is inline over the pool so that the engine, below the handle's
 * own life cycle (db.c), never calls back up into it.
 */
#ifndef TIX_DB_H
#define TIX_DB_H

#include "pool.h"
#include "tix.h"

#include <libpq-fe.h>

typedef struct tix_group tix_group;

struct tix {
  tix_pool *pool;
  tix_options options;
  tix_group *group; /* group commit's queues and committers */
};

/* Borrows a pooled connection; give it back with tix_db_release. */
static inline int tix_db_acquire(tix *db, PGconn **out) {
  return tix_pool_acquire(db->pool, out);
}
/* broken: the connection failed mid-use and must not be reused. */
static inline void tix_db_release(tix *db, PGconn *conn, bool broken) {
  tix_pool_release(db->pool, conn, broken);
}

#endif /* TIX_DB_H */
