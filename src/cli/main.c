/*
 * main.c — the `tix` command: finds the verb and hands it the arguments.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* meson.build passes the project's version. */
#ifndef TIX_VERSION
#error "TIX_VERSION must be defined by the build"
#endif

struct verb {
  const char *name;
  cli_verb_fn run;
  const char *summary;
};

static const struct verb verbs[] = {
    {"db", cli_db, "start, stop, inspect the embedded PostgreSQL cluster"},
    {"migrate", cli_migrate, "apply, roll back, check and create schema migrations"},
    {"event", cli_event, "create, list, show, update and cancel events"},
    {"buy", cli_buy, "buy or hold tickets for an event"},
    {"purchase", cli_purchase, "show, confirm or refund a purchase"},
    {"serve", cli_serve, "serve the HTTP JSON API"},
    {"bench", cli_bench, "measure purchases per second, strategy by strategy"},
};

static void print_help(FILE *stream) {
  fprintf(stream, "tix — a ticket sales engine on PostgreSQL\n\n"
                  "Usage: tix VERB [ARGS…]   (tix VERB --help for each)\n"
                  "       tix --version\n\nVerbs:\n");
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
    fprintf(stream, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
  }
  fprintf(stream, "\nThe database: DATABASE_URL, else DB_HOST/DB_PORT/DB_USERNAME/DB_PASSWORD/"
                  "DB_NAME,\nelse PG* variables, else an embedded cluster in $TIX_DATA "
                  "(default ./.tix).\n"
                  "Exit codes: 0 done, 1 refused, 2 usage, 3 database unavailable, 4 try again\n"
                  "(contention, a busy server: nothing was done, retrying is right).\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_help(stderr);
    return CLI_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    print_help(stdout);
    return CLI_EXIT_DONE;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("tix %s\n", TIX_VERSION);
    return CLI_EXIT_DONE;
  }
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
    if (strcmp(argv[1], verbs[i].name) == 0) {
      return verbs[i].run(argc - 1, argv + 1);
    }
  }
  fprintf(stderr, "tix: unknown verb \"%s\"\nTry \"tix --help\".\n", argv[1]);
  return CLI_EXIT_USAGE;
}
