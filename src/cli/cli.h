/*
 * cli.h — what the verbs of the `tix` command share: exit codes, error
 * reporting, opening the database, output helpers.
 */
#ifndef TIX_CLI_H
#define TIX_CLI_H

#include "tix.h"
#include "tix_json.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

/* Text as printed for people, escaped (tix_text_escape): the longest field
 * (an event name of 1020 bytes) with every byte six times as long fits. */
#define CLI_TEXT_SIZE 8192
/* The lines one message (a multi-line detail) may print. */
#define CLI_LINES_MAX 1000
/* The options one verb accepts, at most. */
#define CLI_OPTIONS_MAX 32

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
 * on stderr, escaped, and returns the exit code for status. A refusal worth
 * retrying (exit 4) without a hint of its own gets one saying so. */
int cli_report(int status);
/* The same, with fallback_hint (may be NULL) when the diagnostic has none. */
int cli_report_hinted(int status, const char *fallback_hint);
/* Prints "tix: <message>" and a pointer to --help, and with --json the
 * error object {"error": {"code": "invalid_argument", "message"}} on stdout
 * too; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *verb, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* A library check refused an argument: its diagnostic as a usage error. */
int cli_check_failed(const char *verb);
/* Whether argv asks for --json; the verb then says so with
 * cli_set_json_errors, before it parses, so that a usage error found
 * before getopt reaches --json is printed as JSON too. */
bool cli_json_requested(int argc, char **argv);
void cli_set_json_errors(bool json);

/* text escaped for a person's terminal into buffer (see CLI_TEXT_SIZE). */
const char *cli_escaped(const char *text, char buffer[CLI_TEXT_SIZE]);

/* Opens the database from the environment (starting the embedded cluster on
 * demand); on failure reports and returns the exit code in *exit_code. */
tix *cli_open_database(int *exit_code);

/* Parses a whole decimal int within [minimum, maximum]: digits only. */
bool cli_parse_int(const char *text, long minimum, long maximum, int *out);

/* The options a verb has read so far. */
typedef struct cli_seen {
  int codes[CLI_OPTIONS_MAX];
  size_t count;
} cli_seen;
/* -1 the first time getopt_long returns code; the second time, a usage
 * error naming the option (from options) and CLI_EXIT_USAGE: an option
 * given twice is a mistake whichever value was meant. */
int cli_refuse_repeat(const char *verb, const struct option *options, int code, cli_seen *seen);

/* Prints a JSON value on stdout followed by a newline, then frees it. */
void cli_print_json(json_t *value);
/* {"error": {"code", "message", …}} for a status, on stdout for --json. */
json_t *cli_error_json(int status);

#endif /* TIX_CLI_H */
