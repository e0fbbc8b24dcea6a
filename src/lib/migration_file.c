/*
 * migration_file.c — migration files as text: names, normalisation,
 * sections and statement splitting. Nothing here talks to PostgreSQL, so
 * every rule about what a valid migration is can be unit-tested and every
 * bad file is refused before the database is touched.
 */
#include "migration_file.h"

#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER_PREFIX        "-- migrate:"
#define MARKER_OPTIONS_MAX   8
#define OPTION_MAX_BYTES     64
#define STATEMENTS_INITIAL   16
#define KEYWORD_MAX_BYTES    16
#define HEURISTIC_KEYWORDS   4
#define DOLLAR_TAG_MAX_BYTES 64
#define UTF8_BYTE_ORDER_MARK "\xEF\xBB\xBF"
#define NAME_RULE_DETAIL                                                                           \
  "Migration files are named NNNN_name.sql: a version of at least 4 digits, an underscore, "       \
  "then lowercase letters, digits and underscores."

/* ------------------------------------------------------------------ names */

bool migration_file_name_is_candidate(const char *file_name) {
  size_t length = strlen(file_name);
  /* Hidden files are editors' lock and swap files, never migrations. */
  return file_name[0] != '.' && length > 4 && strcmp(file_name + length - 4, ".sql") == 0;
}

bool migration_name_is_valid(const char *name) {
  size_t length = strlen(name);
  if (length == 0 || length >= MIGRATION_NAME_MAX_BYTES) {
    return false;
  }
  return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == length;
}

static bool parse_name_quietly(const char *file_name, int64_t *version_out, char *name_out,
                               size_t name_size) {
  size_t digits = strspn(file_name, "0123456789");
  size_t length = strlen(file_name);
  if (digits < MIGRATION_VERSION_DIGITS_MIN || digits > MIGRATION_VERSION_DIGITS_MAX ||
      file_name[digits] != '_' || length < digits + 1 + 4 ||
      strcmp(file_name + length - 4, ".sql") != 0) {
    return false;
  }
  size_t name_length = length - digits - 1 - 4;
  char name[MIGRATION_NAME_MAX_BYTES];
  if (name_length >= sizeof name || name_length >= name_size) {
    return false;
  }
  memcpy(name, file_name + digits + 1, name_length);
  name[name_length] = '\0';
  if (!migration_name_is_valid(name)) {
    return false;
  }
  int64_t version = strtoll(file_name, NULL, 10);
  if (version <= 0) {
    return false;
  }
  *version_out = version;
  memcpy(name_out, name, name_length + 1);
  return true;
}

int migration_file_parse_name(const char *file_name, int64_t *version_out, char *name_out,
                              size_t name_size) {
  if (!parse_name_quietly(file_name, version_out, name_out, name_size)) {
    tix_fail(TIX_EMIGRATIONFILE, "invalid migration file name \"%s\"", file_name);
    tix_fail_detail(NAME_RULE_DETAIL " The version must be greater than zero.");
    tix_fail_hint("Rename the file, or move it out of the migrations directory.");
    return TIX_EMIGRATIONFILE;
  }
  return TIX_OK;
}

/* ---------------------------------------------------------- normalisation */

int migration_text_normalise(const char *text, size_t length, char **out, size_t *length_out) {
  *out = NULL;
  size_t start = 0;
  if (length >= 3 && memcmp(text, UTF8_BYTE_ORDER_MARK, 3) == 0) {
    start = 3;
  }
  char *result = malloc(length - start + 1);
  if (result == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  size_t used = 0;
  for (size_t i = start; i < length; i++) {
    if (text[i] == '\r') {
      result[used++] = '\n';
      if (i + 1 < length && text[i + 1] == '\n') {
        i++;
      }
    } else {
      result[used++] = text[i];
    }
  }
  result[used] = '\0';
  *out = result;
  *length_out = used;
  return TIX_OK;
}

/* --------------------------------------------------------------- sections */

static int parse_marker_options(const char *options, int line, const char *file_name,
                                migration_section *section) {
  const char *cursor = options;
  for (int count = 0; count <= MARKER_OPTIONS_MAX; count++) {
    cursor += strspn(cursor, " \t");
    size_t length = strcspn(cursor, " \t");
    if (length == 0) {
      return TIX_OK;
    }
    if (count == MARKER_OPTIONS_MAX || length >= OPTION_MAX_BYTES) {
      break;
    }
    char option[OPTION_MAX_BYTES];
    memcpy(option, cursor, length);
    option[length] = '\0';
    if (strcmp(option, "transaction:false") == 0) {
      section->transaction = false;
    } else if (strcmp(option, "transaction:true") == 0) {
      section->transaction = true;
    } else {
      tix_fail(TIX_EMIGRATIONFILE, "unknown option \"%s\" in migration %s at line %d", option,
               file_name, line);
      tix_fail_detail("The only option is transaction:false (or transaction:true).");
      return TIX_EMIGRATIONFILE;
    }
    cursor += length;
  }
  tix_fail(TIX_EMIGRATIONFILE, "too many options in migration %s at line %d", file_name, line);
  return TIX_EMIGRATIONFILE;
}

/* A marker line: "-- migrate:up" or "-- migrate:down", options after. */
static int parse_marker(migration_file *file, const char *line_text, int line,
                        const char *file_name, migration_section **section_out) {
  const char *word = line_text + strlen(MARKER_PREFIX);
  size_t word_length = strcspn(word, " \t");
  migration_section *section = NULL;
  if (word_length == 2 && strncmp(word, "up", 2) == 0) {
    section = &file->up;
  } else if (word_length == 4 && strncmp(word, "down", 4) == 0) {
    section = &file->down;
  } else {
    tix_fail(TIX_EMIGRATIONFILE, "unknown section marker in migration %s at line %d", file_name,
             line);
    tix_fail_detail("Sections start with a line \"-- migrate:up\" or \"-- migrate:down\".");
    return TIX_EMIGRATIONFILE;
  }
  if (section->present) {
    tix_fail(TIX_EMIGRATIONFILE, "second \"-- migrate:%s\" section in migration %s at line %d",
             section == &file->up ? "up" : "down", file_name, line);
    tix_fail_detail("The first one is at line %d.", section->marker_line);
    return TIX_EMIGRATIONFILE;
  }
  section->present = true;
  section->transaction = true;
  section->marker_line = line;
  *section_out = section;
  return parse_marker_options(word + word_length, line, file_name, section);
}

static int close_section(migration_section *section, const char *start, const char *end) {
  if (section == NULL) {
    return TIX_OK;
  }
  section->sql = strndup(start, (size_t)(end - start));
  section->first_line = section->marker_line + 1;
  return section->sql != NULL ? TIX_OK : tix_fail(TIX_ENOMEM, "out of memory");
}

static int require_sections(const migration_file *file, const char *file_name) {
  const char *missing = !file->up.present ? "up" : !file->down.present ? "down" : NULL;
  if (missing == NULL) {
    return TIX_OK;
  }
  tix_fail(TIX_EMIGRATIONFILE, "migration %s has no \"-- migrate:%s\" section", file_name, missing);
  tix_fail_detail("Every migration needs a line \"-- migrate:up\" and a line \"-- migrate:down\", "
                  "each followed by its SQL (the down section may be empty).");
  tix_fail_hint("Compare with a file made by \"tix migrate new NAME\".");
  return TIX_EMIGRATIONFILE;
}

int migration_file_parse_text(migration_file *file, const char *file_name) {
  const char *text = file->text;
  const char *section_start = NULL;
  migration_section *current = NULL;
  int status = TIX_OK;
  int line = 1;
  for (const char *cursor = text; *cursor != '\0' && status == TIX_OK; line++) {
    const char *line_end = strchr(cursor, '\n');
    size_t line_length = line_end != NULL ? (size_t)(line_end - cursor) : strlen(cursor);
    if (strncmp(cursor, MARKER_PREFIX, strlen(MARKER_PREFIX)) == 0) {
      status = close_section(current, section_start, cursor);
      char marker[OPTION_MAX_BYTES * (MARKER_OPTIONS_MAX + 1)];
      snprintf(marker, sizeof marker, "%.*s", (int)line_length, cursor);
      if (status == TIX_OK) {
        status = parse_marker(file, marker, line, file_name, &current);
      }
      section_start = line_end != NULL ? line_end + 1 : cursor + line_length;
    }
    cursor += line_length + (line_end != NULL ? 1 : 0);
  }
  if (status == TIX_OK) {
    status = close_section(current, section_start, text + strlen(text));
  }
  if (status == TIX_OK) {
    status = require_sections(file, file_name);
  }
  return status;
}

/* ---------------------------------------------------------------- splitter */

struct splitter {
  const char *sql;
  size_t length;
  size_t position;
  int line; /* the line at position */
  const char *file_name;
  bool in_statement;
  size_t statement_start;
  int statement_line;
  int paren_depth;
  int begin_depth; /* inside BEGIN ATOMIC … END of CREATE FUNCTION */
  int identifier_count;
  char identifiers[HEURISTIC_KEYWORDS];
  migration_statement *items;
  size_t count;
  size_t capacity;
};

static bool is_identifier_start(char c) {
  unsigned char u = (unsigned char)c;
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u >= 0x80;
}

static bool is_identifier_part(char c) {
  return is_identifier_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static void advance(struct splitter *splitter, size_t bytes) {
  for (size_t i = 0; i < bytes && splitter->position < splitter->length; i++) {
    if (splitter->sql[splitter->position] == '\n') {
      splitter->line++;
    }
    splitter->position++;
  }
}

static int fail_unterminated(const struct splitter *splitter, const char *what, int line) {
  tix_fail(TIX_EMIGRATIONFILE, "unterminated %s in migration %s at line %d", what,
           splitter->file_name, line);
  return TIX_EMIGRATIONFILE;
}

/* Skips a quoted text whose quote is doubled to escape it; backslashes
 * escape the next byte too when backslash_escapes (E'' strings). */
static int skip_quoted(struct splitter *splitter, char quote, bool backslash_escapes,
                       const char *what) {
  int start_line = splitter->line;
  advance(splitter, 1);
  while (splitter->position < splitter->length) {
    char c = splitter->sql[splitter->position];
    if (backslash_escapes && c == '\\') {
      advance(splitter, 2);
    } else if (c == quote && splitter->sql[splitter->position + 1] == quote) {
      advance(splitter, 2);
    } else if (c == quote) {
      advance(splitter, 1);
      return TIX_OK;
    } else {
      advance(splitter, 1);
    }
  }
  return fail_unterminated(splitter, what, start_line);
}

static int skip_block_comment(struct splitter *splitter) {
  int start_line = splitter->line;
  int depth = 0;
  while (splitter->position < splitter->length) {
    const char *here = splitter->sql + splitter->position;
    if (here[0] == '/' && here[1] == '*') {
      depth++;
      advance(splitter, 2);
    } else if (here[0] == '*' && here[1] == '/') {
      advance(splitter, 2);
      if (--depth == 0) {
        return TIX_OK;
      }
    } else {
      advance(splitter, 1);
    }
  }
  return fail_unterminated(splitter, "comment", start_line);
}

static void skip_line_comment(struct splitter *splitter) {
  const char *end = strchr(splitter->sql + splitter->position, '\n');
  size_t length =
      end != NULL ? (size_t)(end - (splitter->sql + splitter->position)) : splitter->length;
  advance(splitter, length);
}

/* The length of a dollar-quote tag ("$$", "$body$") at the position, 0 when
 * the dollar sign is something else ($1, or part of an operator). */
static size_t dollar_tag_length(const struct splitter *splitter) {
  const char *here = splitter->sql + splitter->position;
  size_t length = 1;
  if (here[length] != '$' && !is_identifier_start(here[length])) {
    return 0;
  }
  while (length < DOLLAR_TAG_MAX_BYTES && here[length] != '$' && is_identifier_part(here[length])) {
    length++;
  }
  return here[length] == '$' ? length + 1 : 0;
}

static int skip_dollar_quoted(struct splitter *splitter, size_t tag_length) {
  int start_line = splitter->line;
  char tag[DOLLAR_TAG_MAX_BYTES + 2];
  memcpy(tag, splitter->sql + splitter->position, tag_length);
  tag[tag_length] = '\0';
  advance(splitter, tag_length);
  const char *end = strstr(splitter->sql + splitter->position, tag);
  if (end == NULL) {
    advance(splitter, splitter->length);
    return fail_unterminated(splitter, "dollar-quoted string", start_line);
  }
  advance(splitter, (size_t)(end - (splitter->sql + splitter->position)) + tag_length);
  return TIX_OK;
}

/* psql's heuristic for SQL-standard function bodies: in CREATE [OR REPLACE]
 * FUNCTION|PROCEDURE, semicolons between BEGIN and its END do not count. */
static void track_keyword(struct splitter *splitter, const char *word, size_t length) {
  static const char *const remembered[] = {"create", "function", "procedure", "or", "replace"};
  char lower[KEYWORD_MAX_BYTES] = "";
  if (length < sizeof lower) {
    for (size_t i = 0; i < length; i++) {
      lower[i] = (char)(word[i] >= 'A' && word[i] <= 'Z' ? word[i] - 'A' + 'a' : word[i]);
    }
    lower[length] = '\0';
  }
  int index = splitter->identifier_count++;
  for (size_t i = 0; i < sizeof remembered / sizeof remembered[0] && index < HEURISTIC_KEYWORDS;
       i++) {
    if (strcmp(lower, remembered[i]) == 0) {
      splitter->identifiers[index] = lower[0];
    }
  }
  const char *ids = splitter->identifiers;
  bool defines_routine =
      ids[0] == 'c' && (ids[1] == 'f' || ids[1] == 'p' ||
                        (ids[1] == 'o' && ids[2] == 'r' && (ids[3] == 'f' || ids[3] == 'p')));
  if (!defines_routine || splitter->paren_depth != 0) {
    return;
  }
  if (strcmp(lower, "begin") == 0) {
    splitter->begin_depth++;
  } else if (strcmp(lower, "case") == 0 && splitter->begin_depth >= 1) {
    splitter->begin_depth++;
  } else if (strcmp(lower, "end") == 0 && splitter->begin_depth > 0) {
    splitter->begin_depth--;
  }
}

static int skip_identifier_or_string(struct splitter *splitter) {
  const char *here = splitter->sql + splitter->position;
  if ((here[0] == 'E' || here[0] == 'e') && here[1] == '\'') {
    advance(splitter, 1);
    return skip_quoted(splitter, '\'', true, "quoted string");
  }
  size_t length = 1;
  while (is_identifier_part(here[length])) {
    length++;
  }
  track_keyword(splitter, here, length);
  advance(splitter, length);
  return TIX_OK;
}

static int emit_statement(struct splitter *splitter, size_t end) {
  if (!splitter->in_statement) {
    return TIX_OK;
  }
  while (end > splitter->statement_start && strchr(" \t\n\f\v", splitter->sql[end - 1]) != NULL) {
    end--;
  }
  if (splitter->count == MIGRATION_STATEMENTS_MAX) {
    return tix_fail(TIX_EMIGRATIONFILE, "migration %s has more than %d statements",
                    splitter->file_name, MIGRATION_STATEMENTS_MAX);
  }
  if (splitter->count == splitter->capacity) {
    size_t capacity = splitter->capacity == 0 ? STATEMENTS_INITIAL : splitter->capacity * 2;
    migration_statement *items = realloc(splitter->items, capacity * sizeof *items);
    if (items == NULL) {
      return tix_fail(TIX_ENOMEM, "out of memory");
    }
    splitter->items = items;
    splitter->capacity = capacity;
  }
  char *sql = strndup(splitter->sql + splitter->statement_start, end - splitter->statement_start);
  if (sql == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  splitter->items[splitter->count++] = (migration_statement){sql, splitter->statement_line};
  splitter->in_statement = false;
  splitter->paren_depth = 0;
  splitter->begin_depth = 0;
  splitter->identifier_count = 0;
  memset(splitter->identifiers, 0, sizeof splitter->identifiers);
  return TIX_OK;
}

/* One token of a statement: anything but whitespace, comments and ';'. */
static int skip_token(struct splitter *splitter) {
  const char *here = splitter->sql + splitter->position;
  if (!splitter->in_statement) {
    splitter->in_statement = true;
    splitter->statement_start = splitter->position;
    splitter->statement_line = splitter->line;
  }
  size_t tag_length = here[0] == '$' ? dollar_tag_length(splitter) : 0;
  if (here[0] == '\'') {
    return skip_quoted(splitter, '\'', false, "quoted string");
  }
  if (here[0] == '"') {
    return skip_quoted(splitter, '"', false, "quoted identifier");
  }
  if (tag_length > 0) {
    return skip_dollar_quoted(splitter, tag_length);
  }
  if (is_identifier_start(here[0])) {
    return skip_identifier_or_string(splitter);
  }
  if (here[0] == '(') {
    splitter->paren_depth++;
  } else if (here[0] == ')' && splitter->paren_depth > 0) {
    splitter->paren_depth--;
  }
  advance(splitter, 1);
  return TIX_OK;
}

static int split_step(struct splitter *splitter) {
  const char *here = splitter->sql + splitter->position;
  if (strchr(" \t\n\r\f\v", here[0]) != NULL) {
    advance(splitter, 1);
    return TIX_OK;
  }
  if (here[0] == '-' && here[1] == '-') {
    skip_line_comment(splitter);
    return TIX_OK;
  }
  if (here[0] == '/' && here[1] == '*') {
    return skip_block_comment(splitter);
  }
  if (here[0] == ';' && splitter->paren_depth == 0 && splitter->begin_depth == 0) {
    int status = emit_statement(splitter, splitter->position);
    advance(splitter, 1);
    return status;
  }
  return skip_token(splitter);
}

int migration_split_statements(const char *sql, int first_line, const char *file_name,
                               migration_statement **out, size_t *count_out) {
  struct splitter splitter = {
      .sql = sql, .length = strlen(sql), .line = first_line, .file_name = file_name};
  int status = TIX_OK;
  /* Every step advances at least one byte, so length bounds the loop. */
  while (status == TIX_OK && splitter.position < splitter.length) {
    status = split_step(&splitter);
  }
  if (status == TIX_OK) {
    status = emit_statement(&splitter, splitter.length);
  }
  if (status != TIX_OK) {
    migration_statements_free(splitter.items, splitter.count);
    *out = NULL;
    *count_out = 0;
    return status;
  }
  *out = splitter.items;
  *count_out = splitter.count;
  return TIX_OK;
}

void migration_statements_free(migration_statement *statements, size_t count) {
  for (size_t i = 0; i < count; i++) {
    free(statements[i].sql);
  }
  free(statements);
}

int migration_statement_line_at(const migration_statement *statement, int position) {
  int line = statement->line;
  int characters = 0;
  for (const char *c = statement->sql; *c != '\0'; c++) {
    bool starts_character = ((unsigned char)*c & 0xC0) != 0x80;
    if (starts_character && ++characters >= position) {
      break;
    }
    if (*c == '\n') {
      line++;
    }
  }
  return line;
}

/* ------------------------------------------------------------------ files */

/* BEGIN, COMMIT and friends would end tix's own transaction half-way and
 * leave a migration half-applied; the first word says which they are. */
static bool controls_transaction(const char *sql) {
  static const char *const words[] = {"begin", "commit", "rollback", "start", "end", "abort"};
  size_t length = 0;
  while (length < KEYWORD_MAX_BYTES && is_identifier_part(sql[length])) {
    length++;
  }
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    if (strlen(words[i]) == length && strncasecmp(sql, words[i], length) == 0) {
      return true;
    }
  }
  return false;
}

static int split_section(migration_section *section, const char *file_name) {
  int status = migration_split_statements(section->sql, section->first_line, file_name,
                                          &section->statements, &section->statement_count);
  for (size_t i = 0; status == TIX_OK && section->transaction && i < section->statement_count;
       i++) {
    if (controls_transaction(section->statements[i].sql)) {
      status =
          tix_fail(TIX_EMIGRATIONFILE, "transaction control statement in migration %s at line %d",
                   file_name, section->statements[i].line);
      tix_fail_detail("tix runs each section in a transaction of its own; a COMMIT inside it "
                      "would leave the migration half-applied.");
      tix_fail_hint("Remove it, or put transaction:false after the section marker.");
    }
  }
  return status;
}

static int read_whole_file(const char *path, const char *file_name, char **out, size_t *length) {
  *out = NULL;
  int status = TIX_OK;
  FILE *stream = fopen(path, "rb");
  if (stream == NULL) {
    return tix_fail(TIX_EMIGRATIONFILE, "cannot read migration %s: %s", file_name, strerror(errno));
  }
  char *text = malloc(MIGRATION_FILE_MAX_BYTES + 1);
  if (text == NULL) {
    status = tix_fail(TIX_ENOMEM, "out of memory");
    goto close_stream;
  }
  *length = fread(text, 1, MIGRATION_FILE_MAX_BYTES + 1, stream);
  if (ferror(stream)) {
    status = tix_fail(TIX_EMIGRATIONFILE, "cannot read migration %s", file_name);
  } else if (*length > MIGRATION_FILE_MAX_BYTES) {
    status = tix_fail(TIX_EMIGRATIONFILE, "migration %s is larger than %d bytes", file_name,
                      MIGRATION_FILE_MAX_BYTES);
  } else if (memchr(text, '\0', *length) != NULL) {
    status = tix_fail(TIX_EMIGRATIONFILE, "migration %s contains a NUL byte", file_name);
  }
  if (status != TIX_OK) {
    free(text);
    goto close_stream;
  }
  *out = text;
close_stream:
  fclose(stream);
  return status;
}

int migration_file_load(const char *directory, const char *file_name, migration_file *out) {
  *out = (migration_file){0};
  int status = migration_file_parse_name(file_name, &out->version, out->name, sizeof out->name);
  if (status != TIX_OK) {
    return status;
  }
  snprintf(out->file_name, sizeof out->file_name, "%s", file_name);
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", directory, file_name) >= (int)sizeof path) {
    return tix_fail(TIX_EMIGRATIONFILE, "the path of migration %s is too long", file_name);
  }
  char *raw = NULL;
  size_t raw_length = 0;
  status = read_whole_file(path, file_name, &raw, &raw_length);
  if (status == TIX_OK) {
    status = migration_text_normalise(raw, raw_length, &out->text, &out->text_length);
    free(raw);
  }
  if (status == TIX_OK) {
    status = migration_file_parse_text(out, file_name);
  }
  if (status == TIX_OK) {
    status = split_section(&out->up, file_name);
  }
  if (status == TIX_OK) {
    status = split_section(&out->down, file_name);
  }
  if (status != TIX_OK) {
    migration_file_clear(out);
  }
  return status;
}

static void section_clear(migration_section *section) {
  free(section->sql);
  migration_statements_free(section->statements, section->statement_count);
  *section = (migration_section){0};
}

void migration_file_clear(migration_file *file) {
  free(file->text);
  section_clear(&file->up);
  section_clear(&file->down);
  *file = (migration_file){0};
}

/* -------------------------------------------------------------- directory */

static bool is_directory(const char *path) {
  struct stat info;
  return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

int migration_directory_resolve(const char *requested, char *out, size_t size) {
  const char *chosen = requested != NULL && requested[0] != '\0' ? requested : NULL;
  const char *from_environment = getenv(MIGRATION_DIRECTORY_ENV);
  if (chosen == NULL && from_environment != NULL && from_environment[0] != '\0') {
    chosen = from_environment;
  }
  if (chosen == NULL && is_directory(MIGRATION_DEFAULT_DIRECTORY)) {
    chosen = MIGRATION_DEFAULT_DIRECTORY;
  }
  if (chosen == NULL) {
    chosen = TIX_BUILTIN_MIGRATIONS_DIR;
  }
  if ((size_t)snprintf(out, size, "%s", chosen) >= size) {
    return tix_fail(TIX_EMIGRATIONFILE, "the migrations directory path is too long");
  }
  return TIX_OK;
}

struct name_list {
  char **names;
  size_t count;
};

static void name_list_clear(struct name_list *list) {
  for (size_t i = 0; i < list->count; i++) {
    free(list->names[i]);
  }
  free(list->names);
  *list = (struct name_list){0};
}

static int name_list_add(struct name_list *list, const char *directory, const char *name) {
  if (list->count == MIGRATION_FILES_MAX) {
    return tix_fail(TIX_EMIGRATIONFILE, "more than %d migration files in %s", MIGRATION_FILES_MAX,
                    directory);
  }
  char **names = realloc(list->names, (list->count + 1) * sizeof *names);
  if (names == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  list->names = names;
  list->names[list->count] = strdup(name);
  if (list->names[list->count] == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  list->count++;
  return TIX_OK;
}

/* The *.sql files of a directory; everything else (README, …) is ignored. */
static int list_candidates(const char *directory, struct name_list *out) {
  DIR *stream = opendir(directory);
  if (stream == NULL) {
    tix_fail(TIX_EMIGRATIONFILE, "cannot open the migrations directory \"%s\": %s", directory,
             strerror(errno));
    tix_fail_hint("Pass --dir, set TIX_MIGRATIONS, or run tix where db/migrations is.");
    return TIX_EMIGRATIONFILE;
  }
  int status = TIX_OK;
  struct dirent *entry = NULL;
  while (status == TIX_OK && (entry = readdir(stream)) != NULL) {
    if (migration_file_name_is_candidate(entry->d_name)) {
      status = name_list_add(out, directory, entry->d_name);
    }
  }
  closedir(stream);
  if (status != TIX_OK) {
    name_list_clear(out);
  }
  return status;
}

static int compare_files(const void *left, const void *right) {
  const migration_file *a = left;
  const migration_file *b = right;
  return a->version < b->version ? -1 : a->version > b->version ? 1 : 0;
}

static int check_duplicates(const migration_set *set) {
  for (size_t i = 1; i < set->count; i++) {
    if (set->files[i].version == set->files[i - 1].version) {
      tix_fail(TIX_EMIGRATIONFILE, "migrations %s and %s have the same version %lld",
               set->files[i - 1].file_name, set->files[i].file_name,
               (long long)set->files[i].version);
      tix_fail_hint("Renumber one of them (tix migrate new picks the next free number).");
      return TIX_EMIGRATIONFILE;
    }
  }
  return TIX_OK;
}

/* Names are all checked before any file is read, so a bad name is reported
 * even when another file would also fail. */
static int check_names(const struct name_list *names) {
  for (size_t i = 0; i < names->count; i++) {
    int64_t version = 0;
    char name[MIGRATION_NAME_MAX_BYTES];
    int status = migration_file_parse_name(names->names[i], &version, name, sizeof name);
    if (status != TIX_OK) {
      return status;
    }
  }
  return TIX_OK;
}

int migration_set_load(const char *directory, migration_set *out) {
  *out = (migration_set){0};
  struct name_list names = {0};
  int status = list_candidates(directory, &names);
  if (status != TIX_OK) {
    return status;
  }
  status = check_names(&names);
  out->directory = strdup(directory);
  out->files = calloc(names.count + 1, sizeof *out->files);
  if (status == TIX_OK && (out->directory == NULL || out->files == NULL)) {
    status = tix_fail(TIX_ENOMEM, "out of memory");
  }
  for (size_t i = 0; status == TIX_OK && i < names.count; i++) {
    status = migration_file_load(directory, names.names[i], &out->files[i]);
    out->count += status == TIX_OK ? 1 : 0;
  }
  if (status == TIX_OK) {
    qsort(out->files, out->count, sizeof *out->files, compare_files);
    status = check_duplicates(out);
  }
  name_list_clear(&names);
  if (status != TIX_OK) {
    migration_set_clear(out);
  }
  return status;
}

void migration_set_clear(migration_set *set) {
  for (size_t i = 0; i < set->count; i++) {
    migration_file_clear(&set->files[i]);
  }
  free(set->files);
  free(set->directory);
  *set = (migration_set){0};
}

const migration_file *migration_set_find(const migration_set *set, int64_t version) {
  for (size_t i = 0; i < set->count; i++) {
    if (set->files[i].version == version) {
      return &set->files[i];
    }
  }
  return NULL;
}

int migration_directory_highest_version(const char *directory, int64_t *version_out) {
  *version_out = 0;
  struct name_list names = {0};
  int status = list_candidates(directory, &names);
  for (size_t i = 0; status == TIX_OK && i < names.count; i++) {
    int64_t version = 0;
    char name[MIGRATION_NAME_MAX_BYTES];
    if (parse_name_quietly(names.names[i], &version, name, sizeof name) && version > *version_out) {
      *version_out = version;
    }
  }
  name_list_clear(&names);
  return status;
}
