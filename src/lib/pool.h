/*
 * pool.h — internal: a thread-safe pool of libpq connections with a bounded
 * checkout served in arrival order, idle expiry and replacement of broken
 * connections.
 */
#ifndef TIX_POOL_H
#define TIX_POOL_H

#include "clock.h"
#include "tix.h"

#include <libpq-fe.h>

typedef struct tix_pool tix_pool;

/* Set-up for every new connection (preparing the statements its users rely
 * on, for instance): called once per physical connection, right after it is
 * established and before anyone gets it, so also again for the replacement
 * of a broken one. It runs on the pool's opener thread and must leave the
 * connection idle. A non-zero status (recorded with tix_fail) closes the
 * connection, and the checkout waiting for it fails with that status. */
typedef int (*tix_pool_connect_hook)(PGconn *conn, void *context);

/* on_connect may be NULL; context is passed to it. */
int tix_pool_create(const char *conninfo, const tix_options *options,
                    tix_pool_connect_hook on_connect, void *context, tix_pool **out);
void tix_pool_destroy(tix_pool *pool);
/* Waits in arrival order, at most options->acquire_timeout_ms, for a
 * connection; when one is being opened for this caller, until that succeeds
 * or fails (bounded by connect_timeout_ms), so an unreachable database is
 * reported as TIX_EUNAVAILABLE, not as a busy pool. */
int tix_pool_acquire(tix_pool *pool, PGconn **out);
/* Returns a connection; a broken one (or one left inside a transaction) is closed. */
void tix_pool_release(tix_pool *pool, PGconn *conn, bool broken);
/* Connections open now (idle and checked out), for tests and metrics. */
int tix_pool_open_count(tix_pool *pool);

typedef struct tix_pool_stats {
  int open;        /* idle, checked out, or being opened */
  int idle;        /* open and free */
  int checked_out; /* handed to callers and not yet released */
  int waiting;     /* callers queued for a connection */
  int peak_open;   /* the most open at once since the pool was created */
  long opened;     /* physical connections opened since then */
} tix_pool_stats;

/* A consistent snapshot, for tests and metrics. */
void tix_pool_get_stats(tix_pool *pool, tix_pool_stats *out);

/* What the owner of a conninfo knows and libpq does not: where it came
 * from. When a connection cannot be opened, server_may_answer says whether
 * waiting on makes sense (an embedded cluster that was stopped will not
 * come back by itself), and explain, called once the failure is recorded,
 * may replace its hint with one that names that source. Either may be
 * NULL; both run on the thread that connects. */
typedef struct tix_connect_advisor {
  bool (*server_may_answer)(void *context);
  void (*explain)(void *context);
  void *context;
} tix_connect_advisor;

/* Opens one connection with tix's settings, waiting until the server answers
 * or timeout_ms passes: an attempt that fails is retried until then, while
 * the server may still come (not when it refused the login). Unreachable:
 * TIX_EUNAVAILABLE with where it looked and why, in tix's words. */
int tix_connect(const char *conninfo, const char *application_name, int timeout_ms, PGconn **out);
/* The same, with an advisor (may be NULL). */
int tix_connect_advised(const char *conninfo, const char *application_name, int timeout_ms,
                        const tix_connect_advisor *advisor, PGconn **out);
/* The advisor for every connection the pool opens; before the first
 * tix_pool_acquire. */
void tix_pool_set_advisor(tix_pool *pool, const tix_connect_advisor *advisor);

#endif /* TIX_POOL_H */
