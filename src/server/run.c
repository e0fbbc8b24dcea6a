/*
 * run.c — `tix serve` from start to exit: the database opened, the server
 * started, the hold sweeper run on a timer by the main thread while it
 * waits for SIGTERM or SIGINT, then a bounded drain and a clean stop.
 */
#include "server.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#define RUN_SWEEP_INTERVAL_SECONDS 1     /* expired holds go back on sale this often */
#define RUN_SWEEP_BATCH_LIMIT      1000  /* holds released by one sweep */
#define RUN_DRAIN_TIMEOUT_MS       20000 /* in-flight requests answered within */
#define RUN_CLOSE_DRAIN_TIMEOUT_MS 5000  /* after tix_close answered what was queued */

/* Waits for SIGTERM or SIGINT, sweeping expired holds between waits. */
static void serve_until_signal(tix *db, const sigset_t *stop_signals) {
  struct timespec interval = {RUN_SWEEP_INTERVAL_SECONDS, 0};
  for (;;) {
    int signal_number = sigtimedwait(stop_signals, NULL, &interval);
    if (signal_number == SIGTERM || signal_number == SIGINT) {
      fprintf(stderr, "tix serve: %s, finishing the requests in progress\n",
              signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
      return;
    }
    int released = 0;
    if (tix_holds_sweep(db, RUN_SWEEP_BATCH_LIMIT, &released) == TIX_OK && released > 0) {
      fprintf(stderr, "tix serve: %d expired holds released\n", released);
    }
  }
}

/* Stops with every suspended connection answered first (stopping the
 * daemon with one suspended is an API violation of libmicrohttpd). */
static void stop(tix_server *server, tix **db) {
  int remaining = tix_server_drain(server, RUN_DRAIN_TIMEOUT_MS);
  if (remaining > 0) {
    fprintf(stderr, "tix serve: %d requests still in progress, closing the database\n", remaining);
    /* tix_close answers every purchase still queued, which resumes them. */
    tix_close(*db);
    *db = NULL;
    tix_server_drain(server, RUN_CLOSE_DRAIN_TIMEOUT_MS);
  }
  tix_server_destroy(server);
}

int tix_server_run(const tix_server_options *options) {
  int status = tix_server_options_check(options);
  if (status != TIX_OK) {
    return status;
  }
  /* Blocked before any thread starts, so every thread inherits the mask
   * and only sigtimedwait in the main thread receives them. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  tix_options db_options;
  tix_options_default(&db_options);
  db_options.application_name = "tix-serve";
  tix *db = NULL;
  status = tix_open_from_env(&db_options, &db);
  if (status != TIX_OK) {
    return status;
  }
  tix_server *server = NULL;
  status = tix_server_start(db, options, &server);
  if (status == TIX_OK) {
    fprintf(stderr, "tix serve: listening on %s port %d\n", options->bind_address,
            tix_server_port(server));
    serve_until_signal(db, &stop_signals);
    stop(server, &db);
  }
  tix_close(db);
  return status;
}
