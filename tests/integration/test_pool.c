/*
 * test_pool.c — the connection pool against a real PostgreSQL: bounded
 * checkout, idle expiry, broken connections replaced, many threads sharing
 * a small pool, and an unreachable database reported without a password.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pool.h"
#include "testdb.h"

#define HAMMER_THREADS 16
#define HAMMER_ROUNDS  40

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
      cmocka_unit_test(unreachable_database_is_reported_without_password),
  };
  return cmocka_run_group_tests(tests, create_database, drop_database);
}
