/*
 * test_migrate.c — the migration system against a real PostgreSQL: verify
 * (round trip of db/migrations, a down that forgets an index), drift and
 * accept, concurrent migrators, a failing migration rolled back whole,
 * CREATE INDEX CONCURRENTLY while another migrator waits, the lock timeout,
 * dry runs, out-of-order and missing files, down/redo, schema.sql (and a
 * pg_dump stuck on a lock, stopped at its limit), bad files and empty up
 * sections, scratch databases left by killed verifiers, and the schema
 * check every command runs. Fixture directories are copied to a temporary
 * directory first, so tests can edit them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pool.h"
#include "testdb.h"

#define FIXTURES_DIR       TIX_BUILTIN_MIGRATIONS_DIR "/../../tests/fixtures/migrations"
#define CONNINFO_BYTES     1024
#define PATH_BYTES         512
#define ROOT_BYTES         64
#define CONCURRENT_UPS     4
#define WAIT_FOR_LOCK_MS   10000
#define POLL_INTERVAL_US   20000
#define LOCK_KEY_TEXT      "888637997003307873"
#define LOCK_TIMEOUT_MS    600
#define CAPTURE_BYTES      4096
#define DUMP_TIMEOUT_TEXT  "1500"
#define DUMP_GIVE_UP_MS    20000
#define SCRATCH_NAME_BYTES 64
#define SCRATCH_SAID       "verifying in the scratch database "

/* A copy of a fixture: <root>/migrations, with <root>/schema.sql beside. */
struct workspace {
  char root[ROOT_BYTES];
  char migrations[ROOT_BYTES * 2];
  char conninfo[CONNINFO_BYTES];
};

static void run_shell(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void run_shell(const char *format, ...) {
  char command[PATH_BYTES * 3];
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(command, sizeof command, format, arguments);
  va_end(arguments);
  assert_int_equal(system(command), 0);
}

static void workspace_open(struct workspace *workspace, const char *fixture, const char *label) {
  snprintf(workspace->root, sizeof workspace->root, "/tmp/tix-migrate-XXXXXX");
  assert_non_null(mkdtemp(workspace->root));
  snprintf(workspace->migrations, sizeof workspace->migrations, "%s/migrations", workspace->root);
  run_shell("mkdir '%s' && cp '%s/%s/'*.sql '%s/'", workspace->migrations, FIXTURES_DIR, fixture,
            workspace->migrations);
  testdb_create(label, workspace->conninfo, sizeof workspace->conninfo);
}

static void workspace_close(struct workspace *workspace) {
  testdb_drop(workspace->conninfo);
  run_shell("rm -rf '%s'", workspace->root);
}

static tix_migrate_options options_for(const struct workspace *workspace) {
  tix_migrate_options options;
  tix_migrate_options_default(&options);
  options.directory = workspace->migrations;
  options.schema_file = "";
  return options;
}

static void write_file(const char *directory, const char *name, const char *text) {
  char path[PATH_BYTES];
  snprintf(path, sizeof path, "%s/%s", directory, name);
  FILE *stream = fopen(path, "wb");
  assert_non_null(stream);
  fputs(text, stream);
  fclose(stream);
}

static char *read_file(const char *directory, const char *name) {
  char path[PATH_BYTES];
  snprintf(path, sizeof path, "%s/%s", directory, name);
  FILE *stream = fopen(path, "rb");
  assert_non_null(stream);
  char *text = calloc(1, 1 << 20);
  assert_non_null(text);
  size_t length = fread(text, 1, (1 << 20) - 1, stream);
  text[length] = '\0';
  fclose(stream);
  return text;
}

static long query_long(const char *conninfo, const char *sql) {
  PGconn *conn = testdb_connect(conninfo);
  long value = testdb_query_long(conn, sql);
  PQfinish(conn);
  return value;
}

/* -1 when there is no ledger at all. */
static long ledger_count(const char *conninfo) {
  if (query_long(conninfo, "SELECT (to_regclass('schema_migrations') IS NULL)::int") == 1) {
    return -1;
  }
  return query_long(conninfo, "SELECT count(*) FROM schema_migrations");
}

static bool relation_exists(const char *conninfo, const char *name) {
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT (to_regclass('%s') IS NOT NULL)::int", name);
  return query_long(conninfo, sql) == 1;
}

static tix_migration_state state_of(const char *conninfo, const tix_migrate_options *options,
                                    int64_t version) {
  tix_migration_status *list = NULL;
  size_t count = 0;
  assert_int_equal(tix_migrate_status(conninfo, options, &list, &count), TIX_OK);
  int state = -1;
  for (size_t i = 0; i < count; i++) {
    if (list[i].version == version) {
      state = (int)list[i].state;
    }
  }
  free(list);
  assert_int_not_equal(state, -1);
  return (tix_migration_state)state;
}

static bool contains(const char *text, const char *part) {
  if (strstr(text, part) == NULL) {
    fprintf(stderr, "expected \"%s\" in: %s\n", part, text);
    return false;
  }
  return true;
}

/* ----------------------------------------------------------------- verify */

static bool database_exists(const char *name) {
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_database WHERE datname = '%s'", name);
  return query_long(getenv("TIX_TEST_ADMIN_URL"), sql) == 1;
}

/* tix_migrate_verify, its progress kept: *scratch_out gets the name of the
 * scratch database it says it used, *output_out the whole (free() it). */
static int verify_capturing(const char *conninfo, tix_migrate_options options,
                            char scratch_out[SCRATCH_NAME_BYTES], char **output_out) {
  size_t size = 0;
  *output_out = NULL;
  options.progress = open_memstream(output_out, &size);
  int status = tix_migrate_verify(conninfo, &options);
  fclose(options.progress);
  const char *said = strstr(*output_out, SCRATCH_SAID);
  scratch_out[0] = '\0';
  if (said != NULL) {
    sscanf(said + strlen(SCRATCH_SAID), "%63s", scratch_out);
  }
  return status;
}

static void verify_passes_on_the_real_migrations(void **state) {
  char conninfo[CONNINFO_BYTES];
  testdb_create("verify_real", conninfo, sizeof conninfo);
  tix_migrate_options options;
  tix_migrate_options_default(&options);
  options.directory = testdb_migrations_dir();
  char scratch[SCRATCH_NAME_BYTES];
  char *output = NULL;
  int status = verify_capturing(conninfo, options, scratch, &output);
  if (status != TIX_OK) {
    fprintf(stderr, "%s\n%s\n", tix_last_diag()->message, tix_last_diag()->detail);
  }
  assert_int_equal(status, TIX_OK);
  assert_true(contains(scratch, "tix_migrate_verify_"));
  assert_false(database_exists(scratch));
  assert_int_equal(ledger_count(conninfo), -1); /* the target database is not touched */
  free(output);
  testdb_drop(conninfo);
}

static void verify_finds_a_forgotten_index(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "forgotten_index", "verify_bad");
  tix_migrate_options options = options_for(&workspace);
  char scratch[SCRATCH_NAME_BYTES];
  char *output = NULL;
  assert_int_equal(verify_capturing(workspace.conninfo, options, scratch, &output), TIX_EMIGRATION);
  const tix_diag *diag = tix_last_diag();
  assert_true(contains(diag->message, "0002_index_gadget_labels.sql"));
  assert_true(contains(diag->message, "does not undo"));
  assert_true(contains(diag->detail, "+ index CREATE INDEX gadgets_label_idx"));
  assert_true(contains(scratch, "tix_migrate_verify_"));
  assert_false(database_exists(scratch));
  free(output);
  workspace_close(&workspace);
}

/* A verifier killed mid-way leaves its scratch database behind; the next
 * verify drops it, and leaves alone that of a verifier still running, even
 * one whose server process has the pid of the dead one. */
static void verify_drops_what_killed_verifiers_left(void **state) {
  const char *admin = getenv("TIX_TEST_ADMIN_URL");
  PGconn *live = testdb_connect(admin); /* stands for a running verifier */
  PGresult *result = PQexec(live, "SELECT pid, (extract(epoch FROM backend_start) * 1000000)"
                                  "::bigint FROM pg_stat_activity WHERE pid = pg_backend_pid()");
  assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
  char live_name[SCRATCH_NAME_BYTES];
  char reused_pid_name[SCRATCH_NAME_BYTES];
  snprintf(live_name, sizeof live_name, "tix_migrate_verify_%s_%s", PQgetvalue(result, 0, 0),
           PQgetvalue(result, 0, 1));
  snprintf(reused_pid_name, sizeof reused_pid_name, "tix_migrate_verify_%s_1",
           PQgetvalue(result, 0, 0));
  PQclear(result);
  const char *dead_name = "tix_migrate_verify_999999999_1700000000000000";
  const char *const names[] = {live_name, reused_pid_name, dead_name};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", names[i]);
    PQclear(PQexec(live, sql));
    assert_true(database_exists(names[i]));
  }
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "verify_leftovers");
  char scratch[SCRATCH_NAME_BYTES];
  char *output = NULL;
  assert_int_equal(verify_capturing(workspace.conninfo, options_for(&workspace), scratch, &output),
                   TIX_OK);
  assert_false(database_exists(dead_name));
  assert_false(database_exists(reused_pid_name));
  assert_true(database_exists(live_name));
  assert_true(contains(output, "dropped tix_migrate_verify_999999999_1700000000000000, left by a "
                               "verify that was stopped"));
  char sql[256];
  snprintf(sql, sizeof sql, "DROP DATABASE %s", live_name);
  PQclear(PQexec(live, sql));
  PQfinish(live);
  free(output);
  workspace_close(&workspace);
}

/* ------------------------------------------------------------------ drift */

static char *with_crlf_and_bom(const char *text) {
  char *result = calloc(1, strlen(text) * 2 + 4);
  assert_non_null(result);
  strcpy(result, "\xEF\xBB\xBF");
  size_t used = 3;
  for (const char *c = text; *c != '\0'; c++) {
    if (*c == '\n') {
      result[used++] = '\r';
    }
    result[used++] = *c;
  }
  return result;
}

static void drift_is_refused_until_accepted(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "drift");
  tix_migrate_options options = options_for(&workspace);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  char *original = read_file(workspace.migrations, "0001_create_widgets.sql");

  /* Another checkout's line endings and a byte order mark are not a change. */
  char *windows = with_crlf_and_bom(original);
  write_file(workspace.migrations, "0001_create_widgets.sql", windows);
  assert_int_equal(state_of(workspace.conninfo, &options, 1), TIX_MIGRATION_APPLIED);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);

  /* A real edit is drift: up refuses everything, even a new pending file. */
  size_t length = strlen(original);
  char *edited = calloc(1, length + 64);
  assert_non_null(edited);
  snprintf(edited, length + 64, "%s-- edited after it was applied\n", original);
  write_file(workspace.migrations, "0001_create_widgets.sql", edited);
  write_file(workspace.migrations, "0004_pending.sql",
             "-- migrate:up\nCREATE TABLE pending_one (id int);\n-- migrate:down\n"
             "DROP TABLE pending_one;\n");
  assert_int_equal(state_of(workspace.conninfo, &options, 1), TIX_MIGRATION_DRIFTED);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_EDRIFT);
  assert_true(contains(tix_last_diag()->message, "0001_create_widgets.sql"));
  assert_true(contains(tix_last_diag()->hint, "tix migrate accept 1"));
  assert_false(relation_exists(workspace.conninfo, "pending_one"));

  assert_int_equal(tix_migrate_accept(workspace.conninfo, &options, 1), TIX_OK);
  assert_int_equal(state_of(workspace.conninfo, &options, 1), TIX_MIGRATION_APPLIED);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  assert_true(relation_exists(workspace.conninfo, "pending_one"));
  assert_int_equal(tix_migrate_accept(workspace.conninfo, &options, 99), TIX_ENOTFOUND);
  free(original);
  free(windows);
  free(edited);
  workspace_close(&workspace);
}

/* ------------------------------------------------------------ concurrency */

struct up_thread {
  pthread_t thread;
  const char *conninfo;
  tix_migrate_options options;
  int status;
  char message[512];
  char captured[CAPTURE_BYTES];
  int64_t elapsed_ms;
  bool finished; /* set last, atomically */
};

static void *run_up(void *argument) {
  struct up_thread *up = argument;
  char *buffer = NULL;
  size_t size = 0;
  FILE *capture = open_memstream(&buffer, &size);
  up->options.progress = capture;
  int64_t started_ms = tix_now_ms();
  up->status = tix_migrate_up(up->conninfo, &up->options);
  up->elapsed_ms = tix_now_ms() - started_ms;
  snprintf(up->message, sizeof up->message, "%s", tix_last_diag()->message);
  fclose(capture);
  snprintf(up->captured, sizeof up->captured, "%s", buffer != NULL ? buffer : "");
  free(buffer);
  __atomic_store_n(&up->finished, true, __ATOMIC_RELEASE);
  return NULL;
}

static void start_up(struct up_thread *up, const char *conninfo,
                     const tix_migrate_options *options) {
  up->conninfo = conninfo;
  up->options = *options;
  assert_int_equal(pthread_create(&up->thread, NULL, run_up, up), 0);
}

static void concurrent_ups_apply_each_migration_once(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "concurrent");
  write_file(workspace.migrations, "0004_slow_side_effect.sql",
             "-- migrate:up\nSELECT pg_sleep(0.3);\n"
             "INSERT INTO side_effects (note) VALUES ('0004');\n"
             "-- migrate:down\nDELETE FROM side_effects WHERE note = '0004';\n");
  tix_migrate_options options = options_for(&workspace);
  struct up_thread ups[CONCURRENT_UPS];
  memset(ups, 0, sizeof ups);
  for (int i = 0; i < CONCURRENT_UPS; i++) {
    start_up(&ups[i], workspace.conninfo, &options);
  }
  for (int i = 0; i < CONCURRENT_UPS; i++) {
    pthread_join(ups[i].thread, NULL);
    if (ups[i].status != TIX_OK) {
      fprintf(stderr, "up %d: %s\n", i, ups[i].message);
    }
    assert_int_equal(ups[i].status, TIX_OK);
  }
  assert_int_equal(ledger_count(workspace.conninfo), 4);
  assert_int_equal(query_long(workspace.conninfo, "SELECT count(*) FROM side_effects"), 2);
  workspace_close(&workspace);
}

/* Waits until some session holds the migration lock on this database. */
static void wait_for_lock_holder(const char *conninfo) {
  PGconn *conn = testdb_connect(conninfo);
  int64_t deadline_ms = tix_now_ms() + WAIT_FOR_LOCK_MS;
  while (testdb_query_long(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                 " AND granted AND database = (SELECT oid FROM pg_database"
                                 " WHERE datname = current_database())") == 0) {
    assert_true(tix_now_ms() < deadline_ms);
    usleep(POLL_INTERVAL_US);
  }
  PQfinish(conn);
}

static void concurrently_built_index_while_another_up_waits(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "slow_index", "concurrently");
  tix_migrate_options options = options_for(&workspace);
  struct up_thread holder;
  struct up_thread waiter;
  memset(&holder, 0, sizeof holder);
  memset(&waiter, 0, sizeof waiter);
  start_up(&holder, workspace.conninfo, &options);
  wait_for_lock_holder(workspace.conninfo);
  start_up(&waiter, workspace.conninfo, &options);
  pthread_join(holder.thread, NULL);
  pthread_join(waiter.thread, NULL);
  assert_int_equal(holder.status, TIX_OK);
  assert_int_equal(waiter.status, TIX_OK);
  assert_true(contains(holder.captured, "applied 0002_slow_concurrent_index.sql"));
  assert_true(contains(waiter.captured, "waiting for the migration lock, held by pid"));
  assert_true(contains(waiter.captured, "application tix-migrate"));
  assert_true(contains(waiter.captured, "nothing to apply"));
  assert_true(waiter.elapsed_ms >= 500);
  assert_int_equal(ledger_count(workspace.conninfo), 2);
  assert_int_equal(query_long(workspace.conninfo,
                              "SELECT indisvalid::int FROM pg_index"
                              " WHERE indexrelid = 'things_name_idx'::regclass"),
                   1);
  workspace_close(&workspace);
}

static void lock_timeout_names_the_holder(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "lock_timeout");
  PGconn *holder = testdb_connect(workspace.conninfo);
  PGresult *result = PQexec(holder, "SET application_name = 'stuck-migrator';"
                                    "SELECT pg_advisory_lock(" LOCK_KEY_TEXT ")");
  assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
  PQclear(result);
  tix_migrate_options options = options_for(&workspace);
  options.lock_timeout_ms = LOCK_TIMEOUT_MS;
  int64_t started_ms = tix_now_ms();
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_ELOCKED);
  int64_t waited_ms = tix_now_ms() - started_ms;
  assert_true(waited_ms >= LOCK_TIMEOUT_MS - 50 && waited_ms < LOCK_TIMEOUT_MS + 3000);
  char pid[32];
  snprintf(pid, sizeof pid, "pid %d", PQbackendPID(holder));
  assert_true(contains(tix_last_diag()->detail, pid));
  assert_true(contains(tix_last_diag()->detail, "stuck-migrator"));
  assert_int_equal(ledger_count(workspace.conninfo), -1); /* it waited before touching anything */
  PQfinish(holder);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  workspace_close(&workspace);
}

/* ---------------------------------------------------------------- failure */

static void failing_migration_rolls_back_whole_and_stops(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "failing", "failing");
  tix_migrate_options options = options_for(&workspace);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_EMIGRATION);
  const tix_diag *diag = tix_last_diag();
  assert_true(contains(diag->message, "migration 0003_broken.sql failed at line 11: "));
  assert_true(contains(diag->message, "column \"nme\" does not exist"));
  assert_true(contains(diag->detail, "rolled back"));
  assert_false(relation_exists(workspace.conninfo, "half_done"));
  assert_false(relation_exists(workspace.conninfo, "never_run"));
  assert_int_equal(ledger_count(workspace.conninfo), 2);
  assert_int_equal(query_long(workspace.conninfo, "SELECT max(version) FROM schema_migrations"), 2);
  assert_int_equal(state_of(workspace.conninfo, &options, 3), TIX_MIGRATION_PENDING);
  workspace_close(&workspace);
}

static void failing_statement_outside_a_transaction_says_so(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "failing_notx");
  write_file(workspace.migrations, "0004_no_transaction.sql",
             "-- migrate:up transaction:false\n"
             "CREATE TABLE kept (id int);\n"
             "CREATE INDEX CONCURRENTLY ON missing_table (id);\n"
             "-- migrate:down transaction:false\nDROP TABLE kept;\n");
  write_file(workspace.migrations, "0005_needs_no_transaction.sql",
             "-- migrate:up\nCREATE INDEX CONCURRENTLY w_idx ON widgets (id);\n"
             "-- migrate:down\nDROP INDEX w_idx;\n");
  tix_migrate_options options = options_for(&workspace);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_EMIGRATION);
  assert_true(contains(tix_last_diag()->message, "0004_no_transaction.sql failed at line 3"));
  assert_true(contains(tix_last_diag()->detail, "stay applied"));
  assert_true(relation_exists(workspace.conninfo, "kept"));
  assert_int_equal(ledger_count(workspace.conninfo), 3);

  /* Fixed file; then a CONCURRENTLY inside a transaction gets a hint. */
  write_file(workspace.migrations, "0004_no_transaction.sql",
             "-- migrate:up transaction:false\n"
             "CREATE TABLE IF NOT EXISTS kept (id int);\n"
             "-- migrate:down transaction:false\nDROP TABLE kept;\n");
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_EMIGRATION);
  assert_true(contains(tix_last_diag()->message, "0005_needs_no_transaction.sql failed at line 2"));
  assert_true(contains(tix_last_diag()->hint, "transaction:false"));
  assert_int_equal(ledger_count(workspace.conninfo), 4);
  workspace_close(&workspace);
}

/* ---------------------------------------------------------------- dry run */

static void dry_run_changes_nothing(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "dry_run");
  tix_migrate_options options = options_for(&workspace);
  options.dry_run = true;
  char *buffer = NULL;
  size_t size = 0;
  options.progress = open_memstream(&buffer, &size);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  fclose(options.progress);
  assert_true(contains(buffer, "would apply 0001_create_widgets.sql in a transaction"));
  assert_true(contains(buffer, "would apply 0003_index_widget_names.sql outside a transaction"));
  free(buffer);
  assert_int_equal(ledger_count(workspace.conninfo), -1); /* not even the ledger */
  assert_false(relation_exists(workspace.conninfo, "widgets"));

  options.progress = NULL;
  options.dry_run = false;
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  options.dry_run = true;
  options.steps = 3;
  assert_int_equal(tix_migrate_down(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(tix_migrate_redo(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(ledger_count(workspace.conninfo), 3);
  assert_true(relation_exists(workspace.conninfo, "widgets_name_idx"));
  workspace_close(&workspace);
}

/* ----------------------------------------------------------- out of order */

static void out_of_order_is_refused_unless_allowed(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "out_of_order");
  run_shell("mv '%s/0002_add_widget_color.sql' '%s/'", workspace.migrations, workspace.root);
  tix_migrate_options options = options_for(&workspace);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(ledger_count(workspace.conninfo), 2);

  /* The file of a colleague's branch, merged after 0003 was applied. */
  run_shell("mv '%s/0002_add_widget_color.sql' '%s/'", workspace.root, workspace.migrations);
  assert_int_equal(state_of(workspace.conninfo, &options, 2), TIX_MIGRATION_OUT_OF_ORDER);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_EORDER);
  assert_true(contains(tix_last_diag()->message, "0002_add_widget_color.sql"));
  assert_int_equal(ledger_count(workspace.conninfo), 2);
  options.allow_out_of_order = true;
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(state_of(workspace.conninfo, &options, 2), TIX_MIGRATION_APPLIED);
  assert_int_equal(query_long(workspace.conninfo, "SELECT count(*) FROM side_effects"), 1);

  /* An applied migration whose file is gone: up applies nothing more. */
  run_shell("rm '%s/0003_index_widget_names.sql'", workspace.migrations);
  write_file(workspace.migrations, "0004_pending.sql",
             "-- migrate:up\nCREATE TABLE pending_one (id int);\n-- migrate:down\n"
             "DROP TABLE pending_one;\n");
  assert_int_equal(state_of(workspace.conninfo, &options, 3), TIX_MIGRATION_MISSING_FILE);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_EMIGRATION);
  assert_true(contains(tix_last_diag()->message,
                       "migration 3 (index_widget_names) is applied but its file is missing"));
  assert_true(contains(tix_last_diag()->detail, "Nothing was run."));
  assert_false(relation_exists(workspace.conninfo, "pending_one"));
  run_shell("rm '%s/0004_pending.sql'", workspace.migrations);
  /* … but it cannot be rolled back without its down section. */
  assert_int_equal(tix_migrate_down(workspace.conninfo, &options), TIX_EMIGRATION);
  assert_true(contains(tix_last_diag()->message, "file is missing"));
  workspace_close(&workspace);
}

/* ------------------------------------------------------------------- down */

static void down_by_steps_and_to_a_version(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "down");
  tix_migrate_options options = options_for(&workspace);
  options.target_version = 2;
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(ledger_count(workspace.conninfo), 2); /* --to 2 */
  options.target_version = 0;
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(ledger_count(workspace.conninfo), 3);

  assert_int_equal(tix_migrate_down(workspace.conninfo, &options), TIX_OK); /* default: 1 */
  assert_int_equal(ledger_count(workspace.conninfo), 2);
  assert_false(relation_exists(workspace.conninfo, "widgets_name_idx"));

  assert_int_equal(tix_migrate_redo(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(ledger_count(workspace.conninfo), 2);
  assert_int_equal(query_long(workspace.conninfo, "SELECT count(*) FROM side_effects"), 1);

  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  options.steps = 0;
  options.target_version = 1; /* --to 1: everything above 1 */
  assert_int_equal(tix_migrate_down(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(ledger_count(workspace.conninfo), 1);
  assert_int_equal(query_long(workspace.conninfo, "SELECT count(*) FROM information_schema.columns"
                                                  " WHERE table_name = 'widgets'"),
                   2);
  options.steps = 5; /* more than are applied: all of them */
  assert_int_equal(tix_migrate_down(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(ledger_count(workspace.conninfo), 0);
  assert_false(relation_exists(workspace.conninfo, "widgets"));
  workspace_close(&workspace);
}

/* ------------------------------------------------------------ schema.sql */

static void schema_file_has_the_tables_and_the_ledger(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "schema_file");
  tix_migrate_options options = options_for(&workspace);
  options.schema_file = NULL; /* the default: <migrations>/../schema.sql */
  unsetenv("TIX_SCHEMA_FILE");
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  char *schema = read_file(workspace.root, "schema.sql");
  assert_true(contains(schema, "CREATE TABLE public.widgets"));
  assert_true(contains(schema, "CREATE INDEX widgets_name_idx"));
  assert_true(contains(schema, "CREATE TABLE public.schema_migrations"));
  assert_true(contains(schema, "INSERT INTO public.schema_migrations (version, name, checksum, "
                               "execution_ms) VALUES (3, 'index_widget_names', '"));
  assert_null(strstr(schema, "\\restrict"));
  free(schema);

  /* The file loads into an empty database and gives the same, migrated, state. */
  char copy[CONNINFO_BYTES];
  testdb_create("schema_copy", copy, sizeof copy);
  char *text = read_file(workspace.root, "schema.sql");
  PGconn *conn = testdb_connect(copy);
  PGresult *result = PQexec(conn, text);
  assert_int_equal(PQresultStatus(result), PGRES_COMMAND_OK);
  PQclear(result);
  PQfinish(conn);
  free(text);
  assert_int_equal(ledger_count(copy), 3);
  tix_migrate_options copy_options = options_for(&workspace);
  assert_int_equal(state_of(copy, &copy_options, 3), TIX_MIGRATION_APPLIED);
  testdb_drop(copy);

  /* An explicit path wins; nothing changed, nothing written. */
  char path[PATH_BYTES];
  snprintf(path, sizeof path, "%s/elsewhere.sql", workspace.root);
  options.schema_file = path;
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(access(path, F_OK), -1);
  assert_int_equal(tix_migrate_down(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(access(path, F_OK), 0);
  workspace_close(&workspace);
}

/* -------------------------------------------------------------- bad files */

/* pg_dump waits for a lock on every table it dumps, and migrate up runs it
 * while holding the migration lock: it is stopped at its limit, and the
 * failure says that the migrations themselves were applied. */
static void schema_dump_is_bounded_and_says_the_migrations_were_applied(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "dump_bounded");
  tix_migrate_options options = options_for(&workspace);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  write_file(workspace.migrations, "0004_create_sprockets.sql",
             "-- migrate:up\nCREATE TABLE sprockets (id int);\n"
             "-- migrate:down\nDROP TABLE sprockets;\n");
  PGconn *holder = testdb_connect(workspace.conninfo);
  PQclear(PQexec(holder, "BEGIN"));
  PQclear(PQexec(holder, "LOCK TABLE widgets IN ACCESS EXCLUSIVE MODE"));
  setenv("TIX_SCHEMA_DUMP_TIMEOUT_MS", DUMP_TIMEOUT_TEXT, 1);
  char schema_path[PATH_BYTES];
  snprintf(schema_path, sizeof schema_path, "%s/schema.sql", workspace.root);
  options.schema_file = schema_path;
  struct up_thread up;
  memset(&up, 0, sizeof up);
  start_up(&up, workspace.conninfo, &options);
  /* Unbounded, pg_dump would wait for ever: let it go after a while, so
   * that this test fails rather than hangs. */
  int64_t give_up_ms = tix_now_ms() + DUMP_GIVE_UP_MS;
  while (!__atomic_load_n(&up.finished, __ATOMIC_ACQUIRE) && tix_now_ms() < give_up_ms) {
    usleep(POLL_INTERVAL_US);
  }
  PQclear(PQexec(holder, "ROLLBACK"));
  PQfinish(holder);
  pthread_join(up.thread, NULL);
  unsetenv("TIX_SCHEMA_DUMP_TIMEOUT_MS");
  assert_int_equal(up.status, TIX_EIO);
  assert_true(up.elapsed_ms < DUMP_GIVE_UP_MS);
  assert_true(contains(up.message, "the migrations were applied, but the schema file"));
  assert_true(contains(up.message, "pg_dump did not finish within " DUMP_TIMEOUT_TEXT " ms"));
  assert_int_equal(ledger_count(workspace.conninfo), 4);
  assert_int_equal(access(schema_path, F_OK), -1);
  workspace_close(&workspace);
}

static void bad_files_are_refused_with_the_database_unchanged(void **state) {
  static const struct {
    const char *name;
    const char *text;
    const char *message_part;
  } cases[] = {
      {"12_x.sql", "-- migrate:up\n-- migrate:down\n", "12_x.sql"},
      {"0003-bad.sql", "-- migrate:up\n-- migrate:down\n", "0003-bad.sql"},
      {"0004_Bad.sql", "-- migrate:up\n-- migrate:down\n", "0004_Bad.sql"},
      {"0004_no_up.sql", "-- migrate:down\nSELECT 1;\n", "no \"-- migrate:up\" section"},
      {"0004_no_down.sql", "-- migrate:up\nSELECT 1;\n", "no \"-- migrate:down\" section"},
      {"0002_duplicate.sql", "-- migrate:up\n-- migrate:down\n", "same version 2"},
      {"0004_option.sql", "-- migrate:up transaction:never\n-- migrate:down\n", "unknown option"},
  };
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "bad_files");
  tix_migrate_options options = options_for(&workspace);
  write_file(workspace.migrations, "README", "ignored: not a .sql file\n");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_file(workspace.migrations, cases[i].name, cases[i].text);
    assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_EMIGRATIONFILE);
    assert_true(contains(tix_last_diag()->message, cases[i].message_part));
    tix_migration_status *list = NULL;
    size_t count = 0;
    assert_int_equal(tix_migrate_status(workspace.conninfo, &options, &list, &count),
                     TIX_EMIGRATIONFILE);
    assert_int_equal(ledger_count(workspace.conninfo), -1);
    run_shell("rm '%s/%s'", workspace.migrations, cases[i].name);
  }
  options.directory = "/nonexistent/migrations";
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_EMIGRATIONFILE);
  assert_true(contains(tix_last_diag()->message, "/nonexistent/migrations"));
  options.directory = workspace.migrations;
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(ledger_count(workspace.conninfo), 3);
  workspace_close(&workspace);
}

/* -------------------------------------------------------------------- new */

static void new_writes_the_next_file_from_the_template(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "new_file");
  tix_migrate_options options = options_for(&workspace);
  char path[PATH_BYTES];
  assert_int_equal(tix_migrate_new(&options, "add_gizmos", path, sizeof path), TIX_OK);
  char expected[PATH_BYTES];
  snprintf(expected, sizeof expected, "%s/0004_add_gizmos.sql", workspace.migrations);
  assert_string_equal(path, expected);
  assert_int_equal(tix_migrate_new(&options, "Bad-Name", path, sizeof path), TIX_EINVAL);
  /* The template has nothing to apply: up, verify and a dry run refuse it
   * before anything runs, naming it; status lists it as pending. */
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_EMIGRATIONFILE);
  assert_true(contains(tix_last_diag()->message,
                       "migration 0004_add_gizmos.sql has no statement in its up section"));
  assert_int_equal(ledger_count(workspace.conninfo), 0); /* the ledger, created empty */
  assert_false(relation_exists(workspace.conninfo, "widgets"));
  options.dry_run = true;
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_EMIGRATIONFILE);
  options.dry_run = false;
  assert_int_equal(tix_migrate_verify(workspace.conninfo, &options), TIX_EMIGRATIONFILE);
  assert_true(contains(tix_last_diag()->message, "0004_add_gizmos.sql"));
  assert_int_equal(state_of(workspace.conninfo, &options, 4), TIX_MIGRATION_PENDING);
  options.target_version = 3; /* what comes before it can still be applied */
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  options.target_version = 0;

  /* Filled in, it applies; emptied again, redo refuses before rolling back. */
  write_file(workspace.migrations, "0004_add_gizmos.sql",
             "-- migrate:up\nCREATE TABLE gizmos (id int);\n-- migrate:down\nDROP TABLE gizmos;\n");
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  assert_true(relation_exists(workspace.conninfo, "gizmos"));
  write_file(workspace.migrations, "0004_add_gizmos.sql", "-- migrate:up\n-- migrate:down\n");
  assert_int_equal(tix_migrate_accept(workspace.conninfo, &options, 4), TIX_OK);
  assert_int_equal(tix_migrate_redo(workspace.conninfo, &options), TIX_EMIGRATIONFILE);
  assert_true(relation_exists(workspace.conninfo, "gizmos"));
  workspace_close(&workspace);
}

/* ----------------------------------------------------------- schema check */

static void schema_check_names_what_is_pending(void **state) {
  struct workspace workspace;
  workspace_open(&workspace, "widgets", "schema_check");
  tix_migrate_options options = options_for(&workspace);
  assert_int_equal(tix_schema_check(workspace.conninfo, &options), TIX_EPENDING); /* no ledger */
  assert_true(contains(tix_last_diag()->message,
                       "3 migrations are pending (0001_create_widgets.sql, "
                       "0002_add_widget_color.sql, 0003_index_widget_names.sql)"));
  assert_true(contains(tix_last_diag()->hint, "tix migrate up"));
  assert_int_equal(ledger_count(workspace.conninfo), -1); /* it only looks */
  options.target_version = 2;
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  options.target_version = 0;
  assert_int_equal(tix_schema_check(workspace.conninfo, &options), TIX_EPENDING);
  assert_true(contains(tix_last_diag()->message,
                       "the database schema is behind: migration 0003_index_widget_names.sql "
                       "is pending"));
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(tix_schema_check(workspace.conninfo, &options), TIX_OK);

  /* Files are known by their names: one still being written is pending
   * all the same. Beyond five, they are counted. */
  for (int version = 4; version <= 10; version++) {
    char name[PATH_BYTES];
    snprintf(name, sizeof name, "%04d_work_in_progress.sql", version);
    write_file(workspace.migrations, name, "CREATE TABLE half_writ");
  }
  assert_int_equal(tix_schema_check(workspace.conninfo, &options), TIX_EPENDING);
  assert_true(contains(tix_last_diag()->message, "7 migrations are pending (0004_work_in_progress"
                                                 ".sql, 0005_work_in_progress.sql, "));
  assert_true(contains(tix_last_diag()->message, "0008_work_in_progress.sql and 2 more)"));
  run_shell("rm '%s/'00*_work_in_progress.sql", workspace.migrations);

  /* A database ahead of the files is not behind. A bad name is an error. */
  run_shell("rm '%s/0003_index_widget_names.sql'", workspace.migrations);
  assert_int_equal(tix_schema_check(workspace.conninfo, &options), TIX_OK);
  write_file(workspace.migrations, "12_short.sql", "");
  assert_int_equal(tix_schema_check(workspace.conninfo, &options), TIX_EMIGRATIONFILE);
  assert_true(contains(tix_last_diag()->message, "12_short.sql"));
  workspace_close(&workspace);
}

/* What every command does: a schema that is behind is refused, never
 * migrated, whether tix's statements need what is pending (the schema is
 * empty) or not (a new migration that nothing uses yet). */
static void opening_from_the_environment_refuses_a_schema_that_is_behind(void **state) {
  struct workspace workspace;
  snprintf(workspace.root, sizeof workspace.root, "/tmp/tix-migrate-XXXXXX");
  assert_non_null(mkdtemp(workspace.root));
  snprintf(workspace.migrations, sizeof workspace.migrations, "%s/migrations", workspace.root);
  run_shell("mkdir '%s' && cp '%s/'*.sql '%s/'", workspace.migrations, testdb_migrations_dir(),
            workspace.migrations);
  testdb_create("open_behind", workspace.conninfo, sizeof workspace.conninfo);
  setenv("DATABASE_URL", workspace.conninfo, 1);
  setenv("TIX_MIGRATIONS", workspace.migrations, 1);
  tix *db = NULL;
  assert_int_equal(tix_open_from_env(NULL, &db), TIX_EPENDING);
  assert_null(db);
  assert_true(contains(tix_last_diag()->message, "migrations are pending (0001_"));
  assert_int_equal(ledger_count(workspace.conninfo), -1);

  tix_migrate_options options = options_for(&workspace);
  assert_int_equal(tix_migrate_up(workspace.conninfo, &options), TIX_OK);
  assert_int_equal(tix_open_from_env(NULL, &db), TIX_OK);
  tix_close(db);
  db = NULL;
  long applied = ledger_count(workspace.conninfo);

  write_file(workspace.migrations, "9000_wip_feature.sql",
             "-- migrate:up\nCREATE TABLE wip (id int);\n-- migrate:down\nDROP TABLE wip;\n");
  assert_int_equal(tix_open_from_env(NULL, &db), TIX_EPENDING);
  assert_null(db);
  assert_true(contains(tix_last_diag()->message, "migration 9000_wip_feature.sql is pending"));
  assert_false(relation_exists(workspace.conninfo, "wip"));
  assert_int_equal(ledger_count(workspace.conninfo), applied);
  unsetenv("DATABASE_URL");
  unsetenv("TIX_MIGRATIONS");
  workspace_close(&workspace);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(verify_passes_on_the_real_migrations),
      cmocka_unit_test(verify_finds_a_forgotten_index),
      cmocka_unit_test(verify_drops_what_killed_verifiers_left),
      cmocka_unit_test(drift_is_refused_until_accepted),
      cmocka_unit_test(concurrent_ups_apply_each_migration_once),
      cmocka_unit_test(concurrently_built_index_while_another_up_waits),
      cmocka_unit_test(lock_timeout_names_the_holder),
      cmocka_unit_test(failing_migration_rolls_back_whole_and_stops),
      cmocka_unit_test(failing_statement_outside_a_transaction_says_so),
      cmocka_unit_test(dry_run_changes_nothing),
      cmocka_unit_test(out_of_order_is_refused_unless_allowed),
      cmocka_unit_test(down_by_steps_and_to_a_version),
      cmocka_unit_test(schema_file_has_the_tables_and_the_ledger),
      cmocka_unit_test(schema_dump_is_bounded_and_says_the_migrations_were_applied),
      cmocka_unit_test(bad_files_are_refused_with_the_database_unchanged),
      cmocka_unit_test(new_writes_the_next_file_from_the_template),
      cmocka_unit_test(schema_check_names_what_is_pending),
      cmocka_unit_test(opening_from_the_environment_refuses_a_schema_that_is_behind),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
