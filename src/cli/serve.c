/*
 * serve.c — the `tix serve` verb: parses its flags and hands over to the
 * server (src/server), which serves until SIGTERM or SIGINT.
 */
#include "cli.h"

#include "server.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static const char serve_help[] =
    "Usage: tix serve [--port P] [--bind ADDR] [--threads N] [--quiet]\n"
    "\n"
    "Serves the HTTP JSON API until SIGTERM or SIGINT, then finishes the\n"
    "requests in progress and exits 0.\n"
    "\n"
    "Options:\n"
    "  --port P       the TCP port (default 8080; 0: any free one)\n"
    "  --bind ADDR    the address to listen on (default 127.0.0.1); any other\n"
    "                 than loopback needs TIX_ADMIN_TOKEN\n"
    "  --threads N    HTTP worker threads (default 4)\n"
    "  --quiet        no log line per request\n"
    "  -h, --help     show this help\n"
    "\n"
    "TIX_ADMIN_TOKEN: when set, creating, changing and cancelling events and\n"
    "refunds need \"Authorization: Bearer <token>\".\n"
    "Exit codes: 0 stopped by a signal, 2 usage or configuration, 3 database\n"
    "unavailable.\n";

enum { OPTION_PORT = 1000, OPTION_BIND, OPTION_THREADS, OPTION_QUIET };

static int parse_serve(int argc, char **argv, tix_server_options *options, bool *help) {
  static const struct option long_options[] = {
      {"port", required_argument, NULL, OPTION_PORT},
      {"bind", required_argument, NULL, OPTION_BIND},
      {"threads", required_argument, NULL, OPTION_THREADS},
      {"quiet", no_argument, NULL, OPTION_QUIET},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int option;
  optind = 1;
  while ((option = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
    if (option == OPTION_PORT && !cli_parse_int(optarg, 0, 65535, &options->port)) {
      return cli_usage_error("serve", "invalid port \"%s\"", optarg);
    } else if (option == OPTION_THREADS &&
               !cli_parse_int(optarg, 1, TIX_SERVER_THREADS_MAX, &options->threads)) {
      return cli_usage_error("serve", "invalid --threads \"%s\": 1 to %d", optarg,
                             TIX_SERVER_THREADS_MAX);
    } else if (option == OPTION_BIND) {
      options->bind_address = optarg;
    } else if (option == OPTION_QUIET) {
      options->log_requests = false;
    } else if (option == 'h') {
      *help = true;
    } else if (option == '?') {
      return cli_usage_error("serve", "unknown option");
    }
  }
  if (optind < argc) {
    return cli_usage_error("serve", "unexpected argument \"%s\"", argv[optind]);
  }
  return CLI_EXIT_DONE;
}

int cli_serve(int argc, char **argv) {
  tix_server_options options;
  tix_server_options_default(&options);
  options.log_requests = true;
  options.admin_token = getenv("TIX_ADMIN_TOKEN");
  bool help = false;
  int exit_code = parse_serve(argc, argv, &options, &help);
  if (exit_code != CLI_EXIT_DONE || help) {
    if (help) {
      fputs(serve_help, stdout);
    }
    return exit_code;
  }
  int status = tix_server_run(&options);
  return status == TIX_OK ? CLI_EXIT_DONE : cli_report(status);
}
