/*
 * bench.c — one benchmark cell (see bench.h): fresh events, `clients`
 * threads buying in a closed loop until the deadline, latencies of every
 * purchase kept (bounded) for percentiles, group-commit batch sizes from
 * the handle's statistics, and the invariants checked afterwards.
 */
#include "bench.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Latency samples kept per cell at most (4 bytes each), shared between the
 * clients; past it the counts go on but the percentiles use what was kept. */
#define SAMPLES_MAX        (4 * 1024 * 1024)
#define QUANTITY_MAX_BENCH 4

typedef struct client {
  pthread_t thread;
  tix *db;
  tix_strategy strategy;
  const char (*event_ids)[TIX_UUID_SIZE];
  int events;
  int64_t deadline_us;
  uint32_t *samples_us; /* this client's share of the samples */
  size_t samples_max;
  size_t samples;
  long purchases, tickets, refused, failed;
} client;

static int64_t now_us(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void count_answer(client *self, int status, int quantity, int64_t took_us) {
  if (status == TIX_OK) {
    self->purchases++;
    self->tickets += quantity;
  } else if (status == TIX_EINSUFFICIENT || status == TIX_ELIMIT || status == TIX_ECANCELLED) {
    self->refused++;
  } else {
    self->failed++;
  }
  if (self->samples < self->samples_max) {
    self->samples_us[self->samples++] = took_us > UINT32_MAX ? UINT32_MAX : (uint32_t)took_us;
  }
}

static void *client_main(void *argument) {
  client *self = argument;
  unsigned seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
    seed = (unsigned)now_us();
  }
  int64_t started_us = now_us();
  while (started_us < self->deadline_us) {
    tix_purchase_request request = {
        .event_id = self->event_ids[rand_r(&seed) % (unsigned)self->events],
        .quantity = 1 + (int)(rand_r(&seed) % QUANTITY_MAX_BENCH),
    };
    tix_purchase purchase;
    int status = tix_purchase_buy(self->db, self->strategy, &request, &purchase);
    tix_purchase_free(&purchase);
    int64_t finished_us = now_us();
    count_answer(self, status, request.quantity, finished_us - started_us);
    started_us = finished_us;
  }
  return NULL;
}

static int compare_samples(const void *left, const void *right) {
  uint32_t a = *(const uint32_t *)left, b = *(const uint32_t *)right;
  return (a > b) - (a < b);
}

static double percentile_ms(const uint32_t *sorted, size_t count, double fraction) {
  if (count == 0) {
    return 0.0;
  }
  size_t index = (size_t)ceil(fraction * (double)count) - 1;
  return sorted[index < count ? index : count - 1] / 1000.0;
}

/* Gathers the clients' counts and samples into out. */
static void summarize(client *clients, int count, uint32_t *samples, double seconds,
                      bench_cell *out) {
  size_t kept = 0;
  long tickets = 0;
  for (int i = 0; i < count; i++) {
    out->purchases += clients[i].purchases;
    out->refused += clients[i].refused;
    out->failed += clients[i].failed;
    tickets += clients[i].tickets;
    memmove(samples + kept, clients[i].samples_us, clients[i].samples * sizeof *samples);
    kept += clients[i].samples;
  }
  qsort(samples, kept, sizeof *samples, compare_samples);
  out->purchases_per_s = (double)out->purchases / seconds;
  out->tickets_per_s = (double)tickets / seconds;
  out->p50_ms = percentile_ms(samples, kept, 0.50);
  out->p95_ms = percentile_ms(samples, kept, 0.95);
  out->p99_ms = percentile_ms(samples, kept, 0.99);
}

static int create_events(tix *db, tix_strategy strategy, int clients, int count,
                         char (*event_ids)[TIX_UUID_SIZE]) {
  for (int i = 0; i < count; i++) {
    char name[128];
    snprintf(name, sizeof name, "tix bench: %s, %d clients, event %d", tix_strategy_name(strategy),
             clients, i + 1);
    tix_event_input input = {
        .name = name, .date = "2030-01-01T20:00:00Z", .total_tickets = TIX_TICKETS_MAX};
    tix_event event;
    int status = tix_event_create(db, &input, &event);
    if (status != TIX_OK) {
      return status;
    }
    memcpy(event_ids[i], event.id, TIX_UUID_SIZE);
  }
  return TIX_OK;
}

static int check_events(tix *db, char (*event_ids)[TIX_UUID_SIZE], int count, bench_cell *out) {
  out->invariants_ok = true;
  for (int i = 0; i < count; i++) {
    tix_event_check check;
    int status = tix_event_check_invariants(db, event_ids[i], &check);
    if (status != TIX_OK) {
      return status;
    }
    if (!check.ok && out->invariants_ok) {
      out->invariants_ok = false;
      snprintf(out->violation, sizeof out->violation,
               "event %s: total %ld, available %ld, live tickets %ld, incomplete purchases %ld, "
               "misvoided tickets %ld",
               event_ids[i], check.total_tickets, check.available_tickets, check.live_tickets,
               check.incomplete_purchases, check.misvoided_tickets);
    }
  }
  return TIX_OK;
}

static void run_clients(tix *db, tix_strategy strategy, const bench_options *options,
                        char (*event_ids)[TIX_UUID_SIZE], client *clients, int count,
                        uint32_t *samples) {
  int64_t deadline_us = now_us() + (int64_t)options->duration_s * 1000000;
  size_t share = SAMPLES_MAX / (size_t)count;
  for (int i = 0; i < count; i++) {
    clients[i] = (client){.db = db,
                          .strategy = strategy,
                          .event_ids = (const char(*)[TIX_UUID_SIZE])event_ids,
                          .events = options->events,
                          .deadline_us = deadline_us,
                          .samples_us = samples + share * (size_t)i,
                          .samples_max = share};
  }
  int started = 0;
  while (started < count &&
         pthread_create(&clients[started].thread, NULL, client_main, &clients[started]) == 0) {
    started++;
  }
  for (int i = 0; i < started; i++) {
    pthread_join(clients[i].thread, NULL);
  }
}

int bench_run_cell(tix *db, const bench_options *options, tix_strategy strategy, int clients,
                   bench_cell *out) {
  *out = (bench_cell){.strategy = strategy, .clients = clients, .events = options->events};
  char(*event_ids)[TIX_UUID_SIZE] = calloc((size_t)options->events, TIX_UUID_SIZE);
  client *threads = calloc((size_t)clients, sizeof *threads);
  uint32_t *samples = calloc(SAMPLES_MAX, sizeof *samples);
  int status = event_ids && threads && samples ? TIX_OK : TIX_ENOMEM;
  if (status == TIX_OK) {
    status = create_events(db, strategy, clients, options->events, event_ids);
  }
  if (status == TIX_OK) {
    tix_group_stats before, after;
    tix_group_stats_get(db, &before);
    int64_t started_us = now_us();
    run_clients(db, strategy, options, event_ids, threads, clients, samples);
    double seconds = (double)(now_us() - started_us) / 1e6;
    tix_group_stats_get(db, &after);
    summarize(threads, clients, samples, seconds, out);
    uint64_t batches = after.batches - before.batches;
    out->mean_batch = strategy != TIX_STRATEGY_GROUP ? 1.0
                      : batches > 0 ? (double)(after.purchases - before.purchases) / (double)batches
                                    : 0.0;
    status = check_events(db, event_ids, options->events, out);
  }
  free(samples);
  free(threads);
  free(event_ids);
  return status;
}
