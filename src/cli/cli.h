/*
 * cli.h — what the verbs of the `tix` command share: exit codes, error
 * reporting, opening the database, output helpers.
 */
#ifndef TIX_CLI_H
#define TIX_CLI_H

#include "tix.h"
#include "tix_json.h"

#include <jansson.h>
#include <stdbool.h>

/* Exit codes (DESIGN §4). */
enum cli_exit {
  CLI_EXIT_DONE = 0,
  CLI_EXIT_REFUSED = 1,
  CLI_EXIT_USAGE = 2,
  CLI_EXIT_UNAVAILABLE = 3,
  CLI_EXIT_TRY_AGAIN = 4, /* contention, a full queue: the same command may work */
};

/* A verb: argv[0] is the verb's own name. Returns an exit code. */
typedef int (*cli_verb_fn)(int argc, char **argv);

int cli_db(int argc, char **argv);
int cli_migrate(int argc, char **argv);
int cli_event(int argc, char **argv);
int cli_buy(int argc, char **argv);
int cli_purchase(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_serve(int argc, char **argv);

/* The exit code a library status deserves. */
int cli_exit_code(int status);
/* Prints the thread's diagnostic as "tix: message" plus DETAIL/HINT lines
 * on stderr and returns the exit code for status. */
int cli_report(int status);
/* Prints "tix: <message>" and a pointer to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *verb, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Opens the database from the environment (starting the embedded cluster on
 * demand); on failure reports and returns the exit code in *exit_code. */
tix *cli_open_database(int *exit_code);

/* Parses a whole decimal int within [minimum, maximum]. */
bool cli_parse_int(const char *text, long minimum, long maximum, int *out);

/* Prints a JSON value on stdout followed by a newline, then frees it. */
void cli_print_json(json_t *value);
/* {"error": {"code", "message", …}} for a status, on stdout for --json. */
json_t *cli_error_json(int status);

#endif /* TIX_CLI_H */
