/*
 * migration_statements.c — splitting a section of a migration file into
 * statements the way psql would, each remembering the line it starts on so
 * an error can point into the file; and refusing transaction control in a
 * section that runs inside tix's own transaction.
 */
#include "migration_file.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STATEMENTS_INITIAL   16
#define KEYWORD_MAX_BYTES    16
#define HEURISTIC_KEYWORDS   4
#define DOLLAR_TAG_MAX_BYTES 64

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

/* ------------------------------------------------------- sections */

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

int migration_section_split(migration_section *section, const char *file_name) {
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
