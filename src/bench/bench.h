/*
 * bench.h — the load generator behind `tix bench`: closed-loop buyers on
 * threads, each buying 1–4 tickets at a time through libtix with one
 * strategy, for a fixed duration, on fresh events; then the invariants of
 * DESIGN §1 checked in the database. One call measures one cell.
 */
#ifndef TIX_BENCH_H
#define TIX_BENCH_H

#include "tix.h"

#define BENCH_CLIENTS_MAX  1024
#define BENCH_EVENTS_MAX   10000
#define BENCH_DURATION_MAX 3600

typedef struct bench_options {
  int duration_s; /* per cell */
  int events;     /* 1: one hot event; more: purchases spread evenly */
} bench_options;

/* One cell's figures, as `tix bench --json` prints them. */
typedef struct bench_cell {
  tix_strategy strategy;
  int clients;
  int events;
  double purchases_per_s;
  double tickets_per_s;
  double p50_ms, p95_ms, p99_ms;
  long purchases;    /* sold */
  long refused;      /* sold out, limits: answers, not errors */
  long failed;       /* anything else (contention gave up, database errors) */
  double mean_batch; /* purchases per group-commit transaction; 1 for the others */
  bool invariants_ok;
  char violation[256]; /* what broke, when invariants_ok is false */
} bench_cell;

/* Runs one cell on db (whose pool the clients share). TIX_OK unless the
 * cell could not be set up or checked; a violated invariant is reported in
 * out->invariants_ok, not as a status. */
int bench_run_cell(tix *db, const bench_options *options, tix_strategy strategy, int clients,
                   bench_cell *out);

#endif /* TIX_BENCH_H */
