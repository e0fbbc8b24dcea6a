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

#define TIX_ORIGIN_PATH_BYTES 4096
#define TIX_ORIGIN_HINT_BYTES 512

/* Where a handle's conninfo came from (tix_open_from_env), for the hint of
 * a connection that fails and for whether to wait for the server. */
struct tix_origin {
  tix_config_source source;
  char data_dir[TIX_ORIGIN_PATH_BYTES]; /* the embedded cluster's */
  char hint[TIX_ORIGIN_HINT_BYTES];     /* naming the settings, for the others */
};

struct tix {
  tix_pool *pool;
  tix_options options;
  tix_group *group;         /* group commit's queues and committers */
  struct tix_origin origin; /* source TIX_SOURCE_EMBEDDED and no data_dir: unknown */
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
