/*
 * test_hammer.c — every strategy under real concurrency on a real
 * PostgreSQL: 32 threads selling out one event of 1,000 tickets (then the
 * database, not the threads, is asked whether anything was oversold), the
 * same with refunds and holds expiring under a sweeper, one purchase id
 * sent by 8 threads at once, and one customer racing itself past a limit.
 * Each hammer prints how long it took on stderr.
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

#include "purchase_fixture.h"
#include "testdb.h"

#define HAMMER_THREADS      32
#define HAMMER_CONNECTIONS  32
#define HAMMER_TICKETS      1000
#define HAMMER_ATTEMPTS_MAX 5000 /* per thread: a bound, never reached */
#define MIXED_DURATION_MS   2200 /* long enough for 1 s holds to expire mid-run */
#define MIXED_OWN_MAX       64   /* purchases a mixed thread remembers for refunds */
#define SAME_ID_THREADS     8
#define LIMIT_THREADS       20
#define LIMIT_ATTEMPTS      3
#define CUSTOMER_LIMIT      4

static char conninfo[1024];
static PGconn *admin;

struct hammer {
  tix *db;
  tix_strategy strategy;
  char event_id[TIX_UUID_SIZE];
  int sold;     /* tickets the threads were told they bought */
  int refunded; /* tickets the threads were told went back */
  int held;     /* holds the threads were told they got */
  int busy;     /* TIX_EBUSY answers: allowed, sell nothing */
  int failures; /* anything else unexpected */
  int done;
};

static void count(int *counter, int amount) {
  __atomic_add_fetch(counter, amount, __ATOMIC_SEQ_CST);
}

static void unexpected(struct hammer *hammer, const char *what, int status) {
  fprintf(stderr, "%s (%s): %s: %s\n", what, tix_strategy_name(hammer->strategy),
          tix_error_code(status), tix_last_diag()->message);
  count(&hammer->failures, 1);
}

static void run_threads(void *(*body)(void *), void *argument, int threads) {
  pthread_t ids[HAMMER_THREADS];
  assert_true(threads <= HAMMER_THREADS);
  for (int i = 0; i < threads; i++) {
    assert_int_equal(pthread_create(&ids[i], NULL, body, argument), 0);
  }
  for (int i = 0; i < threads; i++) {
    pthread_join(ids[i], NULL);
  }
}

/* ------------------------------------------------------- sell-out hammer */

static void *sell_until_sold_out(void *argument) {
  struct hammer *hammer = argument;
  unsigned seed = (unsigned)(uintptr_t)pthread_self() ^ (unsigned)fixture_now_ms();
  for (int attempt = 0; attempt < HAMMER_ATTEMPTS_MAX; attempt++) {
    tix_purchase_request request = {.event_id = hammer->event_id,
                                    .quantity = 1 + (int)(rand_r(&seed) % 4)};
    tix_purchase purchase = {0};
    int status = tix_purchase_buy(hammer->db, hammer->strategy, &request, &purchase);
    int available = purchase.available_tickets;
    bool owns_its_tickets = purchase.ticket_count == (size_t)request.quantity;
    tix_purchase_free(&purchase);
    if (status == TIX_OK && owns_its_tickets) {
      count(&hammer->sold, request.quantity);
    } else if (status == TIX_EBUSY) {
      count(&hammer->busy, 1);
    } else if (status != TIX_EINSUFFICIENT || available < 0 || available >= request.quantity) {
      unexpected(hammer, "sell-out", status);
      return NULL;
    } else if (available == 0) {
      return NULL;
    }
  }
  return NULL;
}

static void sell_out(tix_strategy strategy) {
  struct hammer hammer = {.strategy = strategy};
  hammer.db = fixture_open(conninfo, HAMMER_CONNECTIONS, "tix-hammer");
  fixture_create_event(admin, HAMMER_TICKETS, 0, hammer.event_id);
  long started_ms = fixture_now_ms();
  run_threads(sell_until_sold_out, &hammer, HAMMER_THREADS);
  long took_ms = fixture_now_ms() - started_ms;
  fprintf(stderr, "hammer %-12s sold %d tickets to %d threads in %ld ms (%d busy answers)\n",
          tix_strategy_name(strategy), hammer.sold, HAMMER_THREADS, took_ms, hammer.busy);
  assert_int_equal(hammer.failures, 0);
  assert_int_equal(hammer.sold, HAMMER_TICKETS);
  assert_int_equal(fixture_available(admin, hammer.event_id), 0);
  assert_int_equal(fixture_valid_tickets(admin, hammer.event_id), HAMMER_TICKETS);
  assert_int_equal(fixture_query(admin,
                                 "SELECT sum(quantity) FROM purchases"
                                 " WHERE event_id = $1 AND status = 'confirmed'",
                                 hammer.event_id),
                   HAMMER_TICKETS);
  fixture_check_invariants(admin, hammer.event_id);
  tix_close(hammer.db);
}

static void sell_out_locking(void **state) {
  sell_out(TIX_STRATEGY_LOCKING);
}
static void sell_out_optimistic(void **state) {
  sell_out(TIX_STRATEGY_OPTIMISTIC);
}
static void sell_out_atomic(void **state) {
  sell_out(TIX_STRATEGY_ATOMIC);
}
static void sell_out_serializable(void **state) {
  sell_out(TIX_STRATEGY_SERIALIZABLE);
}

/* ---------------------------------------- refunds, holds and a sweeper */

struct owned {
  char ids[MIXED_OWN_MAX][TIX_UUID_SIZE];
  int quantities[MIXED_OWN_MAX];
  int count;
};

static void refund_one(struct hammer *hammer, struct owned *owned, unsigned *seed) {
  int index = (int)(rand_r(seed) % (unsigned)owned->count);
  tix_purchase purchase = {0};
  int status = tix_purchase_refund(hammer->db, owned->ids[index], &purchase);
  tix_purchase_free(&purchase);
  if (status != TIX_OK) {
    unexpected(hammer, "refund", status);
    return;
  }
  count(&hammer->refunded, owned->quantities[index]);
  owned->count--;
  memcpy(owned->ids[index], owned->ids[owned->count], TIX_UUID_SIZE);
  owned->quantities[index] = owned->quantities[owned->count];
}

static void buy_or_hold(struct hammer *hammer, struct owned *owned, unsigned *seed, bool hold) {
  tix_purchase_request request = {.event_id = hammer->event_id,
                                  .quantity = 1 + (int)(rand_r(seed) % 4),
                                  .hold_seconds = hold ? 1 : 0};
  tix_purchase purchase = {0};
  int status = tix_purchase_buy(hammer->db, hammer->strategy, &request, &purchase);
  if (status == TIX_OK && hold) {
    count(&hammer->held, 1);
  } else if (status == TIX_OK) {
    count(&hammer->sold, request.quantity);
    if (owned->count < MIXED_OWN_MAX) {
      memcpy(owned->ids[owned->count], purchase.purchase_id, TIX_UUID_SIZE);
      owned->quantities[owned->count++] = request.quantity;
    }
  } else if (status == TIX_EBUSY) {
    count(&hammer->busy, 1);
  } else if (status != TIX_EINSUFFICIENT) {
    unexpected(hammer, hold ? "hold" : "buy", status);
  }
  tix_purchase_free(&purchase);
}

static void *buy_hold_and_refund(void *argument) {
  struct hammer *hammer = argument;
  struct owned owned = {0};
  unsigned seed = (unsigned)(uintptr_t)pthread_self() ^ (unsigned)fixture_now_ms();
  long deadline_ms = fixture_now_ms() + MIXED_DURATION_MS;
  for (int attempt = 0; attempt < HAMMER_ATTEMPTS_MAX && fixture_now_ms() < deadline_ms;
       attempt++) {
    unsigned roll = rand_r(&seed) % 100;
    if (roll < 15 && owned.count > 0) {
      refund_one(hammer, &owned, &seed);
    } else {
      buy_or_hold(hammer, &owned, &seed, roll < 35);
    }
  }
  return NULL;
}

static void *sweep_until_done(void *argument) {
  struct hammer *hammer = argument;
  while (!__atomic_load_n(&hammer->done, __ATOMIC_SEQ_CST)) {
    int released = 0;
    int status = tix_holds_sweep(hammer->db, 5, &released);
    if (status != TIX_OK) {
      unexpected(hammer, "sweep", status);
    }
    usleep(20 * 1000);
  }
  return NULL;
}

static void check_mixed_outcome(struct hammer *hammer) {
  fixture_check_invariants(admin, hammer->event_id);
  /* What the threads were told, against what the database holds. */
  assert_int_equal(fixture_query(admin,
                                 "SELECT count(*) FROM tickets t JOIN purchases p"
                                 "    ON p.id = t.purchase_id"
                                 " WHERE p.event_id = $1 AND p.status = 'confirmed'"
                                 "   AND t.voided_at IS NULL",
                                 hammer->event_id),
                   hammer->sold - hammer->refunded);
  assert_int_equal(fixture_query(admin,
                                 "SELECT count(*) FROM purchases WHERE event_id = $1"
                                 "   AND hold_seconds > 0",
                                 hammer->event_id),
                   hammer->held);
}

static void mixed(tix_strategy strategy) {
  struct hammer hammer = {.strategy = strategy};
  hammer.db = fixture_open(conninfo, HAMMER_CONNECTIONS, "tix-hammer-mixed");
  fixture_create_event(admin, HAMMER_TICKETS, 0, hammer.event_id);
  long started_ms = fixture_now_ms();
  pthread_t sweeper;
  assert_int_equal(pthread_create(&sweeper, NULL, sweep_until_done, &hammer), 0);
  run_threads(buy_hold_and_refund, &hammer, HAMMER_THREADS);
  __atomic_store_n(&hammer.done, 1, __ATOMIC_SEQ_CST);
  pthread_join(sweeper, NULL);
  fprintf(stderr,
          "mixed  %-12s %ld ms: sold %d, refunded %d, %d holds, %ld expired, %d busy answers\n",
          tix_strategy_name(strategy), fixture_now_ms() - started_ms, hammer.sold, hammer.refunded,
          hammer.held,
          fixture_query(admin,
                        "SELECT count(*) FROM purchases WHERE event_id = $1"
                        " AND status = 'expired'",
                        hammer.event_id),
          hammer.busy);
  assert_int_equal(hammer.failures, 0);
  check_mixed_outcome(&hammer);
  /* Once the last holds lapse, a sweep returns every held ticket. */
  usleep(1100 * 1000);
  int released = 0;
  do {
    assert_int_equal(tix_holds_sweep(hammer.db, 100, &released), TIX_OK);
  } while (released > 0);
  assert_int_equal(fixture_query(admin,
                                 "SELECT count(*) FROM purchases"
                                 " WHERE event_id = $1 AND status = 'held'",
                                 hammer.event_id),
                   0);
  check_mixed_outcome(&hammer);
  tix_close(hammer.db);
}

static void mixed_locking(void **state) {
  mixed(TIX_STRATEGY_LOCKING);
}
static void mixed_optimistic(void **state) {
  mixed(TIX_STRATEGY_OPTIMISTIC);
}
static void mixed_atomic(void **state) {
  mixed(TIX_STRATEGY_ATOMIC);
}
static void mixed_serializable(void **state) {
  mixed(TIX_STRATEGY_SERIALIZABLE);
}

/* ------------------------------------------------ one id from 8 threads */

struct same_id {
  struct hammer hammer;
  char purchase_id[TIX_UUID_SIZE];
  pthread_barrier_t start;
  tix_purchase answers[SAME_ID_THREADS];
  int statuses[SAME_ID_THREADS];
  int next;
};

static void *buy_with_shared_id(void *argument) {
  struct same_id *shared = argument;
  int index = __atomic_fetch_add(&shared->next, 1, __ATOMIC_SEQ_CST);
  tix_purchase_request request = {.event_id = shared->hammer.event_id,
                                  .quantity = 3,
                                  .purchase_id = shared->purchase_id,
                                  .customer = "bob"};
  pthread_barrier_wait(&shared->start);
  shared->statuses[index] = tix_purchase_buy(shared->hammer.db, shared->hammer.strategy, &request,
                                             &shared->answers[index]);
  return NULL;
}

static void same_id(tix_strategy strategy) {
  struct same_id shared = {.hammer.strategy = strategy};
  shared.hammer.db = fixture_open(conninfo, SAME_ID_THREADS, "tix-hammer-same-id");
  fixture_create_event(admin, 50, 0, shared.hammer.event_id);
  /* One id per strategy: they share the database. */
  snprintf(shared.purchase_id, sizeof shared.purchase_id, "5d2f1c9e-8b7a-4e3d-9c1b-0a9f8e7d6c5%d",
           (int)strategy);
  pthread_barrier_init(&shared.start, NULL, SAME_ID_THREADS);
  run_threads(buy_with_shared_id, &shared, SAME_ID_THREADS);
  pthread_barrier_destroy(&shared.start);
  int first_answers = 0;
  for (int i = 0; i < SAME_ID_THREADS; i++) {
    assert_int_equal(shared.statuses[i], TIX_OK);
    assert_int_equal(shared.answers[i].ticket_count, 3);
    first_answers += !shared.answers[i].replayed;
    for (size_t ticket = 0; ticket < 3; ticket++) {
      assert_string_equal(shared.answers[i].tickets[ticket], shared.answers[0].tickets[ticket]);
    }
    assert_string_equal(shared.answers[i].created_at, shared.answers[0].created_at);
  }
  for (int i = 0; i < SAME_ID_THREADS; i++) {
    tix_purchase_free(&shared.answers[i]);
  }
  assert_int_equal(first_answers, 1);
  assert_int_equal(fixture_available(admin, shared.hammer.event_id), 47);
  assert_int_equal(fixture_valid_tickets(admin, shared.hammer.event_id), 3);
  assert_int_equal(fixture_query(admin, "SELECT count(*) FROM purchases WHERE event_id = $1",
                                 shared.hammer.event_id),
                   1);
  fixture_check_invariants(admin, shared.hammer.event_id);
  tix_close(shared.hammer.db);
}

static void same_id_locking(void **state) {
  same_id(TIX_STRATEGY_LOCKING);
}
static void same_id_optimistic(void **state) {
  same_id(TIX_STRATEGY_OPTIMISTIC);
}
static void same_id_atomic(void **state) {
  same_id(TIX_STRATEGY_ATOMIC);
}
static void same_id_serializable(void **state) {
  same_id(TIX_STRATEGY_SERIALIZABLE);
}

/* ---------------------------------------- one customer, 20 threads, max 4 */

static void *buy_as_carol(void *argument) {
  struct hammer *hammer = argument;
  for (int attempt = 0; attempt < LIMIT_ATTEMPTS; attempt++) {
    tix_purchase_request request = {
        .event_id = hammer->event_id, .quantity = 1, .customer = "carol"};
    tix_purchase purchase = {0};
    int status = tix_purchase_buy(hammer->db, hammer->strategy, &request, &purchase);
    tix_purchase_free(&purchase);
    if (status == TIX_OK) {
      count(&hammer->sold, 1);
    } else if (status == TIX_EBUSY) {
      count(&hammer->busy, 1);
    } else if (status != TIX_ELIMIT) {
      unexpected(hammer, "limit", status);
    }
  }
  return NULL;
}

static void customer_limit(tix_strategy strategy) {
  struct hammer hammer = {.strategy = strategy};
  hammer.db = fixture_open(conninfo, LIMIT_THREADS, "tix-hammer-limit");
  fixture_create_event(admin, 100, CUSTOMER_LIMIT, hammer.event_id);
  run_threads(buy_as_carol, &hammer, LIMIT_THREADS);
  assert_int_equal(hammer.failures, 0);
  assert_int_equal(hammer.sold, CUSTOMER_LIMIT);
  assert_int_equal(fixture_query(admin,
                                 "SELECT sum(quantity) FROM purchases WHERE event_id = $1"
                                 "   AND customer = 'carol' AND status IN ('held', 'confirmed')",
                                 hammer.event_id),
                   CUSTOMER_LIMIT);
  fixture_check_invariants(admin, hammer.event_id);
  tix_close(hammer.db);
}

static void limit_locking(void **state) {
  customer_limit(TIX_STRATEGY_LOCKING);
}
static void limit_optimistic(void **state) {
  customer_limit(TIX_STRATEGY_OPTIMISTIC);
}
static void limit_atomic(void **state) {
  customer_limit(TIX_STRATEGY_ATOMIC);
}
static void limit_serializable(void **state) {
  customer_limit(TIX_STRATEGY_SERIALIZABLE);
}

static int create_database(void **state) {
  testdb_create_migrated("hammer", conninfo, sizeof conninfo);
  admin = testdb_connect(conninfo);
  return 0;
}

static int drop_database(void **state) {
  PQfinish(admin);
  testdb_drop(conninfo);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sell_out_locking), cmocka_unit_test(sell_out_optimistic),
      cmocka_unit_test(sell_out_atomic),  cmocka_unit_test(sell_out_serializable),
      cmocka_unit_test(mixed_locking),    cmocka_unit_test(mixed_optimistic),
      cmocka_unit_test(mixed_atomic),     cmocka_unit_test(mixed_serializable),
      cmocka_unit_test(same_id_locking),  cmocka_unit_test(same_id_optimistic),
      cmocka_unit_test(same_id_atomic),   cmocka_unit_test(same_id_serializable),
      cmocka_unit_test(limit_locking),    cmocka_unit_test(limit_optimistic),
      cmocka_unit_test(limit_atomic),     cmocka_unit_test(limit_serializable),
  };
  return cmocka_run_group_tests(tests, create_database, drop_database);
}
