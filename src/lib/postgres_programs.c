/*
 * postgres_programs.c — asking PostgreSQL's programs where they are and
 * which major version they are (see postgres_programs.h).
 */
#include "postgres_programs.h"

#include "error.h"
#include "process.h"
#include "text.h"
#include "tix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_MARK              "PostgreSQL) "
#define FIRST_SINGLE_NUMBER_MAJOR 10 /* before 10, a major version was "9.6" */

/* Runs a program that answers at once; anything but exit 0 is a failure. */
static int ask(const char *const *arguments, int failure_status, tix_process_result *result) {
  tix_process_request request = {.arguments = arguments,
                                 .timeout_ms = TIX_POSTGRES_QUICK_MS,
                                 .failure_status = failure_status};
  return tix_process_run_checked(&request, result);
}

int tix_postgres_bindir(int failure_status, char *out, size_t size) {
  static const char *const arguments[] = {"pg_config", "--bindir", NULL};
  tix_process_result result;
  int status = ask(arguments, failure_status, &result);
  if (status != TIX_OK) {
    return status;
  }
  result.output[strcspn(result.output, "\r\n")] = '\0';
  if (result.output[0] == '\0' || !tix_text_copy(out, size, result.output)) {
    return tix_fail(failure_status, "pg_config --bindir gave no usable path");
  }
  return TIX_OK;
}

int tix_postgres_major_version(const char *program, int failure_status, char *out, size_t size) {
  const char *const arguments[] = {program, "--version", NULL};
  tix_process_result result;
  int status = ask(arguments, failure_status, &result);
  if (status != TIX_OK) {
    return status;
  }
  const char *number = strstr(result.output, VERSION_MARK);
  if (number == NULL) {
    return tix_fail(failure_status, "could not tell the version of \"%s\"", program);
  }
  number += strlen(VERSION_MARK);
  long major = strtol(number, NULL, 10);
  if (major < FIRST_SINGLE_NUMBER_MAJOR && number[1] == '.') {
    snprintf(out, size, "%ld.%ld", major, strtol(number + 2, NULL, 10));
  } else {
    snprintf(out, size, "%ld", major);
  }
  return TIX_OK;
}
