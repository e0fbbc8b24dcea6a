/*
 * pool.c — the connection pool. Connections are opened lazily up to
 * max_connections; idle connections older than idle_timeout_ms are closed at
 * the next checkout or return; a connection that broke is closed and
 * replaced.
 *
 * Under overload callers are served strictly in arrival order. A caller that
 * finds no idle connection joins a queue, and every connection that becomes
 * available (returned, or newly opened) is handed straight to the oldest
 * waiter: a thread that releases and asks again cannot overtake those already
 * waiting. New connections are opened by one opener thread, not by the
 * caller who happened to find a free slot: under load a backend can take
 * seconds to start, and a caller blocked in that start would wait while
 * connections returned all around it. The opener also runs the connect hook,
 * so every physical connection is set up exactly once.
 */
#include "pool.h"

#include "clock.h"
#include "config.h"
#include "error.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_CONNECTIONS_MAX   1000
#define POOL_WAITERS_MAX       100000
#define CONNECT_RETRY_FIRST_MS 50
#define CONNECT_RETRY_MAX_MS   1000
/* Retries end at the deadline; this only bounds the loop (600 s / 1 s). */
#define CONNECT_ATTEMPTS_MAX 1000
#define FAILURE_REASON_BYTES 512
#define LIBPQ_FAILED_LABEL   "failed: " /* "connection to server at … failed: " */
#define SERVER_REFUSED       "The server refused the connection: "
/* Protocol exchanges of one connection start-up (a few, more with SCRAM). */
#define CONNECT_POLL_STEPS_MAX 1000
/* libpq's smallest connect_timeout: a PQping takes up to this long. */
#define PING_TIMEOUT_MIN_MS 2000
#define IDLE_PROBE_READS    3
/* How long past connect_timeout_ms a caller waits for the connection opened
 * for it: the connect hook's work and the opener's hand-over. */
#define OPEN_OUTCOME_MARGIN_MS 1000

struct idle_connection {
  PGconn *conn;
  int64_t idle_since_ms;
};

/* A caller waiting for its turn. It lives on the waiting caller's stack and
 * sits in the pool's queue until served or timed out; each has its own
 * condition variable so a hand-over wakes exactly the caller it is for. */
struct waiter {
  pthread_cond_t served_signal;
  bool queued;
  bool served;
  PGconn *conn;     /* what it was served; NULL when served a failure */
  tix_diag failure; /* why no connection could be opened for it */
  struct waiter *older;
  struct waiter *newer;
};

struct tix_pool {
  char *conninfo;
  char *application_name;
  tix_options options;
  tix_pool_connect_hook on_connect;
  void *hook_context;
  tix_connect_advisor advisor; /* all NULL: none */
  pthread_mutex_t mutex;
  pthread_condattr_t monotonic; /* for every waiter's condition variable */
  pthread_cond_t opener_signal; /* opens_wanted went up, or stopping */
  pthread_t opener;
  bool stopping;
  int opens_wanted;             /* slots counted in open_count the opener has yet to open */
  struct idle_connection *idle; /* a stack: the most recently used on top */
  int idle_count;
  PGconn **checked_out; /* handed out and not yet returned */
  int checked_out_count;
  int open_count; /* idle, checked out, handed over, being opened or wanted */
  int peak_open_count;
  long opened_count;
  struct waiter *oldest;
  struct waiter *newest;
  int waiting_count;
};

static void ignore_notice(void *context, const char *message) {
  (void)context;
  (void)message;
}

/* Drives an asynchronous connection until it is up, has failed, or the
 * deadline passes (*timed_out). libpq's own connect_timeout is whole seconds
 * and is not applied to PQconnectPoll at all, so the deadline is kept here
 * with poll(), to the millisecond. */
static void drive_connection(PGconn *conn, int64_t deadline_ms, bool *timed_out) {
  PostgresPollingStatusType polling = PGRES_POLLING_WRITING; /* as libpq says to start */
  for (int step = 0; step < CONNECT_POLL_STEPS_MAX; step++) {
    if (polling == PGRES_POLLING_OK || polling == PGRES_POLLING_FAILED) {
      return;
    }
    int64_t left_ms = deadline_ms - tix_now_ms();
    if (left_ms <= 0) {
      *timed_out = true;
      return;
    }
    /* The socket changes when libpq moves on to the next host or address. */
    struct pollfd socket = {.fd = PQsocket(conn),
                            .events = polling == PGRES_POLLING_READING ? POLLIN : POLLOUT};
    int ready = poll(&socket, 1, (int)left_ms);
    if (ready < 0 && errno != EINTR) {
      return;
    }
    if (ready > 0) {
      polling = PQconnectPoll(conn);
    }
  }
}

/* One connection attempt, bounded by deadline_ms. */
static PGconn *connect_once(const char *conninfo, const char *application_name, int64_t deadline_ms,
                            bool *timed_out) {
  /* dbname first so the caller's conninfo expands there; later keywords
   * fill in only what it does not say (fallback_application_name). */
  const char *keywords[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
  const char *values[] = {conninfo, application_name, "UTF8", NULL};
  *timed_out = false;
  PGconn *conn = PQconnectStartParams(keywords, values, 1);
  if (conn == NULL || PQstatus(conn) == CONNECTION_BAD) {
    return conn;
  }
  drive_connection(conn, deadline_ms, timed_out);
  /* Notices (e.g. a search query of stop words only) are for humans at a
   * psql prompt; a library must not write them to someone else's stderr. */
  PQsetNoticeProcessor(conn, ignore_notice, NULL);
  return conn;
}

/* Whether a failed attempt may succeed later: the server is not up yet, or
 * refuses connections for now (starting up), and its owner does not know
 * better. A wrong password or a missing database will not fix itself.
 * Asking the server costs a connection of its own, with libpq's
 * whole-second connect_timeout (2 s at least): when less time is left, the
 * answer is assumed to be yes, and the deadline ends the retries. */
static bool worth_retrying(const char *conninfo, int64_t deadline_ms,
                           const tix_connect_advisor *advisor) {
  if (advisor != NULL && advisor->server_may_answer != NULL &&
      !advisor->server_may_answer(advisor->context)) {
    return false;
  }
  int64_t left_ms = deadline_ms - tix_now_ms();
  if (left_ms < PING_TIMEOUT_MIN_MS) {
    return true;
  }
  char timeout_s[24];
  snprintf(timeout_s, sizeof timeout_s, "%lld", (long long)(left_ms / 1000));
  const char *keywords[] = {"dbname", "connect_timeout", NULL};
  const char *values[] = {conninfo, timeout_s, NULL};
  PGPing ping = PQpingParams(keywords, values, 1);
  return ping == PQPING_NO_RESPONSE || ping == PQPING_REJECT;
}

/* Why an attempt failed, in tix's words. libpq's "connection to server …
 * failed: " goes, as the detail says where already; so does the severity
 * label of the server's refusal ("FATAL:  "), a raw line of the server's. */
static void describe_failure(PGconn *conn, bool timed_out, int timeout_ms, char *out, size_t size) {
  if (timed_out) {
    snprintf(out, size, "No answer within %d ms.", timeout_ms);
    return;
  }
  const char *text = conn != NULL ? PQerrorMessage(conn) : "";
  char line[FAILURE_REASON_BYTES];
  snprintf(line, sizeof line, "%.*s", (int)strcspn(text, "\n"), text);
  const char *server_said = tix_server_message(line);
  const char *failed = strstr(line, LIBPQ_FAILED_LABEL);
  const char *said = server_said != NULL ? server_said
                     : failed != NULL    ? failed + strlen(LIBPQ_FAILED_LABEL)
                                         : line;
  char reason[FAILURE_REASON_BYTES + sizeof SERVER_REFUSED];
  snprintf(reason, sizeof reason, "%s%s", server_said != NULL ? SERVER_REFUSED : "",
           said[0] != '\0' ? said : "libpq could not start a connection");
  size_t length = strlen(reason);
  while (length > 0 && isspace((unsigned char)reason[length - 1])) {
    reason[--length] = '\0';
  }
  reason[0] = (char)toupper((unsigned char)reason[0]);
  if (length > 0 && length + 1 < sizeof reason && strchr(".!?", reason[length - 1]) == NULL) {
    reason[length] = '.';
    reason[length + 1] = '\0';
  }
  snprintf(out, size, "%s", reason);
}

/* The password is masked in the whole detail, should it show up at all: a
 * password that libpq took for a host name, say. */
static int fail_unreachable(const char *conninfo, const char *reason,
                            const tix_connect_advisor *advisor) {
  char where[1024];
  char detail[sizeof where + FAILURE_REASON_BYTES + sizeof "Looked at . "];
  char masked[sizeof tix_last_diag()->detail];
  tix_conninfo_describe(conninfo, where, sizeof where);
  snprintf(detail, sizeof detail, "Looked at %s. %s", where, reason);
  tix_conninfo_mask_password(conninfo, detail, masked, sizeof masked);
  tix_fail(TIX_EUNAVAILABLE, "could not connect to the database");
  tix_fail_detail("%s", masked);
  tix_fail_hint("Check that PostgreSQL is running there and accepts connections.");
  if (advisor != NULL && advisor->explain != NULL) {
    advisor->explain(advisor->context);
  }
  return TIX_EUNAVAILABLE;
}

/* Retries end at the deadline itself: the last pause is cut to what is
 * left, and one last attempt is made then. An attempt made at the deadline
 * has no time to answer, so the reason reported is the last real one. */
int tix_connect_advised(const char *conninfo, const char *application_name, int timeout_ms,
                        const tix_connect_advisor *advisor, PGconn **out) {
  *out = NULL;
  int64_t deadline_ms = tix_now_ms() + timeout_ms;
  int64_t pause_ms = CONNECT_RETRY_FIRST_MS;
  char reason[FAILURE_REASON_BYTES] = "";
  for (int attempt = 0; attempt < CONNECT_ATTEMPTS_MAX; attempt++) {
    bool last = tix_now_ms() >= deadline_ms;
    bool timed_out = false;
    PGconn *conn = connect_once(conninfo, application_name, deadline_ms, &timed_out);
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
      *out = conn;
      return TIX_OK;
    }
    if (!(last && timed_out && reason[0] != '\0')) {
      describe_failure(conn, timed_out, timeout_ms, reason, sizeof reason);
    }
    PQfinish(conn);
    if (timed_out || last || !worth_retrying(conninfo, deadline_ms, advisor)) {
      break;
    }
    int64_t left_ms = deadline_ms - tix_now_ms();
    tix_sleep_ms(pause_ms < left_ms ? pause_ms : left_ms > 0 ? left_ms : 0);
    pause_ms = pause_ms * 2 > CONNECT_RETRY_MAX_MS ? CONNECT_RETRY_MAX_MS : pause_ms * 2;
  }
  return fail_unreachable(conninfo, reason, advisor);
}

int tix_connect(const char *conninfo, const char *application_name, int timeout_ms, PGconn **out) {
  return tix_connect_advised(conninfo, application_name, timeout_ms, NULL, out);
}

static void enqueue_waiter(tix_pool *pool, struct waiter *waiter) {
  waiter->older = pool->newest;
  waiter->newer = NULL;
  if (pool->newest != NULL) {
    pool->newest->newer = waiter;
  } else {
    pool->oldest = waiter;
  }
  pool->newest = waiter;
  pool->waiting_count++;
  waiter->queued = true;
}

static void dequeue_waiter(tix_pool *pool, struct waiter *waiter) {
  if (waiter->older != NULL) {
    waiter->older->newer = waiter->newer;
  } else {
    pool->oldest = waiter->newer;
  }
  if (waiter->newer != NULL) {
    waiter->newer->older = waiter->older;
  } else {
    pool->newest = waiter->older;
  }
  pool->waiting_count--;
  waiter->queued = false;
}

/* Under the mutex: gives conn to the oldest waiter, or puts it on the idle
 * stack when nobody waits. */
static void supply_locked(tix_pool *pool, PGconn *conn) {
  struct waiter *oldest = pool->oldest;
  if (oldest == NULL) {
    pool->idle[pool->idle_count++] = (struct idle_connection){conn, tix_now_ms()};
    return;
  }
  dequeue_waiter(pool, oldest);
  oldest->served = true;
  oldest->conn = conn;
  pthread_cond_signal(&oldest->served_signal);
}

/* Under the mutex: asks the opener for one more connection, in a slot
 * counted from now on. */
static void want_open_locked(tix_pool *pool) {
  pool->open_count++;
  if (pool->open_count > pool->peak_open_count) {
    pool->peak_open_count = pool->open_count;
  }
  pool->opens_wanted++;
  pthread_cond_signal(&pool->opener_signal);
}

/* Under the mutex: the slot of a connection just closed goes to a new
 * connection when callers wait for one, else back to the pool. */
static void reuse_slot_locked(tix_pool *pool) {
  pool->open_count--;
  if (pool->oldest != NULL) {
    want_open_locked(pool);
  }
}

/* Under the mutex: an open failed. The cause (the database down, refusing,
 * or the connect hook failing) most likely holds for the opens still wanted,
 * so they are dropped; when no connection is left that could come back,
 * every waiter gets the failure now rather than its acquire timeout later. */
static void open_failed_locked(tix_pool *pool, const tix_diag *failure) {
  pool->open_count -= 1 + pool->opens_wanted;
  pool->opens_wanted = 0;
  if (pool->open_count > 0) {
    return;
  }
  for (int served = 0; served < POOL_WAITERS_MAX && pool->oldest != NULL; served++) {
    struct waiter *oldest = pool->oldest;
    dequeue_waiter(pool, oldest);
    oldest->served = true;
    oldest->conn = NULL;
    oldest->failure = *failure;
    pthread_cond_signal(&oldest->served_signal);
  }
}

/* Opens one connection and runs the connect hook on it. */
static int open_connection(tix_pool *pool, PGconn **conn) {
  pthread_mutex_lock(&pool->mutex);
  tix_connect_advisor advisor = pool->advisor;
  pthread_mutex_unlock(&pool->mutex);
  int status = tix_connect_advised(pool->conninfo, pool->application_name,
                                   pool->options.connect_timeout_ms, &advisor, conn);
  if (status != TIX_OK || pool->on_connect == NULL) {
    return status;
  }
  tix_diag_clear();
  status = pool->on_connect(*conn, pool->hook_context);
  if (status == TIX_OK) {
    assert(PQtransactionStatus(*conn) == PQTRANS_IDLE && "a connect hook left a transaction open");
    return TIX_OK;
  }
  if (tix_last_diag()->status != status) {
    tix_fail(status, "could not set up a new database connection");
  }
  PQfinish(*conn);
  *conn = NULL;
  return status;
}

/* The opener thread: opens the connections wanted, one at a time, until the
 * pool is destroyed. Each new connection goes to the oldest waiter. */
static void *run_opener(void *argument) {
  tix_pool *pool = argument;
  pthread_mutex_lock(&pool->mutex);
  while (!pool->stopping) {
    if (pool->opens_wanted == 0) {
      pthread_cond_wait(&pool->opener_signal, &pool->mutex);
      continue;
    }
    pool->opens_wanted--;
    pthread_mutex_unlock(&pool->mutex);
    PGconn *conn = NULL;
    int status = open_connection(pool, &conn);
    tix_diag failure = *tix_last_diag();
    pthread_mutex_lock(&pool->mutex);
    if (status == TIX_OK) {
      pool->opened_count++;
      supply_locked(pool, conn);
    } else {
      open_failed_locked(pool, &failure);
    }
  }
  pthread_mutex_unlock(&pool->mutex);
  return NULL;
}

static void free_pool(tix_pool *pool) {
  free(pool->checked_out);
  free(pool->idle);
  free(pool->conninfo);
  free(pool->application_name);
  free(pool);
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
  pool->hook_context = context;
  pool->conninfo = strdup(conninfo);
  pool->application_name = strdup(options->application_name ? options->application_name : "tix");
  pool->idle = calloc((size_t)options->max_connections, sizeof *pool->idle);
  pool->checked_out = calloc((size_t)options->max_connections, sizeof *pool->checked_out);
  if (pool->conninfo == NULL || pool->application_name == NULL || pool->idle == NULL ||
      pool->checked_out == NULL) {
    free_pool(pool);
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&pool->mutex, NULL);
  pthread_condattr_init(&pool->monotonic);
  pthread_condattr_setclock(&pool->monotonic, CLOCK_MONOTONIC);
  pthread_cond_init(&pool->opener_signal, NULL);
  if (pthread_create(&pool->opener, NULL, run_opener, pool) != 0) {
    pthread_cond_destroy(&pool->opener_signal);
    pthread_condattr_destroy(&pool->monotonic);
    pthread_mutex_destroy(&pool->mutex);
    free_pool(pool);
    return tix_fail(TIX_ENOMEM, "could not start the pool's connection opener");
  }
  *out = pool;
  return TIX_OK;
}

void tix_pool_set_advisor(tix_pool *pool, const tix_connect_advisor *advisor) {
  pthread_mutex_lock(&pool->mutex);
  pool->advisor = *advisor;
  pthread_mutex_unlock(&pool->mutex);
}

void tix_pool_destroy(tix_pool *pool) {
  if (pool == NULL) {
    return;
  }
  pthread_mutex_lock(&pool->mutex);
  assert(pool->oldest == NULL && "a pool destroyed while callers wait for it");
  pool->stopping = true;
  pthread_cond_signal(&pool->opener_signal);
  pthread_mutex_unlock(&pool->mutex);
  pthread_join(pool->opener, NULL); /* after an open in progress, if any */
  for (int i = 0; i < pool->idle_count; i++) {
    PQfinish(pool->idle[i].conn);
  }
  pthread_cond_destroy(&pool->opener_signal);
  pthread_condattr_destroy(&pool->monotonic);
  pthread_mutex_destroy(&pool->mutex);
  free_pool(pool);
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

/* Under the mutex: conn leaves the pool for a caller. */
static void check_out_locked(tix_pool *pool, PGconn *conn) {
  assert(pool->checked_out_count < pool->options.max_connections);
  pool->checked_out[pool->checked_out_count++] = conn;
}

/* Under the mutex: strikes conn off the checked-out list. Returning what is
 * not checked out (twice, or a connection of another pool) is a programmer
 * error that would otherwise hand one connection to two callers. */
static void check_in_locked(tix_pool *pool, PGconn *conn) {
  int found = 0;
  while (found < pool->checked_out_count && pool->checked_out[found] != conn) {
    found++;
  }
  assert(found < pool->checked_out_count && "a connection released twice or not from this pool");
  pool->checked_out[found] = pool->checked_out[--pool->checked_out_count];
}

static struct timespec later_of(struct timespec first, struct timespec second) {
  bool second_later = second.tv_sec > first.tv_sec ||
                      (second.tv_sec == first.tv_sec && second.tv_nsec > first.tv_nsec);
  return second_later ? second : first;
}

/* Under the mutex: takes an idle connection when nobody waits; otherwise
 * joins the queue (asking for a new connection while the pool is below its
 * size) and waits until served or the deadline passes. A caller that asked
 * for a connection waits for the outcome of opening it even past its acquire
 * deadline, so an unreachable database is reported as such, not as a busy
 * pool. A connection handed over at the very moment the deadline passed is
 * taken, not lost: served is checked under the mutex. */
static int take_turn_locked(tix_pool *pool, struct timespec deadline, PGconn **conn) {
  close_expired_idle(pool);
  if (pool->oldest == NULL && pool->idle_count > 0) {
    *conn = pool->idle[--pool->idle_count].conn;
    check_out_locked(pool, *conn);
    return TIX_OK;
  }
  if (pool->waiting_count >= POOL_WAITERS_MAX) {
    return tix_fail(TIX_ETIMEOUT, "%d callers are already waiting for a database connection",
                    pool->waiting_count);
  }
  struct waiter self = {.served = false};
  pthread_cond_init(&self.served_signal, &pool->monotonic);
  enqueue_waiter(pool, &self);
  if (pool->open_count < pool->options.max_connections) {
    want_open_locked(pool);
    deadline = later_of(
        deadline, tix_deadline_after_ms(pool->options.connect_timeout_ms + OPEN_OUTCOME_MARGIN_MS));
  }
  while (!self.served) {
    int waited = pthread_cond_timedwait(&self.served_signal, &pool->mutex, &deadline);
    if (waited == ETIMEDOUT && !self.served) {
      dequeue_waiter(pool, &self);
      break;
    }
  }
  pthread_cond_destroy(&self.served_signal);
  *conn = self.conn;
  if (!self.served) {
    return tix_fail(TIX_ETIMEOUT, "no database connection became free within %d ms",
                    pool->options.acquire_timeout_ms);
  }
  if (self.conn == NULL) { /* the opener's failure, told again on this thread */
    tix_fail(self.failure.status, "%s", self.failure.message);
    tix_fail_detail("%s", self.failure.detail);
    tix_fail_hint("%s", self.failure.hint);
    return self.failure.status;
  }
  check_out_locked(pool, self.conn);
  return TIX_OK;
}

/* Reads whatever the server sent while the connection sat idle: a terminated
 * backend shows up here as a bad status, at no round trip. Its farewell
 * message comes first and the end of the stream second, so one read is not
 * enough to notice. */
static bool still_connected(PGconn *conn) {
  for (int read = 0; read < IDLE_PROBE_READS && PQconsumeInput(conn) == 1; read++) {
  }
  return PQstatus(conn) == CONNECTION_OK;
}

/* Closes a connection that is no longer checked out and reuses its slot.
 * Closed first, so the sessions on the server never outnumber the pool. */
static void discard(tix_pool *pool, PGconn *conn) {
  PQfinish(conn);
  pthread_mutex_lock(&pool->mutex);
  reuse_slot_locked(pool);
  pthread_mutex_unlock(&pool->mutex);
}

int tix_pool_acquire(tix_pool *pool, PGconn **out) {
  *out = NULL;
  struct timespec deadline = tix_deadline_after_ms(pool->options.acquire_timeout_ms);
  /* Every idle connection may have died with a server restart: each broken
   * one is replaced, and the caller takes another turn. */
  for (int turn = 0; turn <= pool->options.max_connections; turn++) {
    PGconn *conn = NULL;
    pthread_mutex_lock(&pool->mutex);
    int status = take_turn_locked(pool, deadline, &conn);
    pthread_mutex_unlock(&pool->mutex);
    if (status != TIX_OK) {
      return status;
    }
    if (still_connected(conn)) {
      *out = conn;
      return TIX_OK;
    }
    pthread_mutex_lock(&pool->mutex);
    check_in_locked(pool, conn);
    pthread_mutex_unlock(&pool->mutex);
    discard(pool, conn);
  }
  return tix_fail(TIX_EUNAVAILABLE, "every database connection of the pool was broken");
}

void tix_pool_release(tix_pool *pool, PGconn *conn, bool broken) {
  if (conn == NULL) {
    return;
  }
  bool reusable =
      !broken && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
  pthread_mutex_lock(&pool->mutex);
  check_in_locked(pool, conn);
  if (reusable) {
    supply_locked(pool, conn);
    close_expired_idle(pool);
  }
  pthread_mutex_unlock(&pool->mutex);
  if (!reusable) {
    discard(pool, conn);
  }
}

int tix_pool_open_count(tix_pool *pool) {
  pthread_mutex_lock(&pool->mutex);
  int count = pool->open_count;
  pthread_mutex_unlock(&pool->mutex);
  return count;
}

void tix_pool_get_stats(tix_pool *pool, tix_pool_stats *out) {
  pthread_mutex_lock(&pool->mutex);
  *out = (tix_pool_stats){
      .open = pool->open_count,
      .idle = pool->idle_count,
      .checked_out = pool->checked_out_count,
      .waiting = pool->waiting_count,
      .peak_open = pool->peak_open_count,
      .opened = pool->opened_count,
  };
  pthread_mutex_unlock(&pool->mutex);
}
