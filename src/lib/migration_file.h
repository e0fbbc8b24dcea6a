/*
 * migration_file.h — internal: migration files as text, without a database.
 * Naming rules, reading and normalising a file, its up/down sections and
 * their options, and splitting a section into statements that remember the
 * line they start on, so an error can point into the file.
 */
#ifndef TIX_MIGRATION_FILE_H
#define TIX_MIGRATION_FILE_H

#include "tix.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIGRATION_NAME_MAX_BYTES      128 /* the name part, as in tix_migration_status */
#define MIGRATION_FILE_NAME_MAX_BYTES 256
#define MIGRATION_FILE_MAX_BYTES      (16 * 1024 * 1024)
#define MIGRATION_FILES_MAX           10000
#define MIGRATION_STATEMENTS_MAX      100000
#define MIGRATION_VERSION_DIGITS_MIN  4
#define MIGRATION_VERSION_DIGITS_MAX  18 /* still fits an int64 */
#define MIGRATION_DIRECTORY_ENV       "TIX_MIGRATIONS"
#define MIGRATION_DEFAULT_DIRECTORY   "db/migrations"

/* One statement of a section: its own NUL-terminated copy of the text. */
typedef struct migration_statement {
  char *sql;
  int line; /* the line of the file where the statement starts */
} migration_statement;

typedef struct migration_section {
  bool present;
  bool transaction; /* false after `transaction:false`: run outside one */
  int marker_line;  /* the line of `-- migrate:up` / `-- migrate:down` */
  char *sql;        /* the section's text (a copy) */
  int first_line;   /* the line of the file where sql begins */
  migration_statement *statements;
  size_t statement_count;
} migration_section;

typedef struct migration_file {
  int64_t version;
  char name[MIGRATION_NAME_MAX_BYTES];           /* "create_events" */
  char file_name[MIGRATION_FILE_NAME_MAX_BYTES]; /* "0001_create_events.sql" */
  char *text;                                    /* normalised whole file */
  size_t text_length;
  migration_section up;
  migration_section down;
} migration_file;

/* The files of a directory, sorted by version. */
typedef struct migration_set {
  char *directory;
  migration_file *files;
  size_t count;
} migration_set;

/* Whether a directory entry is a migration at all: every *.sql file is. */
bool migration_file_name_is_candidate(const char *file_name);
/* Parses "NNNN_name.sql"; TIX_EMIGRATIONFILE naming the file when it does not
 * follow the rules (4 or more digits, '_', [a-z0-9_]+, ".sql"). */
int migration_file_parse_name(const char *file_name, int64_t *version_out, char *name_out,
                              size_t name_size);
/* Whether name is a valid migration name: [a-z0-9_]+, not too long. */
bool migration_name_is_valid(const char *name);

/* CRLF and lone CR become LF and a leading UTF-8 byte order mark goes, so
 * that a checkout on another OS does not look like a changed file. The
 * result is NUL-terminated; *length_out excludes the terminator. */
int migration_text_normalise(const char *text, size_t length, char **out, size_t *length_out);

/* Splits the normalised text into its two sections and parses the marker
 * options; file_name is only for messages. */
int migration_file_parse_text(migration_file *file, const char *file_name);

/* Splits sql into statements the way psql would: semicolons inside quotes,
 * E'' strings, quoted identifiers, dollar quotes, comments, parentheses and
 * BEGIN ATOMIC bodies do not end a statement. Leading comments and blank
 * lines are not part of a statement; empty statements are dropped.
 * first_line is the file line sql starts on. */
int migration_split_statements(const char *sql, int first_line, const char *file_name,
                               migration_statement **out, size_t *count_out);
void migration_statements_free(migration_statement *statements, size_t count);

/* Splits a parsed section's sql into its statements; in a section that runs
 * in a transaction, BEGIN, COMMIT and friends are TIX_EMIGRATIONFILE. */
int migration_section_split(migration_section *section, const char *file_name);

/* The file line of a 1-based character position (as PostgreSQL reports
 * it, in characters, not bytes) inside a statement. */
int migration_statement_line_at(const migration_statement *statement, int position);

/* TIX_EMIGRATIONFILE naming the file when its up section has no statement,
 * for the commands about to apply it (up, redo, verify). */
int migration_file_require_up(const migration_file *file);

/* Reads, normalises, parses and splits one file. */
int migration_file_load(const char *directory, const char *file_name, migration_file *out);
void migration_file_clear(migration_file *file);

/* The directory to use: requested if not NULL, else $TIX_MIGRATIONS, else
 * ./db/migrations if it exists, else the built-in one. */
int migration_directory_resolve(const char *requested, char *out, size_t size);

/* Loads every migration of a directory; bad names, missing sections,
 * unknown options and duplicate versions are TIX_EMIGRATIONFILE. */
int migration_set_load(const char *directory, migration_set *out);
/* The same by names alone (version, name, file_name; no text is read): what
 * is known of a directory without opening its files, for the schema check.
 * Bad names and duplicate versions are TIX_EMIGRATIONFILE. */
int migration_set_list(const char *directory, migration_set *out);
void migration_set_clear(migration_set *set);
/* The file of a version, NULL when there is none. */
const migration_file *migration_set_find(const migration_set *set, int64_t version);

/* The highest version among the directory's well-named files (0: none),
 * ignoring everything else, for `migrate new`. */
int migration_directory_highest_version(const char *directory, int64_t *version_out);

#endif /* TIX_MIGRATION_FILE_H */
