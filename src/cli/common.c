/*
 * common.c — helpers every verb uses: exit codes, error output (escaped, and
 * as JSON too when --json was asked for), opening the database, the parsing
 * rules every option follows (whole numbers of digits, no option twice) and
 * JSON printing.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A usage error's message, before escaping. */
#define MESSAGE_SIZE 2048
/* The most digits a number may have: more would overflow a long anyway. */
#define NUMBER_DIGITS_MAX 18

/* Whether the running verb was asked for --json: its usage errors are then
 * also printed as the JSON error object, on stdout. One verb runs per
 * process, on one thread. */
static bool json_errors;

int cli_exit_code(int status) {
  switch (status) {
  case TIX_OK:
    return CLI_EXIT_DONE;
  case TIX_EINVAL:
  case TIX_EMIGRATIONFILE:
    return CLI_EXIT_USAGE;
  case TIX_EBUSY:          /* lost the race for the event too many times */
  case TIX_EQUEUEFULL:     /* group commit's queue is full */
  case TIX_ELOCKED:        /* waited for a lock longer than lock_timeout */
  case TIX_EDEADLOCK:      /* the database broke a deadlock by failing this side */
  case TIX_ESERIALIZATION: /* a concurrent change conflicted */
  case TIX_ECANCELED:      /* statement_timeout, or canceled by an operator */
    return CLI_EXIT_TRY_AGAIN;
  case TIX_EUNAVAILABLE:
  case TIX_EUNKNOWN:
  case TIX_ETIMEOUT:
  case TIX_ECLUSTER:
  case TIX_ESCHEMA:
    return CLI_EXIT_UNAVAILABLE;
  default:
    return CLI_EXIT_REFUSED;
  }
}

const char *cli_escaped(const char *text, char buffer[CLI_TEXT_SIZE]) {
  tix_text_escape(text != NULL ? text : "", buffer, CLI_TEXT_SIZE);
  return buffer;
}

/* "tix: " or "LABEL: " and the text, escaped, on stderr. Newlines stay:
 * a detail may be several lines (a catalog diff); every other control
 * character is shown as \u plus its hex, whatever the text quotes. */
static void print_line(const char *label, const char *text) {
  char line[CLI_TEXT_SIZE], escaped[CLI_TEXT_SIZE];
  fprintf(stderr, "%s: ", label);
  for (int lines = 0; lines < CLI_LINES_MAX; lines++) {
    size_t length = strcspn(text, "\n");
    snprintf(line, sizeof line, "%.*s", (int)(length < sizeof line ? length : sizeof line - 1),
             text);
    fprintf(stderr, "%s\n", cli_escaped(line, escaped));
    if (text[length] == '\0') {
      break;
    }
    text += length + 1;
  }
}

int cli_report_hinted(int status, const char *fallback_hint) {
  const tix_diag *diag = tix_last_diag();
  bool current = diag->status == status;
  print_line("tix", current && diag->message[0] ? diag->message : tix_strerror(status));
  if (current && diag->detail[0] != '\0') {
    print_line("DETAIL", diag->detail);
  }
  if (current && diag->hint[0] != '\0') {
    print_line("HINT", diag->hint);
  } else if (fallback_hint != NULL) {
    print_line("HINT", fallback_hint);
  }
  return cli_exit_code(status);
}

int cli_report(int status) {
  bool retry = cli_exit_code(status) == CLI_EXIT_TRY_AGAIN;
  return cli_report_hinted(status, retry ? "Nothing was done: the same command may work if "
                                           "you try again in a moment."
                                         : NULL);
}

void cli_set_json_errors(bool json) {
  json_errors = json;
}

/* getopt_long takes any unambiguous abbreviation, "--js" for "--json": no
 * other option of the verbs that have --json starts with j. Arguments after
 * "--" are operands. */
bool cli_json_requested(int argc, char **argv) {
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
    size_t length = strlen(argv[i]);
    if (length >= 3 && strncmp(argv[i], "--json", length) == 0) {
      return true;
    }
  }
  return false;
}

static void print_usage_json(const char *message) {
  if (json_errors) {
    cli_print_json(json_pack("{s:{s:s,s:s}}", "error", "code", tix_error_code(TIX_EINVAL),
                             "message", message));
  }
}

int cli_usage_error(const char *verb, const char *format, ...) {
  char message[MESSAGE_SIZE];
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(message, sizeof message, format, arguments);
  va_end(arguments);
  print_line("tix", message);
  fprintf(stderr, "Try \"tix %s --help\".\n", verb);
  print_usage_json(message);
  return CLI_EXIT_USAGE;
}

int cli_check_failed(const char *verb) {
  const tix_diag *diag = tix_last_diag();
  print_line("tix", diag->message);
  if (diag->detail[0] != '\0') {
    print_line("DETAIL", diag->detail);
  }
  if (diag->hint[0] != '\0') {
    print_line("HINT", diag->hint);
  }
  fprintf(stderr, "Try \"tix %s --help\".\n", verb);
  print_usage_json(diag->message);
  return CLI_EXIT_USAGE;
}

tix *cli_open_database(int *exit_code) {
  tix_options options;
  tix_options_default(&options);
  options.max_connections = 2;
  options.application_name = "tix-cli";
  tix *db = NULL;
  int status = tix_open_from_env(&options, &db);
  *exit_code = status == TIX_OK ? CLI_EXIT_DONE : cli_report(status);
  return db;
}

/* Digits only: no sign, no space, no base prefix, so what a script passes
 * is what it meant (" 2" and "+3" are as wrong as "2 "). */
bool cli_parse_int(const char *text, long minimum, long maximum, int *out) {
  size_t digits = text != NULL ? strspn(text, "0123456789") : 0;
  if (digits == 0 || text[digits] != '\0' || digits > NUMBER_DIGITS_MAX) {
    return false;
  }
  errno = 0;
  long value = strtol(text, NULL, 10);
  if (errno != 0 || value < minimum || value > maximum) {
    return false;
  }
  *out = (int)value;
  return true;
}

/* The long name of the option with this code, for messages. */
static const char *option_name(const struct option *options, int code) {
  for (size_t i = 0; i < CLI_OPTIONS_MAX && options[i].name != NULL; i++) {
    if (options[i].val == code) {
      return options[i].name;
    }
  }
  return "?";
}

int cli_refuse_repeat(const char *verb, const struct option *options, int code, cli_seen *seen) {
  for (size_t i = 0; i < seen->count; i++) {
    if (seen->codes[i] == code) {
      return cli_usage_error(verb, "option \"--%s\" is given more than once",
                             option_name(options, code));
    }
  }
  if (seen->count < CLI_OPTIONS_MAX) {
    seen->codes[seen->count++] = code;
  }
  return -1;
}

void cli_print_json(json_t *value) {
  char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (text != NULL) {
    puts(text);
    free(text);
  }
  json_decref(value);
}

json_t *cli_error_json(int status) {
  return tix_json_error(status, tix_last_diag());
}
