/*
 * common.c — helpers every verb uses: exit codes, error output, opening the
 * database, number parsing and JSON printing.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int cli_exit_code(int status) {
  switch (status) {
  case TIX_OK:
    return CLI_EXIT_DONE;
  case TIX_EINVAL:
  case TIX_EMIGRATIONFILE:
    return CLI_EXIT_USAGE;
  case TIX_EBUSY:
  case TIX_EQUEUEFULL:
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

int cli_report(int status) {
  const tix_diag *diag = tix_last_diag();
  const char *message =
      diag->status == status && diag->message[0] ? diag->message : tix_strerror(status);
  fprintf(stderr, "tix: %s\n", message);
  if (diag->status == status && diag->detail[0] != '\0') {
    fprintf(stderr, "DETAIL: %s\n", diag->detail);
  }
  if (diag->status == status && diag->hint[0] != '\0') {
    fprintf(stderr, "HINT: %s\n", diag->hint);
  }
  return cli_exit_code(status);
}

int cli_usage_error(const char *verb, const char *format, ...) {
  va_list arguments;
  va_start(arguments, format);
  fprintf(stderr, "tix: ");
  vfprintf(stderr, format, arguments);
  fprintf(stderr, "\nTry \"tix %s --help\".\n", verb);
  va_end(arguments);
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

bool cli_parse_int(const char *text, long minimum, long maximum, int *out) {
  if (text == NULL || *text == '\0') {
    return false;
  }
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || value < minimum || value > maximum) {
    return false;
  }
  *out = (int)value;
  return true;
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
