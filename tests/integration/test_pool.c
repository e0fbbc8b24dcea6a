/*
 * test_pool.c — the connection pool against a real PostgreSQL: bounded
 * checkout, idle expiry, broken connections replaced, many threads sharing
 * a small pool fairly and in arrival order, wrong releases caught, the
 * connect hook, and an unreachable, refusing or silent database reported at
 * the deadline asked for, in tix's words (no server line, no password), with
 * the hint of whoever knows where the conninfo came from.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "fault_proxy.h"
#include "pool.h"
#include "testdb.h"

#define HAMMER_THREADS 16
#define HAMMER_ROUNDS  40

/* Overload: many more threads than connections, for a bounded time. */
#define FAIR_THREADS          64
#define FAIR_POOL_SIZE        20
#define FAIR_RUN_MS           3000
#define FAIR_ACQUIRE_MS       30000
#define FAIR_MAX_WAIT_MS      2000
#define FAIR_SAMPLE_PERIOD_MS 20
#define FAIR_APPLICATION_NAME "tix-pool-fair"

/* A database that accepts connections and never answers. */
#define SILENT_CONNECT_TIMEOUT_MS 1500
#define SILENT_GIVE_UP_MAX_MS     3000

#define HOOK_REUSE_ROUNDS 5

/* How far past its connect timeout a failed connection may be reported:
 * the last poll's wake-up, and the sanitizers' slowness. */
#define DEADLINE_MARGIN_MS  400
#define ADVISED_WAIT_MAX_MS 1000

/* Callers queued one by one behind a held connection. */
#define ORDER_WAITERS     5
#define ORDER_POLL_MS     1
#define ORDER_POLL_ROUNDS 5000

static char conninfo[1024];

static tix_options small_options(int max_connections) {
  tix_options options;
  tix_options_default(&options);
  options.max_connections = max_connections;
  options.acquire_timeout_ms = 300;
  options.application_name = "tix-pool-test";
  return options;
}

static long backend_pid(PGconn *conn) {
  return testdb_query_long(conn, "SELECT pg_backend_pid()");
}

static void checkout_waits_then_times_out(void **state) {
  tix_options options = small_options(2);
  tix_pool *pool = NULL;
  assert_int_equal(tix_pool_create(conninfo, &options, NULL, NULL, &pool), TIX_OK);
  PGconn *first = NULL, *second = NULL, *third = NULL;
  assert_int_equal(tix_pool_acquire(pool, &first), TIX_OK);
  assert_int_equal(tix_pool_acquire(pool, &second), TIX_OK);
  int64_t started_ms = tix_now_ms();
  assert_int_equal(tix_pool_acquire(pool, &third), TIX_ETIMEOUT);
  int64_t waited_ms = tix_now_ms() - started_ms;
  assert_true(waited_ms >= 250 && waited_ms < 5000);
  assert_null(third);
  tix_pool_release(pool, first, false);
  assert_int_equal(tix_pool_acquire(pool, &third), TIX_OK);
  assert_ptr_equal(third, first); /* reused, not reopened */
  assert_int_equal(tix_pool_open_count(pool), 2);
  tix_pool_release(pool, second, false);
  tix_pool_release(pool, third, false);
  tix_pool_destroy(pool);
}

static void broken_connections_are_replaced(void **state) {
  tix_options options = small_options(1);
  tix_pool *pool = NULL;
  assert_int_equal(tix_pool_create(conninfo, &options, NULL, NULL, &pool), TIX_OK);
  PGconn *conn = NULL;
  assert_int_equal(tix_pool_acquire(pool, &conn), TIX_OK);
  long old_pid = backend_pid(conn);
  tix_pool_release(pool, conn, false);

  PGconn *admin = testdb_connect(conninfo);
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%ld)::int", old_pid);
  assert_int_equal(testdb_query_long(admin, sql), 1);
  usleep(200 * 1000); /* let the server close the socket */

  assert_int_equal(tix_pool_acquire(pool, &conn), TIX_OK);
  assert_int_not_equal(backend_pid(conn), old_pid);
  tix_pool_release(pool, conn, false);

  /* A connection flagged broken by its user is closed, not reused. */
  assert_int_equal(tix_pool_acquire(pool, &conn), TIX_OK);
  tix_pool_release(pool, conn, true);
  assert_int_equal(tix_pool_open_count(pool), 0);
  PQfinish(admin);
  tix_pool_destroy(pool);
}

static void idle_connections_expire(void **state) {
  tix_options options = small_options(2);
  options.idle_timeout_ms = 100;
  tix_pool *pool = NULL;
  assert_int_equal(tix_pool_create(conninfo, &options, NULL, NULL, &pool), TIX_OK);
  PGconn *conn = NULL;
  assert_int_equal(tix_pool_acquire(pool, &conn), TIX_OK);
  long old_pid = backend_pid(conn);
  tix_pool_release(pool, conn, false);
  usleep(250 * 1000);
  assert_int_equal(tix_pool_acquire(pool, &conn), TIX_OK);
  assert_int_not_equal(backend_pid(conn), old_pid);
  assert_int_equal(tix_pool_open_count(pool), 1);
  tix_pool_release(pool, conn, false);
  tix_pool_destroy(pool);
}

struct hammer_state {
  tix_pool *pool;
  int failures;
};

static void *hammer(void *argument) {
  struct hammer_state *shared = argument;
  for (int round = 0; round < HAMMER_ROUNDS; round++) {
    PGconn *conn = NULL;
    if (tix_pool_acquire(shared->pool, &conn) != TIX_OK) {
      __atomic_add_fetch(&shared->failures, 1, __ATOMIC_SEQ_CST);
      continue;
    }
    PGresult *result = PQexec(conn, "SELECT pg_sleep(0.001)");
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
      __atomic_add_fetch(&shared->failures, 1, __ATOMIC_SEQ_CST);
    }
    PQclear(result);
    tix_pool_release(shared->pool, conn, false);
  }
  return NULL;
}

static void many_threads_share_a_small_pool(void **state) {
  tix_options options = small_options(4);
  options.acquire_timeout_ms = 30000;
  struct hammer_state shared = {0};
  assert_int_equal(tix_pool_create(conninfo, &options, NULL, NULL, &shared.pool), TIX_OK);
  pthread_t threads[HAMMER_THREADS];
  for (int i = 0; i < HAMMER_THREADS; i++) {
    assert_int_equal(pthread_create(&threads[i], NULL, hammer, &shared), 0);
  }
  for (int i = 0; i < HAMMER_THREADS; i++) {
    pthread_join(threads[i], NULL);
  }
  assert_int_equal(shared.failures, 0);
  assert_true(tix_pool_open_count(shared.pool) <= 4);
  PGconn *admin = testdb_connect(conninfo);
  long sessions = testdb_query_long(
      admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tix-pool-test'");
  assert_true(sessions <= 4);
  PQfinish(admin);
  tix_pool_destroy(shared.pool);
}

struct fair_state {
  tix_pool *pool;
  int64_t stop_at_ms;
  int failures;
  int running; /* worker threads still looping, for the sampler */
};

struct fair_worker {
  struct fair_state *shared;
  long successes;
  int64_t max_wait_ms;
};

static void *fair_worker_run(void *argument) {
  struct fair_worker *worker = argument;
  struct fair_state *shared = worker->shared;
  while (tix_now_ms() < shared->stop_at_ms) {
    PGconn *conn = NULL;
    int64_t asked_ms = tix_now_ms();
    if (tix_pool_acquire(shared->pool, &conn) != TIX_OK) {
      __atomic_add_fetch(&shared->failures, 1, __ATOMIC_SEQ_CST);
      continue;
    }
    int64_t waited_ms = tix_now_ms() - asked_ms;
    worker->max_wait_ms = waited_ms > worker->max_wait_ms ? waited_ms : worker->max_wait_ms;
    PGresult *result = PQexec(conn, "SELECT 1");
    if (PQresultStatus(result) == PGRES_TUPLES_OK) {
      worker->successes++;
    } else {
      __atomic_add_fetch(&shared->failures, 1, __ATOMIC_SEQ_CST);
    }
    PQclear(result);
    tix_pool_release(shared->pool, conn, false);
  }
  __atomic_sub_fetch(&shared->running, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

/* Counts this test's sessions from outside the pool while the workers run:
 * the peak during the run is what must stay within the pool size. */
static long peak_sessions_while_running(PGconn *admin, struct fair_state *shared, int *samples) {
  long peak = 0;
  *samples = 0;
  do {
    long sessions =
        testdb_query_long(admin, "SELECT count(*) FROM pg_stat_activity "
                                 "WHERE application_name = '" FAIR_APPLICATION_NAME "'");
    peak = sessions > peak ? sessions : peak;
    int open = tix_pool_open_count(shared->pool);
    peak = open > peak ? open : peak;
    (*samples)++;
    tix_sleep_ms(FAIR_SAMPLE_PERIOD_MS);
  } while (__atomic_load_n(&shared->running, __ATOMIC_SEQ_CST) > 0);
  return peak;
}

static void overloaded_pool_serves_threads_in_arrival_order(void **state) {
  tix_options options = small_options(FAIR_POOL_SIZE);
  options.acquire_timeout_ms = FAIR_ACQUIRE_MS;
  options.application_name = FAIR_APPLICATION_NAME;
  struct fair_state shared = {.running = FAIR_THREADS};
  assert_int_equal(tix_pool_create(conninfo, &options, NULL, NULL, &shared.pool), TIX_OK);
  PGconn *admin = testdb_connect(conninfo); /* before the load, so it samples all of it */
  shared.stop_at_ms = tix_now_ms() + FAIR_RUN_MS;
  static struct fair_worker workers[FAIR_THREADS];
  pthread_t threads[FAIR_THREADS];
  for (int i = 0; i < FAIR_THREADS; i++) {
    workers[i] = (struct fair_worker){.shared = &shared};
    assert_int_equal(pthread_create(&threads[i], NULL, fair_worker_run, &workers[i]), 0);
  }
  int samples = 0;
  long peak = peak_sessions_while_running(admin, &shared, &samples);
  PQfinish(admin);
  long total = 0, fewest = -1, most = 0;
  int64_t max_wait_ms = 0;
  for (int i = 0; i < FAIR_THREADS; i++) {
    pthread_join(threads[i], NULL);
    total += workers[i].successes;
    fewest = fewest < 0 || workers[i].successes < fewest ? workers[i].successes : fewest;
    most = workers[i].successes > most ? workers[i].successes : most;
    max_wait_ms = workers[i].max_wait_ms > max_wait_ms ? workers[i].max_wait_ms : max_wait_ms;
  }
  double mean = (double)total / FAIR_THREADS;
  print_message("fairness: %ld checkouts, per thread min %ld mean %.1f max %ld, "
                "longest wait %lld ms, peak sessions %ld in %d samples\n",
                total, fewest, mean, most, (long long)max_wait_ms, peak, samples);
  assert_int_equal(shared.failures, 0);
  assert_true(peak > 0 && peak <= FAIR_POOL_SIZE);
  tix_pool_stats stats;
  tix_pool_get_stats(shared.pool, &stats);
  assert_true(stats.peak_open <= FAIR_POOL_SIZE);
  assert_true(mean >= 10); /* the run did real work */
  /* The threads share two cores, so some run less than others whatever the
   * pool does; unfair pools starved some to a handful of checkouts. */
  assert_true(fewest >= mean / 4);
  assert_true(max_wait_ms < FAIR_MAX_WAIT_MS);
  tix_pool_destroy(shared.pool);
}

struct order_state {
  tix_pool *pool;
  int next_position; /* the order in which callers got the connection */
};

struct order_caller {
  struct order_state *shared;
  int position;
};

static int take_position(struct order_state *shared) {
  return __atomic_fetch_add(&shared->next_position, 1, __ATOMIC_SEQ_CST);
}

static void *order_caller_run(void *argument) {
  struct order_caller *caller = argument;
  PGconn *conn = NULL;
  caller->position = -1;
  if (tix_pool_acquire(caller->shared->pool, &conn) == TIX_OK) {
    caller->position = take_position(caller->shared);
    tix_pool_release(caller->shared->pool, conn, false);
  }
  return NULL;
}

static void wait_until_waiting(tix_pool *pool, int waiting) {
  tix_pool_stats stats;
  for (int round = 0; round < ORDER_POLL_ROUNDS; round++) {
    tix_pool_get_stats(pool, &stats);
    if (stats.waiting == waiting) {
      return;
    }
    tix_sleep_ms(ORDER_POLL_MS);
  }
  fail_msg("%d callers never queued", waiting);
}

/* The thread that returns the connection asks again at once, as a busy
 * worker does: it must queue behind those already waiting, not take it back. */
static void callers_are_served_in_arrival_order(void **state) {
  tix_options options = small_options(1);
  options.acquire_timeout_ms = 10000;
  struct order_state shared = {0};
  assert_int_equal(tix_pool_create(conninfo, &options, NULL, NULL, &shared.pool), TIX_OK);
  PGconn *conn = NULL;
  assert_int_equal(tix_pool_acquire(shared.pool, &conn), TIX_OK);
  struct order_caller callers[ORDER_WAITERS];
  pthread_t threads[ORDER_WAITERS];
  for (int i = 0; i < ORDER_WAITERS; i++) {
    callers[i] = (struct order_caller){.shared = &shared};
    assert_int_equal(pthread_create(&threads[i], NULL, order_caller_run, &callers[i]), 0);
    wait_until_waiting(shared.pool, i + 1);
  }
  tix_pool_release(shared.pool, conn, false);
  assert_int_equal(tix_pool_acquire(shared.pool, &conn), TIX_OK);
  int own_position = take_position(&shared);
  tix_pool_release(shared.pool, conn, false);
  for (int i = 0; i < ORDER_WAITERS; i++) {
    pthread_join(threads[i], NULL);
    assert_int_equal(callers[i].position, i);
  }
  assert_int_equal(own_position, ORDER_WAITERS);
  tix_pool_destroy(shared.pool);
}

/* In a child, since it must abort: returns conn twice, or returns one the
 * pool never handed out. */
static void release_wrongly_in_child(bool foreign) {
  int null_device = open("/dev/null", O_WRONLY);
  dup2(null_device, STDERR_FILENO); /* the assertion's message is expected */
  signal(SIGABRT, SIG_DFL);
  tix_options options = small_options(2);
  tix_pool *pool = NULL;
  PGconn *conn = NULL;
  if (tix_pool_create(conninfo, &options, NULL, NULL, &pool) != TIX_OK ||
      tix_pool_acquire(pool, &conn) != TIX_OK) {
    _exit(2);
  }
  if (foreign) {
    tix_pool_release(pool, PQconnectdb(conninfo), false);
  } else {
    tix_pool_release(pool, conn, false);
    tix_pool_release(pool, conn, false);
  }
  _exit(0);
}

static void wrong_releases_are_assertions(void **state) {
  for (int foreign = 0; foreign <= 1; foreign++) {
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
      release_wrongly_in_child(foreign);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
  }
}

static void unreachable_database_is_reported_without_password(void **state) {
  tix_options options = small_options(1);
  options.connect_timeout_ms = 500;
  tix *db = NULL;
  int64_t started_ms = tix_now_ms();
  int status = tix_open("host=/nonexistent/socket/dir port=5999 user=alice password=s3cret "
                        "dbname=nowhere",
                        &options, &db);
  assert_int_equal(status, TIX_EUNAVAILABLE);
  assert_null(db);
  assert_true(tix_now_ms() - started_ms < 5000);
  const tix_diag *diag = tix_last_diag();
  assert_non_null(strstr(diag->detail, "/nonexistent/socket/dir"));
  assert_non_null(strstr(diag->detail, "5999"));
  assert_null(strstr(diag->detail, "s3cret"));
  assert_null(strstr(diag->message, "s3cret"));
}

struct hook_record {
  int calls;
  int fail_with; /* non-zero: the hook fails with this status */
};

/* A connect hook as the purchase path will have: it prepares a statement. */
static int prepare_on_connect(PGconn *conn, void *context) {
  struct hook_record *record = context;
  __atomic_add_fetch(&record->calls, 1, __ATOMIC_SEQ_CST);
  if (record->fail_with != 0) {
    return tix_fail(record->fail_with, "the schema is not there");
  }
  PGresult *result = PQprepare(conn, "answer", "SELECT 42", 0, NULL);
  int status = PQresultStatus(result) == PGRES_COMMAND_OK ? TIX_OK : TIX_EDATABASE;
  PQclear(result);
  return status;
}

static long ask_prepared(PGconn *conn) {
  PGresult *result = PQexecPrepared(conn, "answer", 0, NULL, NULL, NULL, 0);
  long answer = PQresultStatus(result) == PGRES_TUPLES_OK ? atol(PQgetvalue(result, 0, 0)) : -1;
  PQclear(result);
  return answer;
}

static int hook_calls(struct hook_record *record) {
  return __atomic_load_n(&record->calls, __ATOMIC_SEQ_CST);
}

/* Checks out both connections of a pool of two, checks the prepared
 * statement on each, and returns them. Returns the first one's backend. */
static long use_both(tix_pool *pool) {
  PGconn *first = NULL, *second = NULL;
  assert_int_equal(tix_pool_acquire(pool, &first), TIX_OK);
  assert_int_equal(tix_pool_acquire(pool, &second), TIX_OK);
  assert_int_equal(ask_prepared(first), 42);
  assert_int_equal(ask_prepared(second), 42);
  long pid = backend_pid(first);
  tix_pool_release(pool, second, false);
  tix_pool_release(pool, first, false);
  return pid;
}

static void connect_hook_runs_once_per_connection(void **state) {
  struct hook_record record = {0};
  tix_options options = small_options(2);
  tix_pool *pool = NULL;
  assert_int_equal(tix_pool_create(conninfo, &options, prepare_on_connect, &record, &pool), TIX_OK);
  long first_pid = use_both(pool);
  assert_int_equal(hook_calls(&record), 2);
  for (int round = 0; round < HOOK_REUSE_ROUNDS; round++) {
    use_both(pool);
  }
  assert_int_equal(hook_calls(&record), 2); /* reused, not set up again */

  PGconn *admin = testdb_connect(conninfo);
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%ld)::int", first_pid);
  assert_int_equal(testdb_query_long(admin, sql), 1);
  PQfinish(admin);
  usleep(200 * 1000); /* let the server close the socket */
  use_both(pool);     /* the replacement has its statement too */
  assert_int_equal(hook_calls(&record), 3);
  tix_pool_stats stats;
  tix_pool_get_stats(pool, &stats);
  assert_int_equal(stats.opened, 3);
  assert_int_equal(stats.open, 2);
  tix_pool_destroy(pool);
}

static void failing_connect_hook_fails_the_checkout(void **state) {
  struct hook_record record = {.fail_with = TIX_ESCHEMA};
  tix_options options = small_options(1);
  tix_pool *pool = NULL;
  assert_int_equal(tix_pool_create(conninfo, &options, prepare_on_connect, &record, &pool), TIX_OK);
  PGconn *conn = NULL;
  assert_int_equal(tix_pool_acquire(pool, &conn), TIX_ESCHEMA);
  assert_null(conn);
  assert_string_equal(tix_last_diag()->message, "the schema is not there");
  assert_int_equal(tix_pool_open_count(pool), 0); /* closed, not kept */
  record.fail_with = 0;
  assert_int_equal(tix_pool_acquire(pool, &conn), TIX_OK);
  assert_int_equal(ask_prepared(conn), 42);
  assert_int_equal(hook_calls(&record), 2);
  tix_pool_release(pool, conn, false);
  tix_pool_destroy(pool);
}

/* Where the cluster's socket is: the host= of the test database. */
static void cluster_socket_directory(char *out, size_t size) {
  PQconninfoOption *options = PQconninfoParse(conninfo, NULL);
  for (PQconninfoOption *option = options; option->keyword != NULL; option++) {
    if (strcmp(option->keyword, "host") == 0 && option->val != NULL) {
      snprintf(out, size, "%s", option->val);
    }
  }
  PQconninfoFree(options);
}

/* TIX_CONNECT_TIMEOUT_MS bounds every connection attempt, even against a
 * server that completes the TCP handshake and then says nothing. */
static void silent_database_is_given_up_at_the_connect_timeout(void **state) {
  char upstream[512] = "";
  cluster_socket_directory(upstream, sizeof upstream);
  fault_proxy *silent = NULL;
  assert_int_equal(fault_proxy_start(upstream, 0, &silent), 0);
  fault_proxy_set(silent, FAULT_BLACKHOLE, 0);
  char url[256];
  snprintf(url, sizeof url, "postgresql://alice:s3cret@127.0.0.1:%d/nowhere",
           fault_proxy_port(silent));
  tix_options options = small_options(2);
  options.connect_timeout_ms = SILENT_CONNECT_TIMEOUT_MS;
  tix *db = NULL;
  int64_t started_ms = tix_now_ms();
  assert_int_equal(tix_open(url, &options, &db), TIX_EUNAVAILABLE);
  int64_t took_ms = tix_now_ms() - started_ms;
  assert_null(db);
  assert_true(took_ms >= SILENT_CONNECT_TIMEOUT_MS - 100 && took_ms < SILENT_GIVE_UP_MAX_MS);
  const tix_diag *diag = tix_last_diag();
  char port[16];
  snprintf(port, sizeof port, "%d", fault_proxy_port(silent));
  assert_non_null(strstr(diag->detail, "127.0.0.1"));
  assert_non_null(strstr(diag->detail, port));
  assert_null(strstr(diag->detail, "s3cret"));
  assert_null(strstr(diag->message, "s3cret"));

  /* The pool's own checkout, the same. */
  tix_pool *pool = NULL;
  assert_int_equal(tix_pool_create(url, &options, NULL, NULL, &pool), TIX_OK);
  PGconn *conn = NULL;
  started_ms = tix_now_ms();
  assert_int_equal(tix_pool_acquire(pool, &conn), TIX_EUNAVAILABLE);
  assert_true(tix_now_ms() - started_ms < SILENT_GIVE_UP_MAX_MS);
  tix_pool_destroy(pool);
  fault_proxy_stop(silent);
}

/* Waits for a server that refuses every connection (accepts, then closes)
 * or never answers: the whole timeout, not less (500 ms used to give up
 * after 0.36 s, as the pause before a retry that would pass the deadline
 * was not made), and not much more. */
static void connect_gives_up_at_the_deadline(void **state) {
  static const fault_mode modes[] = {FAULT_REFUSE, FAULT_BLACKHOLE};
  static const int timeouts_ms[] = {500, 2500};
  char upstream[512] = "";
  cluster_socket_directory(upstream, sizeof upstream);
  for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    fault_proxy *proxy = NULL;
    assert_int_equal(fault_proxy_start(upstream, 0, &proxy), 0);
    fault_proxy_set(proxy, modes[m], 0);
    char url[256];
    snprintf(url, sizeof url, "postgresql://alice:s3cret@127.0.0.1:%d/nowhere?sslmode=disable",
             fault_proxy_port(proxy));
    for (size_t t = 0; t < sizeof timeouts_ms / sizeof timeouts_ms[0]; t++) {
      PGconn *conn = NULL;
      int64_t started_ms = tix_now_ms();
      assert_int_equal(tix_connect(url, "tix-pool-test", timeouts_ms[t], &conn), TIX_EUNAVAILABLE);
      int64_t took_ms = tix_now_ms() - started_ms;
      print_message("%s, %d ms: gave up after %lld ms\n", fault_mode_name(modes[m]), timeouts_ms[t],
                    (long long)took_ms);
      assert_true(took_ms >= timeouts_ms[t]);
      assert_true(took_ms <= timeouts_ms[t] + DEADLINE_MARGIN_MS);
      assert_null(conn);
      assert_null(strstr(tix_last_diag()->detail, "s3cret"));
    }
    fault_proxy_stop(proxy);
  }
}

/* The server's refusal is told in tix's words: its FATAL line is not
 * shown, and a refusal that will not go away is not waited on. */
static void a_refused_login_is_told_in_tix_words(void **state) {
  char url[1200];
  snprintf(url, sizeof url, "%s dbname=tix_no_such_database password=s3cret", conninfo);
  PGconn *conn = NULL;
  int64_t started_ms = tix_now_ms();
  assert_int_equal(tix_connect(url, "tix-pool-test", 5000, &conn), TIX_EUNAVAILABLE);
  assert_true(tix_now_ms() - started_ms < ADVISED_WAIT_MAX_MS);
  const tix_diag *diag = tix_last_diag();
  assert_non_null(strstr(diag->detail, "The server refused the connection: database "
                                       "\"tix_no_such_database\" does not exist."));
  assert_null(strstr(diag->detail, "FATAL"));
  assert_null(strstr(diag->detail, "s3cret"));
}

struct advice {
  int asked;
  int explained;
};

static bool server_will_not_come(void *context) {
  __atomic_add_fetch(&((struct advice *)context)->asked, 1, __ATOMIC_SEQ_CST);
  return false;
}

static void explain_where_from(void *context) {
  __atomic_add_fetch(&((struct advice *)context)->explained, 1, __ATOMIC_SEQ_CST);
  tix_fail_hint("Where the settings came from.");
}

/* Whoever knows where the conninfo came from (an embedded cluster that was
 * stopped) ends the wait at once and gives the hint: directly and through
 * a pool. */
static void an_advisor_ends_the_wait_and_gives_the_hint(void **state) {
  struct advice advice = {0};
  tix_connect_advisor advisor = {server_will_not_come, explain_where_from, &advice};
  const char *nowhere = "host=/nonexistent/socket/dir dbname=nowhere";
  PGconn *conn = NULL;
  int64_t started_ms = tix_now_ms();
  assert_int_equal(tix_connect_advised(nowhere, "tix-pool-test", 5000, &advisor, &conn),
                   TIX_EUNAVAILABLE);
  assert_true(tix_now_ms() - started_ms < ADVISED_WAIT_MAX_MS);
  assert_string_equal(tix_last_diag()->hint, "Where the settings came from.");
  assert_int_equal(advice.asked, 1);
  assert_int_equal(advice.explained, 1);

  tix_options options = small_options(1);
  options.connect_timeout_ms = 5000;
  tix_pool *pool = NULL;
  assert_int_equal(tix_pool_create(nowhere, &options, NULL, NULL, &pool), TIX_OK);
  tix_pool_set_advisor(pool, &advisor);
  started_ms = tix_now_ms();
  assert_int_equal(tix_pool_acquire(pool, &conn), TIX_EUNAVAILABLE);
  assert_true(tix_now_ms() - started_ms < ADVISED_WAIT_MAX_MS);
  assert_string_equal(tix_last_diag()->hint, "Where the settings came from.");
  assert_int_equal(__atomic_load_n(&advice.explained, __ATOMIC_SEQ_CST), 2);
  tix_pool_destroy(pool);
}

static int create_database(void **state) {
  testdb_create("pool", conninfo, sizeof conninfo);
  return 0;
}

static int drop_database(void **state) {
  testdb_drop(conninfo);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(checkout_waits_then_times_out),
      cmocka_unit_test(broken_connections_are_replaced),
      cmocka_unit_test(idle_connections_expire),
      cmocka_unit_test(many_threads_share_a_small_pool),
      cmocka_unit_test(overloaded_pool_serves_threads_in_arrival_order),
      cmocka_unit_test(callers_are_served_in_arrival_order),
      cmocka_unit_test(wrong_releases_are_assertions),
      cmocka_unit_test(unreachable_database_is_reported_without_password),
      cmocka_unit_test(silent_database_is_given_up_at_the_connect_timeout),
      cmocka_unit_test(connect_gives_up_at_the_deadline),
      cmocka_unit_test(a_refused_login_is_told_in_tix_words),
      cmocka_unit_test(an_advisor_ends_the_wait_and_gives_the_hint),
      cmocka_unit_test(connect_hook_runs_once_per_connection),
      cmocka_unit_test(failing_connect_hook_fails_the_checkout),
  };
  return cmocka_run_group_tests(tests, create_database, drop_database);
}
