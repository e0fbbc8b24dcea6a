/*
 * event.c — `tix event create|list|show|update|cancel`: events from the
 * command line. Arguments are checked before the database is opened, so a
 * typo costs no connection (nor a start of the embedded cluster); output is
 * aligned text by default and the objects of DESIGN §3 with --json.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define LABEL_WIDTH       18
#define TICKETS_TEXT_SIZE 128

/* Long options have no short form: their codes sit above any character. */
enum option_code {
  OPTION_NAME = 256,
  OPTION_DATE,
  OPTION_TICKETS,
  OPTION_MAX_PER_CUSTOMER,
  OPTION_VERSION,
  OPTION_FROM,
  OPTION_TO,
  OPTION_QUERY,
  OPTION_LIMIT,
  OPTION_CURSOR,
  OPTION_ALL,
  OPTION_ALLOW_PAST,
  OPTION_JSON,
  OPTION_HELP,
};

/* What the command line said, as text until each sub-verb reads it. */
struct event_arguments {
  const char *verb; /* "event create", for messages */
  bool help;
  bool json;
  bool all;
  bool allow_past;
  const char *id;
  const char *name;
  const char *date;
  const char *tickets;
  const char *max_per_customer;
  const char *version;
  const char *from;
  const char *to;
  const char *query;
  const char *limit;
  const char *cursor;
  cli_seen seen; /* options read so far: none may come twice */
};

static const char event_usage[] =
    "Usage: tix event SUBVERB [ARGS…]   (tix event SUBVERB --help for each)\n\n"
    "Sub-verbs:\n"
    "  create    create an event with tickets on sale\n"
    "  list      list events by date, a page at a time\n"
    "  show      show one event\n"
    "  update    change an event (needs its current version)\n"
    "  cancel    cancel an event: no further sales, held tickets released\n"
    "\n"
    "Exit codes: 0 done, 1 refused, 2 usage, 3 database unavailable, 4 try again.\n";

/* What every sub-verb's help ends with. */
#define EXIT_CODES_HELP                                                                            \
  "\nExit codes: 0 done, 1 refused (by the event as it is stored), 2 usage (a bad\n"               \
  "argument), 3 database unavailable, 4 try again (the event is busy: nothing was\n"               \
  "changed, the same command may work in a moment).\n"

static const char create_usage[] =
    "Usage: tix event create --name NAME --date RFC3339 --tickets N [--max-per-customer N]\n"
    "                        [--allow-past] [--json]\n\n"
    "Creates an event with N tickets on sale and prints it. The date keeps its\n"
    "offset from UTC: the event is shown at that offset (--json shows UTC).\n\n"
    "Options:\n"
    "  --name NAME             its name, 1 to 255 characters, no control characters\n"
    "  --date RFC3339          when it starts, such as 2030-05-01T20:00:00+02:00;\n"
    "                          tickets are sold until then\n"
    "  --tickets N             how many tickets it has, 0 to 10000000\n"
    "  --max-per-customer N    the most tickets one customer may buy (default: no limit)\n"
    "  --allow-past            accept a date that has passed (to import history)\n"
    "  --json                  print the event as JSON\n"
    "  -h, --help              show this help\n" EXIT_CODES_HELP;

static const char list_usage[] =
    "Usage: tix event list [--from T] [--to T] [--query Q] [--limit N] [--cursor C] [--all]\n"
    "                      [--json]\n\n"
    "Lists upcoming events ordered by date, a page at a time; cancelled ones only\n"
    "with --all, past ones only with a --from in the past.\n\n"
    "Options:\n"
    "  --from T        only events on or after T (RFC 3339; default: now)\n"
    "  --to T          only events before T (RFC 3339)\n"
    "  --query Q       only events whose name matches Q (words, \"quoted phrases\", -word);\n"
    "                  a blank Q is no filter\n"
    "  --limit N       at most N events per page, 1 to 1000 (default 50)\n"
    "  --cursor C      the page after the one that printed this cursor\n"
    "  --all           include cancelled events\n"
    "  --json          print {\"events\": […], \"next_cursor\": …}\n"
    "  -h, --help      show this help\n" EXIT_CODES_HELP;

static const char show_usage[] = "Usage: tix event show EVENT_ID [--json]\n\n"
                                 "Shows one event.\n\n"
                                 "Options:\n"
                                 "  --json        print the event as JSON\n"
                                 "  -h, --help    show this help\n" EXIT_CODES_HELP;

static const char update_usage[] =
    "Usage: tix event update EVENT_ID --version V [--name NAME] [--date RFC3339] [--tickets N]\n"
    "                        [--max-per-customer N] [--allow-past] [--json]\n\n"
    "Changes an event, if it is still at version V (as `tix event show` printed it):\n"
    "a change made by someone else in between is never overwritten.\n\n"
    "Options:\n"
    "  --version V             the version the change applies to\n"
    "  --name NAME             a new name\n"
    "  --date RFC3339          a new date, shown at its own offset from UTC\n"
    "  --tickets N             a new total; available tickets move by the difference\n"
    "  --max-per-customer N    a new limit per customer, 0 or none for no limit;\n"
    "                          customers holding more keep their tickets (a notice\n"
    "                          says how many)\n"
    "  --allow-past            accept a new date that has passed\n"
    "  --json                  print the event as JSON\n"
    "  -h, --help              show this help\n" EXIT_CODES_HELP;

static const char cancel_usage[] =
    "Usage: tix event cancel EVENT_ID [--json]\n\n"
    "Cancels an event: nothing more is sold and held tickets are released.\n"
    "Sold tickets stay sold (refund them one purchase at a time). Cancelling twice is\n"
    "harmless.\n\n"
    "Options:\n"
    "  --json        print the event as JSON\n"
    "  -h, --help    show this help\n" EXIT_CODES_HELP;

/* Reports what getopt_long disliked about the element just read. */
static int option_error(const struct event_arguments *arguments, char **argv, int code) {
  const char *element = argv[optind - 1];
  if (code == ':') {
    return cli_usage_error(arguments->verb, "option \"%s\" needs a value", element);
  }
  if (strncmp(element, "--", 2) != 0 && optopt > ' ' && optopt < 127) {
    return cli_usage_error(arguments->verb, "unknown option \"-%c\"", optopt);
  }
  return cli_usage_error(arguments->verb, "unknown option \"%s\"", element);
}

static void store_option(struct event_arguments *arguments, int code) {
  switch (code) {
  case 'h':
  case OPTION_HELP:
    arguments->help = true;
    break;
  case OPTION_JSON:
    arguments->json = true;
    break;
  case OPTION_ALL:
    arguments->all = true;
    break;
  case OPTION_ALLOW_PAST:
    arguments->allow_past = true;
    break;
  case OPTION_NAME:
    arguments->name = optarg;
    break;
  case OPTION_DATE:
    arguments->date = optarg;
    break;
  case OPTION_TICKETS:
    arguments->tickets = optarg;
    break;
  case OPTION_MAX_PER_CUSTOMER:
    arguments->max_per_customer = optarg;
    break;
  case OPTION_VERSION:
    arguments->version = optarg;
    break;
  case OPTION_FROM:
    arguments->from = optarg;
    break;
  case OPTION_TO:
    arguments->to = optarg;
    break;
  case OPTION_QUERY:
    arguments->query = optarg;
    break;
  case OPTION_LIMIT:
    arguments->limit = optarg;
    break;
  case OPTION_CURSOR:
    arguments->cursor = optarg;
    break;
  default:
    break;
  }
}

/* Reads the options this sub-verb accepts and wants_id positional EVENT_ID.
 * Returns -1 to go on, else the exit code to stop with. */
static int parse_arguments(int argc, char **argv, const struct option *options, bool wants_id,
                           struct event_arguments *arguments) {
  optind = 0; /* glibc: start afresh */
  opterr = 0; /* the messages are ours */
  int code;
  while ((code = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (code == '?' || code == ':') {
      return option_error(arguments, argv, code);
    }
    bool help = code == 'h' || code == OPTION_HELP;
    if (!help && cli_refuse_repeat(arguments->verb, options, code, &arguments->seen) >= 0) {
      return CLI_EXIT_USAGE;
    }
    store_option(arguments, code);
  }
  if (arguments->help) {
    return -1;
  }
  if (wants_id && optind < argc) {
    arguments->id = argv[optind++];
  }
  if (wants_id && arguments->id == NULL) {
    return cli_usage_error(arguments->verb, "an EVENT_ID is required");
  }
  if (optind < argc) {
    return cli_usage_error(arguments->verb, "unexpected argument \"%s\"", argv[optind]);
  }
  return -1;
}

/* text is a whole number within [0, TIX_TICKETS_MAX]; "none" is 0 when
 * none_allowed. */
static bool parse_count(const char *text, bool none_allowed, int *out) {
  if (none_allowed && text != NULL && strcmp(text, "none") == 0) {
    *out = 0;
    return true;
  }
  return cli_parse_int(text, 0, TIX_TICKETS_MAX, out);
}

static int bad_count(const char *verb, const char *option, const char *text) {
  return cli_usage_error(verb, "invalid %s \"%s\": expected a whole number from 0 to %d", option,
                         text, TIX_TICKETS_MAX);
}

static int failed(int status, bool json) {
  int exit_code = cli_report(status);
  if (json) {
    cli_print_json(cli_error_json(status));
  }
  return exit_code;
}

static tix *open_database(bool json, int *exit_code) {
  tix *db = cli_open_database(exit_code);
  if (db == NULL && json) {
    cli_print_json(cli_error_json(tix_last_diag()->status));
  }
  return db;
}

static void print_line(const char *label, const char *value) {
  char escaped[CLI_TEXT_SIZE];
  printf("%-*s%s\n", LABEL_WIDTH, label, cli_escaped(value, escaped));
}

/* Available tickets are on sale only while the event is: a cancelled or
 * past event's counter still says what is unsold, not what can be bought. */
static void format_tickets(const tix_event *event, char text[TICKETS_TEXT_SIZE]) {
  int sold = event->total_tickets - event->available_tickets;
  const char *closed = event->cancelled_at[0] != '\0' ? "the event is cancelled"
                       : event->past                  ? "its date has passed"
                                                      : NULL;
  if (closed != NULL) {
    snprintf(text, TICKETS_TEXT_SIZE, "none on sale: %s (%d of %d sold or held)", closed, sold,
             event->total_tickets);
  } else {
    snprintf(text, TICKETS_TEXT_SIZE, "%d available of %d", event->available_tickets,
             event->total_tickets);
  }
}

static void print_event(const tix_event *event) {
  char text[TICKETS_TEXT_SIZE];
  print_line("id", event->id);
  print_line("name", event->name);
  print_line("date", event->local_date);
  format_tickets(event, text);
  print_line("tickets", text);
  snprintf(text, sizeof text, "%d", event->max_per_customer);
  print_line("max per customer", event->max_per_customer > 0 ? text : "no limit");
  snprintf(text, sizeof text, "%d", event->version);
  print_line("version", text);
  print_line("created at", event->created_at);
  print_line("updated at", event->updated_at);
  if (event->cancelled_at[0] != '\0') {
    print_line("cancelled at", event->cancelled_at);
  }
}

static void print_result(const tix_event *event, bool json) {
  if (json) {
    cli_print_json(tix_json_event(event));
  } else {
    print_event(event);
  }
}

/* ------------------------------------------------------------- create */

static int read_input(const struct event_arguments *arguments, tix_event_input *input) {
  const char *missing = arguments->name == NULL      ? "--name"
                        : arguments->date == NULL    ? "--date"
                        : arguments->tickets == NULL ? "--tickets"
                                                     : NULL;
  if (missing != NULL) {
    return cli_usage_error(arguments->verb, "%s is required", missing);
  }
  *input = (tix_event_input){
      .name = arguments->name, .date = arguments->date, .allow_past = arguments->allow_past};
  if (tix_timestamp_check(arguments->date, "--date") != TIX_OK) {
    return cli_check_failed(arguments->verb);
  }
  if (!parse_count(arguments->tickets, false, &input->total_tickets)) {
    return bad_count(arguments->verb, "--tickets", arguments->tickets);
  }
  if (arguments->max_per_customer != NULL &&
      !parse_count(arguments->max_per_customer, true, &input->max_per_customer)) {
    return bad_count(arguments->verb, "--max-per-customer", arguments->max_per_customer);
  }
  if (tix_event_input_check(input) != TIX_OK) {
    return cli_check_failed(arguments->verb);
  }
  return -1;
}

static int event_create(int argc, char **argv) {
  static const struct option options[] = {
      {"name", required_argument, NULL, OPTION_NAME},
      {"date", required_argument, NULL, OPTION_DATE},
      {"tickets", required_argument, NULL, OPTION_TICKETS},
      {"max-per-customer", required_argument, NULL, OPTION_MAX_PER_CUSTOMER},
      {"allow-past", no_argument, NULL, OPTION_ALLOW_PAST},
      {"json", no_argument, NULL, OPTION_JSON},
      {"help", no_argument, NULL, OPTION_HELP},
      {NULL, 0, NULL, 0},
  };
  struct event_arguments arguments = {.verb = "event create"};
  tix_event_input input;
  int exit_code = parse_arguments(argc, argv, options, false, &arguments);
  if (exit_code < 0 && arguments.help) {
    fputs(create_usage, stdout);
    return CLI_EXIT_DONE;
  }
  if (exit_code < 0) {
    exit_code = read_input(&arguments, &input);
  }
  if (exit_code >= 0) {
    return exit_code;
  }
  tix *db = open_database(arguments.json, &exit_code);
  if (db == NULL) {
    return exit_code;
  }
  tix_event event;
  int status = tix_event_create(db, &input, &event);
  if (status == TIX_OK) {
    print_result(&event, arguments.json);
  }
  exit_code = status == TIX_OK ? CLI_EXIT_DONE : failed(status, arguments.json);
  tix_close(db);
  return exit_code;
}

/* --------------------------------------------------------------- list */

/* A listing is of upcoming events unless --from says where to start. */
static int read_filter(const struct event_arguments *arguments, tix_event_filter *filter) {
  *filter = (tix_event_filter){.from = arguments->from,
                               .to = arguments->to,
                               .query = arguments->query,
                               .cursor = arguments->cursor,
                               .include_cancelled = arguments->all,
                               .upcoming = true};
  if ((arguments->from != NULL && tix_timestamp_check(arguments->from, "--from") != TIX_OK) ||
      (arguments->to != NULL && tix_timestamp_check(arguments->to, "--to") != TIX_OK)) {
    return cli_check_failed(arguments->verb);
  }
  if (arguments->limit != NULL &&
      !cli_parse_int(arguments->limit, 1, TIX_LIST_LIMIT_MAX, &filter->limit)) {
    return cli_usage_error(arguments->verb,
                           "invalid --limit \"%s\": expected a whole number from 1 to %d",
                           arguments->limit, TIX_LIST_LIMIT_MAX);
  }
  if (tix_event_filter_check(filter) != TIX_OK) {
    return cli_check_failed(arguments->verb);
  }
  return -1;
}

static void print_page_json(const tix_event_page *page) {
  json_t *events = json_array();
  for (size_t i = 0; i < page->count; i++) {
    json_array_append_new(events, tix_json_event(&page->events[i]));
  }
  json_t *cursor = page->next_cursor[0] != '\0' ? json_string(page->next_cursor) : json_null();
  cli_print_json(json_pack("{s:o, s:o}", "events", events, "next_cursor", cursor));
}

static void print_page(const tix_event_page *page) {
  if (page->count == 0) {
    printf("no events\n");
    return;
  }
  char name[CLI_TEXT_SIZE];
  printf("%-25s  %9s  %9s  %-36s  %s\n", "DATE", "AVAILABLE", "TOTAL", "ID", "NAME");
  for (size_t i = 0; i < page->count; i++) {
    const tix_event *event = &page->events[i];
    bool cancelled = event->cancelled_at[0] != '\0';
    /* Only an event still on sale has tickets anyone can buy. */
    int available = cancelled || event->past ? 0 : event->available_tickets;
    printf("%-25s  %9d  %9d  %-36s  %s%s\n", event->local_date, available, event->total_tickets,
           event->id, cli_escaped(event->name, name),
           cancelled     ? " (cancelled)"
           : event->past ? " (past)"
                         : "");
  }
  if (page->next_cursor[0] != '\0') {
    printf("\nmore: add --cursor %s for the next page\n", page->next_cursor);
  }
}

static int event_list(int argc, char **argv) {
  static const struct option options[] = {
      {"from", required_argument, NULL, OPTION_FROM},
      {"to", required_argument, NULL, OPTION_TO},
      {"query", required_argument, NULL, OPTION_QUERY},
      {"limit", required_argument, NULL, OPTION_LIMIT},
      {"cursor", required_argument, NULL, OPTION_CURSOR},
      {"all", no_argument, NULL, OPTION_ALL},
      {"json", no_argument, NULL, OPTION_JSON},
      {"help", no_argument, NULL, OPTION_HELP},
      {NULL, 0, NULL, 0},
  };
  struct event_arguments arguments = {.verb = "event list"};
  tix_event_filter filter;
  int exit_code = parse_arguments(argc, argv, options, false, &arguments);
  if (exit_code < 0 && arguments.help) {
    fputs(list_usage, stdout);
    return CLI_EXIT_DONE;
  }
  if (exit_code < 0) {
    exit_code = read_filter(&arguments, &filter);
  }
  if (exit_code >= 0) {
    return exit_code;
  }
  tix *db = open_database(arguments.json, &exit_code);
  if (db == NULL) {
    return exit_code;
  }
  tix_event_page page;
  int status = tix_event_list(db, &filter, &page);
  if (status == TIX_OK && arguments.json) {
    print_page_json(&page);
  } else if (status == TIX_OK) {
    print_page(&page);
  }
  tix_event_page_free(&page);
  exit_code = status == TIX_OK ? CLI_EXIT_DONE : failed(status, arguments.json);
  tix_close(db);
  return exit_code;
}

/* ------------------------------------------------- show, update, cancel */

static int read_patch(const struct event_arguments *arguments, int *version,
                      tix_event_patch *patch) {
  *patch = (tix_event_patch){.name = arguments->name,
                             .date = arguments->date,
                             .total_tickets = -1,
                             .max_per_customer = -1,
                             .allow_past = arguments->allow_past};
  if (arguments->version == NULL) {
    return cli_usage_error(arguments->verb, "--version is required");
  }
  if (!cli_parse_int(arguments->version, 1, 2147483647, version)) {
    return cli_usage_error(arguments->verb, "invalid --version \"%s\": expected a positive number",
                           arguments->version);
  }
  if (arguments->date != NULL && tix_timestamp_check(arguments->date, "--date") != TIX_OK) {
    return cli_check_failed(arguments->verb);
  }
  if (arguments->tickets != NULL &&
      !parse_count(arguments->tickets, false, &patch->total_tickets)) {
    return bad_count(arguments->verb, "--tickets", arguments->tickets);
  }
  if (arguments->max_per_customer != NULL &&
      !parse_count(arguments->max_per_customer, true, &patch->max_per_customer)) {
    return bad_count(arguments->verb, "--max-per-customer", arguments->max_per_customer);
  }
  if (tix_event_patch_check(patch) != TIX_OK) {
    return cli_check_failed(arguments->verb);
  }
  return -1;
}

/* What show, update and cancel do once the arguments are read. */
enum single_action { ACTION_SHOW, ACTION_UPDATE, ACTION_CANCEL };

/* A limit lowered below what customers already hold is allowed (nobody's
 * tickets are taken away) but not silent: they cannot buy more, and the
 * person who lowered it should know how many that is. On stderr, as
 * PostgreSQL's notices are, so --json's stdout stays one object. */
static void notice_customers_over_limit(tix *db, const tix_event *event) {
  int count = 0;
  if (tix_event_customers_over_limit(db, event->id, &count) != TIX_OK) {
    return; /* the change is made: a notice that cannot be counted is left out */
  }
  if (count > 0) {
    fprintf(stderr,
            "NOTICE: %d %s already %s more than %d %s of this event: they keep them, "
            "but cannot buy more.\n",
            count, count == 1 ? "customer" : "customers", count == 1 ? "holds" : "hold",
            event->max_per_customer, event->max_per_customer == 1 ? "ticket" : "tickets");
  }
}

static int run_single(enum single_action action, const struct event_arguments *arguments,
                      int version, const tix_event_patch *patch) {
  int exit_code;
  tix *db = open_database(arguments->json, &exit_code);
  if (db == NULL) {
    return exit_code;
  }
  tix_event event;
  int status = action == ACTION_SHOW ? tix_event_get(db, arguments->id, &event)
               : action == ACTION_UPDATE
                   ? tix_event_update(db, arguments->id, version, patch, &event)
                   : tix_event_cancel(db, arguments->id, &event);
  if (status == TIX_OK) {
    print_result(&event, arguments->json);
  }
  if (status == TIX_OK && action == ACTION_UPDATE && patch->max_per_customer > 0) {
    notice_customers_over_limit(db, &event);
  }
  exit_code = status == TIX_OK ? CLI_EXIT_DONE : failed(status, arguments->json);
  tix_close(db);
  return exit_code;
}

static int event_single(enum single_action action, int argc, char **argv) {
  static const struct option options[] = {
      {"json", no_argument, NULL, OPTION_JSON},
      {"help", no_argument, NULL, OPTION_HELP},
      {"version", required_argument, NULL, OPTION_VERSION},
      {"name", required_argument, NULL, OPTION_NAME},
      {"date", required_argument, NULL, OPTION_DATE},
      {"tickets", required_argument, NULL, OPTION_TICKETS},
      {"max-per-customer", required_argument, NULL, OPTION_MAX_PER_CUSTOMER},
      {"allow-past", no_argument, NULL, OPTION_ALLOW_PAST},
      {NULL, 0, NULL, 0},
  };
  static const struct option no_more[] = {{NULL, 0, NULL, 0}};
  static const char *const verbs[] = {"event show", "event update", "event cancel"};
  static const char *const usages[] = {show_usage, update_usage, cancel_usage};
  /* show and cancel take --json and --help only: the table ends there. */
  struct option accepted[sizeof options / sizeof options[0]];
  size_t count = action == ACTION_UPDATE ? sizeof options / sizeof options[0] - 1 : 2;
  memcpy(accepted, options, count * sizeof options[0]);
  accepted[count] = no_more[0];

  struct event_arguments arguments = {.verb = verbs[action]};
  tix_event_patch patch = {.total_tickets = -1, .max_per_customer = -1};
  int version = 0;
  int exit_code = parse_arguments(argc, argv, accepted, true, &arguments);
  if (exit_code < 0 && arguments.help) {
    fputs(usages[action], stdout);
    return CLI_EXIT_DONE;
  }
  if (exit_code < 0 && action == ACTION_UPDATE) {
    exit_code = read_patch(&arguments, &version, &patch);
  }
  return exit_code >= 0 ? exit_code : run_single(action, &arguments, version, &patch);
}

static int event_show(int argc, char **argv) {
  return event_single(ACTION_SHOW, argc, argv);
}

static int event_update(int argc, char **argv) {
  return event_single(ACTION_UPDATE, argc, argv);
}

static int event_cancel(int argc, char **argv) {
  return event_single(ACTION_CANCEL, argc, argv);
}

int cli_event(int argc, char **argv) {
  static const struct {
    const char *name;
    cli_verb_fn run;
  } subverbs[] = {
      {"create", event_create}, {"list", event_list},     {"show", event_show},
      {"update", event_update}, {"cancel", event_cancel},
  };
  cli_set_json_errors(cli_json_requested(argc, argv));
  if (argc < 2) {
    fputs(event_usage, stderr);
    return CLI_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(event_usage, stdout);
    return CLI_EXIT_DONE;
  }
  for (size_t i = 0; i < sizeof subverbs / sizeof subverbs[0]; i++) {
    if (strcmp(argv[1], subverbs[i].name) == 0) {
      return subverbs[i].run(argc - 1, argv + 1);
    }
  }
  return cli_usage_error("event", "unknown sub-verb \"%s\"", argv[1]);
}
