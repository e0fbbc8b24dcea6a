/*
 * test_migration_file.c — migration files without a database: the naming
 * rules, section markers and their options, normalisation (CRLF, lone CR,
 * byte order mark) and the statement splitter (quotes, E'' strings, quoted
 * identifiers, dollar quotes, nested comments, BEGIN ATOMIC, line numbers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "migration_file.h"

#define SCRATCH_PATH_BYTES 256

/* ------------------------------------------------------------------ names */

static void valid_names_are_parsed(void **state) {
  int64_t version = 0;
  char name[MIGRATION_NAME_MAX_BYTES];
  assert_int_equal(migration_file_parse_name("0001_create_events.sql", &version, name, sizeof name),
                   TIX_OK);
  assert_int_equal(version, 1);
  assert_string_equal(name, "create_events");
  assert_int_equal(
      migration_file_parse_name("20240501120000_add_x2.sql", &version, name, sizeof name), TIX_OK);
  assert_int_equal(version, INT64_C(20240501120000));
  assert_string_equal(name, "add_x2");
}

static void invalid_names_are_refused(void **state) {
  static const char *const bad[] = {
      "12_x.sql",      "0003-bad.sql",  "0004_Bad.sql", "0005_.sql",  "0006_with space.sql",
      "0000_zero.sql", "abcd_name.sql", "0007_x.sql.",  "0008_ä.sql", "1234567890123456789_big.sql",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t version = 0;
    char name[MIGRATION_NAME_MAX_BYTES];
    assert_int_equal(migration_file_parse_name(bad[i], &version, name, sizeof name),
                     TIX_EMIGRATIONFILE);
    assert_non_null(strstr(tix_last_diag()->message, bad[i]));
  }
}

static void only_sql_files_are_candidates(void **state) {
  assert_true(migration_file_name_is_candidate("0001_x.sql"));
  assert_true(migration_file_name_is_candidate("12_x.sql")); /* a candidate, then refused */
  assert_false(migration_file_name_is_candidate("README"));
  assert_false(migration_file_name_is_candidate("notes.md"));
  assert_false(migration_file_name_is_candidate(".0001_x.sql"));
  assert_false(migration_file_name_is_candidate("0001_x.sql.swp"));
  assert_false(migration_name_is_valid("Bad"));
  assert_false(migration_name_is_valid(""));
  assert_false(migration_name_is_valid("a-b"));
  assert_true(migration_name_is_valid("add_index_2"));
}

/* ---------------------------------------------------------- normalisation */

static void normalise_expect(const char *input, size_t length, const char *expected) {
  char *output = NULL;
  size_t output_length = 0;
  assert_int_equal(migration_text_normalise(input, length, &output, &output_length), TIX_OK);
  assert_string_equal(output, expected);
  assert_int_equal(output_length, strlen(expected));
  free(output);
}

static void line_endings_and_bom_are_normalised(void **state) {
  normalise_expect("a\r\nb\r\n", 6, "a\nb\n");
  normalise_expect("a\rb\r", 4, "a\nb\n");
  normalise_expect("a\r\r\nb", 5, "a\n\nb");
  normalise_expect("\xEF\xBB\xBF-- x\r\n", 8, "-- x\n");
  normalise_expect("x\xEF\xBB\xBF", 4, "x\xEF\xBB\xBF"); /* only a leading mark goes */
  normalise_expect("plain\n", 6, "plain\n");
  normalise_expect("", 0, "");
}

/* --------------------------------------------------------------- sections */

static int parse_text(const char *text, migration_file *file) {
  *file = (migration_file){0};
  file->text = strdup(text);
  file->text_length = strlen(text);
  return migration_file_parse_text(file, "0001_test.sql");
}

static void sections_and_options_are_parsed(void **state) {
  migration_file file;
  assert_int_equal(parse_text("-- header\n"
                              "-- migrate:up transaction:false\n"
                              "CREATE INDEX CONCURRENTLY i ON t (x);\n"
                              "-- migrate:down\n"
                              "DROP INDEX i;\n",
                              &file),
                   TIX_OK);
  assert_true(file.up.present);
  assert_false(file.up.transaction);
  assert_int_equal(file.up.marker_line, 2);
  assert_int_equal(file.up.first_line, 3);
  assert_string_equal(file.up.sql, "CREATE INDEX CONCURRENTLY i ON t (x);\n");
  assert_true(file.down.transaction);
  assert_int_equal(file.down.first_line, 5);
  assert_string_equal(file.down.sql, "DROP INDEX i;\n");
  migration_file_clear(&file);

  assert_int_equal(parse_text("-- migrate:up\nSELECT 1;\n-- migrate:down", &file), TIX_OK);
  assert_string_equal(file.down.sql, ""); /* an empty down section is allowed */
  migration_file_clear(&file);
}

static void bad_sections_are_refused(void **state) {
  static const struct {
    const char *text;
    const char *message_part;
  } cases[] = {
      {"-- migrate:down\nDROP TABLE t;\n", "no \"-- migrate:up\" section"},
      {"-- migrate:up\nCREATE TABLE t ();\n", "no \"-- migrate:down\" section"},
      {"CREATE TABLE t ();\n", "no \"-- migrate:up\" section"},
      {"-- migrate:up transaction:maybe\n-- migrate:down\n",
       "unknown option \"transaction:maybe\""},
      {"-- migrate:up\n-- migrate:up\n-- migrate:down\n", "second \"-- migrate:up\""},
      {"-- migrate:up\n-- migrate:sideways\n-- migrate:down\n", "unknown section marker"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    migration_file file;
    assert_int_equal(parse_text(cases[i].text, &file), TIX_EMIGRATIONFILE);
    assert_non_null(strstr(tix_last_diag()->message, cases[i].message_part));
    assert_non_null(strstr(tix_last_diag()->message, "0001_test.sql"));
    migration_file_clear(&file);
  }
}

/* --------------------------------------------------------------- splitter */

struct split {
  migration_statement *statements;
  size_t count;
};

static struct split split_ok(const char *sql, int first_line) {
  struct split split = {0};
  assert_int_equal(
      migration_split_statements(sql, first_line, "0001_test.sql", &split.statements, &split.count),
      TIX_OK);
  return split;
}

static void split_free(struct split *split) {
  migration_statements_free(split->statements, split->count);
}

static void statements_split_with_their_lines(void **state) {
  struct split split = split_ok("-- leading comment; not a statement\n"
                                "CREATE TABLE a (id int);\n"
                                "\n"
                                "/* block; comment */ INSERT INTO a\n"
                                "  VALUES (1);;\n"
                                "SELECT 2",
                                10);
  assert_int_equal(split.count, 3);
  assert_string_equal(split.statements[0].sql, "CREATE TABLE a (id int)");
  assert_int_equal(split.statements[0].line, 11);
  assert_string_equal(split.statements[1].sql, "INSERT INTO a\n  VALUES (1)");
  assert_int_equal(split.statements[1].line, 13);
  assert_string_equal(split.statements[2].sql, "SELECT 2"); /* no final semicolon */
  assert_int_equal(split.statements[2].line, 15);
  split_free(&split);

  split = split_ok("  -- only comments\n/* and /* nested */ ones */\n;\n", 1);
  assert_int_equal(split.count, 0);
  split_free(&split);
}

static void semicolons_inside_quotes_do_not_split(void **state) {
  struct split split = split_ok("SELECT 'a;b', 'it''s; fine';\n"
                                "SELECT E'\\'; still inside', e'\\\\';\n"
                                "SELECT \"odd;name\", \"with\"\"quote;\" FROM t;\n"
                                "SELECT 'E''x;' AS typeE;\n",
                                1);
  assert_int_equal(split.count, 4);
  assert_string_equal(split.statements[0].sql, "SELECT 'a;b', 'it''s; fine'");
  assert_string_equal(split.statements[1].sql, "SELECT E'\\'; still inside', e'\\\\'");
  assert_string_equal(split.statements[2].sql, "SELECT \"odd;name\", \"with\"\"quote;\" FROM t");
  assert_int_equal(split.statements[3].line, 4);
  split_free(&split);
}

static void dollar_quotes_and_comments_do_not_split(void **state) {
  struct split split = split_ok("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
                                "BEGIN\n"
                                "  RETURN 1; -- ;\n"
                                "END;\n"
                                "$$;\n"
                                "DO $body$ BEGIN PERFORM $$;$$; END $body$;\n"
                                "SELECT $1 + 1; /* outer /* inner; */ still; */ SELECT 3;\n"
                                "SELECT a$b$ FROM t;\n",
                                1);
  assert_int_equal(split.count, 5);
  assert_int_equal(split.statements[1].line, 6);
  assert_string_equal(split.statements[1].sql, "DO $body$ BEGIN PERFORM $$;$$; END $body$");
  assert_string_equal(split.statements[2].sql, "SELECT $1 + 1");
  assert_string_equal(split.statements[3].sql, "SELECT 3");
  assert_int_equal(split.statements[3].line, 7);
  assert_string_equal(split.statements[4].sql, "SELECT a$b$ FROM t");
  split_free(&split);
}

static void begin_atomic_bodies_and_parentheses_do_not_split(void **state) {
  struct split split = split_ok("CREATE OR REPLACE FUNCTION g(x int) RETURNS int LANGUAGE sql\n"
                                "BEGIN ATOMIC\n"
                                "  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;\n"
                                "  SELECT x;\n"
                                "END;\n"
                                "BEGIN;\n"
                                "CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY a; NOTIFY b);\n",
                                1);
  assert_int_equal(split.count, 3);
  assert_int_equal(split.statements[1].line, 6);
  assert_string_equal(split.statements[1].sql, "BEGIN");
  assert_int_equal(split.statements[2].line, 7);
  split_free(&split);
}

static void unterminated_text_is_refused(void **state) {
  static const char *const bad[] = {"SELECT 'open;\n", "SELECT $x$ open;", "/* /* */ open",
                                    "SELECT \"open", "SELECT E'\\';"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    migration_statement *statements = NULL;
    size_t count = 0;
    assert_int_equal(migration_split_statements(bad[i], 1, "0001_test.sql", &statements, &count),
                     TIX_EMIGRATIONFILE);
    assert_non_null(strstr(tix_last_diag()->message, "unterminated"));
    assert_null(statements);
  }
}

static void error_positions_map_to_lines(void **state) {
  migration_statement statement = {.sql = "SELECT 'é',\n  'ü',\n  nme", .line = 7};
  /* Positions count characters, not bytes, as PostgreSQL reports them. */
  assert_int_equal(migration_statement_line_at(&statement, 1), 7);
  assert_int_equal(migration_statement_line_at(&statement, 12), 7);
  assert_int_equal(migration_statement_line_at(&statement, 13), 8);
  assert_int_equal(migration_statement_line_at(&statement, 21), 9);
  assert_int_equal(migration_statement_line_at(&statement, 1000), 9);
}

/* ------------------------------------------------------------ directories */

static void write_file(const char *directory, const char *name, const char *text) {
  char path[SCRATCH_PATH_BYTES];
  snprintf(path, sizeof path, "%s/%s", directory, name);
  FILE *stream = fopen(path, "w");
  assert_non_null(stream);
  fputs(text, stream);
  fclose(stream);
}

static void remove_directory(const char *directory) {
  char command[SCRATCH_PATH_BYTES + 16];
  snprintf(command, sizeof command, "rm -rf '%s'", directory);
  assert_int_equal(system(command), 0);
}

static const char valid_text[] = "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n";

static void directories_load_sorted_and_refuse_duplicates(void **state) {
  char directory[] = "/tmp/tix-unit-XXXXXX";
  assert_non_null(mkdtemp(directory));
  write_file(directory, "0010_later.sql", valid_text);
  write_file(directory, "0002_earlier.sql", valid_text);
  write_file(directory, "README", "not a migration");
  migration_set set;
  assert_int_equal(migration_set_load(directory, &set), TIX_OK);
  assert_int_equal(set.count, 2);
  assert_int_equal(set.files[0].version, 2);
  assert_int_equal(set.files[1].version, 10);
  assert_int_equal(set.files[1].up.statement_count, 1);
  migration_set_clear(&set);
  int64_t highest = 0;
  assert_int_equal(migration_directory_highest_version(directory, &highest), TIX_OK);
  assert_int_equal(highest, 10);

  write_file(directory, "00010_again.sql", valid_text);
  assert_int_equal(migration_set_load(directory, &set), TIX_EMIGRATIONFILE);
  assert_non_null(strstr(tix_last_diag()->message, "same version 10"));
  remove_directory(directory);
}

static void transaction_control_is_refused_in_a_transaction(void **state) {
  char directory[] = "/tmp/tix-unit-XXXXXX";
  assert_non_null(mkdtemp(directory));
  write_file(directory, "0001_commits.sql",
             "-- migrate:up\nCREATE TABLE t ();\nCOMMIT;\n-- migrate:down\nDROP TABLE t;\n");
  migration_file file;
  assert_int_equal(migration_file_load(directory, "0001_commits.sql", &file), TIX_EMIGRATIONFILE);
  assert_non_null(strstr(tix_last_diag()->message, "at line 3"));
  write_file(directory, "0002_ok.sql",
             "-- migrate:up transaction:false\nBEGIN;\nCOMMIT;\n-- migrate:down\n");
  assert_int_equal(migration_file_load(directory, "0002_ok.sql", &file), TIX_OK);
  assert_int_equal(file.up.statement_count, 2);
  migration_file_clear(&file);
  write_file(directory, "0003_crlf.sql",
             "\xEF\xBB\xBF-- migrate:up\r\nSELECT\r\n 1;\r\n"
             "-- migrate:down\r\n");
  assert_int_equal(migration_file_load(directory, "0003_crlf.sql", &file), TIX_OK);
  assert_string_equal(file.up.statements[0].sql, "SELECT\n 1");
  assert_int_equal(file.up.statements[0].line, 2);
  migration_file_clear(&file);
  remove_directory(directory);
}

/* What `tix migrate new` writes has nothing to apply: refused by the
 * commands that would apply it, with the file and the marker's line. */
static void an_up_section_without_statements_is_refused(void **state) {
  char directory[] = "/tmp/tix-unit-XXXXXX";
  assert_non_null(mkdtemp(directory));
  write_file(directory, "0001_template.sql",
             "-- template: say what this migration changes and why.\n\n"
             "-- migrate:up\n\n-- only a comment; and an empty statement:\n;\n\n"
             "-- migrate:down\n\n");
  write_file(directory, "0002_filled.sql", valid_text);
  migration_file file;
  assert_int_equal(migration_file_load(directory, "0001_template.sql", &file), TIX_OK);
  assert_int_equal(migration_file_require_up(&file), TIX_EMIGRATIONFILE);
  assert_non_null(strstr(tix_last_diag()->message, "0001_template.sql"));
  assert_non_null(strstr(tix_last_diag()->message, "no statement in its up section"));
  assert_non_null(strstr(tix_last_diag()->detail, "at line 3"));
  migration_file_clear(&file);
  assert_int_equal(migration_file_load(directory, "0002_filled.sql", &file), TIX_OK);
  assert_int_equal(migration_file_require_up(&file), TIX_OK);
  migration_file_clear(&file);
  remove_directory(directory);
}

/* The schema check knows a directory by its names: a file that cannot be
 * read or parsed is still listed, a bad name is still refused. */
static void directories_list_by_name_without_reading(void **state) {
  char directory[] = "/tmp/tix-unit-XXXXXX";
  assert_non_null(mkdtemp(directory));
  write_file(directory, "0010_later.sql", "no sections at all");
  write_file(directory, "0002_earlier.sql", valid_text);
  migration_set set;
  assert_int_equal(migration_set_list(directory, &set), TIX_OK);
  assert_int_equal(set.count, 2);
  assert_int_equal(set.files[0].version, 2);
  assert_string_equal(set.files[1].file_name, "0010_later.sql");
  assert_string_equal(set.files[1].name, "later");
  assert_null(set.files[1].text);
  migration_set_clear(&set);
  assert_int_equal(migration_set_load(directory, &set), TIX_EMIGRATIONFILE);
  write_file(directory, "12_short.sql", valid_text);
  assert_int_equal(migration_set_list(directory, &set), TIX_EMIGRATIONFILE);
  assert_non_null(strstr(tix_last_diag()->message, "12_short.sql"));
  remove_directory(directory);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(valid_names_are_parsed),
      cmocka_unit_test(invalid_names_are_refused),
      cmocka_unit_test(only_sql_files_are_candidates),
      cmocka_unit_test(line_endings_and_bom_are_normalised),
      cmocka_unit_test(sections_and_options_are_parsed),
      cmocka_unit_test(bad_sections_are_refused),
      cmocka_unit_test(statements_split_with_their_lines),
      cmocka_unit_test(semicolons_inside_quotes_do_not_split),
      cmocka_unit_test(dollar_quotes_and_comments_do_not_split),
      cmocka_unit_test(begin_atomic_bodies_and_parentheses_do_not_split),
      cmocka_unit_test(unterminated_text_is_refused),
      cmocka_unit_test(error_positions_map_to_lines),
      cmocka_unit_test(directories_load_sorted_and_refuse_duplicates),
      cmocka_unit_test(transaction_control_is_refused_in_a_transaction),
      cmocka_unit_test(an_up_section_without_statements_is_refused),
      cmocka_unit_test(directories_list_by_name_without_reading),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
