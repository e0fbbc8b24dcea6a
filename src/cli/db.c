/*
 * db.c — `tix db start|stop|status|url`: the embedded PostgreSQL cluster
 * that tix runs under TIX_DATA when no database is configured (DESIGN §5),
 * and `tix db url`, which names whatever database tix uses.
 */
#include "cli.h"
#include "text.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#define URL_BYTES      8192
#define VERB_NAME_SIZE 32

struct sub_verb {
  const char *name;
  int (*run)(tix_cluster *cluster, tix_config *config, bool json);
  bool has_json;
  const char *usage;
};

static const char db_usage[] =
    "Usage: tix db start|stop|status|url [--help]\n"
    "\n"
    "The embedded PostgreSQL cluster that tix runs when DATABASE_URL, DB_* and PG*\n"
    "are all unset. It lives in $TIX_DATA (default ./.tix): pgdata/ is the cluster,\n"
    "server.log its log. It listens on a Unix socket only, never on a TCP port.\n"
    "\n"
    "  start    start; the first time, initialise, create the database, migrate\n"
    "  stop     stop the server (fast shutdown)\n"
    "  status   say whether it runs (exit 0) or not (exit 3); --json\n"
    "  url      print a libpq URI for the database tix uses: psql \"$(tix db url)\"\n"
    "\n"
    "Environment: TIX_DATA; TIX_PG_BINDIR, where initdb and pg_ctl are (default:\n"
    "pg_config --bindir). As root, the server runs as the postgres system user.\n";

static const char start_usage[] =
    "Usage: tix db start\n"
    "\n"
    "Starts the cluster in $TIX_DATA (default ./.tix) on its private Unix socket.\n"
    "The first time, it initialises it, creates the database \"tix\" and applies the\n"
    "migrations. An existing cluster is never migrated by start: pending migrations\n"
    "are named in a warning, for \"tix migrate up\" (other commands refuse to run\n"
    "until then). Starting a running cluster is harmless.\n"
    "\n"
    "Exit codes: 0 started or already running, 1 a migration of a new cluster\n"
    "failed, 2 usage or a database is configured (tix db manages only the embedded\n"
    "one), 3 the cluster could not be started.\n";

static const char stop_usage[] =
    "Usage: tix db stop\n"
    "\n"
    "Stops the cluster in $TIX_DATA (fast shutdown: sessions are ended, committed\n"
    "work is kept). Stopping a stopped cluster is harmless.\n"
    "\n"
    "Exit codes: 0 stopped or not running, 2 usage or a database is configured,\n"
    "3 the server would not stop.\n";

static const char status_usage[] =
    "Usage: tix db status [--json]\n"
    "\n"
    "Prints the data directory, whether the server runs and its pid, the socket\n"
    "directory and the cluster's PostgreSQL major version.\n"
    "\n"
    "  --json   print it as one JSON object\n"
    "\n"
    "Exit codes: 0 running, 2 usage or a database is configured, 3 not running.\n";

static const char url_usage[] =
    "Usage: tix db url\n"
    "\n"
    "Prints a libpq URI for the database tix uses, so that psql \"$(tix db url)\"\n"
    "works: DATABASE_URL as it is, else one built from DB_* or PG*, else the embedded\n"
    "cluster's socket (printed whether the cluster runs or not). It may contain a\n"
    "password when the configuration does.\n";

static int run_start(tix_cluster *cluster, tix_config *config, bool json);
static int run_stop(tix_cluster *cluster, tix_config *config, bool json);
static int run_status(tix_cluster *cluster, tix_config *config, bool json);
static int run_url(tix_cluster *cluster, tix_config *config, bool json);

static const struct sub_verb sub_verbs[] = {
    {"start", run_start, false, start_usage},
    {"stop", run_stop, false, stop_usage},
    {"status", run_status, true, status_usage},
    {"url", run_url, false, url_usage},
};

/* The cluster runs whatever this finds: it is a warning, not a failure. */
static void warn_if_behind(const tix_config *config) {
  if (tix_schema_check(tix_config_conninfo(config), NULL) == TIX_OK) {
    return;
  }
  const tix_diag *diag = tix_last_diag();
  fprintf(stderr, "tix: warning: %s\n", diag->message);
  if (diag->hint[0] != '\0') {
    fprintf(stderr, "HINT: %s\n", diag->hint);
  }
}

/* tix_config_prepare starts the cluster, and migrates it only when it had
 * to create it: start must not apply a migration still being written. */
static int run_start(tix_cluster *cluster, tix_config *config, bool json) {
  tix_cluster_state before;
  tix_cluster_state after;
  int status = tix_cluster_state_get(cluster, &before);
  if (status == TIX_OK) {
    status = tix_config_prepare(config, true);
  }
  if (status == TIX_OK) {
    status = tix_cluster_state_get(cluster, &after);
  }
  if (status != TIX_OK) {
    return cli_report(status);
  }
  if (before.running) {
    printf("already running (pid %ld) in %s\n", after.pid, after.data_dir);
  } else {
    printf("started PostgreSQL %d (pid %ld) in %s\n", after.major_version, after.pid,
           after.data_dir);
  }
  warn_if_behind(config);
  return CLI_EXIT_DONE;
}

static int run_stop(tix_cluster *cluster, tix_config *config, bool json) {
  tix_cluster_state before;
  int status = tix_cluster_state_get(cluster, &before);
  if (status == TIX_OK) {
    status = tix_cluster_stop(cluster);
  }
  if (status != TIX_OK) {
    return cli_report(status);
  }
  puts(before.running ? "stopped" : "not running");
  return CLI_EXIT_DONE;
}

static json_t *state_json(const tix_cluster_state *state, const char *url) {
  return json_pack("{s:s, s:b, s:b, s:o, s:s, s:o, s:s}", "data_dir", state->data_dir,
                   "initialized", state->initialized, "running", state->running, "pid",
                   state->running ? json_integer(state->pid) : json_null(), "socket_dir",
                   state->socket_dir, "major_version",
                   state->initialized ? json_integer(state->major_version) : json_null(), "url",
                   url);
}

static void print_state(const tix_cluster_state *state, const char *url) {
  printf("data directory:   %s\n", state->data_dir);
  if (state->running) {
    printf("state:            running (pid %ld)\n", state->pid);
  } else {
    printf("state:            %s\n", state->initialized ? "not running" : "not initialized");
  }
  printf("socket directory: %s\n", state->socket_dir);
  if (state->initialized) {
    printf("major version:    %d\n", state->major_version);
  }
  printf("url:              %s\n", url);
}

static int run_status(tix_cluster *cluster, tix_config *config, bool json) {
  tix_cluster_state state;
  char url[URL_BYTES];
  int status = tix_cluster_state_get(cluster, &state);
  if (status == TIX_OK) {
    status = tix_cluster_url(cluster, url, sizeof url);
  }
  if (status != TIX_OK) {
    if (json) {
      cli_print_json(cli_error_json(status));
    }
    return cli_report(status);
  }
  if (json) {
    cli_print_json(state_json(&state, url));
  } else {
    print_state(&state, url);
  }
  return state.running ? CLI_EXIT_DONE : CLI_EXIT_UNAVAILABLE;
}

static int run_url(tix_cluster *cluster, tix_config *config, bool json) {
  char url[URL_BYTES];
  int status = tix_cluster_url(cluster, url, sizeof url);
  if (status != TIX_OK) {
    return cli_report(status);
  }
  puts(url);
  return CLI_EXIT_DONE;
}

/* Appends &keyword=value, percent-encoded, to a URI's query. */
static bool append_query(char *url, size_t size, const char *keyword, const char *value) {
  size_t used = strlen(url);
  int written = snprintf(url + used, size - used, "%s%s=", strchr(url, '?') ? "&" : "?", keyword);
  if (written < 0 || (size_t)written >= size - used) {
    return false;
  }
  used += (size_t)written;
  return tix_percent_encode(value, url + used, size - used);
}

/* A URI from libpq's view of a key=value conninfo (DB_*) or of the PG*
 * variables. Every setting goes to the query, which libpq decodes, so
 * socket paths and multi-host lists survive. */
static int print_configured_url(const tix_config *config) {
  static const char *const keywords[] = {"host", "hostaddr", "port", "dbname", "user", "password"};
  bool from_pg_vars = tix_config_get_source(config) == TIX_SOURCE_PG_VARS;
  PQconninfoOption *options =
      from_pg_vars ? PQconndefaults() : PQconninfoParse(tix_config_conninfo(config), NULL);
  if (options == NULL) {
    fprintf(stderr, "tix: cannot read the configured connection settings\n");
    return CLI_EXIT_USAGE;
  }
  char url[URL_BYTES] = "postgresql://";
  bool fits = true;
  for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
    for (PQconninfoOption *option = options; option->keyword != NULL; option++) {
      /* PG* passwords stay in the environment, where psql finds them too. */
      bool wanted = strcmp(option->keyword, keywords[i]) == 0 &&
                    !(from_pg_vars && strcmp(keywords[i], "password") == 0);
      if (wanted && option->val != NULL && option->val[0] != '\0') {
        fits = fits && append_query(url, sizeof url, option->keyword, option->val);
      }
    }
  }
  PQconninfoFree(options);
  if (!fits) {
    fprintf(stderr, "tix: the connection settings are too long for a URI\n");
    return CLI_EXIT_USAGE;
  }
  puts(url);
  return CLI_EXIT_DONE;
}

static const char *configured_by(tix_config_source source) {
  switch (source) {
  case TIX_SOURCE_DATABASE_URL:
    return "DATABASE_URL is set";
  case TIX_SOURCE_DB_VARS:
    return "DB_* variables are set";
  case TIX_SOURCE_PG_VARS:
    return "PG* variables are set";
  case TIX_SOURCE_EMBEDDED:
    break;
  }
  return "a database is configured";
}

/* A configured database: only `url` has something to say about it. */
static int run_configured(const struct sub_verb *sub, const tix_config *config) {
  tix_config_source source = tix_config_get_source(config);
  if (sub->run != run_url) {
    fprintf(stderr, "tix: tix db manages only the embedded cluster; %s\n", configured_by(source));
    return CLI_EXIT_USAGE;
  }
  if (source == TIX_SOURCE_DATABASE_URL) {
    puts(tix_config_conninfo(config));
    return CLI_EXIT_DONE;
  }
  return print_configured_url(config);
}

/* Parses a sub-verb's options. Returns -1 to go on, else the exit code
 * (--help printed, or a usage error reported). */
static int parse_options(const struct sub_verb *sub, int argc, char **argv, bool *json) {
  static const struct option with_json[] = {
      {"help", no_argument, NULL, 'h'}, {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
  static const struct option without_json[] = {{"help", no_argument, NULL, 'h'},
                                               {NULL, 0, NULL, 0}};
  char verb[VERB_NAME_SIZE];
  snprintf(verb, sizeof verb, "db %s", sub->name);
  *json = false;
  optind = 0; /* glibc: a full reset, as another verb may have parsed before */
  opterr = 0;
  for (int option_count = 0; option_count < argc; option_count++) {
    int option = getopt_long(argc, argv, "+h", sub->has_json ? with_json : without_json, NULL);
    if (option == -1) {
      break;
    }
    if (option == 'h') {
      fputs(sub->usage, stdout);
      return CLI_EXIT_DONE;
    }
    if (option == 'j') {
      *json = true;
      continue;
    }
    if (optopt != 0) {
      return cli_usage_error(verb, "unknown option \"-%c\" for tix %s", optopt, verb);
    }
    return cli_usage_error(verb, "unknown option \"%s\" for tix %s", argv[optind - 1], verb);
  }
  if (optind < argc) {
    return cli_usage_error(verb, "tix %s takes no arguments, got \"%s\"", verb, argv[optind]);
  }
  return -1;
}

static int run_sub_verb(const struct sub_verb *sub, int argc, char **argv) {
  bool json = false;
  int exit_code = parse_options(sub, argc, argv, &json);
  if (exit_code >= 0) {
    return exit_code;
  }
  tix_config *config = NULL;
  int status = tix_config_from_env(&config);
  if (status != TIX_OK) {
    return cli_report(status);
  }
  if (tix_config_get_source(config) != TIX_SOURCE_EMBEDDED) {
    exit_code = run_configured(sub, config);
    goto destroy_config;
  }
  tix_cluster *cluster = NULL;
  status = tix_cluster_open(tix_config_data_dir(config), &cluster);
  if (status != TIX_OK) {
    exit_code = cli_report(status);
    goto destroy_config;
  }
  exit_code = sub->run(cluster, config, json);
  tix_cluster_destroy(cluster);
destroy_config:
  tix_config_destroy(config);
  return exit_code;
}

int cli_db(int argc, char **argv) {
  if (argc < 2) {
    return cli_usage_error("db", "tix db needs a sub-verb: start, stop, status or url");
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(db_usage, stdout);
    return CLI_EXIT_DONE;
  }
  for (size_t i = 0; i < sizeof sub_verbs / sizeof sub_verbs[0]; i++) {
    if (strcmp(argv[1], sub_verbs[i].name) == 0) {
      return run_sub_verb(&sub_verbs[i], argc - 1, argv + 1);
    }
  }
  return cli_usage_error("db", "unknown sub-verb \"%s\" for tix db", argv[1]);
}
