/*
 * purchase.c — the `tix buy` and `tix purchase show|confirm|refund` verbs:
 * arguments checked here (usage errors exit 2 before the database is
 * touched), one libtix call, the purchase printed as text or as the JSON
 * object of DESIGN §3.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* The hint of a refusal worth retrying, with the purchase id in it. */
#define RETRY_HINT_SIZE 256

static const char buy_help[] =
    "Usage: tix buy EVENT_ID --quantity N [--purchase-id UUID] [--customer C]\n"
    "               [--hold SECONDS] [--strategy NAME] [--json]\n"
    "\n"
    "Buys N tickets of an event, all or none. With --hold the tickets are held\n"
    "until confirmed with \"tix purchase confirm\", and go back on sale if not\n"
    "confirmed in time.\n"
    "\n"
    "Options:\n"
    "  --quantity N        tickets to buy, 1 to 100 (required)\n"
    "  --purchase-id UUID  the idempotency key: repeating the command with it\n"
    "                      returns the first answer and buys nothing more\n"
    "  --customer C        who buys (the event's per-customer limit applies)\n"
    "  --hold SECONDS      hold the tickets this long (1 to 86400) instead of buying\n"
    "  --strategy NAME     locking, optimistic, atomic, serializable or group\n"
    "                      (default: $TIX_STRATEGY, else locking)\n"
    "  --json              print the purchase as JSON\n"
    "  -h, --help          show this help\n"
    "\n"
    "Exit codes: 0 done, 1 refused (sold out, limit, conflict, cancelled, the\n"
    "event's date has passed), 2 usage, 3 database unavailable (or the outcome is\n"
    "unknown: the message names the purchase id to look up or retry with),\n"
    "4 try again (contention, a busy server: nothing was bought, and the same\n"
    "command with the same --purchase-id can never buy twice).\n";

static const char purchase_help[] =
    "Usage: tix purchase show|confirm|refund PURCHASE_ID [--json]\n"
    "\n"
    "  show     print a purchase and its ticket ids\n"
    "  confirm  turn a held purchase into a sale (refused once the hold expired)\n"
    "  refund   give a purchase's tickets back to the event; refunding twice\n"
    "           changes nothing\n"
    "\n"
    "Options:\n"
    "  --json      print the purchase as JSON\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit codes: 0 done, 1 refused (not found, expired, refunded, cancelled),\n"
    "2 usage, 3 database unavailable, 4 try again (the event is busy: nothing\n"
    "was changed, the same command may work in a moment).\n";

/* Reports a failure on stderr and, with --json, as the error object on
 * stdout too: with how many are left when too few were, and with the
 * purchase id whenever an attempt started (so an unknown outcome can be
 * looked up or retried with the same id). */
static int report_failure(int status, bool json, bool buying, const tix_purchase *purchase) {
  char retry[RETRY_HINT_SIZE];
  bool known = buying && purchase != NULL && purchase->purchase_id[0] != '\0';
  snprintf(retry, sizeof retry, "Nothing was %s: try again in a moment%s%s%s.",
           buying ? "bought" : "changed", known ? " (with --purchase-id " : "",
           known ? purchase->purchase_id : "", known ? ", it cannot buy twice)" : "");
  int exit_code =
      cli_report_hinted(status, cli_exit_code(status) == CLI_EXIT_TRY_AGAIN ? retry : NULL);
  if (json) {
    cli_print_json(tix_json_purchase_error(status, tix_last_diag(), purchase));
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

static void print_tickets(const tix_purchase *purchase) {
  for (size_t i = 0; i < purchase->ticket_count; i++) {
    printf("%s%s", i == 0 ? "" : " ", purchase->tickets[i]);
  }
  printf("\n");
}

static void print_bought(const tix_purchase *purchase) {
  const char *already = purchase->replayed ? "already " : "";
  const char *plural = purchase->quantity == 1 ? "" : "s";
  if (strcmp(purchase->status, "held") == 0) {
    printf("%sheld %d ticket%s for event %s until %s (purchase %s): ", already, purchase->quantity,
           plural, purchase->event_id, purchase->expires_at, purchase->purchase_id);
  } else if (strcmp(purchase->status, "confirmed") == 0) {
    printf("%sbought %d ticket%s for event %s (purchase %s): ", already, purchase->quantity, plural,
           purchase->event_id, purchase->purchase_id);
  } else {
    printf("purchase %s of %d ticket%s for event %s was made earlier and is now %s: ",
           purchase->purchase_id, purchase->quantity, plural, purchase->event_id, purchase->status);
  }
  print_tickets(purchase);
}

static void print_purchase(const tix_purchase *purchase) {
  char customer[CLI_TEXT_SIZE];
  printf("purchase  %s\nevent     %s\ncustomer  %s\nquantity  %d\nstatus    %s\n",
         purchase->purchase_id, purchase->event_id,
         purchase->customer[0] != '\0' ? cli_escaped(purchase->customer, customer) : "(anonymous)",
         purchase->quantity, purchase->status);
  if (purchase->expires_at[0] != '\0') {
    printf("expires   %s\n", purchase->expires_at);
  }
  printf("created   %s\ntickets   ", purchase->created_at);
  print_tickets(purchase);
}

/* ------------------------------------------------------------------ buy */

struct buy_arguments {
  tix_purchase_request request;
  tix_strategy strategy;
  bool json;
  bool help;
};

enum buy_option {
  OPTION_QUANTITY = 256,
  OPTION_PURCHASE_ID,
  OPTION_CUSTOMER,
  OPTION_HOLD,
  OPTION_STRATEGY,
  OPTION_JSON,
};

static const struct option buy_options[] = {
    {"quantity", required_argument, NULL, OPTION_QUANTITY},
    {"purchase-id", required_argument, NULL, OPTION_PURCHASE_ID},
    {"customer", required_argument, NULL, OPTION_CUSTOMER},
    {"hold", required_argument, NULL, OPTION_HOLD},
    {"strategy", required_argument, NULL, OPTION_STRATEGY},
    {"json", no_argument, NULL, OPTION_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int option_error(const char *verb, int option, char **argv) {
  if (option == ':') {
    return cli_usage_error(verb, "option \"%s\" needs a value", argv[optind - 1]);
  }
  return cli_usage_error(verb, "unknown option \"%s\"", argv[optind - 1]);
}

/* One option of `tix buy`; returns CLI_EXIT_DONE or a usage error. */
static int take_buy_option(int option, struct buy_arguments *arguments, char **argv) {
  switch (option) {
  case OPTION_QUANTITY:
    if (!cli_parse_int(optarg, 1, TIX_QUANTITY_MAX, &arguments->request.quantity)) {
      return cli_usage_error("buy", "--quantity must be a whole number from 1 to %d, not \"%s\"",
                             TIX_QUANTITY_MAX, optarg);
    }
    return CLI_EXIT_DONE;
  case OPTION_PURCHASE_ID:
    arguments->request.purchase_id = optarg;
    return CLI_EXIT_DONE;
  case OPTION_CUSTOMER:
    arguments->request.customer = optarg;
    return CLI_EXIT_DONE;
  case OPTION_HOLD:
    if (!cli_parse_int(optarg, 1, TIX_HOLD_SECONDS_MAX, &arguments->request.hold_seconds)) {
      return cli_usage_error("buy",
                             "--hold must be a whole number of seconds from 1 to %d, not "
                             "\"%s\"",
                             TIX_HOLD_SECONDS_MAX, optarg);
    }
    return CLI_EXIT_DONE;
  case OPTION_STRATEGY:
    if (tix_strategy_parse(optarg, &arguments->strategy) != TIX_OK) {
      return cli_usage_error("buy",
                             "--strategy must be locking, optimistic, atomic, "
                             "serializable or group, not \"%s\"",
                             optarg);
    }
    return CLI_EXIT_DONE;
  case OPTION_JSON:
    arguments->json = true;
    return CLI_EXIT_DONE;
  case 'h':
    arguments->help = true;
    return CLI_EXIT_DONE;
  default:
    return option_error("buy", option, argv);
  }
}

static int parse_buy(int argc, char **argv, struct buy_arguments *arguments) {
  /* TIX_STRATEGY_COUNT_: no --strategy given, TIX_STRATEGY decides. */
  *arguments = (struct buy_arguments){.strategy = TIX_STRATEGY_COUNT_};
  optind = 0; /* glibc: start afresh */
  opterr = 0; /* the messages are ours */
  int option;
  cli_seen seen = {.count = 0};
  while ((option = getopt_long(argc, argv, ":h", buy_options, NULL)) != -1) {
    bool checked = option != 'h' && option != '?' && option != ':';
    if (checked && cli_refuse_repeat("buy", buy_options, option, &seen) >= 0) {
      return CLI_EXIT_USAGE;
    }
    int exit_code = take_buy_option(option, arguments, argv);
    if (exit_code != CLI_EXIT_DONE || arguments->help) {
      return exit_code;
    }
  }
  if (arguments->strategy == TIX_STRATEGY_COUNT_ &&
      tix_strategy_from_env(&arguments->strategy) != TIX_OK) {
    return cli_report(TIX_EINVAL); /* a bad setting, like a bad flag: exit 2 */
  }
  if (optind >= argc) {
    return cli_usage_error("buy", "which event? Give its id: tix buy EVENT_ID --quantity N");
  }
  if (optind + 1 < argc) {
    return cli_usage_error("buy", "unexpected argument \"%s\"", argv[optind + 1]);
  }
  arguments->request.event_id = argv[optind];
  if (arguments->request.quantity == 0) {
    return cli_usage_error("buy", "--quantity is required");
  }
  if (tix_purchase_request_check(&arguments->request) != TIX_OK) {
    return cli_check_failed("buy");
  }
  return CLI_EXIT_DONE;
}

int cli_buy(int argc, char **argv) {
  struct buy_arguments arguments;
  cli_set_json_errors(cli_json_requested(argc, argv));
  int exit_code = parse_buy(argc, argv, &arguments);
  if (exit_code != CLI_EXIT_DONE || arguments.help) {
    if (arguments.help) {
      fputs(buy_help, stdout);
    }
    return exit_code;
  }
  tix *db = open_database(arguments.json, &exit_code);
  if (db == NULL) {
    return exit_code;
  }
  tix_purchase purchase = {0};
  int status = tix_purchase_buy(db, arguments.strategy, &arguments.request, &purchase);
  if (status != TIX_OK) {
    exit_code = report_failure(status, arguments.json, true, &purchase);
  } else if (arguments.json) {
    cli_print_json(tix_json_purchase(&purchase));
  } else {
    print_bought(&purchase);
  }
  tix_purchase_free(&purchase);
  tix_close(db);
  return exit_code;
}

/* ------------------------------------------------------------- purchase */

typedef int (*purchase_action_fn)(tix *db, const char *purchase_id, tix_purchase *out);

struct purchase_action {
  const char *name;
  purchase_action_fn run;
};

static const struct purchase_action purchase_actions[] = {
    {"show", tix_purchase_get},
    {"confirm", tix_purchase_confirm},
    {"refund", tix_purchase_refund},
};

static const struct option purchase_options[] = {
    {"json", no_argument, NULL, OPTION_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses `ACTION PURCHASE_ID [--json]`; *help when help was asked for. */
static int parse_purchase(int argc, char **argv, const struct purchase_action **action,
                          const char **purchase_id, bool *json, bool *help) {
  *json = *help = false;
  optind = 0; /* glibc: start afresh */
  opterr = 0; /* the messages are ours */
  int option;
  cli_seen seen = {.count = 0};
  while ((option = getopt_long(argc, argv, ":h", purchase_options, NULL)) != -1) {
    if (option == 'h') {
      *help = true;
      return CLI_EXIT_DONE;
    }
    if (option != OPTION_JSON) {
      return option_error("purchase", option, argv);
    }
    if (cli_refuse_repeat("purchase", purchase_options, option, &seen) >= 0) {
      return CLI_EXIT_USAGE;
    }
    *json = true;
  }
  if (argc - optind != 2) {
    return cli_usage_error("purchase", "%s",
                           argc - optind < 2 ? "say what to do and with which purchase: tix "
                                               "purchase show|confirm|refund PURCHASE_ID"
                                             : "too many arguments");
  }
  for (size_t i = 0; i < sizeof purchase_actions / sizeof purchase_actions[0]; i++) {
    if (strcmp(argv[optind], purchase_actions[i].name) == 0) {
      *action = &purchase_actions[i];
      *purchase_id = argv[optind + 1];
      return tix_purchase_id_check(*purchase_id) == TIX_OK ? CLI_EXIT_DONE
                                                           : cli_check_failed("purchase");
    }
  }
  return cli_usage_error("purchase", "unknown action \"%s\": use show, confirm or refund",
                         argv[optind]);
}

/* A refund gives the tickets back to the event's count; they are on sale
 * again only while the event is. */
static void print_refunded(tix *db, const tix_purchase *purchase) {
  const char *plural = purchase->quantity == 1 ? "" : "s";
  tix_event event;
  if (tix_event_get(db, purchase->event_id, &event) != TIX_OK) {
    printf("refunded purchase %s: %d ticket%s of event %s\n", purchase->purchase_id,
           purchase->quantity, plural, purchase->event_id);
  } else if (event.cancelled_at[0] != '\0' || event.past) {
    printf("refunded purchase %s: %d ticket%s of event %s, which %s: %s not on sale again\n",
           purchase->purchase_id, purchase->quantity, plural, purchase->event_id,
           event.cancelled_at[0] != '\0' ? "is cancelled" : "has taken place",
           purchase->quantity == 1 ? "it is" : "they are");
  } else {
    printf("refunded purchase %s: %d ticket%s back on sale for event %s\n", purchase->purchase_id,
           purchase->quantity, plural, purchase->event_id);
  }
}

static void print_action_done(tix *db, const char *action, const tix_purchase *purchase) {
  const char *plural = purchase->quantity == 1 ? "" : "s";
  if (strcmp(action, "confirm") == 0) {
    printf("confirmed purchase %s: %d ticket%s for event %s\n", purchase->purchase_id,
           purchase->quantity, plural, purchase->event_id);
  } else if (strcmp(action, "refund") == 0) {
    print_refunded(db, purchase);
  } else {
    print_purchase(purchase);
  }
}

int cli_purchase(int argc, char **argv) {
  const struct purchase_action *action = NULL;
  const char *purchase_id = NULL;
  bool json = false, help = false;
  cli_set_json_errors(cli_json_requested(argc, argv));
  int exit_code = parse_purchase(argc, argv, &action, &purchase_id, &json, &help);
  if (exit_code != CLI_EXIT_DONE || help) {
    if (help) {
      fputs(purchase_help, stdout);
    }
    return exit_code;
  }
  tix *db = open_database(json, &exit_code);
  if (db == NULL) {
    return exit_code;
  }
  tix_purchase purchase = {0};
  int status = action->run(db, purchase_id, &purchase);
  if (status != TIX_OK) {
    exit_code = report_failure(status, json, false, &purchase);
  } else if (json) {
    cli_print_json(tix_json_purchase(&purchase));
  } else {
    print_action_done(db, action->name, &purchase);
  }
  tix_purchase_free(&purchase);
  tix_close(db);
  return exit_code;
}
