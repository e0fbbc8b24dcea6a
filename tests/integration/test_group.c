/*
 * test_group.c — group commit (DESIGN §7) on a real PostgreSQL: 64 threads
 * selling out one hot event through batches, purchases that must fail inside
 * a batch without failing the others (decided in C, and refused by the
 * database itself, which splits the batch), the asynchronous submission with
 * its callback, a full queue refused at once, and tix_close answering what is
 * still queued.
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

#define HOT_THREADS       64
#define HOT_TICKETS       3000
#define HOT_ATTEMPTS_MAX  5000 /* per thread: a bound, never reached */
#define ANSWER_WAIT_MS    30000
#define LOCK_WAIT_POLLS   200
#define LOCK_WAIT_POLL_US 25000
#define QUEUE_FLOOD       50
#define CLOSE_DRAIN_COUNT 40

static char conninfo[1024];
static PGconn *admin;

/* ------------------------------------------------------------- answers */

/* What a callback was told, kept for the test thread. */
struct answer {
  bool done;
  int status;
  char purchase_id[TIX_UUID_SIZE];
  size_t ticket_count;
  bool replayed;
  int available;
  char code[64];
};

struct answers {
  pthread_mutex_t mutex;
  pthread_cond_t changed;
  struct answer items[CLOSE_DRAIN_COUNT + QUEUE_FLOOD];
  int answered;
  int answered_twice; /* must stay 0: each callback runs exactly once */
};

struct slot {
  struct answers *answers;
  int index;
};

static void record_answer(void *context, int status, const tix_purchase *purchase,
                          const tix_diag *diag) {
  struct slot *slot = context;
  struct answers *answers = slot->answers;
  pthread_mutex_lock(&answers->mutex);
  struct answer *answer = &answers->items[slot->index];
  answers->answered_twice += answer->done; /* no cmocka assert off the test thread */
  *answer = (struct answer){.done = true,
                            .status = status,
                            .ticket_count = purchase->ticket_count,
                            .replayed = purchase->replayed,
                            .available = purchase->available_tickets};
  snprintf(answer->purchase_id, sizeof answer->purchase_id, "%s", purchase->purchase_id);
  snprintf(answer->code, sizeof answer->code, "%s", tix_error_code(diag->status));
  answers->answered++;
  pthread_cond_broadcast(&answers->changed);
  pthread_mutex_unlock(&answers->mutex);
}

static void answers_init(struct answers *answers) {
  memset(answers, 0, sizeof *answers);
  pthread_mutex_init(&answers->mutex, NULL);
  pthread_cond_init(&answers->changed, NULL);
}

static void wait_for_answers(struct answers *answers, int count) {
  long deadline_ms = fixture_now_ms() + ANSWER_WAIT_MS;
  pthread_mutex_lock(&answers->mutex);
  while (answers->answered < count && fixture_now_ms() < deadline_ms) {
    pthread_mutex_unlock(&answers->mutex);
    usleep(2000);
    pthread_mutex_lock(&answers->mutex);
  }
  int answered = answers->answered, twice = answers->answered_twice;
  pthread_mutex_unlock(&answers->mutex);
  assert_int_equal(answered, count);
  assert_int_equal(twice, 0);
}

/* ------------------------------------------------------------ hot event */

struct hot_sale {
  tix *db;
  char event_id[TIX_UUID_SIZE];
  int sold;
  int failures;
};

static void *buy_until_sold_out(void *argument) {
  struct hot_sale *sale = argument;
  unsigned seed = (unsigned)(uintptr_t)pthread_self() ^ (unsigned)fixture_now_ms();
  for (int attempt = 0; attempt < HOT_ATTEMPTS_MAX; attempt++) {
    tix_purchase_request request = {.event_id = sale->event_id,
                                    .quantity = 1 + (int)(rand_r(&seed) % 4)};
    tix_purchase purchase;
    int status = tix_purchase_buy(sale->db, TIX_STRATEGY_GROUP, &request, &purchase);
    bool whole = purchase.ticket_count == (size_t)request.quantity;
    int available = purchase.available_tickets;
    tix_purchase_free(&purchase);
    if (status == TIX_OK && whole) {
      __atomic_add_fetch(&sale->sold, request.quantity, __ATOMIC_SEQ_CST);
    } else if (status != TIX_EINSUFFICIENT || available < 0 || available >= request.quantity) {
      fprintf(stderr, "group sell-out: %s: %s\n", tix_error_code(status), tix_last_diag()->message);
      __atomic_add_fetch(&sale->failures, 1, __ATOMIC_SEQ_CST);
      return NULL;
    } else if (available == 0) {
      return NULL;
    }
  }
  return NULL;
}

static void hot_event_sells_out_in_batches(void **state) {
  struct hot_sale sale = {0};
  sale.db = fixture_open(conninfo, 8, "tix-group-hot");
  fixture_create_event(admin, HOT_TICKETS, 0, sale.event_id);
  pthread_t threads[HOT_THREADS];
  long started_ms = fixture_now_ms();
  for (int i = 0; i < HOT_THREADS; i++) {
    assert_int_equal(pthread_create(&threads[i], NULL, buy_until_sold_out, &sale), 0);
  }
  for (int i = 0; i < HOT_THREADS; i++) {
    pthread_join(threads[i], NULL);
  }
  tix_group_stats stats;
  tix_group_stats_get(sale.db, &stats);
  fprintf(stderr, "group: %d tickets, %llu purchases in %llu batches (%.1f a batch), %ld ms\n",
          sale.sold, (unsigned long long)stats.purchases, (unsigned long long)stats.batches,
          stats.batches ? (double)stats.purchases / (double)stats.batches : 0.0,
          fixture_now_ms() - started_ms);
  assert_int_equal(sale.failures, 0);
  assert_int_equal(sale.sold, HOT_TICKETS);
  assert_int_equal(fixture_available(admin, sale.event_id), 0);
  assert_int_equal(fixture_valid_tickets(admin, sale.event_id), HOT_TICKETS);
  fixture_check_invariants(admin, sale.event_id);
  /* 64 buyers on one event: purchases share transactions. */
  assert_true(stats.batches < stats.purchases);
  assert_int_equal(stats.queued, 0);
  tix_close(sale.db);
}

/* --------------------------------------------------- isolation in a batch */

/* Holds the event row from another session until release_event_row, so the
 * purchases submitted meanwhile queue up and form one batch. */
static void lock_event_row(const char *event_id) {
  PQclear(PQexec(admin, "BEGIN"));
  fixture_query(admin, "SELECT count(*) FROM (SELECT 1 FROM events WHERE id = $1 FOR UPDATE) l",
                event_id);
}

static void release_event_row(void) {
  PQclear(PQexec(admin, "COMMIT"));
}

/* Waits until a committer's transaction waits on the row lock. */
static void wait_for_committer_blocked(PGconn *observer) {
  for (int poll = 0; poll < LOCK_WAIT_POLLS; poll++) {
    long waiting = testdb_query_long(observer, "SELECT count(*) FROM pg_stat_activity"
                                               " WHERE application_name = 'tix-group-batch'"
                                               "   AND wait_event_type = 'Lock'");
    if (waiting > 0) {
      return;
    }
    usleep(LOCK_WAIT_POLL_US);
  }
  fail_msg("the committer never waited on the event row");
}

static void submit(tix *db, struct answers *answers, int index,
                   const tix_purchase_request *request) {
  static struct slot slots[CLOSE_DRAIN_COUNT + QUEUE_FLOOD];
  slots[index] = (struct slot){answers, index};
  assert_int_equal(tix_purchase_submit(db, request, record_answer, &slots[index]), TIX_OK);
}

/* Submits the first purchase, waits until its batch blocks on the locked
 * event row, then submits the rest: they all land in the second batch. */
static void submit_behind_a_blocked_batch(tix *db, struct answers *answers, const char *event_id,
                                          const tix_purchase_request *requests, int count) {
  PGconn *observer = testdb_connect(conninfo);
  lock_event_row(event_id);
  submit(db, answers, 0, &requests[0]);
  wait_for_committer_blocked(observer);
  for (int i = 1; i < count; i++) {
    submit(db, answers, i, &requests[i]);
  }
  release_event_row();
  wait_for_answers(answers, count);
  PQfinish(observer);
}

static void bad_purchases_do_not_fail_their_batch(void **state) {
  tix *db = fixture_open(conninfo, 4, "tix-group-batch");
  char event_id[TIX_UUID_SIZE];
  fixture_create_event(admin, 10, 3, event_id);
  const char *used = "6a0d5c1e-0000-4000-8000-000000000001";
  tix_purchase_request first = {.event_id = event_id, .quantity = 1, .purchase_id = used};
  tix_purchase stored;
  assert_int_equal(tix_purchase_buy(db, TIX_STRATEGY_GROUP, &first, &stored), TIX_OK);
  tix_purchase_free(&stored);
  const tix_purchase_request requests[] = {
      {.event_id = event_id, .quantity = 1, .customer = "ann"},
      {.event_id = event_id, .quantity = 2, .purchase_id = used}, /* reused, other quantity */
      {.event_id = event_id, .quantity = 2, .customer = "ann"},   /* 1 + 2 = 3: fits */
      {.event_id = event_id, .quantity = 1, .customer = "ann"},   /* a 4th: over the limit */
      {.event_id = event_id, .quantity = 1, .purchase_id = used}, /* an exact replay */
      {.event_id = event_id, .quantity = 9},                      /* more than is left */
      {.event_id = event_id, .quantity = 4},                      /* what is left */
  };
  struct answers answers;
  answers_init(&answers);
  uint64_t batches_before;
  tix_group_stats stats;
  tix_group_stats_get(db, &stats);
  batches_before = stats.batches;
  submit_behind_a_blocked_batch(db, &answers, event_id, requests, 7);
  tix_group_stats_get(db, &stats);
  assert_int_equal(stats.batches - batches_before, 2); /* the blocked one, then the other six */
  assert_int_equal(answers.items[0].status, TIX_OK);
  assert_string_equal(answers.items[1].code, "purchase_id_conflict");
  assert_int_equal(answers.items[2].status, TIX_OK);
  assert_string_equal(answers.items[3].code, "customer_limit_exceeded");
  assert_int_equal(answers.items[4].status, TIX_OK);
  assert_true(answers.items[4].replayed);
  assert_string_equal(answers.items[5].code, "insufficient_tickets");
  assert_int_equal(answers.items[5].available, 6);
  assert_int_equal(answers.items[6].status, TIX_OK);
  assert_int_equal(answers.items[6].ticket_count, 4);
  assert_int_equal(answers.items[6].available, 2);
  assert_int_equal(fixture_available(admin, event_id), 2);
  fixture_check_invariants(admin, event_id);
  tix_close(db);
}

/* A purchase the database refuses although C decided to sell it: the batch
 * is split until the culprit stands alone, and only it fails. */
static void database_refusal_splits_the_batch(void **state) {
  tix *db = fixture_open(conninfo, 4, "tix-group-batch");
  char event_id[TIX_UUID_SIZE];
  fixture_create_event(admin, 100, 0, event_id);
  PQclear(PQexec(admin, "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$"
                        " BEGIN IF NEW.customer = 'poison' THEN"
                        "   RAISE EXCEPTION USING ERRCODE = 'check_violation',"
                        "   MESSAGE = 'poison refused', CONSTRAINT = 'test_poison'; END IF;"
                        " RETURN NEW; END $$"));
  PQclear(PQexec(admin, "CREATE TRIGGER refuse_poison BEFORE INSERT ON purchases"
                        " FOR EACH ROW EXECUTE FUNCTION refuse_poison()"));
  tix_purchase_request requests[8];
  for (int i = 0; i < 8; i++) {
    requests[i] = (tix_purchase_request){
        .event_id = event_id, .quantity = 2, .customer = i == 5 ? "poison" : "fine"};
  }
  struct answers answers;
  answers_init(&answers);
  submit_behind_a_blocked_batch(db, &answers, event_id, requests, 8);
  PQclear(PQexec(admin, "DROP TRIGGER refuse_poison ON purchases"));
  PQclear(PQexec(admin, "DROP FUNCTION refuse_poison()"));
  for (int i = 0; i < 8; i++) {
    assert_int_equal(answers.items[i].status, i == 5 ? TIX_ECHECK : TIX_OK);
  }
  assert_int_equal(fixture_available(admin, event_id), 100 - 7 * 2);
  assert_int_equal(
      fixture_query(admin, "SELECT count(*) FROM purchases WHERE event_id = $1", event_id), 7);
  fixture_check_invariants(admin, event_id);
  tix_close(db);
}

/* ------------------------------------------------------ queue and close */

static void full_queue_refuses_at_once(void **state) {
  tix_options options;
  tix_options_default(&options);
  options.queue_max = 5;
  options.application_name = "tix-group-batch";
  tix *db = NULL;
  assert_int_equal(tix_open(conninfo, &options, &db), TIX_OK);
  char event_id[TIX_UUID_SIZE];
  fixture_create_event(admin, 1000, 0, event_id);
  PGconn *observer = testdb_connect(conninfo);
  struct answers answers;
  answers_init(&answers);
  tix_purchase_request request = {.event_id = event_id, .quantity = 1};
  lock_event_row(event_id);
  submit(db, &answers, 0, &request);
  wait_for_committer_blocked(observer);
  int accepted = 1, refused = 0;
  for (int i = 1; i < QUEUE_FLOOD; i++) {
    static struct slot slots[QUEUE_FLOOD];
    slots[i] = (struct slot){&answers, i};
    int status = tix_purchase_submit(db, &request, record_answer, &slots[i]);
    accepted += status == TIX_OK;
    refused += status == TIX_EQUEUEFULL;
  }
  release_event_row();
  assert_int_equal(accepted, 1 + 5); /* the one committing, then five waiting */
  assert_int_equal(refused, QUEUE_FLOOD - accepted);
  wait_for_answers(&answers, accepted);
  assert_int_equal(fixture_available(admin, event_id), 1000 - accepted);
  PQfinish(observer);
  tix_close(db);
}

static void close_answers_everything_queued(void **state) {
  tix *db = fixture_open(conninfo, 4, "tix-group-batch");
  char event_id[TIX_UUID_SIZE];
  fixture_create_event(admin, 1000, 0, event_id);
  struct answers answers;
  answers_init(&answers);
  tix_purchase_request request = {.event_id = event_id, .quantity = 1};
  for (int i = 0; i < CLOSE_DRAIN_COUNT; i++) {
    submit(db, &answers, i, &request);
  }
  tix_close(db); /* returns only once every callback ran */
  assert_int_equal(answers.answered, CLOSE_DRAIN_COUNT);
  for (int i = 0; i < CLOSE_DRAIN_COUNT; i++) {
    assert_int_equal(answers.items[i].status, TIX_OK);
  }
  assert_int_equal(fixture_available(admin, event_id), 1000 - CLOSE_DRAIN_COUNT);
  fixture_check_invariants(admin, event_id);
}

static int create_database(void **state) {
  testdb_create_migrated("group", conninfo, sizeof conninfo);
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
      cmocka_unit_test(hot_event_sells_out_in_batches),
      cmocka_unit_test(bad_purchases_do_not_fail_their_batch),
      cmocka_unit_test(database_refusal_splits_the_batch),
      cmocka_unit_test(full_queue_refuses_at_once),
      cmocka_unit_test(close_answers_everything_queued),
  };
  return cmocka_run_group_tests(tests, create_database, drop_database);
}
