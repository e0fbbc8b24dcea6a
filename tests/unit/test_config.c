/*
 * test_config.c — configuration precedence (DESIGN §5): DATABASE_URL, then
 * DB_*, then PG*, then the embedded cluster; descriptions never show a
 * password; every setting checked like a flag, a malformed connection
 * setting refused without a word of its password; the hint for an
 * unreachable database naming the settings it came from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "tix.h"

static const char *const all_variables[] = {"DATABASE_URL",
                                            "DB_HOST",
                                            "DB_PORT",
                                            "DB_USERNAME",
                                            "DB_PASSWORD",
                                            "DB_NAME",
                                            "PGHOST",
                                            "PGHOSTADDR",
                                            "PGPORT",
                                            "PGDATABASE",
                                            "PGUSER",
                                            "PGSERVICE",
                                            "TIX_DATA",
                                            "PGPASSWORD",
                                            "TIX_CONNECT_TIMEOUT_MS",
                                            "TIX_MIGRATE_LOCK_TIMEOUT_MS"};

static int clear_environment(void **state) {
  for (size_t i = 0; i < sizeof all_variables / sizeof all_variables[0]; i++) {
    unsetenv(all_variables[i]);
  }
  return 0;
}

static tix_config *resolve(void) {
  tix_config *config = NULL;
  assert_int_equal(tix_config_from_env(&config), TIX_OK);
  return config;
}

static void database_url_wins(void **state) {
  setenv("DATABASE_URL", "postgresql://u:secret@db.example:6543/app", 1);
  setenv("DB_HOST", "other", 1);
  setenv("PGHOST", "third", 1);
  tix_config *config = resolve();
  assert_int_equal(tix_config_get_source(config), TIX_SOURCE_DATABASE_URL);
  assert_string_equal(tix_config_conninfo(config), "postgresql://u:secret@db.example:6543/app");
  char description[1024];
  tix_config_describe(config, description, sizeof description);
  assert_non_null(strstr(description, "db.example"));
  assert_non_null(strstr(description, "6543"));
  assert_null(strstr(description, "secret"));
  tix_config_destroy(config);
}

static void db_variables_come_second(void **state) {
  setenv("DB_HOST", "db.local", 1);
  setenv("DB_PORT", "5433", 1);
  setenv("DB_USERNAME", "o'brien", 1);
  setenv("DB_PASSWORD", "pa ss\\word", 1);
  setenv("DB_NAME", "tickets", 1);
  setenv("PGHOST", "ignored", 1);
  tix_config *config = resolve();
  assert_int_equal(tix_config_get_source(config), TIX_SOURCE_DB_VARS);
  assert_string_equal(tix_config_conninfo(config),
                      "host='db.local' port='5433' user='o\\'brien' password='pa ss\\\\word' "
                      "dbname='tickets'");
  char description[1024];
  tix_config_describe(config, description, sizeof description);
  assert_non_null(strstr(description, "user=o'brien"));
  assert_null(strstr(description, "word"));
  tix_config_destroy(config);
}

static void pg_variables_come_third(void **state) {
  setenv("PGHOST", "pg.local", 1);
  setenv("PGPASSWORD", "hunter2", 1);
  tix_config *config = resolve();
  assert_int_equal(tix_config_get_source(config), TIX_SOURCE_PG_VARS);
  assert_string_equal(tix_config_conninfo(config), "");
  char description[1024];
  tix_config_describe(config, description, sizeof description);
  assert_non_null(strstr(description, "pg.local"));
  assert_null(strstr(description, "hunter2"));
  tix_config_destroy(config);
}

static void embedded_when_nothing_is_set(void **state) {
  tix_config *config = resolve();
  assert_int_equal(tix_config_get_source(config), TIX_SOURCE_EMBEDDED);
  const char *data_dir = tix_config_data_dir(config);
  assert_non_null(data_dir);
  assert_int_equal(data_dir[0], '/');
  size_t length = strlen(data_dir);
  assert_true(length > 5 && strcmp(data_dir + length - 5, "/.tix") == 0);
  tix_config_destroy(config);

  setenv("TIX_DATA", "/var/tmp/elsewhere", 1);
  config = resolve();
  assert_string_equal(tix_config_data_dir(config), "/var/tmp/elsewhere");
  tix_config_destroy(config);
}

static void empty_values_count_as_unset(void **state) {
  setenv("DATABASE_URL", "", 1);
  setenv("DB_HOST", "", 1);
  tix_config *config = resolve();
  assert_int_equal(tix_config_get_source(config), TIX_SOURCE_EMBEDDED);
  tix_config_destroy(config);
}

/* The diagnostic names what and holds no part of the password. */
static void assert_refused_naming(int status, const char *what) {
  assert_int_equal(status, TIX_EINVAL);
  const tix_diag *diag = tix_last_diag();
  assert_non_null(strstr(diag->message, what));
  const char *const parts[] = {"SecretPW1", "Secret", "PW1"};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    assert_null(strstr(diag->message, parts[i]));
    assert_null(strstr(diag->detail, parts[i]));
    assert_null(strstr(diag->hint, parts[i]));
  }
}

/* libpq's own parse errors quote the string: the first two cases printed
 * the password (issue 7, defect 1). Each refused one is refused naming
 * DATABASE_URL, without a part of the password; each valid one is kept as
 * it is. */
static void database_url_is_checked_without_showing_it(void **state) {
  static const struct {
    bool valid;
    const char *url;
  } cases[] = {
      {false, "postgres://tixuser:SecretPW1@[::1:55611/tixdb"},
      {false, "postgres://tixuser:Secret%ZZPW1@db:55611/tixdb"},
      {false, "postgres://tixuser:Secret%00PW1@db/tixdb"},
      {false, "postgres://tixuser:Secret@PW1@db:55611/tixdb"},
      {false, "postgres://tixuser:Secret/PW1@db:55611/tixdb"},
      {false, "postgres://tixuser@[]:5432/tixdb?password=SecretPW1"},
      {false, "postgres://[::1]x/tixdb?password=SecretPW1"},
      {false, "postgresql://db/tixdb?password=Secret&PW1"},
      {false, "postgresql://db/tixdb?password=Secret=PW1"},
      {false, "postgresql://db/tixdb?password=SecretPW1&nonsense=1"},
      {false, "postgresql://db:99999/tixdb?password=SecretPW1"},
      {false, "host=db1,db2,db3 port=1,2 password=SecretPW1"},
      {false, "host=db password=Secret PW1"},
      {false, "host=db password='SecretPW1"},
      {false, "host=db password=SecretPW1 PW1=x"},
      {false, "host=db port=abc password=SecretPW1"},
      {true, "postgresql://u:p%40ss%2Fword@db.example:6543/app?sslmode=require&application_name=x"},
      {true, "postgres://db1:5432,db2:5433/app?target_session_attrs=read-write"},
      {true, "postgresql://[::1]:5432,[fe80::1]/app?ssl=true"},
      {true, "postgresql:///tix?host=%2Ftmp%2Fsocket%20dir&user=tix"},
      {true, "postgresql://"},
      {true, "host=db1,db2 port=5432,5433 dbname='my app' password='it\\'s a b' user=o\\'brien"},
      {true, "  host = db   dbname=app  "},
      {true, "tickets"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    setenv("DATABASE_URL", cases[i].url, 1);
    tix_config *config = (tix_config *)1;
    int status = tix_config_from_env(&config);
    if (cases[i].valid) {
      assert_int_equal(status, TIX_OK);
      assert_string_equal(tix_config_conninfo(config), cases[i].url);
      tix_config_destroy(config);
    } else {
      assert_refused_naming(status, "DATABASE_URL");
      assert_null(config);
    }
  }
}

static void bad_ports_are_refused(void **state) {
  static const char *const bad[] = {"abc", "0", "65536", "5432x", "-1", " 5432", "99999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    clear_environment(state);
    setenv("DB_HOST", "db", 1);
    setenv("DB_PORT", bad[i], 1);
    tix_config *config = NULL;
    assert_refused_naming(tix_config_from_env(&config), "DB_PORT");
    clear_environment(state);
    setenv("PGPORT", bad[i], 1);
    assert_refused_naming(tix_config_from_env(&config), "PGPORT");
  }
  clear_environment(state);
  setenv("PGPORT", "5432,5433", 1);
  tix_config_destroy(resolve());
}

static void milliseconds_are_read_strictly(void **state) {
  static const char *const bad[] = {"abc", "-5",  "+5",          " 5",   "5 ", "1e3",
                                    "10s", "2.5", "99999999999", "1001", "0"};
  int value = 0;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv("TIX_TEST_MS", bad[i], 1);
    assert_refused_naming(tix_env_milliseconds("TIX_TEST_MS", 7, 1, 1000, &value), "TIX_TEST_MS");
    assert_int_equal(tix_env_milliseconds_or_invalid("TIX_TEST_MS", 7, 1, 1000),
                     TIX_SETTING_INVALID);
  }
  setenv("TIX_TEST_MS", "250", 1);
  assert_int_equal(tix_env_milliseconds("TIX_TEST_MS", 7, 1, 1000, &value), TIX_OK);
  assert_int_equal(value, 250);
  setenv("TIX_TEST_MS", "", 1); /* empty is unset, as for every setting */
  assert_int_equal(tix_env_milliseconds("TIX_TEST_MS", 7, 1, 1000, &value), TIX_OK);
  assert_int_equal(value, 7);
  unsetenv("TIX_TEST_MS");
  assert_int_equal(tix_env_milliseconds_or_invalid("TIX_TEST_MS", 7, 1, 1000), 7);
}

/* A bad timeout used to mean the default, silently (defect 7). */
static void bad_timeouts_in_the_environment_are_reported_by_name(void **state) {
  setenv("TIX_CONNECT_TIMEOUT_MS", "abc", 1);
  tix_options options;
  tix_options_default(&options);
  assert_int_equal(options.connect_timeout_ms, TIX_SETTING_INVALID);
  tix *db = NULL;
  assert_refused_naming(tix_open("host=/nonexistent", NULL, &db), "TIX_CONNECT_TIMEOUT_MS");
  assert_refused_naming(tix_open_from_env(NULL, &db), "TIX_CONNECT_TIMEOUT_MS");
  assert_null(db);
  options.connect_timeout_ms = 500; /* set by the caller: the setting is not used */
  setenv("TIX_CONNECT_TIMEOUT_MS", "1", 1);
  tix_options_default(&options);
  assert_int_equal(options.connect_timeout_ms, 1);

  setenv("TIX_MIGRATE_LOCK_TIMEOUT_MS", "-5", 1);
  tix_migrate_options migrate_options;
  tix_migrate_options_default(&migrate_options);
  assert_int_equal(migrate_options.lock_timeout_ms, TIX_SETTING_INVALID);
  tix_migration_status *list = NULL;
  size_t count = 0;
  assert_refused_naming(tix_migrate_status("host=/nonexistent", NULL, &list, &count),
                        "TIX_MIGRATE_LOCK_TIMEOUT_MS");
}

static void paths_are_checked(void **state) {
  setenv("TIX_DATA", "/dev/null", 1);
  tix_config *config = NULL;
  assert_refused_naming(tix_config_from_env(&config), "TIX_DATA");
  setenv("TIX_DATA", "/tmp/line\nbreak", 1);
  assert_refused_naming(tix_config_from_env(&config), "TIX_DATA");
  const char *path = NULL;
  setenv("TIX_TEST_PATH", "/nonexistent/directory", 1);
  assert_refused_naming(tix_env_path("TIX_TEST_PATH", TIX_PATH_DIRECTORY, &path), "TIX_TEST_PATH");
  assert_int_equal(tix_env_path("TIX_TEST_PATH", TIX_PATH_DIRECTORY_TO_MAKE, &path), TIX_OK);
  assert_string_equal(path, "/nonexistent/directory");
  setenv("TIX_TEST_PATH", "", 1);
  assert_int_equal(tix_env_path("TIX_TEST_PATH", TIX_PATH_DIRECTORY, &path), TIX_OK);
  assert_string_equal(path, "");
  unsetenv("TIX_TEST_PATH");
}

/* The hint used to tell everyone to unset DATABASE_URL, DB_* and PG*
 * (defect 11): it names what is set, nothing for the embedded cluster. */
static void unreachable_hint_names_the_source(void **state) {
  static const struct {
    const char *variables[3];
    const char *hint;
  } cases[] = {
      {{"DATABASE_URL", NULL}, "that DATABASE_URL is right."},
      {{"DB_HOST", "DB_PASSWORD", NULL}, "that DB_HOST and DB_PASSWORD are right."},
      {{"DB_HOST", "DB_PORT", "DB_NAME"}, "that DB_HOST, DB_PORT and DB_NAME are right."},
      {{"PGHOST", NULL}, "that PGHOST is right."},
      {{"PGSERVICE", "PGUSER", NULL}, "that PGUSER and PGSERVICE are right."},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    clear_environment(state);
    for (size_t j = 0; j < 3 && cases[i].variables[j] != NULL; j++) {
      setenv(cases[i].variables[j], strcmp(cases[i].variables[j], "DB_PORT") == 0 ? "5432" : "x",
             1);
    }
    tix_config *config = resolve();
    char hint[512];
    tix_config_unreachable_hint(config, hint, sizeof hint);
    assert_non_null(strstr(hint, cases[i].hint));
    assert_null(strstr(hint, "unset"));
    tix_config_destroy(config);
  }
  clear_environment(state);
  tix_config *config = resolve();
  char hint[512];
  tix_config_unreachable_hint(config, hint, sizeof hint);
  assert_string_equal(hint, "");
  tix_config_destroy(config);
}

static void passwords_are_masked_in_what_libpq_says(void **state) {
  char out[256];
  tix_conninfo_mask_password("host=hunter2 password=hunter2",
                             "could not translate host name \"hunter2\" to address", out,
                             sizeof out);
  assert_string_equal(out, "could not translate host name \"********\" to address");
  setenv("PGPASSWORD", "s3cret", 1);
  tix_conninfo_mask_password("postgresql://u@s3cret/db", "host s3cret, s3cret", out, sizeof out);
  assert_string_equal(out, "host ********, ********");
  tix_conninfo_mask_password("host=db", "nothing to hide", out, sizeof out);
  assert_string_equal(out, "nothing to hide");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(database_url_wins, clear_environment),
      cmocka_unit_test_setup(db_variables_come_second, clear_environment),
      cmocka_unit_test_setup(pg_variables_come_third, clear_environment),
      cmocka_unit_test_setup(embedded_when_nothing_is_set, clear_environment),
      cmocka_unit_test_setup(empty_values_count_as_unset, clear_environment),
      cmocka_unit_test_setup(database_url_is_checked_without_showing_it, clear_environment),
      cmocka_unit_test_setup(bad_ports_are_refused, clear_environment),
      cmocka_unit_test_setup(milliseconds_are_read_strictly, clear_environment),
      cmocka_unit_test_setup(bad_timeouts_in_the_environment_are_reported_by_name,
                             clear_environment),
      cmocka_unit_test_setup(paths_are_checked, clear_environment),
      cmocka_unit_test_setup(unreachable_hint_names_the_source, clear_environment),
      cmocka_unit_test_setup(passwords_are_masked_in_what_libpq_says, clear_environment),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
