/*
 * tix.h — the one public interface of libtix, the ticket sales engine.
 *
 * Everything a program needs to sell tickets on PostgreSQL without ever
 * selling one twice: configuration, the embedded cluster, migrations,
 * events and purchases. Functions return 0 or a negative TIX_E… status;
 * results come back through out-parameters. After a failure,
 * tix_last_diag() describes it (message, detail, hint) for this thread.
 */
#ifndef TIX_H
#define TIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

/*
 * The one table of statuses: X(NAME, "snake_case_code", "sentence").
 * The code is what the HTTP API and `--json` output show.
 */
#define TIX_ERROR_TABLE(X)                                                                         \
  X(TIX_EINVAL, "invalid_argument", "An argument is invalid.")                                     \
  X(TIX_ENOMEM, "out_of_memory", "Out of memory.")                                                 \
  X(TIX_EUNAVAILABLE, "database_unavailable", "The database is unavailable.")                      \
  X(TIX_ETIMEOUT, "timeout", "The operation timed out.")                                           \
  X(TIX_ENOTFOUND, "not_found", "No such object.")                                                 \
  X(TIX_EINSUFFICIENT, "insufficient_tickets", "Not enough tickets are left.")                     \
  X(TIX_ECONFLICT, "purchase_id_conflict",                                                         \
    "This purchase id was already used with different parameters.")                                \
  X(TIX_ELIMIT, "customer_limit_exceeded", "The customer would exceed the limit.")                 \
  X(TIX_ECANCELLED, "event_cancelled", "The event is cancelled.")                                  \
  X(TIX_EPAST, "event_past", "The event's date has passed: its tickets are no longer sold.")       \
  X(TIX_EEXPIRED, "hold_expired", "The hold has expired.")                                         \
  X(TIX_EVERSION, "version_mismatch", "The object was changed by someone else.")                   \
  X(TIX_EBUSY, "contention", "Too many concurrent changes; try again.")                            \
  X(TIX_EQUEUEFULL, "queue_full", "Too many purchases are waiting; try again shortly.")            \
  X(TIX_EUNKNOWN, "outcome_unknown", "The purchase may or may not have been made.")                \
  X(TIX_ESTATE, "invalid_state", "The object is not in a state that allows this.")                 \
  X(TIX_EUNIQUE, "unique_violation", "A unique constraint was violated.")                          \
  X(TIX_EFOREIGNKEY, "foreign_key_violation", "A referenced row does not exist.")                  \
  X(TIX_ENOTNULL, "not_null_violation", "A required value is missing.")                            \
  X(TIX_ECHECK, "check_violation", "A check constraint was violated.")                             \
  X(TIX_ESERIALIZATION, "serialization_failure", "A concurrent change conflicted.")                \
  X(TIX_EDEADLOCK, "deadlock_detected", "A deadlock was detected.")                                \
  X(TIX_ECANCELED, "query_canceled", "The query was canceled.")                                    \
  X(TIX_ESCHEMA, "schema_not_migrated", "The database schema is not migrated.")                    \
  X(TIX_EDATABASE, "database_error", "The database reported an error.")                            \
  X(TIX_EMIGRATION, "migration_failed", "A migration failed.")                                     \
  X(TIX_EMIGRATIONFILE, "migration_file_invalid", "A migration file is invalid.")                  \
  X(TIX_EDRIFT, "migration_drift", "An applied migration file has changed.")                       \
  X(TIX_EORDER, "migration_out_of_order", "A migration is older than applied ones.")               \
  X(TIX_ELOCKED, "lock_timeout", "Another process holds the lock.")                                \
  X(TIX_ECLUSTER, "cluster_error", "The embedded PostgreSQL cluster failed.")                      \
  X(TIX_EIO, "io_error", "A file operation failed.")                                               \
  X(TIX_EINTERNAL, "internal_error", "An internal error occurred.")                                \
  X(TIX_EPENDING, "migrations_pending", "The database has pending migrations.")

enum tix_status {
  TIX_OK = 0,
  TIX_ERROR_BASE_ = -1000,
#define TIX_ENUM_ENTRY_(name, code, sentence) name,
  TIX_ERROR_TABLE(TIX_ENUM_ENTRY_)
#undef TIX_ENUM_ENTRY_
      TIX_ERROR_END_
};

/* The sentence for a status ("Not enough tickets are left."). */
const char *tix_strerror(int status);
/* The snake_case code for a status ("insufficient_tickets"), "ok" for 0. */
const char *tix_error_code(int status);

/* What went wrong last on this thread, in PostgreSQL's error style. */
typedef struct tix_diag {
  int status;          /* the TIX_E… status returned */
  char message[512];   /* short primary message, no SQL, no secrets */
  char detail[1024];   /* facts that explain it, may be empty */
  char hint[512];      /* what to do about it, may be empty */
  char sqlstate[6];    /* the SQLSTATE when the database said so */
  char constraint[64]; /* the constraint the database named, if any */
} tix_diag;

const tix_diag *tix_last_diag(void);
void tix_diag_clear(void);

/* ------------------------------------------------------------------ text */

/* Copies text into out[size] with what must never reach a terminal raw made
 * visible: control characters (C0, DEL, C1) and the line separators and
 * bidirectional controls that break a line's layout become \u followed by
 * four hex digits ("\u001b"), bytes that are not UTF-8 become \x and two.
 * Everything else, in any script, is copied as it is. False when out was too
 * small: it then holds as much as fitted, ending on a whole character. */
bool tix_text_escape(const char *text, char *out, size_t size);

/* --------------------------------------------------------- configuration */

/* Where the connection settings came from, in order of precedence. */
typedef enum tix_config_source {
  TIX_SOURCE_DATABASE_URL, /* DATABASE_URL */
  TIX_SOURCE_DB_VARS,      /* DB_HOST, DB_PORT, DB_USERNAME, DB_PASSWORD, DB_NAME */
  TIX_SOURCE_PG_VARS,      /* libpq's own PGHOST, PGDATABASE, … */
  TIX_SOURCE_EMBEDDED      /* tix's private cluster under TIX_DATA */
} tix_config_source;

typedef struct tix_config tix_config;

/* Resolves the configuration from the environment (DESIGN §5). */
int tix_config_from_env(tix_config **out);
void tix_config_destroy(tix_config *config);
tix_config_source tix_config_get_source(const tix_config *config);
const char *tix_config_source_name(tix_config_source source);
/* The libpq conninfo; may hold a password, never print it. */
const char *tix_config_conninfo(const tix_config *config);
/* The embedded cluster's data directory (absolute), NULL when not embedded. */
const char *tix_config_data_dir(const tix_config *config);
/* A description of where tix looks, safe to print: passwords are masked. */
void tix_config_describe(const tix_config *config, char *buffer, size_t size);
/* Replaces the conninfo (used once the embedded cluster knows its socket). */
int tix_config_set_conninfo(tix_config *config, const char *conninfo);
/* Makes the configuration usable: for the embedded source, starts the cluster
 * if it is not running and sets the conninfo to its socket; when it had to
 * create the cluster (initdb), and apply_migrations, it applies the
 * migrations to the new database. An existing database is never migrated
 * here. Other sources are left as they are. */
int tix_config_prepare(tix_config *config, bool apply_migrations);

/* ------------------------------------------------------ embedded cluster */

typedef struct tix_cluster tix_cluster;

typedef struct tix_cluster_state {
  bool initialized;  /* PG_VERSION exists */
  bool running;      /* the postmaster answers */
  long pid;          /* postmaster pid when running */
  int major_version; /* of the data directory, 0 when uninitialized */
  char socket_dir[256];
  char data_dir[4096];
} tix_cluster_state;

/* A handle on the cluster under data_dir (created on start if absent). */
int tix_cluster_open(const char *data_dir, tix_cluster **out);
void tix_cluster_destroy(tix_cluster *cluster);
/* initdb once, start with pg_ctl -w, create the database; harmless twice. */
int tix_cluster_start(tix_cluster *cluster);
int tix_cluster_stop(tix_cluster *cluster);
int tix_cluster_state_get(tix_cluster *cluster, tix_cluster_state *out);
/* A libpq URI for the cluster's database ("postgresql:///tix?host=…"). */
int tix_cluster_url(tix_cluster *cluster, char *buffer, size_t size);

/* -------------------------------------------------------------- database */

/* A handle on a tix database: a thread-safe pool of libpq connections. */
typedef struct tix tix;

typedef struct tix_options {
  int max_connections;          /* default 20 */
  int acquire_timeout_ms;       /* default 60000: how long a checkout may wait */
  int idle_timeout_ms;          /* default 30000: idle connections are closed after */
  int connect_timeout_ms;       /* default TIX_CONNECT_TIMEOUT_MS, else 10000: how long to wait
                                   for the database (1…600000); -1 when that setting is bad,
                                   which tix_open then reports, naming it */
  const char *application_name; /* default "tix" */
  int committers;               /* default 4: group-commit threads, one connection each at most */
  int queue_max;                /* default 100000: purchases waiting for group commit, all events */
} tix_options;

void tix_options_default(tix_options *options);
/* Opens a pool on conninfo, waiting (bounded) until the database answers. */
int tix_open(const char *conninfo, const tix_options *options, tix **out);
void tix_close(tix *db);

/* Resolves the environment, starts the embedded cluster on demand (applying
 * the migrations when it creates it), opens the pool and checks the schema
 * (tix_schema_check): what every command does. TIX_EPENDING, naming them,
 * when migrations are pending. */
int tix_open_from_env(const tix_options *options, tix **out);

/* ------------------------------------------------------------ migrations */

typedef struct tix_migrate_options {
  const char *directory;   /* default: $TIX_MIGRATIONS, ./db/migrations, built-in */
  const char *schema_file; /* where to dump the schema; NULL: <dir>/../schema.sql; "" none */
  int64_t target_version;  /* --to; 0 means latest (up), everything (down with steps 0) */
  int steps;               /* down N; default 1; 0: down to target_version */
  bool dry_run;            /* say what would run, change nothing */
  bool allow_out_of_order; /* apply files older than the newest applied */
  int lock_timeout_ms;     /* how long to wait for another migrator: default
                              TIX_MIGRATE_LOCK_TIMEOUT_MS, else 60000; -1 when that setting
                              is bad, which the migration then reports, naming it */
  FILE *progress;          /* where to report what runs; NULL is silent */
} tix_migrate_options;

void tix_migrate_options_default(tix_migrate_options *options);

typedef enum tix_migration_state {
  TIX_MIGRATION_PENDING,
  TIX_MIGRATION_APPLIED,
  TIX_MIGRATION_DRIFTED,      /* applied, but the file changed since */
  TIX_MIGRATION_OUT_OF_ORDER, /* pending, older than the newest applied */
  TIX_MIGRATION_MISSING_FILE  /* applied, but its file is gone */
} tix_migration_state;

typedef struct tix_migration_status {
  int64_t version;
  char name[128];
  tix_migration_state state;
  char applied_at[40];
  int execution_ms;
} tix_migration_status;

int tix_migrate_up(const char *conninfo, const tix_migrate_options *options);
int tix_migrate_down(const char *conninfo, const tix_migrate_options *options);
int tix_migrate_redo(const char *conninfo, const tix_migrate_options *options);
/* *list is sorted by version; free() it. Creates nothing, takes no lock. */
int tix_migrate_status(const char *conninfo, const tix_migrate_options *options,
                       tix_migration_status **list, size_t *count);
/* Records the current checksum of an applied, drifted migration. */
int tix_migrate_accept(const char *conninfo, const tix_migrate_options *options, int64_t version);
/* Whether every migration of the directory (options->directory, resolved as
 * for tix_migrate_up; options may be NULL) is applied to the database:
 * TIX_OK, or TIX_EPENDING with the pending files named in the diagnostic
 * and "tix migrate up" in its hint. It reads the file names, not the files,
 * and the ledger in one query; drift is not looked for (tix_migrate_status
 * does that). tix_open_from_env runs it for every command; a server that
 * opens the database itself runs it before serving. */
int tix_schema_check(const char *conninfo, const tix_migrate_options *options);
/* Up, down, up on a scratch database; catalog compared after each down. */
int tix_migrate_verify(const char *conninfo, const tix_migrate_options *options);
/* Writes <dir>/NNNN_name.sql from the template; path_out gets its path. */
int tix_migrate_new(const tix_migrate_options *options, const char *name, char *path_out,
                    size_t path_size);
const char *tix_migration_state_name(tix_migration_state state);

/* ---------------------------------------------------------------- events */

#define TIX_UUID_SIZE          37 /* 36 characters and the terminator */
#define TIX_TIMESTAMP_SIZE     40 /* RFC 3339 with microseconds and offset */
#define TIX_NAME_MAX_CHARS     255
#define TIX_TICKETS_MAX        10000000
#define TIX_QUANTITY_MAX       100 /* tickets in one purchase */
#define TIX_CUSTOMER_MAX_BYTES 255
#define TIX_HOLD_SECONDS_MAX   86400
#define TIX_LIST_LIMIT_MAX     1000
#define TIX_CURSOR_SIZE        128

typedef struct tix_event {
  char id[TIX_UUID_SIZE];
  char name[TIX_NAME_MAX_CHARS * 4 + 1];
  char date[TIX_TIMESTAMP_SIZE]; /* in UTC, the form of DESIGN §3 */
  int date_offset_minutes;       /* the offset from UTC the date was given with: +01:00 is 60 */
  /* The date at that offset ("2030-03-14T20:00:00+01:00"): the wall-clock
   * time of the place where the event happens, for people to read. */
  char local_date[TIX_TIMESTAMP_SIZE];
  bool past; /* its date had passed when it was read (the database's clock) */
  int total_tickets;
  int available_tickets;
  int max_per_customer; /* 0: no limit */
  int version;
  char created_at[TIX_TIMESTAMP_SIZE];
  char updated_at[TIX_TIMESTAMP_SIZE];
  char cancelled_at[TIX_TIMESTAMP_SIZE]; /* empty when not cancelled */
} tix_event;

/* Names follow the rule of human-readable text: UTF-8, no control
 * characters, not blank, no space or invisible character first or last, at
 * most TIX_NAME_MAX_CHARS characters. The date's offset from UTC is kept. */
typedef struct tix_event_input {
  const char *name;
  const char *date; /* RFC 3339; refused when it has passed, unless allow_past */
  int total_tickets;
  int max_per_customer; /* 0: no limit */
  bool allow_past;      /* accept a date that has passed: for importing history */
} tix_event_input;

/* A partial update: NULL / negative fields are left as they are. */
typedef struct tix_event_patch {
  const char *name;
  const char *date;     /* a new date must not have passed, unless allow_past */
  int total_tickets;    /* -1: unchanged */
  int max_per_customer; /* -1: unchanged, 0: remove the limit */
  bool allow_past;
} tix_event_patch;

typedef struct tix_event_filter {
  const char *from;   /* RFC 3339, inclusive; NULL: no bound */
  const char *to;     /* RFC 3339, exclusive; NULL: no bound */
  const char *query;  /* full-text search on the name; NULL or blank: all */
  int limit;          /* 1…TIX_LIST_LIMIT_MAX, 0: 50 */
  const char *cursor; /* next_cursor of the previous page; NULL: first */
  bool include_cancelled;
  bool upcoming; /* without from: only events whose date has not passed */
} tix_event_filter;

typedef struct tix_event_page {
  tix_event *events;
  size_t count;
  char next_cursor[TIX_CURSOR_SIZE]; /* empty on the last page */
} tix_event_page;

int tix_event_create(tix *db, const tix_event_input *input, tix_event *out);
int tix_event_get(tix *db, const char *event_id, tix_event *out);
int tix_event_list(tix *db, const tix_event_filter *filter, tix_event_page *out);
void tix_event_page_free(tix_event_page *page);
/* Refused with TIX_EVERSION when expected_version is not the current one. */
int tix_event_update(tix *db, const char *event_id, int expected_version,
                     const tix_event_patch *patch, tix_event *out);
/* Cancels: no further sales, held tickets released. */
int tix_event_cancel(tix *db, const char *event_id, tix_event *out);
/* How many customers hold (confirmed tickets and live holds) more tickets
 * of the event than its max_per_customer allows: lowering the limit does not
 * take tickets away, so they keep them but cannot buy more. 0 without a
 * limit. */
int tix_event_customers_over_limit(tix *db, const char *event_id, int *count_out);
/* The checks the calls above make before touching the database, for callers
 * that want to refuse bad input early (TIX_EINVAL with a message). */
int tix_event_input_check(const tix_event_input *input);
int tix_event_patch_check(const tix_event_patch *patch);
int tix_event_filter_check(const tix_event_filter *filter);
/* TIX_EINVAL unless text is an RFC 3339 date and time; what names it in the
 * message ("--from must be an RFC 3339 date and time, not …"). */
int tix_timestamp_check(const char *text, const char *what);

/* The invariants of DESIGN §1 for one event, as the database holds them. */
typedef struct tix_event_check {
  long total_tickets;
  long available_tickets;
  long live_tickets;         /* valid tickets of held or confirmed purchases */
  long incomplete_purchases; /* purchases not owning exactly quantity tickets */
  long misvoided_tickets;    /* valid tickets of dead purchases, or voided of live ones */
  bool ok;                   /* 0 <= available <= total == available + live, and no others */
} tix_event_check;

/* Counts what the invariants need in one consistent snapshot. */
int tix_event_check_invariants(tix *db, const char *event_id, tix_event_check *out);

/* ------------------------------------------------------------- purchases */

typedef enum tix_strategy {
  TIX_STRATEGY_LOCKING,      /* SELECT … FOR UPDATE, version check, UPDATE, INSERT */
  TIX_STRATEGY_OPTIMISTIC,   /* version-checked UPDATE, bounded jittered retries */
  TIX_STRATEGY_ATOMIC,       /* one conditional statement, one round trip */
  TIX_STRATEGY_SERIALIZABLE, /* SERIALIZABLE, retried on 40001/40P01 */
  TIX_STRATEGY_GROUP,        /* group commit: many purchases of an event, one transaction */
  TIX_STRATEGY_COUNT_
} tix_strategy;

int tix_strategy_parse(const char *text, tix_strategy *out);
const char *tix_strategy_name(tix_strategy strategy);
/* TIX_STRATEGY from the environment, locking when it is unset or empty;
 * TIX_EINVAL naming it when it is no strategy (*out is locking then). */
int tix_strategy_from_env(tix_strategy *out);

typedef struct tix_purchase_request {
  const char *event_id;
  int quantity;            /* 1…TIX_QUANTITY_MAX */
  const char *purchase_id; /* the idempotency key; NULL: a new one is made */
  const char *customer;    /* NULL: anonymous (no per-customer limit) */
  int hold_seconds;        /* 0: sell now; else hold until confirmed */
} tix_purchase_request;

typedef struct tix_purchase {
  char purchase_id[TIX_UUID_SIZE];
  char event_id[TIX_UUID_SIZE];
  char customer[TIX_CUSTOMER_MAX_BYTES + 1];
  int quantity;
  char status[16]; /* held, confirmed, refunded, expired */
  char expires_at[TIX_TIMESTAMP_SIZE];
  char created_at[TIX_TIMESTAMP_SIZE];
  size_t ticket_count;
  /* All its tickets, sorted; voided ones too once refunded or expired. */
  char (*tickets)[TIX_UUID_SIZE];
  bool replayed;         /* an idempotent replay of an earlier request */
  int available_tickets; /* left after this request, -1 when unknown */
} tix_purchase;

/* Buys or holds tickets: not for a cancelled event (TIX_ECANCELLED) nor for
 * one whose date has passed (TIX_EPAST: a ticket for an event that has
 * started is worth nothing to its buyer). On refusal the status says why
 * and, for TIX_EINSUFFICIENT, out->available_tickets says how many are left.
 * Every purchase call overwrites out without freeing it (it may be
 * uninitialized): tix_purchase_free a filled one before reusing it. On
 * failure out owns no memory, but out->purchase_id names the purchase
 * whenever an attempt started. A connection lost mid-purchase is retried
 * once with the same purchase id; when the outcome still cannot be known,
 * TIX_EUNKNOWN: look the purchase up, or retry with the same id.
 * TIX_STRATEGY_GROUP waits for tix_purchase_submit's answer. */
int tix_purchase_buy(tix *db, tix_strategy strategy, const tix_purchase_request *request,
                     tix_purchase *out);
int tix_purchase_get(tix *db, const char *purchase_id, tix_purchase *out);

/* Called once for every purchase tix_purchase_submit accepted, on one of
 * the handle's committer threads, after the transaction that decided it
 * committed (or failed). status is what tix_purchase_buy would return;
 * purchase is the answer (on failure its purchase_id, event_id and quantity
 * still say which purchase it was, and available_tickets what is left when
 * known), diag says why it failed. Both are valid only during the call: copy
 * what you keep. Return quickly, and never call tix_close from it: the next
 * batch of that event waits for it. */
typedef void (*tix_purchase_done)(void *context, int status, const tix_purchase *purchase,
                                  const tix_diag *diag);

/* Queues a purchase for group commit (DESIGN §7) and returns at once:
 * purchases of one event queued while its previous batch commits are
 * decided together in the next one. TIX_OK: done will be called exactly
 * once. Anything else (a bad request, TIX_EQUEUEFULL when options.queue_max
 * purchases are waiting) is the answer, and done is not called. */
int tix_purchase_submit(tix *db, const tix_purchase_request *request, tix_purchase_done done,
                        void *context);

/* Group commit's figures since tix_open, for monitoring. */
typedef struct tix_group_stats {
  uint64_t purchases; /* answered through group commit */
  uint64_t batches;   /* transactions that decided them */
  int queued;         /* waiting now */
} tix_group_stats;
void tix_group_stats_get(tix *db, tix_group_stats *out);
/* A live hold becomes a sale; confirmed already: returned (replayed set);
 * lapsed: TIX_EEXPIRED, its tickets back on sale; released by the
 * cancellation of its event: TIX_ECANCELLED; refunded: TIX_ESTATE. A hold
 * taken before the event's date is confirmed in time even after that date:
 * it was sold while the event was on sale. */
int tix_purchase_confirm(tix *db, const char *purchase_id, tix_purchase *out);
/* The whole purchase: its tickets are voided and go back to the event's
 * count (on sale again only while the event is); refunding twice changes
 * nothing; an expired or released hold: TIX_ESTATE. */
int tix_purchase_refund(tix *db, const char *purchase_id, tix_purchase *out);
/* Frees out's tickets; safe on a zeroed struct and twice. */
void tix_purchase_free(tix_purchase *purchase);
/* The checks the calls above make before touching the database, for callers
 * that want to refuse bad input early (TIX_EINVAL with a message). */
int tix_purchase_request_check(const tix_purchase_request *request);
int tix_purchase_id_check(const char *purchase_id);
/* Releases up to batch_limit expired holds; released_out gets how many. */
int tix_holds_sweep(tix *db, int batch_limit, int *released_out);

#ifdef __cplusplus
}
#endif
#endif /* TIX_H */
