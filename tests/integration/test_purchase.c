/*
 * test_purchase.c — the purchase engine's contract on a real PostgreSQL,
 * one behaviour at a time and for every strategy: a sale and its replay,
 * each refusal with its reason, holds confirmed, expired, swept and released
 * on demand, refunds, bad input refused before the database changes, the
 * schema refusing impossible numbers by itself, and a buyer whose backend is
 * killed mid-purchase retrying exactly once.
 */
#include <limits.h>
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

#include "error.h"
#include "purchase_fixture.h"
#include "sale.h"
#include "testdb.h"

#define WAIT_FOR_BACKEND_MS 10000

static char conninfo[1024];
static PGconn *admin;
static tix *db;

static const tix_strategy all_strategies[] = {TIX_STRATEGY_LOCKING, TIX_STRATEGY_OPTIMISTIC,
                                              TIX_STRATEGY_ATOMIC, TIX_STRATEGY_SERIALIZABLE,
                                              TIX_STRATEGY_GROUP};
#define STRATEGY_COUNT (sizeof all_strategies / sizeof all_strategies[0])

static int buy(tix_strategy strategy, const char *event_id, int quantity, const char *customer,
               int hold_seconds, tix_purchase *out) {
  tix_purchase_request request = {.event_id = event_id,
                                  .quantity = quantity,
                                  .customer = customer,
                                  .hold_seconds = hold_seconds};
  return tix_purchase_buy(db, strategy, &request, out);
}

/* Makes a hold look as if its deadline passed, without waiting for it. */
static void expire_hold(const char *purchase_id) {
  fixture_query(admin,
                "WITH changed AS (UPDATE purchases SET expires_at = now() - interval '1 s'"
                " WHERE id = $1 RETURNING 1) SELECT count(*) FROM changed",
                purchase_id);
}

static long purchase_count(void) {
  return fixture_query(admin, "SELECT count(*) FROM purchases", NULL);
}

/* ------------------------------------------------------------ decisions */

static void decide_takes_a_batch_in_order(void **state) {
  tix_event_state event = {.found = true, .available = 5, .max_per_customer = 3};
  tix_sale sales[5] = {
      {.purchase_id = "a", .quantity = 2, .customer = "dan"},
      {.purchase_id = "b", .quantity = 2, .customer = "dan"}, /* 4 > limit 3 */
      {.purchase_id = "c", .quantity = 3},
      {.purchase_id = "a", .quantity = 2, .customer = "dan"}, /* repeats the first */
      {.purchase_id = "d", .quantity = 1},                    /* nothing left */
  };
  tix_sales_decide(&event, sales, 5);
  assert_int_equal(sales[0].verdict, TIX_OK);
  assert_int_equal(sales[1].verdict, TIX_ELIMIT);
  assert_int_equal(sales[2].verdict, TIX_OK);
  assert_int_equal(sales[2].available_after, 0);
  assert_int_equal(sales[3].verdict, TIX_EUNIQUE);
  assert_int_equal(sales[4].verdict, TIX_EINSUFFICIENT);
  assert_int_equal(sales[4].available_after, 0);
  event.cancelled = true;
  tix_sales_decide(&event, &sales[4], 1);
  assert_int_equal(sales[4].verdict, TIX_ECANCELLED);
}

static void strategies_have_names(void **state) {
  for (size_t i = 0; i < STRATEGY_COUNT; i++) {
    tix_strategy parsed;
    assert_int_equal(tix_strategy_parse(tix_strategy_name(all_strategies[i]), &parsed), TIX_OK);
    assert_int_equal(parsed, all_strategies[i]);
  }
  tix_strategy parsed;
  assert_int_equal(tix_strategy_parse("greedy", &parsed), TIX_EINVAL);
  assert_string_equal(tix_strategy_name(TIX_STRATEGY_COUNT_), "unknown");
  tix_strategy from_env = TIX_STRATEGY_GROUP;
  setenv("TIX_STRATEGY", "atomic", 1);
  assert_int_equal(tix_strategy_from_env(&from_env), TIX_OK);
  assert_int_equal(from_env, TIX_STRATEGY_ATOMIC);
  setenv("TIX_STRATEGY", "nonsense", 1);
  assert_int_equal(tix_strategy_from_env(&from_env), TIX_EINVAL);
  assert_non_null(strstr(tix_last_diag()->message, "TIX_STRATEGY"));
  unsetenv("TIX_STRATEGY");
  assert_int_equal(tix_strategy_from_env(&from_env), TIX_OK);
  assert_int_equal(from_env, TIX_STRATEGY_LOCKING);
}

/* ---------------------------------------------------------- sales */

static void sale_then_replay_then_conflict(void **state) {
  for (size_t i = 0; i < STRATEGY_COUNT; i++) {
    char event_id[TIX_UUID_SIZE];
    fixture_create_event(admin, 10, 0, event_id);
    tix_purchase first = {0}, again = {0}, got = {0};
    assert_int_equal(buy(all_strategies[i], event_id, 2, "erin", 0, &first), TIX_OK);
    assert_string_equal(first.status, "confirmed");
    assert_string_equal(first.customer, "erin");
    assert_int_equal(first.ticket_count, 2);
    assert_int_equal(first.available_tickets, 8);
    assert_false(first.replayed);
    assert_string_equal(first.expires_at, "");
    assert_non_null(strchr(first.created_at, 'T'));

    /* The same id in upper case is the same purchase. */
    char upper[TIX_UUID_SIZE];
    for (size_t c = 0; c < TIX_UUID_SIZE; c++) {
      upper[c] =
          (char)(first.purchase_id[c] >= 'a' ? first.purchase_id[c] - 32 : first.purchase_id[c]);
    }
    tix_purchase_request request = {
        .event_id = event_id, .quantity = 2, .purchase_id = upper, .customer = "erin"};
    assert_int_equal(tix_purchase_buy(db, all_strategies[i], &request, &again), TIX_OK);
    assert_true(again.replayed);
    assert_string_equal(again.tickets[1], first.tickets[1]);
    assert_int_equal(tix_purchase_get(db, first.purchase_id, &got), TIX_OK);
    assert_string_equal(got.tickets[0], first.tickets[0]);
    assert_int_equal(got.quantity, 2);

    request.quantity = 3;
    tix_purchase conflict = {0};
    assert_int_equal(tix_purchase_buy(db, all_strategies[i], &request, &conflict), TIX_ECONFLICT);
    assert_null(conflict.tickets);
    request.quantity = 2;
    request.hold_seconds = 60;
    assert_int_equal(tix_purchase_buy(db, all_strategies[i], &request, &conflict), TIX_ECONFLICT);
    assert_int_equal(fixture_available(admin, event_id), 8);
    assert_int_equal(fixture_valid_tickets(admin, event_id), 2);
    fixture_check_invariants(admin, event_id);
    tix_purchase_free(&first);
    tix_purchase_free(&again);
    tix_purchase_free(&got);
    tix_purchase_free(&got); /* twice is harmless */
  }
}

static void refusals_say_why(void **state) {
  for (size_t i = 0; i < STRATEGY_COUNT; i++) {
    tix_strategy strategy = all_strategies[i];
    char event_id[TIX_UUID_SIZE];
    fixture_create_event(admin, 5, 3, event_id);
    tix_purchase purchase = {0};
    assert_int_equal(buy(strategy, event_id, 6, NULL, 0, &purchase), TIX_EINSUFFICIENT);
    assert_int_equal(purchase.available_tickets, 5);
    assert_string_equal(tix_last_diag()->message, "only 5 tickets are left");
    assert_int_equal(buy(strategy, event_id, 2, "fay", 0, &purchase), TIX_OK);
    tix_purchase_free(&purchase);
    assert_int_equal(buy(strategy, event_id, 2, "fay", 0, &purchase), TIX_ELIMIT);
    assert_non_null(strstr(tix_last_diag()->detail, "already have 2"));
    assert_non_null(strstr(tix_last_diag()->message, "at most 3 tickets"));
    assert_int_equal(buy(strategy, event_id, 3, NULL, 0, &purchase), TIX_OK);
    tix_purchase_free(&purchase);
    assert_int_equal(buy(strategy, event_id, 1, NULL, 0, &purchase), TIX_EINSUFFICIENT);
    assert_int_equal(purchase.available_tickets, 0);
    assert_string_equal(tix_last_diag()->message, "the event is sold out");

    fixture_query(admin,
                  "WITH changed AS (UPDATE events SET cancelled_at = now()"
                  " WHERE id = $1 RETURNING 1) SELECT count(*) FROM changed",
                  event_id);
    assert_int_equal(buy(strategy, event_id, 1, NULL, 0, &purchase), TIX_ECANCELLED);
    assert_int_equal(buy(strategy, "00000000-0000-4000-8000-000000000000", 1, NULL, 0, &purchase),
                     TIX_ENOTFOUND);
    assert_int_equal(fixture_valid_tickets(admin, event_id), 5);
    fixture_check_invariants(admin, event_id);
  }
}

/* A ticket for an event that has started is worth nothing: no strategy
 * sells one, whatever is left. */
static void past_events_are_not_sold(void **state) {
  for (size_t i = 0; i < STRATEGY_COUNT; i++) {
    char event_id[TIX_UUID_SIZE];
    fixture_create_event(admin, 5, 1, event_id);
    tix_purchase purchase = {0};
    assert_int_equal(buy(all_strategies[i], event_id, 1, "gus", 0, &purchase), TIX_OK);
    tix_purchase_free(&purchase);
    assert_int_equal(buy(all_strategies[i], event_id, 1, "gus", 0, &purchase), TIX_ELIMIT);
    assert_non_null(strstr(tix_last_diag()->message, "at most 1 ticket for"));
    fixture_query(admin,
                  "WITH changed AS (UPDATE events SET date = now() - interval '1 minute'"
                  " WHERE id = $1 RETURNING 1) SELECT count(*) FROM changed",
                  event_id);
    assert_int_equal(buy(all_strategies[i], event_id, 1, NULL, 0, &purchase), TIX_EPAST);
    assert_string_equal(tix_error_code(tix_last_diag()->status), "event_past");
    assert_non_null(strstr(tix_last_diag()->message, "has passed"));
    assert_null(purchase.tickets);
    assert_int_equal(fixture_available(admin, event_id), 4);
    fixture_check_invariants(admin, event_id);
  }
}

/* --------------------------------------------------------------- holds */

static void hold_then_confirm(void **state) {
  char event_id[TIX_UUID_SIZE];
  fixture_create_event(admin, 10, 0, event_id);
  tix_purchase held = {0}, confirmed = {0}, again = {0};
  assert_int_equal(buy(TIX_STRATEGY_ATOMIC, event_id, 3, NULL, 600, &held), TIX_OK);
  assert_string_equal(held.status, "held");
  assert_string_not_equal(held.expires_at, "");
  assert_int_equal(fixture_available(admin, event_id), 7);
  assert_int_equal(tix_purchase_confirm(db, held.purchase_id, &confirmed), TIX_OK);
  assert_string_equal(confirmed.status, "confirmed");
  assert_string_equal(confirmed.expires_at, "");
  assert_string_equal(confirmed.tickets[2], held.tickets[2]);
  assert_int_equal(tix_purchase_confirm(db, held.purchase_id, &again), TIX_OK);
  assert_true(again.replayed);
  assert_int_equal(fixture_available(admin, event_id), 7);
  fixture_check_invariants(admin, event_id);
  tix_purchase_free(&held);
  tix_purchase_free(&confirmed);
  tix_purchase_free(&again);
}

static void confirm_after_expiry_returns_the_tickets(void **state) {
  char event_id[TIX_UUID_SIZE];
  fixture_create_event(admin, 10, 0, event_id);
  tix_purchase held = {0}, late = {0};
  assert_int_equal(buy(TIX_STRATEGY_LOCKING, event_id, 4, NULL, 600, &held), TIX_OK);
  expire_hold(held.purchase_id);
  assert_int_equal(tix_purchase_confirm(db, held.purchase_id, &late), TIX_EEXPIRED);
  assert_null(late.tickets);
  assert_int_equal(fixture_available(admin, event_id), 10);
  assert_int_equal(fixture_valid_tickets(admin, event_id), 0);
  assert_int_equal(tix_purchase_get(db, held.purchase_id, &late), TIX_OK);
  assert_string_equal(late.status, "expired");
  assert_int_equal(late.ticket_count, 4); /* voided, still listed */
  tix_purchase_free(&late);
  assert_int_equal(tix_purchase_confirm(db, held.purchase_id, &late), TIX_EEXPIRED);
  assert_int_equal(tix_purchase_refund(db, held.purchase_id, &late), TIX_ESTATE);
  assert_int_equal(fixture_available(admin, event_id), 10);
  fixture_check_invariants(admin, event_id);
  tix_purchase_free(&held);
}

static void sweep_releases_in_batches(void **state) {
  char event_id[TIX_UUID_SIZE];
  fixture_create_event(admin, 20, 0, event_id);
  tix_purchase held[5] = {0};
  /* All five first: every sale releases the lapsed holds it finds. */
  for (int i = 0; i < 5; i++) {
    assert_int_equal(buy(TIX_STRATEGY_OPTIMISTIC, event_id, 2, NULL, 600, &held[i]), TIX_OK);
  }
  for (int i = 0; i < 5; i++) {
    if (i < 4) {
      expire_hold(held[i].purchase_id);
    }
    tix_purchase_free(&held[i]);
  }
  int released = -1;
  assert_int_equal(tix_holds_sweep(db, 3, &released), TIX_OK);
  assert_int_equal(released, 3);
  fixture_check_invariants(admin, event_id);
  assert_int_equal(tix_holds_sweep(db, 3, &released), TIX_OK);
  assert_int_equal(released, 1);
  assert_int_equal(tix_holds_sweep(db, 3, &released), TIX_OK);
  assert_int_equal(released, 0);
  assert_int_equal(fixture_available(admin, event_id), 18); /* the live hold keeps 2 */
  fixture_check_invariants(admin, event_id);
}

static void short_buyer_releases_expired_holds(void **state) {
  for (size_t i = 0; i < STRATEGY_COUNT; i++) {
    char event_id[TIX_UUID_SIZE];
    fixture_create_event(admin, 4, 0, event_id);
    tix_purchase held = {0}, bought = {0};
    assert_int_equal(buy(all_strategies[i], event_id, 3, NULL, 600, &held), TIX_OK);
    expire_hold(held.purchase_id);
    assert_int_equal(buy(all_strategies[i], event_id, 4, NULL, 0, &bought), TIX_OK);
    assert_int_equal(bought.available_tickets, 0);
    tix_purchase_free(&held);
    assert_int_equal(tix_purchase_get(db, bought.purchase_id, &held), TIX_OK);
    assert_int_equal(held.ticket_count, 4);
    fixture_check_invariants(admin, event_id);
    assert_int_equal(fixture_valid_tickets(admin, event_id), 4);
    tix_purchase_free(&held);
    tix_purchase_free(&bought);
  }
}

/* Cancelling an event releases its live holds: confirming or refunding one
 * then says so, not that the hold expired (at a time still to come). */
static void holds_released_by_a_cancel_say_so(void **state) {
  char event_id[TIX_UUID_SIZE];
  fixture_create_event(admin, 10, 0, event_id);
  tix_purchase held = {0}, lapsed = {0}, late = {0};
  tix_event event;
  assert_int_equal(buy(TIX_STRATEGY_LOCKING, event_id, 3, NULL, 600, &held), TIX_OK);
  assert_int_equal(buy(TIX_STRATEGY_LOCKING, event_id, 1, NULL, 600, &lapsed), TIX_OK);
  expire_hold(lapsed.purchase_id);
  assert_int_equal(tix_event_cancel(db, event_id, &event), TIX_OK);

  assert_int_equal(tix_purchase_confirm(db, held.purchase_id, &late), TIX_ECANCELLED);
  assert_non_null(strstr(tix_last_diag()->message, "was cancelled"));
  assert_null(strstr(tix_last_diag()->detail, "expired"));
  assert_string_equal(tix_last_diag()->hint, "");
  assert_int_equal(tix_purchase_refund(db, held.purchase_id, &late), TIX_ESTATE);
  assert_non_null(strstr(tix_last_diag()->message, "was cancelled"));

  /* A hold that lapsed before the cancel has expired; buying again is no
   * advice for a cancelled event. */
  assert_int_equal(tix_purchase_confirm(db, lapsed.purchase_id, &late), TIX_EEXPIRED);
  assert_non_null(strstr(tix_last_diag()->detail, "cancelled"));
  assert_string_equal(tix_last_diag()->hint, "");
  assert_int_equal(fixture_available(admin, event_id), 10);
  fixture_check_invariants(admin, event_id);
  tix_purchase_free(&held);
  tix_purchase_free(&lapsed);
}

/* -------------------------------------------------------------- refunds */

static void refund_returns_exactly_the_quantity(void **state) {
  char event_id[TIX_UUID_SIZE];
  fixture_create_event(admin, 10, 0, event_id);
  tix_purchase bought = {0}, refunded = {0}, again = {0}, held = {0};
  assert_int_equal(buy(TIX_STRATEGY_LOCKING, event_id, 3, NULL, 0, &bought), TIX_OK);
  assert_int_equal(buy(TIX_STRATEGY_LOCKING, event_id, 2, NULL, 600, &held), TIX_OK);
  assert_int_equal(fixture_available(admin, event_id), 5);
  assert_int_equal(tix_purchase_refund(db, bought.purchase_id, &refunded), TIX_OK);
  assert_string_equal(refunded.status, "refunded");
  assert_int_equal(refunded.available_tickets, 8);
  assert_int_equal(fixture_available(admin, event_id), 8);
  long audit_rows = fixture_query(admin, "SELECT count(*) FROM audit_log", NULL);
  assert_int_equal(tix_purchase_refund(db, bought.purchase_id, &again), TIX_OK);
  assert_string_equal(again.status, "refunded");
  assert_int_equal(fixture_available(admin, event_id), 8);
  assert_int_equal(fixture_query(admin, "SELECT count(*) FROM audit_log", NULL), audit_rows);
  tix_purchase_free(&refunded);
  assert_int_equal(tix_purchase_refund(db, held.purchase_id, &refunded), TIX_OK);
  assert_int_equal(fixture_available(admin, event_id), 10);
  tix_purchase_free(&again);
  assert_int_equal(tix_purchase_confirm(db, held.purchase_id, &again), TIX_ESTATE);
  fixture_check_invariants(admin, event_id);
  tix_purchase_free(&bought);
  tix_purchase_free(&refunded);
  tix_purchase_free(&again);
  tix_purchase_free(&held);
}

/* ------------------------------------------------------------ bad input */

static void expect_invalid(int status) {
  assert_int_equal(status, TIX_EINVAL);
  assert_int_equal(tix_last_diag()->status, TIX_EINVAL);
  assert_string_not_equal(tix_last_diag()->message, "");
}

static void bad_requests_change_nothing(const char *event_id) {
  char long_customer[TIX_CUSTOMER_MAX_BYTES + 2];
  memset(long_customer, 'x', sizeof long_customer - 1);
  long_customer[sizeof long_customer - 1] = '\0';
  const tix_purchase_request bad[] = {
      {.event_id = NULL, .quantity = 1},
      {.event_id = "not-a-uuid", .quantity = 1},
      {.event_id = "00000000-0000-4000-8000-00000000000g", .quantity = 1},
      {.event_id = event_id, .quantity = 0},
      {.event_id = event_id, .quantity = -1},
      {.event_id = event_id, .quantity = TIX_QUANTITY_MAX + 1},
      {.event_id = event_id, .quantity = INT_MAX},
      {.event_id = event_id, .quantity = 1, .purchase_id = "123"},
      {.event_id = event_id, .quantity = 1, .customer = long_customer},
      {.event_id = event_id, .quantity = 1, .customer = ""},
      {.event_id = event_id, .quantity = 1, .customer = "bad \xC3\x28 utf-8"},
      {.event_id = event_id, .quantity = 1, .customer = "\xED\xA0\x80"}, /* a surrogate */
      {.event_id = event_id, .quantity = 1, .customer = "\x1b[2J"},
      {.event_id = event_id, .quantity = 1, .customer = "a\nb"},
      {.event_id = event_id, .quantity = 1, .customer = "del\x7f"},
      {.event_id = event_id, .quantity = 1, .customer = "c1 \xC2\x9B"},      /* CSI */
      {.event_id = event_id, .quantity = 1, .customer = "rtl \xE2\x80\xAE"}, /* U+202E */
      {.event_id = event_id, .quantity = 1, .customer = "   "},
      {.event_id = event_id, .quantity = 1, .customer = "\xC2\xA0\xC2\xA0"}, /* no-break */
      {.event_id = event_id, .quantity = 1, .customer = "\xE2\x80\x8B"},     /* U+200B */
      {.event_id = event_id, .quantity = 1, .customer = "\xEF\xBB\xBF"},     /* U+FEFF */
      {.event_id = event_id, .quantity = 1, .customer = " ann"},
      {.event_id = event_id, .quantity = 1, .customer = "ann\xE2\x80\x8B"},
      {.event_id = event_id, .quantity = 1, .hold_seconds = -1},
      {.event_id = event_id, .quantity = 1, .hold_seconds = TIX_HOLD_SECONDS_MAX + 1},
      {.event_id = event_id, .quantity = 1, .hold_seconds = INT_MIN},
  };
  tix_purchase purchase = {0};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    expect_invalid(tix_purchase_buy(db, TIX_STRATEGY_LOCKING, &bad[i], &purchase));
    assert_null(purchase.tickets);
  }
  expect_invalid(tix_purchase_buy(db, TIX_STRATEGY_LOCKING, NULL, &purchase));
  expect_invalid(tix_purchase_buy(NULL, TIX_STRATEGY_LOCKING, &bad[3], &purchase));
  expect_invalid(tix_purchase_buy(db, TIX_STRATEGY_LOCKING, &bad[3], NULL));
  expect_invalid(tix_purchase_buy(db, (tix_strategy)42, &bad[3], &purchase));
}

static void bad_input_is_refused_before_the_database(void **state) {
  char event_id[TIX_UUID_SIZE];
  fixture_create_event(admin, 10, 0, event_id);
  long purchases_before = purchase_count();
  bad_requests_change_nothing(event_id);
  tix_purchase purchase = {0};
  int (*const lookups[])(tix *, const char *, tix_purchase *) = {
      tix_purchase_get, tix_purchase_confirm, tix_purchase_refund};
  for (size_t i = 0; i < 3; i++) {
    expect_invalid(lookups[i](db, NULL, &purchase));
    expect_invalid(lookups[i](db, "nope", &purchase));
    expect_invalid(lookups[i](NULL, "00000000-0000-4000-8000-000000000000", &purchase));
    expect_invalid(lookups[i](db, "00000000-0000-4000-8000-000000000000", NULL));
    assert_int_equal(lookups[i](db, "00000000-0000-4000-8000-000000000000", &purchase),
                     TIX_ENOTFOUND);
    assert_null(purchase.tickets);
  }
  int released = 0;
  expect_invalid(tix_holds_sweep(db, 0, &released));
  expect_invalid(tix_holds_sweep(db, -5, &released));
  expect_invalid(tix_holds_sweep(db, INT_MAX, &released));
  expect_invalid(tix_holds_sweep(db, 10, NULL));
  expect_invalid(tix_holds_sweep(NULL, 10, &released));
  expect_invalid(tix_strategy_parse(NULL, NULL));
  assert_int_equal(purchase_count(), purchases_before);
  assert_int_equal(fixture_available(admin, event_id), 10);
  tix_purchase_free(&purchase);
  tix_purchase_free(NULL);
}

/* ------------------------------------------- the schema guards the numbers */

static void database_refuses_impossible_numbers(void **state) {
  char event_id[TIX_UUID_SIZE], constraint[64];
  fixture_create_event(admin, 10, 0, event_id);
  assert_string_equal(fixture_sqlstate(admin,
                                       "UPDATE events SET available_tickets = -1 WHERE id = $1",
                                       event_id, constraint),
                      "23514");
  assert_string_equal(constraint, "events_available_nonnegative");
  assert_string_equal(fixture_sqlstate(admin,
                                       "UPDATE events SET available_tickets = total_tickets + 1"
                                       " WHERE id = $1",
                                       event_id, constraint),
                      "23514");
  assert_string_equal(constraint, "events_available_within_total");
  assert_string_equal(fixture_sqlstate(admin,
                                       "INSERT INTO purchases (event_id, quantity, status)"
                                       " VALUES ($1, 0, 'confirmed')",
                                       event_id, constraint),
                      "23514");
  assert_string_equal(constraint, "purchases_quantity_positive");
  assert_string_equal(fixture_sqlstate(admin,
                                       "INSERT INTO purchases (event_id, quantity, status)"
                                       " VALUES ($1, 1, 'held')",
                                       event_id, constraint),
                      "23514");
  assert_string_equal(constraint, "purchases_held_has_expiry");
  assert_string_equal(fixture_sqlstate(admin,
                                       "INSERT INTO purchases"
                                       " (event_id, quantity, status, hold_seconds)"
                                       " VALUES ($1, 1, 'confirmed', -1)",
                                       event_id, constraint),
                      "23514");
  assert_string_equal(constraint, "purchases_hold_seconds_range");
  assert_int_equal(tix_status_from_sqlstate("23514", "purchases_customer_limit"), TIX_ELIMIT);
  assert_int_equal(fixture_available(admin, event_id), 10);
}

/* ------------------------------------------- a backend killed mid-purchase */

struct killed_buyer {
  tix *db;
  tix_strategy strategy;
  const char *event_id;
  const char *purchase_id;
  tix_purchase answer;
  int status;
  char hint[512]; /* the diagnostic is the buyer thread's own */
};

static void *buy_blocked(void *argument) {
  struct killed_buyer *buyer = argument;
  tix_purchase_request request = {
      .event_id = buyer->event_id, .quantity = 2, .purchase_id = buyer->purchase_id};
  buyer->status = tix_purchase_buy(buyer->db, buyer->strategy, &request, &buyer->answer);
  snprintf(buyer->hint, sizeof buyer->hint, "%s", tix_last_diag()->hint);
  return NULL;
}

/* Waits until a backend of the buyer other than not_pid waits on a lock. */
static long wait_for_blocked_backend(PGconn *observer, long not_pid) {
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT coalesce(max(pid), 0) FROM pg_stat_activity"
           " WHERE application_name = 'tix-killed' AND wait_event_type = 'Lock'"
           "   AND pid <> %ld",
           not_pid);
  long started_ms = fixture_now_ms();
  long pid = 0;
  while ((pid = testdb_query_long(observer, sql)) == 0 &&
         fixture_now_ms() - started_ms < WAIT_FOR_BACKEND_MS) {
    usleep(10 * 1000);
  }
  assert_true(pid != 0);
  return pid;
}

static void terminate(PGconn *observer, long pid) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%ld)::int", pid);
  assert_int_equal(testdb_query_long(observer, sql), 1);
}

/* The admin connection holds the event row so the buyer blocks; its
 * backend is killed kills times; then the row is let go. */
static void kill_buyer(tix_strategy strategy, int kills, const char *purchase_id,
                       struct killed_buyer *buyer, const char *event_id) {
  *buyer =
      (struct killed_buyer){.strategy = strategy, .event_id = event_id, .purchase_id = purchase_id};
  buyer->db = fixture_open(conninfo, 2, "tix-killed");
  PGconn *observer = testdb_connect(conninfo);
  PQclear(PQexec(admin, "BEGIN"));
  fixture_query(admin, "SELECT 1 FROM events WHERE id = $1 FOR UPDATE", event_id);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, buy_blocked, buyer), 0);
  long pid = 0;
  for (int kill = 0; kill < kills; kill++) {
    pid = wait_for_blocked_backend(observer, pid);
    terminate(observer, pid);
  }
  if (kills == 1) { /* the retry blocks on the same lock before we let go */
    wait_for_blocked_backend(observer, pid);
  }
  PQclear(PQexec(admin, "COMMIT"));
  pthread_join(thread, NULL);
  PQfinish(observer);
}

static void killed_backend_retries_once(void **state) {
  for (size_t i = 0; i < STRATEGY_COUNT; i++) {
    char event_id[TIX_UUID_SIZE], purchase_id[TIX_UUID_SIZE];
    fixture_create_event(admin, 10, 0, event_id);
    snprintf(purchase_id, sizeof purchase_id, "7e57c0de-0000-4000-8000-00000000000%zu", i);
    struct killed_buyer buyer;
    kill_buyer(all_strategies[i], 1, purchase_id, &buyer, event_id);
    assert_int_equal(buyer.status, TIX_OK);
    assert_false(buyer.answer.replayed);
    assert_int_equal(buyer.answer.ticket_count, 2);
    assert_int_equal(fixture_available(admin, event_id), 8);
    fixture_check_invariants(admin, event_id);
    tix_purchase again = {0};
    assert_int_equal(buy(all_strategies[i], event_id, 2, NULL, 0, &again), TIX_OK);
    tix_purchase_free(&again);
    tix_purchase_request request = {
        .event_id = event_id, .quantity = 2, .purchase_id = purchase_id};
    assert_int_equal(tix_purchase_buy(db, all_strategies[i], &request, &again), TIX_OK);
    assert_true(again.replayed);
    assert_string_equal(again.tickets[0], buyer.answer.tickets[0]);
    assert_int_equal(
        fixture_query(admin, "SELECT count(*) FROM purchases WHERE id = $1", purchase_id), 1);
    assert_int_equal(fixture_available(admin, event_id), 6);
    tix_purchase_free(&again);
    tix_purchase_free(&buyer.answer);
    tix_close(buyer.db);
  }
}

static void killed_twice_is_an_unknown_outcome(void **state) {
  char event_id[TIX_UUID_SIZE];
  const char *purchase_id = "7e57c0de-0000-4000-8000-0000000000ff";
  fixture_create_event(admin, 10, 0, event_id);
  struct killed_buyer buyer;
  kill_buyer(TIX_STRATEGY_ATOMIC, 2, purchase_id, &buyer, event_id);
  assert_int_equal(buyer.status, TIX_EUNKNOWN);
  assert_non_null(strstr(buyer.hint, purchase_id));
  assert_string_equal(buyer.answer.purchase_id, purchase_id);
  assert_null(buyer.answer.tickets);
  assert_int_equal(fixture_available(admin, event_id), 10);
  assert_int_equal(
      fixture_query(admin, "SELECT count(*) FROM purchases WHERE id = $1", purchase_id), 0);
  fixture_check_invariants(admin, event_id);
  tix_close(buyer.db);
}

static int create_database(void **state) {
  testdb_create_migrated("purchase", conninfo, sizeof conninfo);
  admin = testdb_connect(conninfo);
  db = fixture_open(conninfo, 4, "tix-purchase-test");
  return 0;
}

static int drop_database(void **state) {
  tix_close(db);
  PQfinish(admin);
  testdb_drop(conninfo);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(decide_takes_a_batch_in_order),
      cmocka_unit_test(strategies_have_names),
      cmocka_unit_test(sale_then_replay_then_conflict),
      cmocka_unit_test(refusals_say_why),
      cmocka_unit_test(past_events_are_not_sold),
      cmocka_unit_test(holds_released_by_a_cancel_say_so),
      cmocka_unit_test(hold_then_confirm),
      cmocka_unit_test(confirm_after_expiry_returns_the_tickets),
      cmocka_unit_test(sweep_releases_in_batches),
      cmocka_unit_test(short_buyer_releases_expired_holds),
      cmocka_unit_test(refund_returns_exactly_the_quantity),
      cmocka_unit_test(bad_input_is_refused_before_the_database),
      cmocka_unit_test(database_refuses_impossible_numbers),
      cmocka_unit_test(killed_backend_retries_once),
      cmocka_unit_test(killed_twice_is_an_unknown_outcome),
  };
  return cmocka_run_group_tests(tests, create_database, drop_database);
}
