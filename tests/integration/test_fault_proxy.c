/*
 * test_fault_proxy.c — the fault proxy itself, driven with plain libpq: what
 * passes through arrives intact, and each fault does what it says, COMMIT
 * faults included whether COMMIT comes as a simple query, a named prepared
 * statement or an unnamed one.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "fault_proxy.h"
#include "testdb.h"

#define BIG_RESULT_ROWS   100000 /* many chunks each way */
#define STALL_HOLD_MS     300
#define RESULT_WAIT_MS    10000
#define DELAY_MS          200
#define BLACKHOLE_WAIT_MS 2 /* connect_timeout, whole seconds */

static char direct[1024]; /* straight to the server */
static char upstream[512];
static fault_proxy *proxy;

enum commit_style { COMMIT_SIMPLE, COMMIT_PREPARED, COMMIT_UNNAMED };

static void through_proxy(const fault_proxy *via, const char *extra, char *out, size_t size) {
  PQconninfoOption *options = PQconninfoParse(direct, NULL);
  const char *dbname = "";
  for (PQconninfoOption *option = options; option->keyword != NULL; option++) {
    if (strcmp(option->keyword, "dbname") == 0 && option->val != NULL) {
      dbname = option->val;
    }
  }
  snprintf(out, size, "host=127.0.0.1 port=%d user=postgres dbname=%s %s", fault_proxy_port(via),
           dbname, extra);
  PQconninfoFree(options);
}

static PGconn *connect_through(const fault_proxy *via) {
  char conninfo[1024];
  through_proxy(via, "sslmode=prefer", conninfo, sizeof conninfo);
  return testdb_connect(conninfo);
}

static void command(PGconn *conn, const char *sql) {
  PGresult *result = PQexec(conn, sql);
  assert_int_equal(PQresultStatus(result), PGRES_COMMAND_OK);
  PQclear(result);
}

static fault_proxy_stats stats_now(void) {
  fault_proxy_stats stats;
  fault_proxy_get_stats(proxy, &stats);
  return stats;
}

/* Waits for the pending result; NULL when none came within timeout_ms. */
static PGresult *result_within(PGconn *conn, int timeout_ms) {
  int64_t deadline_ms = tix_now_ms() + timeout_ms;
  for (int64_t left_ms = timeout_ms; left_ms > 0; left_ms = deadline_ms - tix_now_ms()) {
    if (PQconsumeInput(conn) == 0 || !PQisBusy(conn)) {
      return PQgetResult(conn);
    }
    struct pollfd socket = {.fd = PQsocket(conn), .events = POLLIN};
    poll(&socket, 1, (int)left_ms);
  }
  return NULL;
}

static void finish_results(PGconn *conn) {
  for (PGresult *result = PQgetResult(conn); result != NULL; result = PQgetResult(conn)) {
    PQclear(result);
  }
}

static void queries_pass_through(void **state) {
  PGconn *conn = connect_through(proxy);
  assert_int_equal(testdb_query_long(conn, "SELECT 41 + 1"), 42);
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT repeat('x', 40) FROM generate_series(1, %d)", BIG_RESULT_ROWS);
  PGresult *result = PQexec(conn, sql);
  assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
  assert_int_equal(PQntuples(result), BIG_RESULT_ROWS);
  assert_int_equal(PQgetlength(result, BIG_RESULT_ROWS - 1, 0), 40);
  PQclear(result);
  PQfinish(conn);

  /* A TCP upstream: a second proxy in front of the first. */
  char first[64];
  snprintf(first, sizeof first, "127.0.0.1:%d", fault_proxy_port(proxy));
  fault_proxy *outer = NULL;
  assert_int_equal(fault_proxy_start(first, 0, &outer), 0);
  conn = connect_through(outer);
  assert_int_equal(testdb_query_long(conn, "SELECT 7"), 7);
  PQfinish(conn);
  fault_proxy_stats stats;
  fault_proxy_get_stats(outer, &stats);
  assert_int_equal(stats.accepted, 1);
  fault_proxy_stop(outer);
}

static PGresult *send_commit(PGconn *conn, enum commit_style style) {
  switch (style) {
  case COMMIT_PREPARED:
    return PQexecPrepared(conn, "commit", 0, NULL, NULL, NULL, 0);
  case COMMIT_UNNAMED:
    return PQexecParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
  default:
    return PQexec(conn, "commit ;");
  }
}

/* Inserts id in a transaction through the proxy and commits it with mode
 * armed: the connection must be lost on COMMIT. Returns whether the row is
 * there for a fresh direct connection. */
static bool row_after_cut_commit(fault_mode mode, enum commit_style style, int id) {
  PGconn *conn = connect_through(proxy);
  if (style == COMMIT_PREPARED) {
    PGresult *prepared = PQprepare(conn, "commit", "COMMIT", 0, NULL);
    assert_int_equal(PQresultStatus(prepared), PGRES_COMMAND_OK);
    PQclear(prepared);
  }
  command(conn, "BEGIN");
  char sql[128];
  snprintf(sql, sizeof sql, "INSERT INTO landed (id) VALUES (%d)", id);
  command(conn, sql);
  fault_proxy_stats before = stats_now();
  fault_proxy_set(proxy, mode, 1);
  PGresult *result = send_commit(conn, style);
  assert_int_not_equal(PQresultStatus(result), PGRES_COMMAND_OK);
  assert_int_equal(PQstatus(conn), CONNECTION_BAD);
  PQclear(result);
  PQfinish(conn);
  fault_proxy_stats after = stats_now();
  assert_int_equal(after.cuts, before.cuts + 1);
  assert_int_equal(after.commits_seen, before.commits_seen + 1);

  PGconn *check = testdb_connect(direct);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM landed WHERE id = %d", id);
  long rows = testdb_query_long(check, sql);
  PQfinish(check);
  return rows == 1;
}

static void cut_after_commit_loses_the_reply_of_a_landed_commit(void **state) {
  assert_true(row_after_cut_commit(FAULT_CUT_AFTER_COMMIT, COMMIT_SIMPLE, 1));
  assert_true(row_after_cut_commit(FAULT_CUT_AFTER_COMMIT, COMMIT_PREPARED, 2));
  assert_true(row_after_cut_commit(FAULT_CUT_AFTER_COMMIT, COMMIT_UNNAMED, 3));
}

static void cut_before_commit_rolls_the_transaction_back(void **state) {
  assert_false(row_after_cut_commit(FAULT_CUT_BEFORE_COMMIT, COMMIT_SIMPLE, 11));
  assert_false(row_after_cut_commit(FAULT_CUT_BEFORE_COMMIT, COMMIT_PREPARED, 12));
  assert_false(row_after_cut_commit(FAULT_CUT_BEFORE_COMMIT, COMMIT_UNNAMED, 13));
}

/* Armed for one: the next COMMIT passes, and so does everything else. */
static void commit_faults_are_used_up(void **state) {
  fault_proxy_set(proxy, FAULT_CUT_AFTER_COMMIT, 1);
  PGconn *conn = connect_through(proxy);
  command(conn, "BEGIN");
  command(conn, "INSERT INTO landed (id) VALUES (21)");
  PQclear(PQexec(conn, "COMMIT")); /* cut */
  PQfinish(conn);
  conn = connect_through(proxy);
  command(conn, "BEGIN");
  command(conn, "INSERT INTO landed (id) VALUES (22)");
  command(conn, "COMMIT");
  command(conn, "BEGIN");
  command(conn, "ROLLBACK");
  PQfinish(conn);
}

static void cut_all_closes_open_connections(void **state) {
  PGconn *conn = connect_through(proxy);
  assert_int_equal(testdb_query_long(conn, "SELECT 1"), 1);
  assert_int_equal(stats_now().open, 1);
  fault_proxy_set(proxy, FAULT_CUT_ALL, 0);
  assert_int_equal(stats_now().open, 0);
  PGresult *result = PQexec(conn, "SELECT 1");
  assert_int_not_equal(PQresultStatus(result), PGRES_TUPLES_OK);
  PQclear(result);
  PQfinish(conn);
  conn = connect_through(proxy); /* new ones pass */
  assert_int_equal(testdb_query_long(conn, "SELECT 2"), 2);
  PQfinish(conn);
}

static void stall_holds_and_resume_releases(void **state) {
  PGconn *conn = connect_through(proxy);
  fault_proxy_set(proxy, FAULT_STALL, 0);
  assert_int_equal(PQsendQuery(conn, "SELECT 5"), 1);
  assert_null(result_within(conn, STALL_HOLD_MS));
  fault_proxy_set(proxy, FAULT_RESUME, 0);
  PGresult *result = result_within(conn, RESULT_WAIT_MS);
  assert_non_null(result);
  assert_string_equal(PQgetvalue(result, 0, 0), "5");
  PQclear(result);
  finish_results(conn);
  PQfinish(conn);
}

static void delay_holds_every_chunk(void **state) {
  PGconn *conn = connect_through(proxy);
  fault_proxy_set(proxy, FAULT_DELAY, DELAY_MS);
  int64_t started_ms = tix_now_ms();
  assert_int_equal(testdb_query_long(conn, "SELECT 6"), 6);
  int64_t took_ms = tix_now_ms() - started_ms;
  fault_proxy_set(proxy, FAULT_DELAY, 0);
  assert_true(took_ms >= 2 * DELAY_MS - 20); /* the query one way, its rows the other */
  PQfinish(conn);
}

static void refused_and_blackholed_connections(void **state) {
  char conninfo[1024];
  through_proxy(proxy, "sslmode=disable connect_timeout=2", conninfo, sizeof conninfo);
  fault_proxy_set(proxy, FAULT_REFUSE, 0);
  int64_t started_ms = tix_now_ms();
  PGconn *conn = PQconnectdb(conninfo);
  assert_int_equal(PQstatus(conn), CONNECTION_BAD);
  assert_true(tix_now_ms() - started_ms < 1000);
  PQfinish(conn);

  fault_proxy_set(proxy, FAULT_BLACKHOLE, 0);
  started_ms = tix_now_ms();
  conn = PQconnectdb(conninfo);
  int64_t took_ms = tix_now_ms() - started_ms;
  assert_int_equal(PQstatus(conn), CONNECTION_BAD);
  assert_true(took_ms >= BLACKHOLE_WAIT_MS * 1000 - 100 && took_ms < BLACKHOLE_WAIT_MS * 2000);
  PQfinish(conn);

  fault_proxy_set(proxy, FAULT_ACCEPT, 0);
  conn = testdb_connect(conninfo);
  PQfinish(conn);
}

static int start_proxy(void **state) {
  testdb_create("proxy", direct, sizeof direct);
  PQconninfoOption *options = PQconninfoParse(direct, NULL);
  for (PQconninfoOption *option = options; option->keyword != NULL; option++) {
    if (strcmp(option->keyword, "host") == 0 && option->val != NULL) {
      snprintf(upstream, sizeof upstream, "%s", option->val);
    }
  }
  PQconninfoFree(options);
  PGconn *conn = testdb_connect(direct);
  command(conn, "CREATE TABLE landed (id int PRIMARY KEY)");
  PQfinish(conn);
  return fault_proxy_start(upstream, 0, &proxy) == 0 ? 0 : -1;
}

static int stop_proxy(void **state) {
  fault_proxy_stop(proxy);
  testdb_drop(direct);
  return 0;
}

/* Each test starts from plain forwarding. */
static int heal(void **state) {
  fault_proxy_set(proxy, FAULT_NONE, 0);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(queries_pass_through, heal),
      cmocka_unit_test_setup(cut_after_commit_loses_the_reply_of_a_landed_commit, heal),
      cmocka_unit_test_setup(cut_before_commit_rolls_the_transaction_back, heal),
      cmocka_unit_test_setup(commit_faults_are_used_up, heal),
      cmocka_unit_test_setup(cut_all_closes_open_connections, heal),
      cmocka_unit_test_setup(stall_holds_and_resume_releases, heal),
      cmocka_unit_test_setup(delay_holds_every_chunk, heal),
      cmocka_unit_test_setup(refused_and_blackholed_connections, heal),
  };
  return cmocka_run_group_tests(tests, start_proxy, stop_proxy);
}
