/*
 * test_config.c — configuration precedence (DESIGN §5): DATABASE_URL, then
 * DB_*, then PG*, then the embedded cluster; descriptions never show a password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tix.h"

static const char *const all_variables[] = {"DATABASE_URL", "DB_HOST",    "DB_PORT", "DB_USERNAME",
                                            "DB_PASSWORD",  "DB_NAME",    "PGHOST",  "PGHOSTADDR",
                                            "PGPORT",       "PGDATABASE", "PGUSER",  "PGSERVICE",
                                            "TIX_DATA",     "PGPASSWORD"};

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(database_url_wins, clear_environment),
      cmocka_unit_test_setup(db_variables_come_second, clear_environment),
      cmocka_unit_test_setup(pg_variables_come_third, clear_environment),
      cmocka_unit_test_setup(embedded_when_nothing_is_set, clear_environment),
      cmocka_unit_test_setup(empty_values_count_as_unset, clear_environment),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
