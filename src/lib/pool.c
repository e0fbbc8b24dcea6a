/*
 * pool.c — the connection pool. Connections are opened lazily up to
 * max_connections; a checkout waits on a condition variable with a deadline;
 * idle connections older than idle_timeout_ms are closed at the next
 * checkout or return; a connection that broke is closed and replaced.
 */
#include "pool.h"

#include "clock.h"
#include "config.h"
#include "error.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_CONNECTIONS_MAX   1000
#define CONNECT_RETRY_FIRST_MS 50
#define CONNECT_RETRY_MAX_MS   1000
#define IDLE_PROBE_READS       3

struct idle_connection {
  PGconn *conn;
  int64_t idle_since_ms;
};

struct tix_pool {
  char *conninfo;
  char *application_name;
  tix_options options;
  tix_pool_connect_hook on_connect;
  void *on_connect_context;
  pthread_mutex_t mutex;
  pthread_cond_t returned;
  struct idle_connection *idle; /* a stack: the most recently used on top */
  int idle_count;
  int open_count; /* idle plus checked out plus being opened */
};

static void ignore_notice(void *context, const char *message) {
  (void)context;
  (void)message;
}

static PGconn *connect_once(const char *conninfo, const char *application_name, int timeout_ms) {
  char timeout_s[16];
  snprintf(timeout_s, sizeof timeout_s, "%d", timeout_ms < 2000 ? 2 : timeout_ms / 1000);
  /* dbname first so the caller's conninfo expands there; later keywords
   * fill in only what it does not say (fallback_application_name). */
  const char *keywords[] = {"connect_timeout", "dbname", "fallback_application_name",
                            "client_encoding", NULL};
  const char *values[] = {timeout_s, conninfo, application_name, "UTF8", NULL};
  PGconn *conn = PQconnectdbParams(keywords, values, 1);
  /* Notices (e.g. a search query of stop words only) are for humans at a
   * psql prompt; a library must not write them to someone else's stderr. */
  if (conn != NULL) {
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
  }
  return conn;
}

static int fail_unreachable(const char *conninfo, PGconn *conn) {
  char where[1024];
  tix_conninfo_describe(conninfo, where, sizeof where);
  tix_fail(TIX_EUNAVAILABLE, "could not connect to the database");
  char reason[512] = "";
  if (conn != NULL) {
    snprintf(reason, sizeof reason, "%s", PQerrorMessage(conn));
    reason[strcspn(reason, "\n")] = '\0';
  }
  tix_fail_detail("Looked at %s. %s", where, reason);
  tix_fail_hint("Check that PostgreSQL is running and the settings are right, or unset "
                "DATABASE_URL, DB_* and PG* to use the embedded cluster.");
  return TIX_EUNAVAILABLE;
}

int tix_connect(const char *conninfo, const char *application_name, int timeout_ms, PGconn **out) {
  *out = NULL;
  int64_t deadline_ms = tix_now_ms() + timeout_ms;
  int64_t pause_ms = CONNECT_RETRY_FIRST_MS;
  for (;;) {
    PGconn *conn = connect_once(conninfo, application_name, timeout_ms);
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
      *out = conn;
      return TIX_OK;
    }
    /* Retry only while the server is not up yet; a wrong password or a
     * missing database will not fix itself. */
    PGPing ping = PQping(conninfo);
    bool worth_retrying = ping == PQPING_NO_RESPONSE || ping == PQPING_REJECT;
    if (!worth_retrying || tix_now_ms() + pause_ms >= deadline_ms) {
      int status = fail_unreachable(conninfo, conn);
      PQfinish(conn);
      return status;
    }
    PQfinish(conn);
    tix_sleep_ms(pause_ms);
    pause_ms = pause_ms * 2 > CONNECT_RETRY_MAX_MS ? CONNECT_RETRY_MAX_MS : pause_ms * 2;
  }
}

int tix_pool_create(const char *conninfo, const tix_options *options,
                    tix_pool_connect_hook on_connect, void *context, tix_pool **out) {
  *out = NULL;
  if (options->max_connections < 1 || options->max_connections > POOL_CONNECTIONS_MAX) {
    return tix_fail(TIX_EINVAL, "the pool size must be between 1 and %d", POOL_CONNECTIONS_MAX);
  }
  tix_pool *pool = calloc(1, sizeof *pool);
  if (pool == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  pool->options = *options;
  pool->on_connect = on_connect;
  pool->on_connect_context = context;
  pool->conninfo = strdup(conninfo);
  pool->application_name = strdup(options->application_name ? options->application_name : "tix");
  pool->idle = calloc((size_t)options->max_connections, sizeof *pool->idle);
  if (pool->conninfo == NULL || pool->application_name == NULL || pool->idle == NULL) {
    tix_pool_destroy(pool);
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&pool->mutex, NULL);
  pthread_condattr_t attributes;
  pthread_condattr_init(&attributes);
  pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
  pthread_cond_init(&pool->returned, &attributes);
  pthread_condattr_destroy(&attributes);
  *out = pool;
  return TIX_OK;
}

void tix_pool_destroy(tix_pool *pool) {
  if (pool == NULL) {
    return;
  }
  for (int i = 0; i < pool->idle_count; i++) {
    PQfinish(pool->idle[i].conn);
  }
  if (pool->idle != NULL && pool->conninfo != NULL && pool->application_name != NULL) {
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->returned);
  }
  free(pool->idle);
  free(pool->conninfo);
  free(pool->application_name);
  free(pool);
}

/* Closes idle connections unused for idle_timeout_ms. Caller holds the mutex.
 * The oldest sit at the bottom of the stack. */
static void close_expired_idle(tix_pool *pool) {
  int64_t oldest_allowed_ms = tix_now_ms() - pool->options.idle_timeout_ms;
  int expired = 0;
  while (expired < pool->idle_count && pool->idle[expired].idle_since_ms < oldest_allowed_ms) {
    PQfinish(pool->idle[expired].conn);
    expired++;
  }
  if (expired > 0) {
    memmove(pool->idle, pool->idle + expired,
            (size_t)(pool->idle_count - expired) * sizeof *pool->idle);
    pool->idle_count -= expired;
    pool->open_count -= expired;
  }
}

/* Under the mutex: takes an idle connection, reserves a slot to open one
 * (*conn stays NULL), or waits. Returns TIX_ETIMEOUT at the deadline. */
static int reserve_locked(tix_pool *pool, const struct timespec *deadline, PGconn **conn) {
  for (;;) {
    close_expired_idle(pool);
    if (pool->idle_count > 0) {
      *conn = pool->idle[--pool->idle_count].conn;
      return TIX_OK;
    }
    if (pool->open_count < pool->options.max_connections) {
      pool->open_count++;
      *conn = NULL;
      return TIX_OK;
    }
    if (pthread_cond_timedwait(&pool->returned, &pool->mutex, deadline) == ETIMEDOUT) {
      return tix_fail(TIX_ETIMEOUT, "no database connection became free within %d ms",
                      pool->options.acquire_timeout_ms);
    }
  }
}

static void forget_connection(tix_pool *pool, PGconn *conn) {
  PQfinish(conn);
  pthread_mutex_lock(&pool->mutex);
  pool->open_count--;
  pthread_cond_signal(&pool->returned);
  pthread_mutex_unlock(&pool->mutex);
}

int tix_pool_acquire(tix_pool *pool, PGconn **out) {
  *out = NULL;
  struct timespec deadline = tix_deadline_after_ms(pool->options.acquire_timeout_ms);
  for (;;) {
    PGconn *conn = NULL;
    pthread_mutex_lock(&pool->mutex);
    int status = reserve_locked(pool, &deadline, &conn);
    pthread_mutex_unlock(&pool->mutex);
    if (status != TIX_OK) {
      return status;
    }
    if (conn != NULL) {
      /* Reads whatever the server sent while the connection sat idle: a
       * terminated backend shows up here as a bad status, at no round trip.
       * Its farewell message comes first and the end of the stream second,
       * so one read is not enough to notice. */
      for (int read = 0; read < IDLE_PROBE_READS && PQconsumeInput(conn) == 1; read++) {
      }
    }
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
      *out = conn;
      return TIX_OK;
    }
    if (conn != NULL) { /* broken while idle: replace it */
      forget_connection(pool, conn);
      continue;
    }
    status = tix_connect(pool->conninfo, pool->application_name, pool->options.connect_timeout_ms,
                         &conn);
    if (status == TIX_OK && pool->on_connect != NULL) {
      status = pool->on_connect(conn, pool->on_connect_context);
    }
    if (status != TIX_OK) {
      forget_connection(pool, conn);
      return status;
    }
    *out = conn;
    return TIX_OK;
  }
}

void tix_pool_release(tix_pool *pool, PGconn *conn, bool broken) {
  if (conn == NULL) {
    return;
  }
  if (broken || PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
    forget_connection(pool, conn);
    return;
  }
  pthread_mutex_lock(&pool->mutex);
  pool->idle[pool->idle_count++] = (struct idle_connection){conn, tix_now_ms()};
  close_expired_idle(pool);
  pthread_cond_signal(&pool->returned);
  pthread_mutex_unlock(&pool->mutex);
}

int tix_pool_open_count(tix_pool *pool) {
  pthread_mutex_lock(&pool->mutex);
  int count = pool->open_count;
  pthread_mutex_unlock(&pool->mutex);
  return count;
}
