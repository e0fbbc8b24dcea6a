/*
 * migrate.c — `tix migrate up|down|redo|status|accept|new|verify`: the
 * command-line face of the migration system. Parses and checks arguments,
 * finds the database (starting the embedded cluster without applying
 * migrations, since that is this verb's job) and prints the results.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POSITIONALS_MAX     1
#define LOCK_TIMEOUT_MAX_MS (24 * 60 * 60 * 1000) /* as the library's limit */
#define VERSION_TEXT_MAX    18
#define STATUS_NAME_COLUMN  28
#define NEW_PATH_BYTES      PATH_MAX
#define VERB_BYTES          32

enum flag {
  FLAG_TO = 1 << 0,
  FLAG_DRY_RUN = 1 << 1,
  FLAG_OUT_OF_ORDER = 1 << 2,
  FLAG_JSON = 1 << 3,
  FLAG_DIR = 1 << 4,
  FLAG_SCHEMA_FILE = 1 << 5,
  FLAG_LOCK_TIMEOUT = 1 << 6,
  FLAG_VERBOSE = 1 << 7,
  FLAG_HELP = 1 << 8,
  FLAG_QUIET = 1 << 9,
};

#define FLAGS_COMMON (FLAG_DIR | FLAG_VERBOSE | FLAG_QUIET | FLAG_HELP)
#define FLAGS_CHANGE (FLAGS_COMMON | FLAG_SCHEMA_FILE | FLAG_LOCK_TIMEOUT | FLAG_DRY_RUN)

struct arguments {
  const char *subcommand;
  tix_migrate_options options;
  bool json;
  bool verbose;
  bool quiet;
  bool to_given;
  int exit_code; /* when the command worked but found trouble it has reported */
  const char *positionals[POSITIONALS_MAX];
  int positional_count;
};

typedef int (*subcommand_fn)(struct arguments *arguments);

struct subcommand {
  const char *name;
  subcommand_fn run;
  unsigned flags;
  int positionals_max;
  const char *usage;
};

static const struct option long_options[] = {
    {"to", required_argument, NULL, 't'},
    {"dry-run", no_argument, NULL, 'n'},
    {"allow-out-of-order", no_argument, NULL, 'o'},
    {"json", no_argument, NULL, 'j'},
    {"dir", required_argument, NULL, 'd'},
    {"schema-file", required_argument, NULL, 's'},
    {"lock-timeout-ms", required_argument, NULL, 'l'},
    /* Kept so that it is refused with a hint rather than taken, as an
     * abbreviation, for --lock-timeout-ms: it was in seconds. */
    {"lock-timeout", optional_argument, NULL, 'L'},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char common_usage[] =
    "Options:\n"
    "  --dir DIR              the migrations (default $TIX_MIGRATIONS, else ./db/migrations,\n"
    "                         else the built-in ones)\n"
    "  --dry-run              up, down, redo: say what would run and change nothing\n"
    "  --schema-file FILE     up, down, redo: where to write the schema after a change\n"
    "                         (default DIR/../schema.sql or $TIX_SCHEMA_FILE; \"\" writes none)\n"
    "  --lock-timeout-ms MS   up, down, redo, accept: how long to wait for another\n"
    "                         migrator, in milliseconds (default\n"
    "                         $TIX_MIGRATE_LOCK_TIMEOUT_MS, else 60000)\n"
    "  --json                 status: a JSON array of objects\n"
    "  --quiet                say nothing but errors (and the plan of --dry-run)\n"
    "  --verbose              the default: what was applied or rolled back, one line\n"
    "                         per migration, on stderr\n"
    "  -h, --help             show this help\n"
    "\nThe database: DATABASE_URL, DB_*, PG*, else the embedded cluster; waits for it\n"
    "up to $TIX_CONNECT_TIMEOUT_MS (default 10000).\n"
    "Exit codes: 0 done, 1 refused (a migration failed, drift, out of order, a\n"
    "missing file, lock timeout; status: a migration drifted, out of order or\n"
    "missing its file), 2 usage or invalid migration file (an up section with no\n"
    "statement, as \"new\" writes it, is invalid), 3 database unavailable.\n";

/* ---------------------------------------------------------------- helpers */

static bool parse_version(const char *text, int64_t *out) {
  if (text == NULL || text[0] == '\0' || strlen(text) > VERSION_TEXT_MAX ||
      strspn(text, "0123456789") != strlen(text)) {
    return false;
  }
  *out = strtoll(text, NULL, 10);
  return true;
}

static int report(const struct arguments *arguments, int status) {
  if (arguments->json) {
    cli_print_json(cli_error_json(status));
  }
  return cli_report(status);
}

/* The conninfo of the database tix uses; the embedded cluster is started
 * if needed, without applying migrations (that is this verb's job). */
static int open_config(const struct arguments *arguments, tix_config **out) {
  int status = tix_config_from_env(out);
  if (status == TIX_OK) {
    status = tix_config_prepare(*out, false);
  }
  if (status != TIX_OK) {
    tix_config_destroy(*out);
    *out = NULL;
    return report(arguments, status);
  }
  return CLI_EXIT_DONE;
}

typedef int (*database_fn)(const char *conninfo, struct arguments *arguments);

static int with_database(struct arguments *arguments, database_fn run) {
  tix_config *config = NULL;
  int exit_code = open_config(arguments, &config);
  if (exit_code != CLI_EXIT_DONE) {
    return exit_code;
  }
  int status = run(tix_config_conninfo(config), arguments);
  tix_config_destroy(config);
  return status == TIX_OK ? arguments->exit_code : report(arguments, status);
}

/* ------------------------------------------------------------ subcommands */

static int run_up(const char *conninfo, struct arguments *arguments) {
  return tix_migrate_up(conninfo, &arguments->options);
}

static int run_down(const char *conninfo, struct arguments *arguments) {
  return tix_migrate_down(conninfo, &arguments->options);
}

static int run_redo(const char *conninfo, struct arguments *arguments) {
  return tix_migrate_redo(conninfo, &arguments->options);
}

static int run_verify(const char *conninfo, struct arguments *arguments) {
  return tix_migrate_verify(conninfo, &arguments->options);
}

static int run_accept(const char *conninfo, struct arguments *arguments) {
  int64_t version = 0;
  parse_version(arguments->positionals[0], &version); /* checked by accept_command */
  return tix_migrate_accept(conninfo, &arguments->options, version);
}

static int up_command(struct arguments *arguments) {
  return with_database(arguments, run_up);
}

static int down_command(struct arguments *arguments) {
  if (arguments->positional_count > 0 && arguments->to_given) {
    return cli_usage_error("migrate down", "give either N or --to VERSION, not both");
  }
  if (arguments->positional_count > 0 &&
      !cli_parse_int(arguments->positionals[0], 1, INT_MAX, &arguments->options.steps)) {
    return cli_usage_error("migrate down", "invalid number of migrations \"%s\"",
                           arguments->positionals[0]);
  }
  if (arguments->to_given) {
    arguments->options.steps = 0; /* everything above target_version */
  }
  return with_database(arguments, run_down);
}

static int redo_command(struct arguments *arguments) {
  return with_database(arguments, run_redo);
}

static int verify_command(struct arguments *arguments) {
  return with_database(arguments, run_verify);
}

static int accept_command(struct arguments *arguments) {
  int64_t version = 0;
  if (arguments->positional_count != 1 || !parse_version(arguments->positionals[0], &version)) {
    return cli_usage_error("migrate accept", "accept needs the VERSION of a migration");
  }
  return with_database(arguments, run_accept);
}

static int new_command(struct arguments *arguments) {
  if (arguments->positional_count != 1) {
    return cli_usage_error("migrate new", "new needs a NAME (lowercase letters, digits, _)");
  }
  char path[NEW_PATH_BYTES];
  int status = tix_migrate_new(&arguments->options, arguments->positionals[0], path, sizeof path);
  if (status != TIX_OK) {
    return cli_report(status);
  }
  printf("%s\n", path);
  return CLI_EXIT_DONE;
}

/* ----------------------------------------------------------------- status */

static json_t *status_json(const tix_migration_status *list, size_t count) {
  json_t *array = json_array();
  for (size_t i = 0; array != NULL && i < count; i++) {
    const tix_migration_status *item = &list[i];
    bool applied = item->applied_at[0] != '\0';
    json_t *object =
        json_pack("{s:I,s:s,s:s,s:o,s:o}", "version", (json_int_t)item->version, "name", item->name,
                  "state", tix_migration_state_name(item->state), "applied_at",
                  applied ? json_string(item->applied_at) : json_null(), "execution_ms",
                  applied ? json_integer(item->execution_ms) : json_null());
    json_array_append_new(array, object);
  }
  return array;
}

static void status_print(const tix_migration_status *list, size_t count) {
  size_t per_state[TIX_MIGRATION_MISSING_FILE + 1] = {0};
  printf("%-8s %-*s %-13s %-28s %s\n", "VERSION", STATUS_NAME_COLUMN, "NAME", "STATE", "APPLIED AT",
         "MS");
  for (size_t i = 0; i < count; i++) {
    const tix_migration_status *item = &list[i];
    per_state[item->state]++;
    char milliseconds[16] = "";
    if (item->applied_at[0] != '\0') {
      snprintf(milliseconds, sizeof milliseconds, "%d", item->execution_ms);
    }
    printf("%04lld     %-*s %-13s %-28s %s\n", (long long)item->version, STATUS_NAME_COLUMN,
           item->name, tix_migration_state_name(item->state), item->applied_at, milliseconds);
  }
  printf("%zu migrations: %zu applied, %zu pending", count, per_state[TIX_MIGRATION_APPLIED],
         per_state[TIX_MIGRATION_PENDING]);
  for (int state = TIX_MIGRATION_DRIFTED; state <= TIX_MIGRATION_MISSING_FILE; state++) {
    if (per_state[state] > 0) {
      printf(", %zu %s", per_state[state], tix_migration_state_name((tix_migration_state)state));
    }
  }
  printf("\n");
}

/* States that up would refuse, where the files and the database disagree:
 * after the listing (stdout, as asked), a line on stderr and exit 1, so
 * that a script or a deployment check sees them. */
static int status_trouble(const tix_migration_status *list, size_t count) {
  size_t drifted = 0;
  size_t out_of_order = 0;
  size_t missing = 0;
  for (size_t i = 0; i < count; i++) {
    drifted += list[i].state == TIX_MIGRATION_DRIFTED;
    out_of_order += list[i].state == TIX_MIGRATION_OUT_OF_ORDER;
    missing += list[i].state == TIX_MIGRATION_MISSING_FILE;
  }
  if (drifted + out_of_order + missing == 0) {
    return CLI_EXIT_DONE;
  }
  fprintf(stderr,
          "tix: the migrations and the database disagree: %zu drifted, %zu out of order, "
          "%zu missing their file\n"
          "HINT: \"tix migrate up\" refuses until this is resolved: see \"tix migrate --help\" "
          "for accept and --allow-out-of-order, and restore missing files.\n",
          drifted, out_of_order, missing);
  return CLI_EXIT_REFUSED;
}

static int run_status(const char *conninfo, struct arguments *arguments) {
  tix_migration_status *list = NULL;
  size_t count = 0;
  int status = tix_migrate_status(conninfo, &arguments->options, &list, &count);
  if (status == TIX_OK && arguments->json) {
    cli_print_json(status_json(list, count));
  } else if (status == TIX_OK) {
    status_print(list, count);
  }
  if (status == TIX_OK) {
    arguments->exit_code = status_trouble(list, count);
  }
  free(list);
  return status;
}

static int status_command(struct arguments *arguments) {
  return with_database(arguments, run_status);
}

/* ---------------------------------------------------------------- parsing */

static const struct subcommand subcommands[] = {
    {"up", up_command, FLAGS_CHANGE | FLAG_TO | FLAG_OUT_OF_ORDER, 0,
     "up [--to VERSION] [--dry-run] [--allow-out-of-order]\n"
     "  Applies the pending migrations in order, each in its own transaction, up to\n"
     "  VERSION if given. Refuses when an applied file changed (see accept) and when\n"
     "  a pending file is older than an applied one (unless --allow-out-of-order).\n"},
    {"down", down_command, FLAGS_CHANGE | FLAG_TO, 1,
     "down [N | --to VERSION] [--dry-run]\n"
     "  Rolls back the newest N applied migrations (default 1), or every one above\n"
     "  VERSION (--to 0: all), newest first.\n"},
    {"redo", redo_command, FLAGS_CHANGE, 0,
     "redo [--dry-run]\n"
     "  Rolls back the newest applied migration and applies it again.\n"},
    {"status", status_command, FLAGS_COMMON | FLAG_JSON, 0,
     "status [--json]\n"
     "  Lists every migration: version, name, state (applied, pending, drifted,\n"
     "  out_of_order, missing_file), when it was applied and how long it took.\n"
     "  Exits 1 when one is drifted, out_of_order or missing_file.\n"},
    {"accept", accept_command, FLAGS_COMMON | FLAG_LOCK_TIMEOUT, 1,
     "accept VERSION\n"
     "  Records the current checksum of an applied migration whose file changed.\n"
     "  It applies nothing and checks nothing against the database: use it when\n"
     "  the edit changes nothing there (a comment, formatting) or was made there\n"
     "  already; otherwise undo the edit and put the change in a new migration.\n"},
    {"new", new_command, FLAGS_COMMON, 1,
     "new NAME\n"
     "  Creates DIR/NNNN_NAME.sql (the next number) with an up and a down section\n"
     "  and prints its path. NAME is lowercase letters, digits and underscores.\n"},
    {"verify", verify_command, FLAGS_COMMON, 0,
     "verify\n"
     "  In a scratch database (created and dropped again), applies each migration,\n"
     "  rolls it back, checks the catalog is as before, and applies it again.\n"
     "  Scratch databases are named tix_migrate_verify_PID_START after the server\n"
     "  process of verify's connection; those of verifies that were killed are\n"
     "  dropped by the next verify.\n"},
};

static void print_help(FILE *stream, const struct subcommand *only) {
  fprintf(stream, "Usage: tix migrate SUBCOMMAND [OPTIONS]\n\n");
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
    if (only == NULL || only == &subcommands[i]) {
      fprintf(stream, "tix migrate %s\n", subcommands[i].usage);
    }
  }
  fprintf(stream, "%s", common_usage);
}

static const struct subcommand *find_subcommand(const char *name) {
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
    if (strcmp(subcommands[i].name, name) == 0) {
      return &subcommands[i];
    }
  }
  return NULL;
}

static unsigned flag_of(int option) {
  switch (option) {
  case 't':
    return FLAG_TO;
  case 'n':
    return FLAG_DRY_RUN;
  case 'o':
    return FLAG_OUT_OF_ORDER;
  case 'j':
    return FLAG_JSON;
  case 'd':
    return FLAG_DIR;
  case 's':
    return FLAG_SCHEMA_FILE;
  case 'l':
  case 'L':
    return FLAG_LOCK_TIMEOUT;
  case 'v':
    return FLAG_VERBOSE;
  case 'q':
    return FLAG_QUIET;
  default:
    return FLAG_HELP;
  }
}

/* Stores one option's value; a usage error names the bad value. */
static int apply_option(struct arguments *arguments, const char *verb, int option,
                        const char *value) {
  switch (option) {
  case 't':
    if (!parse_version(value, &arguments->options.target_version)) {
      return cli_usage_error(verb, "invalid version \"%s\" for --to", value);
    }
    arguments->to_given = true;
    break;
  case 'l':
    if (!cli_parse_int(value, 0, LOCK_TIMEOUT_MAX_MS, &arguments->options.lock_timeout_ms)) {
      return cli_usage_error(verb, "invalid number of milliseconds \"%s\" for --lock-timeout-ms",
                             value);
    }
    break;
  case 'L':
    return cli_usage_error(verb, "--lock-timeout is now --lock-timeout-ms, in milliseconds "
                                 "like TIX_MIGRATE_LOCK_TIMEOUT_MS");
  case 'n':
    arguments->options.dry_run = true;
    break;
  case 'o':
    arguments->options.allow_out_of_order = true;
    break;
  case 'j':
    arguments->json = true;
    break;
  case 'd':
    arguments->options.directory = value;
    break;
  case 's':
    arguments->options.schema_file = value;
    break;
  case 'v':
    arguments->verbose = true;
    break;
  case 'q':
    arguments->quiet = true;
    break;
  }
  return CLI_EXIT_DONE;
}

#define HELP_SHOWN (-1)

static const char *option_name(int option) {
  for (const struct option *entry = long_options; entry->name != NULL; entry++) {
    if (entry->val == option) {
      return entry->name;
    }
  }
  return "?";
}

/* "migrate up", for messages; the names are short constants. */
static const char *verb_of(const struct subcommand *subcommand) {
  static _Thread_local char verb[VERB_BYTES];
  snprintf(verb, sizeof verb, "migrate %s", subcommand->name);
  return verb;
}

static int parse_options(const struct subcommand *subcommand, int argc, char **argv,
                         struct arguments *arguments) {
  const char *verb = verb_of(subcommand);
  opterr = 0; /* our own messages, one line naming the bad thing */
  optind = 1;
  for (int parsed = 0; parsed < argc; parsed++) {
    int option = getopt_long(argc, argv, ":h", long_options, NULL);
    if (option == -1) {
      break;
    }
    if (option == 'h') {
      print_help(stdout, subcommand);
      return HELP_SHOWN;
    }
    if (option == '?') {
      return cli_usage_error(verb, "unknown option \"%s\"", argv[optind - 1]);
    }
    if (option == ':') {
      return cli_usage_error(verb, "option \"%s\" needs a value", argv[optind - 1]);
    }
    if ((subcommand->flags & flag_of(option)) == 0) {
      return cli_usage_error(verb, "option \"--%s\" does not apply to %s", option_name(option),
                             verb);
    }
    int exit_code = apply_option(arguments, verb, option, optarg);
    if (exit_code != CLI_EXIT_DONE) {
      return exit_code;
    }
  }
  for (int i = optind; i < argc; i++) {
    if (arguments->positional_count >= subcommand->positionals_max) {
      return cli_usage_error(verb, "unexpected argument \"%s\"", argv[i]);
    }
    arguments->positionals[arguments->positional_count++] = argv[i];
  }
  return CLI_EXIT_DONE;
}

int cli_migrate(int argc, char **argv) {
  if (argc < 2) {
    return cli_usage_error("migrate",
                           "missing subcommand (up, down, redo, status, accept, new, verify)");
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    print_help(stdout, NULL);
    return CLI_EXIT_DONE;
  }
  const struct subcommand *subcommand = find_subcommand(argv[1]);
  if (subcommand == NULL) {
    return cli_usage_error("migrate", "unknown subcommand \"%s\"", argv[1]);
  }
  struct arguments arguments = {.subcommand = subcommand->name};
  tix_migrate_options_default(&arguments.options);
  int exit_code = parse_options(subcommand, argc - 1, argv + 1, &arguments);
  if (exit_code != CLI_EXIT_DONE) {
    return exit_code == HELP_SHOWN ? CLI_EXIT_DONE : exit_code;
  }
  if (arguments.quiet && arguments.verbose) {
    return cli_usage_error(verb_of(subcommand), "--quiet and --verbose contradict each other");
  }
  /* What a dry run would do is its result, on stdout. What was done is said
   * on stderr, terminal or not: a deployment's log must show it. */
  if (arguments.options.dry_run) {
    arguments.options.progress = stdout;
  } else if (!arguments.quiet) {
    arguments.options.progress = stderr;
  }
  return subcommand->run(&arguments);
}
