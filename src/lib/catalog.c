/*
 * catalog.c — what a database's schema looks like, two ways. A snapshot of
 * the catalog as sorted text lines (no OIDs, so two databases compare equal
 * exactly when their schemas do), which verify compares around each down
 * section; and the schema.sql file, pg_dump's view of the schema plus the
 * ledger, so a fresh install can start from one file.
 */
#include "catalog.h"

#include "error.h"
#include "migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIRST_NORMAL_OBJECT_ID "16384"
#define PROGRAM_OUTPUT_BYTES   1024
#define PROGRAM_ARGUMENTS_MAX  16
#define PROGRAM_READS_MAX      1000000
#define WAIT_ATTEMPTS_MAX      1000
#define ENVIRONMENT_MAX        4096
#define SCHEMA_LINES_MAX       10000000
#define PATH_ENTRIES_MAX       256
#define DEBIAN_BINDIR_FORMAT   "/usr/lib/postgresql/%d/bin/pg_dump"

extern char **environ;

/* ---------------------------------------------------------------- snapshot */

/* Column ordinal positions are left out on purpose: a down section can
 * re-add a dropped column but never at its old position. */
static const char snapshot_sql[] =
    "WITH ns AS ("
    "  SELECT oid, nspname FROM pg_namespace"
    "   WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
    "), ledger AS ("
    "  SELECT coalesce(to_regclass('" MIGRATE_LEDGER_TABLE "')::oid, 0) AS oid"
    "), rel AS ("
    "  SELECT c.* FROM pg_class c JOIN ns ON ns.oid = c.relnamespace"
    "   WHERE c.oid <> (SELECT oid FROM ledger)"
    "     AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = c.oid"
    "                        AND i.indrelid = (SELECT oid FROM ledger))"
    ")"
    " SELECT 'schema ' || quote_ident(nspname) FROM ns"
    " UNION ALL"
    " SELECT format('extension %s %s in %s', extname, extversion, extnamespace::regnamespace)"
    "   FROM pg_extension"
    " UNION ALL"
    " SELECT format('relation %s kind=%s persistence=%s rls=%s acl=%s', oid::regclass, relkind,"
    "               relpersistence, relrowsecurity, relacl)"
    "   FROM rel"
    " UNION ALL"
    " SELECT format('column %s.%s %s%s%s%s%s%s', c.oid::regclass, quote_ident(a.attname),"
    "               format_type(a.atttypid, a.atttypmod),"
    "               CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,"
    "               ' default ' || pg_get_expr(d.adbin, d.adrelid),"
    "               CASE a.attidentity WHEN 'a' THEN ' identity always'"
    "                                  WHEN 'd' THEN ' identity by default' ELSE '' END,"
    "               CASE a.attgenerated WHEN 's' THEN ' generated stored' ELSE '' END,"
    "               ' collate ' || nullif(a.attcollation, 0)::regcollation)"
    "   FROM pg_attribute a JOIN rel c ON c.oid = a.attrelid"
    "   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    "  WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind NOT IN ('i', 'I', 'S')"
    " UNION ALL"
    " SELECT format('sequence %s %s start=%s increment=%s min=%s max=%s cycle=%s',"
    "               s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement,"
    "               s.seqmin, s.seqmax, s.seqcycle)"
    "   FROM pg_sequence s JOIN rel c ON c.oid = s.seqrelid"
    " UNION ALL"
    " SELECT format('type %s kind=%s%s', t.oid::regtype, t.typtype,"
    "               ' base=' || CASE WHEN t.typtype = 'd'"
    "                                THEN format_type(t.typbasetype, t.typtypmod) END)"
    "   FROM pg_type t JOIN ns ON ns.oid = t.typnamespace"
    "  WHERE (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')"
    "    AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid)"
    " UNION ALL"
    " SELECT format('enum %s %s', e.enumtypid::regtype,"
    "               string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder))"
    "   FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
    "   JOIN ns ON ns.oid = t.typnamespace"
    "  GROUP BY e.enumtypid"
    " UNION ALL"
    " SELECT format('constraint %s %s %s',"
    "               coalesce(nullif(k.conrelid, 0)::regclass::text, k.contypid::regtype::text),"
    "               quote_ident(k.conname), pg_get_constraintdef(k.oid))"
    "   FROM pg_constraint k JOIN ns ON ns.oid = k.connamespace"
    "  WHERE k.conrelid <> (SELECT oid FROM ledger)"
    " UNION ALL"
    " SELECT 'index ' || pg_get_indexdef(i.indexrelid)"
    "        || CASE WHEN i.indisclustered THEN ' clustered' ELSE '' END"
    "        || CASE WHEN NOT i.indisvalid THEN ' invalid' ELSE '' END"
    "   FROM pg_index i JOIN rel c ON c.oid = i.indexrelid"
    " UNION ALL"
    " SELECT format('view %s %s', c.oid::regclass,"
    "               regexp_replace(pg_get_viewdef(c.oid), '\\s+', ' ', 'g'))"
    "   FROM rel c WHERE c.relkind IN ('v', 'm')"
    " UNION ALL"
    " SELECT format('function %s kind=%s md5=%s', p.oid::regprocedure, p.prokind,"
    "               CASE WHEN p.prokind IN ('f', 'p') THEN md5(pg_get_functiondef(p.oid)) END)"
    "   FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace"
    " UNION ALL"
    " SELECT format('trigger %s enabled=%s', pg_get_triggerdef(g.oid), g.tgenabled)"
    "   FROM pg_trigger g JOIN rel c ON c.oid = g.tgrelid"
    "  WHERE NOT g.tgisinternal"
    " UNION ALL"
    " SELECT format('rule %s', pg_get_ruledef(r.oid))"
    "   FROM pg_rewrite r JOIN rel c ON c.oid = r.ev_class"
    "  WHERE r.rulename <> '_RETURN'"
    " UNION ALL"
    " SELECT format('policy %s %s %s %s', pl.polrelid::regclass, quote_ident(pl.polname),"
    "               pl.polcmd, pg_get_expr(pl.polqual, pl.polrelid))"
    "   FROM pg_policy pl JOIN rel c ON c.oid = pl.polrelid"
    " UNION ALL"
    " SELECT format('comment %s %s %s', o.type, o.identity, d.description)"
    "   FROM pg_description d,"
    "        LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o"
    "  WHERE d.objoid >= " FIRST_NORMAL_OBJECT_ID
    "    AND (o.schema IN (SELECT nspname FROM ns) OR o.type IN ('schema', 'extension'))";

static int compare_lines(const void *left, const void *right) {
  return strcmp(*(char *const *)left, *(char *const *)right);
}

int catalog_snapshot_take(PGconn *conn, catalog_snapshot *out) {
  *out = (catalog_snapshot){0};
  PGresult *result = PQexecParams(conn, snapshot_sql, 0, NULL, NULL, NULL, NULL, 0);
  int status = TIX_OK;
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    status = migrate_fail_query(conn, result, "cannot read the catalog");
    goto clear_result;
  }
  int rows = PQntuples(result);
  if (rows > CATALOG_LINES_MAX) {
    status = tix_fail(TIX_EDATABASE, "the schema has more than %d objects", CATALOG_LINES_MAX);
    goto clear_result;
  }
  out->lines = calloc((size_t)rows + 1, sizeof *out->lines);
  for (int row = 0; out->lines != NULL && row < rows; row++) {
    out->lines[row] = strdup(PQgetisnull(result, row, 0) ? "" : PQgetvalue(result, row, 0));
    if (out->lines[row] == NULL) {
      break;
    }
    out->count++;
  }
  if (out->lines == NULL || out->count != (size_t)rows) {
    catalog_snapshot_clear(out);
    status = tix_fail(TIX_ENOMEM, "out of memory");
    goto clear_result;
  }
  qsort(out->lines, out->count, sizeof *out->lines, compare_lines);
clear_result:
  PQclear(result);
  return status;
}

void catalog_snapshot_clear(catalog_snapshot *snapshot) {
  for (size_t i = 0; i < snapshot->count; i++) {
    free(snapshot->lines[i]);
  }
  free(snapshot->lines);
  *snapshot = (catalog_snapshot){0};
}

/* ------------------------------------------------------------------- diff */

struct text {
  char *data;
  size_t length;
  size_t capacity;
};

static bool text_append(struct text *text, const char *prefix, const char *line) {
  size_t needed = text->length + strlen(prefix) + strlen(line) + 2;
  if (needed > text->capacity) {
    size_t capacity = needed * 2;
    char *data = realloc(text->data, capacity);
    if (data == NULL) {
      return false;
    }
    text->data = data;
    text->capacity = capacity;
  }
  text->length += (size_t)sprintf(text->data + text->length, "%s%s\n", prefix, line);
  return true;
}

int catalog_snapshot_diff(const catalog_snapshot *before, const catalog_snapshot *after,
                          char **difference_out, size_t *changed_count_out) {
  struct text text = {0};
  size_t changed = 0;
  size_t i = 0;
  size_t j = 0;
  bool ok = text_append(&text, "", "");
  text.length = 0;
  while (ok && (i < before->count || j < after->count)) {
    int order = i == before->count  ? 1
                : j == after->count ? -1
                                    : strcmp(before->lines[i], after->lines[j]);
    if (order == 0) {
      i++;
      j++;
      continue;
    }
    ok = order < 0 ? text_append(&text, "- ", before->lines[i++])
                   : text_append(&text, "+ ", after->lines[j++]);
    changed++;
  }
  if (!ok) {
    free(text.data);
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  text.data[text.length] = '\0';
  *difference_out = text.data;
  *changed_count_out = changed;
  return TIX_OK;
}

/* ------------------------------------------------------------- programs */

/* The environment for a child: ours, with PGPASSWORD replaced when a
 * password is given. Built before fork, since only async-signal-safe calls
 * are allowed between fork and exec in a threaded program. */
static char **child_environment(const char *password_entry) {
  size_t count = 0;
  while (environ[count] != NULL && count < ENVIRONMENT_MAX) {
    count++;
  }
  char **result = calloc(count + 2, sizeof *result);
  if (result == NULL) {
    return NULL;
  }
  size_t used = 0;
  for (size_t i = 0; i < count; i++) {
    if (password_entry == NULL || strncmp(environ[i], "PGPASSWORD=", 11) != 0) {
      result[used++] = environ[i];
    }
  }
  if (password_entry != NULL) {
    result[used++] = (char *)password_entry;
  }
  return result;
}

/* Keeps the start of what a child writes and reads the rest to its end, so
 * the child never blocks on a full pipe. */
static void read_output(int fd, char *output, size_t output_size) {
  size_t used = 0;
  char buffer[PROGRAM_OUTPUT_BYTES];
  for (long reads = 0; reads < PROGRAM_READS_MAX; reads++) {
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      break;
    }
    size_t keep = (size_t)got < output_size - 1 - used ? (size_t)got : output_size - 1 - used;
    memcpy(output + used, buffer, keep);
    used += keep;
  }
  output[used] = '\0';
}

/* Runs a program (no shell) and keeps the start of what it writes to
 * capture_fd (1: stdout, 2: stderr); *exit_code_out gets its exit code. */
static int run_program(char *const arguments[], const char *password, int capture_fd, char *output,
                       size_t output_size, int *exit_code_out) {
  char password_entry[PROGRAM_OUTPUT_BYTES];
  if (password != NULL) {
    snprintf(password_entry, sizeof password_entry, "PGPASSWORD=%s", password);
  }
  char **environment = child_environment(password != NULL ? password_entry : NULL);
  int pipe_fds[2];
  /* Close-on-exec, so a child another thread starts meanwhile does not keep
   * the pipe open and make this read wait for it. */
  if (environment == NULL || pipe2(pipe_fds, O_CLOEXEC) != 0) {
    free(environment);
    return tix_fail(TIX_EIO, "cannot start %s: %s", arguments[0], strerror(errno));
  }
  pid_t child = fork();
  if (child == 0) {
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null_fd, 0);
    dup2(null_fd, capture_fd == 1 ? 2 : 1);
    dup2(pipe_fds[1], capture_fd);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    execve(arguments[0], arguments, environment);
    _exit(127);
  }
  explicit_bzero(password_entry, sizeof password_entry);
  close(pipe_fds[1]);
  free(environment);
  read_output(pipe_fds[0], output, output_size);
  close(pipe_fds[0]);
  int wait_status = 0;
  pid_t waited = -1;
  for (int attempt = 0; child > 0 && attempt < WAIT_ATTEMPTS_MAX; attempt++) {
    waited = waitpid(child, &wait_status, 0);
    if (waited >= 0 || errno != EINTR) {
      break;
    }
  }
  if (child < 0 || waited < 0) {
    return tix_fail(TIX_EIO, "cannot run %s: %s", arguments[0], strerror(errno));
  }
  *exit_code_out = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128;
  return TIX_OK;
}

static bool find_in_path(const char *program, char *out, size_t size) {
  const char *path = getenv("PATH");
  const char *cursor = path != NULL ? path : "/usr/local/bin:/usr/bin:/bin";
  for (int entry = 0; entry < PATH_ENTRIES_MAX && *cursor != '\0'; entry++) {
    size_t length = strcspn(cursor, ":");
    snprintf(out, size, "%.*s/%s", (int)length, cursor, program);
    if (length > 0 && access(out, X_OK) == 0) {
      return true;
    }
    cursor += length + (cursor[length] == ':' ? 1 : 0);
  }
  return false;
}

static int server_major_version(PGconn *conn, int *major_out) {
  PGresult *result = PQexecParams(conn, "SELECT current_setting('server_version_num')::int", 0,
                                  NULL, NULL, NULL, NULL, 0);
  int status = TIX_OK;
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
    status = migrate_fail_query(conn, result, "cannot read the server version");
  } else {
    *major_out = atoi(PQgetvalue(result, 0, 0)) / 10000;
  }
  PQclear(result);
  return status;
}

/* pg_config's pg_dump, if it is at least as new as the server: an older
 * pg_dump refuses a newer server, or worse, misses what it cannot know. */
static int pg_dump_from_pg_config(int server_major, char *out, size_t size) {
  char pg_config[PATH_MAX];
  char output[PROGRAM_OUTPUT_BYTES];
  int exit_code = 0;
  if (!find_in_path("pg_config", pg_config, sizeof pg_config)) {
    tix_fail(TIX_EIO, "cannot find pg_dump for PostgreSQL %d", server_major);
    tix_fail_hint("Install the PostgreSQL %d client programs, or set TIX_SCHEMA_FILE= to skip "
                  "writing the schema file.",
                  server_major);
    return TIX_EIO;
  }
  char *config_arguments[] = {pg_config, "--bindir", NULL};
  int status = run_program(config_arguments, NULL, 1, output, sizeof output, &exit_code);
  output[strcspn(output, "\n")] = '\0';
  snprintf(out, size, "%s/pg_dump", output);
  char *dump_arguments[] = {out, "--version", NULL};
  if (status == TIX_OK) {
    status = run_program(dump_arguments, NULL, 1, output, sizeof output, &exit_code);
  }
  const char *version = strstr(output, ") ");
  int dump_major = version != NULL ? atoi(version + 2) : 0;
  if (status == TIX_OK && (exit_code != 0 || dump_major < server_major)) {
    tix_fail(TIX_EIO, "pg_dump %d is older than the server (PostgreSQL %d)", dump_major,
             server_major);
    tix_fail_hint("Install the PostgreSQL %d client programs, or set TIX_SCHEMA_FILE= to skip "
                  "writing the schema file.",
                  server_major);
    return TIX_EIO;
  }
  return status;
}

static int find_pg_dump(PGconn *conn, char *out, size_t size) {
  int server_major = 0;
  int status = server_major_version(conn, &server_major);
  if (status != TIX_OK) {
    return status;
  }
  snprintf(out, size, DEBIAN_BINDIR_FORMAT, server_major);
  if (access(out, X_OK) == 0) {
    return TIX_OK;
  }
  return pg_dump_from_pg_config(server_major, out, size);
}

static int run_pg_dump(PGconn *conn, const char *conninfo, const char *dump_path) {
  char pg_dump[PATH_MAX];
  int status = find_pg_dump(conn, pg_dump, sizeof pg_dump);
  char *bare_conninfo = NULL;
  char *password = NULL;
  if (status == TIX_OK) {
    status = migrate_conninfo_rewrite(conninfo, NULL, &bare_conninfo, &password);
  }
  if (status != TIX_OK) {
    return status;
  }
  size_t dbname_size = strlen(bare_conninfo) + sizeof "--dbname=";
  size_t file_size = strlen(dump_path) + sizeof "--file=";
  char *dbname_argument = malloc(dbname_size);
  char *file_argument = malloc(file_size);
  char output[PROGRAM_OUTPUT_BYTES] = "";
  int exit_code = 0;
  if (dbname_argument == NULL || file_argument == NULL) {
    status = tix_fail(TIX_ENOMEM, "out of memory");
  } else {
    snprintf(dbname_argument, dbname_size, "--dbname=%s", bare_conninfo);
    snprintf(file_argument, file_size, "--file=%s", dump_path);
    char *arguments[PROGRAM_ARGUMENTS_MAX] = {
        pg_dump,       "--schema-only", "--no-owner", "--no-privileges",
        file_argument, dbname_argument, NULL};
    status = run_program(arguments, password, 2, output, sizeof output, &exit_code);
  }
  if (status == TIX_OK && exit_code != 0) {
    output[strcspn(output, "\n")] = '\0';
    status = tix_fail(TIX_EIO, "pg_dump failed (exit code %d)", exit_code);
    tix_fail_detail("%s", output);
  }
  free(dbname_argument);
  free(file_argument);
  free(bare_conninfo);
  free(password);
  return status;
}

/* ----------------------------------------------------------- schema.sql */

/* The ledger as INSERTs for a fresh install, without applied_at and
 * execution_ms, which describe this database and not the schema, so the
 * file stays the same for the same migrations. */
static int write_ledger_rows(PGconn *conn, FILE *stream) {
  PGresult *result =
      PQexecParams(conn,
                   "SELECT format('INSERT INTO %I.%I (version, name, checksum, execution_ms)"
                   " VALUES (%s, %L, %L, 0);', n.nspname, c.relname, m.version, m.name, m.checksum)"
                   " FROM " MIGRATE_LEDGER_TABLE " m,"
                   " pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                   " WHERE c.oid = '" MIGRATE_LEDGER_TABLE "'::regclass ORDER BY m.version",
                   0, NULL, NULL, NULL, NULL, 0);
  int status = TIX_OK;
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    status = migrate_fail_query(conn, result, "cannot read the migration ledger");
    goto clear_result;
  }
  fprintf(stream, "--\n-- The applied migrations, so that a database made from this file is "
                  "up to date.\n--\n\n");
  for (int row = 0; row < PQntuples(result); row++) {
    fprintf(stream, "%s\n", PQgetvalue(result, row, 0));
  }
clear_result:
  PQclear(result);
  return status;
}

/* Copies pg_dump's output without the \restrict lines of recent minor
 * releases: their key is random, which would change the file each time. */
static int copy_dump(const char *dump_path, FILE *stream) {
  FILE *dump = fopen(dump_path, "r");
  if (dump == NULL) {
    return tix_fail(TIX_EIO, "cannot read pg_dump's output: %s", strerror(errno));
  }
  char *line = NULL;
  size_t capacity = 0;
  for (long lines = 0; lines < SCHEMA_LINES_MAX && getline(&line, &capacity, dump) >= 0; lines++) {
    if (strncmp(line, "\\restrict ", 10) != 0 && strncmp(line, "\\unrestrict ", 12) != 0) {
      fputs(line, stream);
    }
  }
  free(line);
  fclose(dump);
  return TIX_OK;
}

static int assemble_schema(PGconn *conn, const char *dump_path, int fd) {
  FILE *stream = fdopen(fd, "w");
  if (stream == NULL) {
    close(fd);
    return tix_fail(TIX_EIO, "cannot write the schema file: %s", strerror(errno));
  }
  int status = copy_dump(dump_path, stream);
  if (status == TIX_OK) {
    status = write_ledger_rows(conn, stream);
  }
  if (fflush(stream) != 0 || fsync(fileno(stream)) != 0) {
    status = status == TIX_OK
                 ? tix_fail(TIX_EIO, "cannot write the schema file: %s", strerror(errno))
                 : status;
  }
  fclose(stream);
  return status;
}

int catalog_write_schema(const char *conninfo, PGconn *conn, const char *path) {
  char dump_path[PATH_MAX];
  char temporary_path[PATH_MAX];
  if (snprintf(dump_path, sizeof dump_path, "%s.dump.XXXXXX", path) >= (int)sizeof dump_path ||
      snprintf(temporary_path, sizeof temporary_path, "%s.XXXXXX", path) >=
          (int)sizeof temporary_path) {
    return tix_fail(TIX_EINVAL, "the schema file path is too long");
  }
  int dump_fd = mkstemp(dump_path);
  if (dump_fd < 0) {
    return tix_fail(TIX_EIO, "cannot write next to %s: %s", path, strerror(errno));
  }
  close(dump_fd);
  int status = run_pg_dump(conn, conninfo, dump_path);
  int fd = status == TIX_OK ? mkstemp(temporary_path) : -1;
  if (status == TIX_OK && fd < 0) {
    status = tix_fail(TIX_EIO, "cannot write next to %s: %s", path, strerror(errno));
  }
  if (status == TIX_OK) {
    fchmod(fd, 0644);
    status = assemble_schema(conn, dump_path, fd);
    if (status == TIX_OK && rename(temporary_path, path) != 0) {
      status = tix_fail(TIX_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    if (status != TIX_OK) {
      unlink(temporary_path);
    }
  }
  unlink(dump_path);
  return status;
}
