/*
 * test_hammer.c — every strategy under real concurrency on a real
 * PostgreSQL: 32 threads selling out one event of 1,000 tickets (then the
 * database, not the threads, is asked whether anything was oversold), the
 * same with refunds and holds expiring under a sweeper, one purchase id
 * sent by 8 threads at once, and one customer racing itself past a limit.
 * Each runs once per strategy of tix.h. Each hammer prints how long it took
 * on stderr; the mixed one fails unless holds really expired during it.
 *
 * TIX_HAMMER_SCALE=N (default 1) divides the threads and tickets by N, for
 * slow builds (ThreadSanitizer): never fewer than HAMMER_THREADS_MIN threads,
 * so the races stay real; durations stay as they are, since holds must lapse.
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

#define HAMMER_THREADS      32 /* at scale 1, and the most run_threads starts */
#define HAMMER_THREADS_MIN  4
#define HAMMER_TICKETS      1000
#define HAMMER_SCALE_MAX    8
#define HAMMER_ATTEMPTS_MAX 5000 /* per thread: a bound, never reached */
#define MIXED_DURATION_MS   2200 /* long enough for 1 s holds to expire mid-run */
#define MIXED_OWN_MAX       64   /* purchases a mixed thread remembers for refunds */
#define SWEEP_INTERVAL_MS   5    /* often: a sweep skips the event while a buyer locks it */
#define SAME_ID_THREADS     8
#define LIMIT_THREADS       20
#define LIMIT_THREADS_MIN   8 /* twice the limit: the race past it stays real */
#define LIMIT_ATTEMPTS      3
#define CUSTOMER_LIMIT      4
#define TESTS_MAX           64

static char conninfo[1024];
static PGconn *admin;
/* What TIX_HAMMER_SCALE leaves of HAMMER_THREADS, HAMMER_TICKETS and
 * LIMIT_THREADS; one connection per thread. */
static int hammer_threads = HAMMER_THREADS;
static int hammer_tickets = HAMMER_TICKETS;
static int limit_threads = LIMIT_THREADS;

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

static void sell_out(void **state) {
  struct hammer hammer = {.strategy = fixture_strategy(state)};
  hammer.db = fixture_open(conninfo, hammer_threads, "tix-hammer");
  fixture_create_event(admin, hammer_tickets, 0, hammer.event_id);
  long started_ms = fixture_now_ms();
  run_threads(sell_until_sold_out, &hammer, hammer_threads);
  long took_ms = fixture_now_ms() - started_ms;
  fprintf(stderr, "hammer %-12s sold %d tickets to %d threads in %ld ms (%d busy answers)\n",
          tix_strategy_name(hammer.strategy), hammer.sold, hammer_threads, took_ms, hammer.busy);
  assert_int_equal(hammer.failures, 0);
  assert_int_equal(hammer.sold, hammer_tickets);
  assert_int_equal(fixture_available(admin, hammer.event_id), 0);
  assert_int_equal(fixture_valid_tickets(admin, hammer.event_id), hammer_tickets);
  assert_int_equal(fixture_query(admin,
                                 "SELECT sum(quantity) FROM purchases"
                                 " WHERE event_id = $1 AND status = 'confirmed'",
                                 hammer.event_id),
                   hammer_tickets);
  fixture_check_invariants(admin, hammer.event_id);
  tix_close(hammer.db);
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
    usleep(SWEEP_INTERVAL_MS * 1000);
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

static void mixed(void **state) {
  struct hammer hammer = {.strategy = fixture_strategy(state)};
  hammer.db = fixture_open(conninfo, hammer_threads, "tix-hammer-mixed");
  fixture_create_event(admin, hammer_tickets, 0, hammer.event_id);
  long started_ms = fixture_now_ms();
  pthread_t sweeper;
  assert_int_equal(pthread_create(&sweeper, NULL, sweep_until_done, &hammer), 0);
  run_threads(buy_hold_and_refund, &hammer, hammer_threads);
  __atomic_store_n(&hammer.done, 1, __ATOMIC_SEQ_CST);
  pthread_join(sweeper, NULL);
  /* Released during the run (by the sweeper or by a sale), not after it. */
  long expired = fixture_query(admin,
                               "SELECT count(*) FROM purchases WHERE event_id = $1"
                               " AND status = 'expired'",
                               hammer.event_id);
  fprintf(stderr,
          "mixed  %-12s %ld ms: sold %d, refunded %d, %d holds, %ld expired, %d busy answers\n",
          tix_strategy_name(hammer.strategy), fixture_now_ms() - started_ms, hammer.sold,
          hammer.refunded, hammer.held, expired, hammer.busy);
  assert_int_equal(hammer.failures, 0);
  assert_true(hammer.held > 0);
  assert_true(expired > 0);
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

static void same_id(void **state) {
  tix_strategy strategy = fixture_strategy(state);
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

static void customer_limit(void **state) {
  struct hammer hammer = {.strategy = fixture_strategy(state)};
  hammer.db = fixture_open(conninfo, limit_threads, "tix-hammer-limit");
  fixture_create_event(admin, 100, CUSTOMER_LIMIT, hammer.event_id);
  run_threads(buy_as_carol, &hammer, limit_threads);
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

/* Reads TIX_HAMMER_SCALE (1…HAMMER_SCALE_MAX); anything else is a mistake
 * worth stopping for. */
static void scale_from_env(void) {
  const char *text = getenv("TIX_HAMMER_SCALE");
  if (text == NULL || text[0] == '\0') {
    return;
  }
  char *end = NULL;
  long scale = strtol(text, &end, 10);
  if (*end != '\0' || scale < 1 || scale > HAMMER_SCALE_MAX) {
    fprintf(stderr, "TIX_HAMMER_SCALE must be 1 to %d, not \"%s\"\n", HAMMER_SCALE_MAX, text);
    exit(2);
  }
  hammer_threads = HAMMER_THREADS / (int)scale;
  if (hammer_threads < HAMMER_THREADS_MIN) {
    hammer_threads = HAMMER_THREADS_MIN;
  }
  hammer_tickets = HAMMER_TICKETS / (int)scale;
  limit_threads = LIMIT_THREADS / (int)scale;
  if (limit_threads < LIMIT_THREADS_MIN) {
    limit_threads = LIMIT_THREADS_MIN;
  }
  fprintf(stderr, "TIX_HAMMER_SCALE=%ld: %d threads, %d tickets, %d threads on one limit\n", scale,
          hammer_threads, hammer_tickets, limit_threads);
}

int main(void) {
  scale_from_env();
  const fixture_test list[] = {
      {"sell_out", sell_out},
      {"mixed", mixed},
      {"same_id", same_id},
      {"limit", customer_limit},
  };
  struct CMUnitTest tests[TESTS_MAX];
  size_t count = fixture_tests_per_strategy(list, sizeof list / sizeof list[0], tests, TESTS_MAX);
  return _cmocka_run_group_tests("hammer", tests, count, create_database, drop_database);
}
