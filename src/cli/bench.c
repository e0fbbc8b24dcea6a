/*
 * bench.c — the `tix bench` verb: which cells to run (strategies × client
 * counts), each measured by src/bench, printed as a table, JSON or CSV.
 * Exits 1 when any cell broke an invariant.
 */
#include "cli.h"

#include "../bench/bench.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX         16
#define DURATION_DEFAULT 5
#define POOL_CONNECTIONS 20 /* DESIGN §5's default: the seed's pattern gets the same pool */

static const char bench_help[] =
    "Usage: tix bench [--duration S] [--clients N[,N…]] [--strategies S[,S…]]\n"
    "                 [--events N] [--json | --csv]\n"
    "\n"
    "Measures purchases per second and latency, cell by cell: each strategy at\n"
    "each number of concurrent buyers (closed loop, 1–4 tickets a purchase), on\n"
    "fresh events of the database tix uses. After every cell the invariants are\n"
    "checked in the database; a violation is printed and the exit status is 1.\n"
    "\n"
    "Options:\n"
    "  --duration S        seconds per cell (default 5)\n"
    "  --clients LIST      concurrent buyers, e.g. 1,16,64 (default 1,16,64,256)\n"
    "  --strategies LIST   of locking, optimistic, atomic, serializable, group\n"
    "                      (default: all five; locking is the seed's pattern)\n"
    "  --events N          spread the buyers over N events (default 1: one hot event)\n"
    "  --json, --csv       print the cells as JSON ({\"cells\": […]}) or CSV\n"
    "  -h, --help          show this help\n";

enum {
  OPTION_DURATION = 1000,
  OPTION_CLIENTS,
  OPTION_STRATEGIES,
  OPTION_EVENTS,
  OPTION_JSON,
  OPTION_CSV
};

static const struct option bench_options_table[] = {
    {"duration", required_argument, NULL, OPTION_DURATION},
    {"clients", required_argument, NULL, OPTION_CLIENTS},
    {"strategies", required_argument, NULL, OPTION_STRATEGIES},
    {"events", required_argument, NULL, OPTION_EVENTS},
    {"json", no_argument, NULL, OPTION_JSON},
    {"csv", no_argument, NULL, OPTION_CSV},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct bench_arguments {
  bench_options options;
  int clients[LIST_MAX];
  int client_count;
  tix_strategy strategies[LIST_MAX];
  int strategy_count;
  bool json, csv, help;
};

/* Splits a comma-separated list in place into at most LIST_MAX items. */
static int split_list(char *text, char *items[LIST_MAX]) {
  int count = 0;
  for (char *item = strtok(text, ","); item != NULL; item = strtok(NULL, ",")) {
    if (count == LIST_MAX) {
      return -1;
    }
    items[count++] = item;
  }
  return count;
}

static int parse_clients(char *text, struct bench_arguments *arguments) {
  char *items[LIST_MAX];
  int count = split_list(text, items);
  for (int i = 0; i < count; i++) {
    if (!cli_parse_int(items[i], 1, BENCH_CLIENTS_MAX, &arguments->clients[i])) {
      return cli_usage_error("bench", "--clients takes numbers from 1 to %d, not \"%s\"",
                             BENCH_CLIENTS_MAX, items[i]);
    }
  }
  if (count < 1) {
    return cli_usage_error("bench", "--clients takes 1 to %d numbers", LIST_MAX);
  }
  arguments->client_count = count;
  return CLI_EXIT_DONE;
}

static int parse_strategies(char *text, struct bench_arguments *arguments) {
  char *items[LIST_MAX];
  int count = split_list(text, items);
  for (int i = 0; i < count; i++) {
    if (tix_strategy_parse(items[i], &arguments->strategies[i]) != TIX_OK) {
      return cli_usage_error("bench", "unknown strategy \"%s\" in --strategies", items[i]);
    }
  }
  if (count < 1) {
    return cli_usage_error("bench", "--strategies takes 1 to %d names", LIST_MAX);
  }
  arguments->strategy_count = count;
  return CLI_EXIT_DONE;
}

static int take_bench_option(int option, struct bench_arguments *arguments, char **argv) {
  switch (option) {
  case OPTION_DURATION:
    return cli_parse_int(optarg, 1, BENCH_DURATION_MAX, &arguments->options.duration_s)
               ? CLI_EXIT_DONE
               : cli_usage_error("bench", "--duration must be 1 to %d seconds, not \"%s\"",
                                 BENCH_DURATION_MAX, optarg);
  case OPTION_EVENTS:
    return cli_parse_int(optarg, 1, BENCH_EVENTS_MAX, &arguments->options.events)
               ? CLI_EXIT_DONE
               : cli_usage_error("bench", "--events must be 1 to %d, not \"%s\"", BENCH_EVENTS_MAX,
                                 optarg);
  case OPTION_CLIENTS:
    return parse_clients(optarg, arguments);
  case OPTION_STRATEGIES:
    return parse_strategies(optarg, arguments);
  case OPTION_JSON:
    arguments->json = true;
    return CLI_EXIT_DONE;
  case OPTION_CSV:
    arguments->csv = true;
    return CLI_EXIT_DONE;
  case 'h':
    arguments->help = true;
    return CLI_EXIT_DONE;
  case ':':
    return cli_usage_error("bench", "option \"%s\" needs a value", argv[optind - 1]);
  default:
    return cli_usage_error("bench", "unknown option \"%s\"", argv[optind - 1]);
  }
}

static int parse_bench(int argc, char **argv, struct bench_arguments *arguments) {
  *arguments = (struct bench_arguments){
      .options = {.duration_s = DURATION_DEFAULT, .events = 1},
      .clients = {1, 16, 64, 256},
      .client_count = 4,
      .strategies = {TIX_STRATEGY_LOCKING, TIX_STRATEGY_OPTIMISTIC, TIX_STRATEGY_ATOMIC,
                     TIX_STRATEGY_SERIALIZABLE, TIX_STRATEGY_GROUP},
      .strategy_count = 5,
  };
  optind = 0; /* glibc: start afresh */
  opterr = 0; /* the messages are ours */
  int option;
  while ((option = getopt_long(argc, argv, ":h", bench_options_table, NULL)) != -1) {
    int exit_code = take_bench_option(option, arguments, argv);
    if (exit_code != CLI_EXIT_DONE || arguments->help) {
      return exit_code;
    }
  }
  if (optind < argc) {
    return cli_usage_error("bench", "unexpected argument \"%s\"", argv[optind]);
  }
  if (arguments->json && arguments->csv) {
    return cli_usage_error("bench", "choose one of --json and --csv");
  }
  return CLI_EXIT_DONE;
}

/* ------------------------------------------------------------- output */

static json_t *cell_json(const bench_cell *cell) {
  return json_pack("{s:s, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:f, s:b}", "strategy",
                   tix_strategy_name(cell->strategy), "clients", cell->clients, "events",
                   cell->events, "purchases_per_s", cell->purchases_per_s, "tickets_per_s",
                   cell->tickets_per_s, "p50_ms", cell->p50_ms, "p95_ms", cell->p95_ms, "p99_ms",
                   cell->p99_ms, "refused", (json_int_t)cell->refused, "failed",
                   (json_int_t)cell->failed, "mean_batch", cell->mean_batch, "invariants_ok",
                   cell->invariants_ok);
}

static void print_cell_text(const bench_cell *cell, bool first) {
  if (first) {
    printf("%-13s %7s %6s %12s %12s %8s %8s %8s %8s %7s %6s\n", "STRATEGY", "CLIENTS", "EVENTS",
           "PURCHASES/S", "TICKETS/S", "P50 MS", "P95 MS", "P99 MS", "REFUSED", "FAILED", "BATCH");
  }
  printf("%-13s %7d %6d %12.0f %12.0f %8.2f %8.2f %8.2f %8ld %7ld %6.1f\n",
         tix_strategy_name(cell->strategy), cell->clients, cell->events, cell->purchases_per_s,
         cell->tickets_per_s, cell->p50_ms, cell->p95_ms, cell->p99_ms, cell->refused, cell->failed,
         cell->mean_batch);
  fflush(stdout);
}

static void print_cell_csv(const bench_cell *cell, bool first) {
  if (first) {
    puts("strategy,clients,events,purchases_per_s,tickets_per_s,p50_ms,p95_ms,p99_ms,refused,"
         "failed,mean_batch,invariants_ok");
  }
  printf("%s,%d,%d,%.1f,%.1f,%.3f,%.3f,%.3f,%ld,%ld,%.2f,%s\n", tix_strategy_name(cell->strategy),
         cell->clients, cell->events, cell->purchases_per_s, cell->tickets_per_s, cell->p50_ms,
         cell->p95_ms, cell->p99_ms, cell->refused, cell->failed, cell->mean_batch,
         cell->invariants_ok ? "true" : "false");
  fflush(stdout);
}

/* ---------------------------------------------------------------- run */

static tix *open_bench_database(int *exit_code) {
  tix_options options;
  tix_options_default(&options);
  options.max_connections = POOL_CONNECTIONS;
  options.application_name = "tix-bench";
  tix *db = NULL;
  int status = tix_open_from_env(&options, &db);
  *exit_code = status == TIX_OK ? CLI_EXIT_DONE : cli_report(status);
  return db;
}

static int run_cells(tix *db, const struct bench_arguments *arguments, json_t *cells) {
  int exit_code = CLI_EXIT_DONE, index = 0;
  for (int s = 0; s < arguments->strategy_count; s++) {
    for (int c = 0; c < arguments->client_count; c++, index++) {
      bench_cell cell;
      int status = bench_run_cell(db, &arguments->options, arguments->strategies[s],
                                  arguments->clients[c], &cell);
      if (status != TIX_OK) {
        return cli_report(status);
      }
      if (!cell.invariants_ok) {
        fprintf(stderr, "tix: invariant violated after %s with %d clients: %s\n",
                tix_strategy_name(cell.strategy), cell.clients, cell.violation);
        exit_code = CLI_EXIT_REFUSED;
      }
      if (cells != NULL) {
        json_array_append_new(cells, cell_json(&cell));
      } else if (arguments->csv) {
        print_cell_csv(&cell, index == 0);
      } else {
        print_cell_text(&cell, index == 0);
      }
    }
  }
  return exit_code;
}

int cli_bench(int argc, char **argv) {
  struct bench_arguments arguments;
  int exit_code = parse_bench(argc, argv, &arguments);
  if (exit_code != CLI_EXIT_DONE || arguments.help) {
    if (arguments.help) {
      fputs(bench_help, stdout);
    }
    return exit_code;
  }
  tix *db = open_bench_database(&exit_code);
  if (db == NULL) {
    return exit_code;
  }
  json_t *cells = arguments.json ? json_array() : NULL;
  exit_code = run_cells(db, &arguments, cells);
  if (cells != NULL) {
    cli_print_json(json_pack("{s:o}", "cells", cells));
  }
  tix_close(db);
  return exit_code;
}
