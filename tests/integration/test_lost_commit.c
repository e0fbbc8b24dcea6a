/*
 * test_lost_commit.c — a purchase whose COMMIT landed but whose reply was
 * lost, for real: tix talks to PostgreSQL through the loopback fault proxy,
 * which forwards COMMIT, waits for the server's reply and drops it, cutting
 * the connection. Every strategy that sends a COMMIT must then learn the
 * truth on a fresh connection (sold once, reported as a sale), and when no
 * fresh connection can be had either, answer "outcome unknown" with the
 * purchase id to look up. A COMMIT cut before it was forwarded sells
 * nothing and is retried.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fault_proxy.h"
#include "purchase_fixture.h"
#include "testdb.h"

#define CONNECT_TIMEOUT_MS 1500

static char conninfo[1024];
static char proxied[1024];
static PGconn *admin;
static fault_proxy *proxy;

/* atomic is one statement in autocommit: no COMMIT crosses the wire. */
static const tix_strategy committing[] = {TIX_STRATEGY_LOCKING, TIX_STRATEGY_OPTIMISTIC,
                                          TIX_STRATEGY_SERIALIZABLE, TIX_STRATEGY_GROUP};
#define COMMITTING_COUNT (sizeof committing / sizeof committing[0])

/* A handle whose every connection goes through the proxy, with one
 * connection already open (tix_open checks the database is there). */
static tix *open_through_proxy(void) {
  tix_options options;
  tix_options_default(&options);
  options.max_connections = 2;
  options.connect_timeout_ms = CONNECT_TIMEOUT_MS;
  options.application_name = "tix-lost-commit";
  tix *db = NULL;
  assert_int_equal(tix_open(proxied, &options, &db), TIX_OK);
  return db;
}

static long stored(const char *purchase_id) {
  return fixture_query(admin, "SELECT count(*) FROM purchases WHERE id = $1", purchase_id);
}

static void purchase_id_for(tix_strategy strategy, int scenario, char id[TIX_UUID_SIZE]) {
  snprintf(id, TIX_UUID_SIZE, "10570000-0000-4000-8000-%012d", scenario * 10 + (int)strategy);
}

static void reply_lost_then_resolved(void **state) {
  for (size_t i = 0; i < COMMITTING_COUNT; i++) {
    char event_id[TIX_UUID_SIZE], purchase_id[TIX_UUID_SIZE];
    fixture_create_event(admin, 10, 0, event_id);
    purchase_id_for(committing[i], 1, purchase_id);
    tix *db = open_through_proxy();
    fault_proxy_stats before, after;
    fault_proxy_get_stats(proxy, &before);
    fault_proxy_set(proxy, FAULT_CUT_AFTER_COMMIT, 1);
    tix_purchase_request request = {
        .event_id = event_id, .quantity = 3, .purchase_id = purchase_id};
    tix_purchase purchase;
    int status = tix_purchase_buy(db, committing[i], &request, &purchase);
    fault_proxy_get_stats(proxy, &after);
    fault_proxy_set(proxy, FAULT_NONE, 0);
    fprintf(stderr, "%s: %s after %ld cut(s)\n", tix_strategy_name(committing[i]),
            tix_error_code(status), after.cuts - before.cuts);
    assert_int_equal(after.cuts - before.cuts, 1); /* the fault really struck */
    assert_int_equal(status, TIX_OK);
    assert_false(purchase.replayed); /* to the caller, it is the sale itself */
    assert_int_equal(purchase.ticket_count, 3);
    assert_string_equal(purchase.purchase_id, purchase_id);
    tix_purchase_free(&purchase);
    assert_int_equal(stored(purchase_id), 1);
    assert_int_equal(fixture_available(admin, event_id), 7); /* sold once */
    fixture_check_invariants(admin, event_id);
    tix_close(db);
  }
}

static void reply_lost_and_database_gone_is_unknown(void **state) {
  for (size_t i = 0; i < COMMITTING_COUNT; i++) {
    char event_id[TIX_UUID_SIZE], purchase_id[TIX_UUID_SIZE];
    fixture_create_event(admin, 10, 0, event_id);
    purchase_id_for(committing[i], 2, purchase_id);
    tix *db = open_through_proxy();
    fault_proxy_set(proxy, FAULT_CUT_AFTER_COMMIT, 1);
    fault_proxy_set(proxy, FAULT_REFUSE, 0); /* no fresh connection to ask on */
    tix_purchase_request request = {
        .event_id = event_id, .quantity = 2, .purchase_id = purchase_id};
    tix_purchase purchase;
    int status = tix_purchase_buy(db, committing[i], &request, &purchase);
    fault_proxy_set(proxy, FAULT_NONE, 0);
    assert_int_equal(status, TIX_EUNKNOWN);
    assert_string_equal(purchase.purchase_id, purchase_id);
    assert_null(purchase.tickets);
    assert_non_null(strstr(tix_last_diag()->hint, purchase_id));
    /* It did land: looking it up, or replaying it, tells the truth. */
    assert_int_equal(stored(purchase_id), 1);
    tix_purchase again;
    assert_int_equal(tix_purchase_buy(db, committing[i], &request, &again), TIX_OK);
    assert_true(again.replayed);
    assert_int_equal(again.ticket_count, 2);
    tix_purchase_free(&again);
    assert_int_equal(fixture_available(admin, event_id), 8);
    fixture_check_invariants(admin, event_id);
    tix_close(db);
  }
}

static void commit_cut_before_it_landed_is_retried(void **state) {
  for (size_t i = 0; i < COMMITTING_COUNT; i++) {
    char event_id[TIX_UUID_SIZE], purchase_id[TIX_UUID_SIZE];
    fixture_create_event(admin, 10, 0, event_id);
    purchase_id_for(committing[i], 3, purchase_id);
    tix *db = open_through_proxy();
    fault_proxy_set(proxy, FAULT_CUT_BEFORE_COMMIT, 1);
    tix_purchase_request request = {
        .event_id = event_id, .quantity = 1, .purchase_id = purchase_id};
    tix_purchase purchase;
    int status = tix_purchase_buy(db, committing[i], &request, &purchase);
    fault_proxy_set(proxy, FAULT_NONE, 0);
    assert_int_equal(status, TIX_OK);
    assert_false(purchase.replayed);
    tix_purchase_free(&purchase);
    assert_int_equal(stored(purchase_id), 1);
    assert_int_equal(fixture_available(admin, event_id), 9);
    fixture_check_invariants(admin, event_id);
    tix_close(db);
  }
}

/* "host=/tmp/dir user=postgres dbname=X": the proxy's upstream is the
 * directory, its clients reach it on 127.0.0.1. */
static void socket_directory(char *out, size_t size) {
  const char *host = strstr(conninfo, "host=");
  assert_non_null(host);
  host += strlen("host=");
  size_t length = strcspn(host, " ");
  assert_true(length < size);
  memcpy(out, host, length);
  out[length] = '\0';
}

static int set_up(void **state) {
  testdb_create_migrated("lost_commit", conninfo, sizeof conninfo);
  admin = testdb_connect(conninfo);
  char directory[512];
  socket_directory(directory, sizeof directory);
  if (fault_proxy_start(directory, 0, &proxy) != 0) {
    fprintf(stderr, "cannot start the fault proxy\n");
    return -1;
  }
  const char *database = strstr(conninfo, "dbname=t_");
  snprintf(proxied, sizeof proxied, "host=127.0.0.1 port=%d user=postgres sslmode=disable %s",
           fault_proxy_port(proxy), database);
  return 0;
}

static int tear_down(void **state) {
  fault_proxy_stop(proxy);
  PQfinish(admin);
  testdb_drop(conninfo);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reply_lost_then_resolved),
      cmocka_unit_test(reply_lost_and_database_gone_is_unknown),
      cmocka_unit_test(commit_cut_before_it_landed_is_retried),
  };
  return cmocka_run_group_tests(tests, set_up, tear_down);
}
