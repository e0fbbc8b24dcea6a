/*
 * migration_file.c — migration files as text: names, normalisation, the
 * up and down sections and their options, reading files and directories.
 * Splitting a section into statements is in migration_statements.c. Nothing
 * here talks to PostgreSQL, so every rule about what a valid migration is
 * can be unit-tested and every bad file is refused before the database is
 * touched.
 */
#include "migration_file.h"

#include "config.h"
#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER_PREFIX        "-- migrate:"
#define MARKER_OPTIONS_MAX   8
#define OPTION_MAX_BYTES     64
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

/* A migration whose up section has no statement is a template not filled
 * in yet (tix migrate new): applying it would record as done a change that
 * was never made, and the real one, written later, would then be drift. */
int migration_file_require_up(const migration_file *file) {
  if (file->up.statement_count > 0) {
    return TIX_OK;
  }
  tix_fail(TIX_EMIGRATIONFILE, "migration %s has no statement in its up section", file->file_name);
  tix_fail_detail("Only blank lines and comments follow \"-- migrate:up\" at line %d. "
                  "Nothing was run.",
                  file->up.marker_line);
  tix_fail_hint("Write the change after \"-- migrate:up\" and its undoing after "
                "\"-- migrate:down\", or delete the file.");
  return TIX_EMIGRATIONFILE;
}

/* ------------------------------------------------------------------ files */

static int read_whole_file(const char *path, const char *file_name, char **out, size_t *length) {
  *out = NULL;
  int status = TIX_OK;
  FILE *stream = fopen(path, "rbe");
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
    status = migration_section_split(&out->up, file_name);
  }
  if (status == TIX_OK) {
    status = migration_section_split(&out->down, file_name);
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
  const char *from_environment = NULL;
  int status = chosen == NULL
                   ? tix_env_path(MIGRATION_DIRECTORY_ENV, TIX_PATH_DIRECTORY, &from_environment)
                   : TIX_OK;
  if (status != TIX_OK) {
    return status;
  }
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

/* Names only: each file's version, name and file name, without its text.
 * Every name is checked before any file is read, so a bad name is reported
 * even when another file would also fail. */
static int set_fill_names(const struct name_list *names, migration_set *out) {
  for (size_t i = 0; i < names->count; i++) {
    migration_file *file = &out->files[out->count++];
    int status =
        migration_file_parse_name(names->names[i], &file->version, file->name, sizeof file->name);
    if (status != TIX_OK) {
      return status;
    }
    snprintf(file->file_name, sizeof file->file_name, "%s", names->names[i]);
  }
  return TIX_OK;
}

int migration_set_list(const char *directory, migration_set *out) {
  *out = (migration_set){0};
  struct name_list names = {0};
  int status = list_candidates(directory, &names);
  if (status != TIX_OK) {
    return status;
  }
  out->directory = strdup(directory);
  out->files = calloc(names.count + 1, sizeof *out->files);
  if (out->directory == NULL || out->files == NULL) {
    status = tix_fail(TIX_ENOMEM, "out of memory");
  }
  if (status == TIX_OK) {
    status = set_fill_names(&names, out);
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

int migration_set_load(const char *directory, migration_set *out) {
  int status = migration_set_list(directory, out);
  for (size_t i = 0; status == TIX_OK && i < out->count; i++) {
    char file_name[MIGRATION_FILE_NAME_MAX_BYTES];
    snprintf(file_name, sizeof file_name, "%s", out->files[i].file_name);
    status = migration_file_load(directory, file_name, &out->files[i]);
  }
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
