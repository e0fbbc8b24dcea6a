/*
 * event.c — placeholder until its verb lands (owned by another engineer).
 */
#include "cli.h"

#include <stdio.h>

int cli_event(int argc, char **argv) {
  fprintf(stderr, "tix: %s is not available in this build\n", argv[0]);
  return CLI_EXIT_USAGE;
}
