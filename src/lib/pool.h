/*
 * pool.h — internal: a thread-safe pool of libpq connections with a bounded
 * checkout, idle expiry and replacement of broken connections.
 */
#ifndef TIX_POOL_H
#define TIX_POOL_H

#include "clock.h"
#include "tix.h"

#include <libpq-fe.h>

typedef struct tix_pool tix_pool;

/* Runs on every new connection before it is handed out (e.g. to prepare
 * statements); a status other than TIX_OK closes it and fails the acquire. */
typedef int (*tix_pool_connect_hook)(PGconn *conn, void *context);

int tix_pool_create(const char *conninfo, const tix_options *options,
                    tix_pool_connect_hook on_connect, void *context, tix_pool **out);
void tix_pool_destroy(tix_pool *pool);
/* Waits at most options->acquire_timeout_ms for a connection. */
int tix_pool_acquire(tix_pool *pool, PGconn **out);
/* Returns a connection; a broken one (or one left inside a transaction) is closed. */
void tix_pool_release(tix_pool *pool, PGconn *conn, bool broken);
/* Connections open now (idle and checked out), for tests and metrics. */
int tix_pool_open_count(tix_pool *pool);

/* Opens one connection with tix's settings, waiting until the server answers
 * or timeout_ms passes. Unreachable: TIX_EUNAVAILABLE with where it looked. */
int tix_connect(const char *conninfo, const char *application_name, int timeout_ms, PGconn **out);

#endif /* TIX_POOL_H */
