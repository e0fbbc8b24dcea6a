/*
 * catalog.c — what a database's schema looks like, two ways. A snapshot of
 * the catalog as sorted text lines (no OIDs, so two databases compare equal
 * exactly when their schemas do), which verify compares around each down
 * section; and the schema.sql file, pg_dump's view of the schema plus the
 * ledger, so a fresh install can start from one file.
 */
#include "catalog.h"

#include "admin.h"
#include "config.h"
#include "error.h"
#include "postgres_programs.h"
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIRST_NORMAL_OBJECT_ID  "16384"
#define SCHEMA_LINES_MAX        10000000
#define DEBIAN_BINDIR_FORMAT    "/usr/lib/postgresql/%d/bin/pg_dump"
#define DUMP_TIMEOUT_DEFAULT_MS 120000
#define DUMP_TIMEOUT_MAX_MS     (24 * 60 * 60 * 1000)

/* ---------------------------------------------------------------- snapshot */

/* Column ordinal positions are left out on purpose: a down section can
 * re-add a dropped column but never at its old position. */
static const char snapshot_sql[] =
    "WITH ns AS ("
    "  SELECT oid, nspname FROM pg_namespace"
    "   WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
    "), ledger AS ("
    "  SELECT coalesce(to_regclass('" TIX_LEDGER_TABLE "')::oid, 0) AS oid"
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
  PGresult *result = NULL;
  int status = tix_admin_exec(conn, "cannot read the catalog", snapshot_sql, 0, NULL, &result);
  if (status != TIX_OK) {
    return status;
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

int catalog_dump_timeout_ms(int *out) {
  return tix_env_milliseconds(CATALOG_DUMP_TIMEOUT_ENV, DUMP_TIMEOUT_DEFAULT_MS, 1,
                              DUMP_TIMEOUT_MAX_MS, out);
}

/* Adds what to do when no suitable pg_dump is installed; returns status. */
static int hint_client_programs(int status, int server_major) {
  tix_fail_hint("Install the PostgreSQL %d client programs, or set TIX_SCHEMA_FILE= to skip "
                "writing the schema file.",
                server_major);
  return status;
}

/* pg_config's pg_dump, if it is at least as new as the server: an older
 * pg_dump refuses a newer server, or worse, misses what it cannot know. */
static int pg_dump_from_pg_config(int server_major, char *out, size_t size) {
  char bindir[PATH_MAX];
  char version[TIX_POSTGRES_VERSION_BYTES];
  if (tix_postgres_bindir(TIX_EIO, bindir, sizeof bindir) != TIX_OK) {
    return hint_client_programs(
        tix_fail(TIX_EIO, "cannot find pg_dump for PostgreSQL %d", server_major), server_major);
  }
  int written = snprintf(out, size, "%s/pg_dump", bindir);
  if (written < 0 || (size_t)written >= size) {
    return tix_fail(TIX_EIO, "pg_config --bindir gave a path that is too long");
  }
  int status = tix_postgres_major_version(out, TIX_EIO, version, sizeof version);
  if (status == TIX_OK && atoi(version) < server_major) {
    status = hint_client_programs(tix_fail(TIX_EIO,
                                           "pg_dump %s is older than the server (PostgreSQL %d)",
                                           version, server_major),
                                  server_major);
  }
  return status;
}

static int find_pg_dump(PGconn *conn, char *out, size_t size) {
  PGresult *result = NULL;
  int status =
      tix_admin_exec(conn, "cannot read the server version",
                     "SELECT current_setting('server_version_num')::int / 10000", 0, NULL, &result);
  if (status != TIX_OK) {
    return status;
  }
  int server_major = atoi(PQgetvalue(result, 0, 0));
  PQclear(result);
  snprintf(out, size, DEBIAN_BINDIR_FORMAT, server_major);
  if (access(out, X_OK) == 0) {
    return TIX_OK;
  }
  return pg_dump_from_pg_config(server_major, out, size);
}

/* "--option=value" in memory of its own (free() it), NULL when out of it. */
static char *option_with_value(const char *option, const char *value) {
  size_t size = strlen(option) + strlen(value) + 1;
  char *text = malloc(size);
  if (text != NULL) {
    snprintf(text, size, "%s%s", option, value);
  }
  return text;
}

/* pg_dump of the schema into dump_path, within the dump timeout: it waits
 * for locks on every table it dumps, and migrate up runs it while holding
 * the migration lock. The password goes through the environment. */
static int run_pg_dump(PGconn *conn, const char *conninfo, const char *dump_path) {
  char pg_dump[PATH_MAX];
  char *bare_conninfo = NULL;
  char *password = NULL;
  char *dbname_argument = NULL;
  char *file_argument = NULL;
  int timeout_ms = 0;
  int status = catalog_dump_timeout_ms(&timeout_ms);
  if (status == TIX_OK) {
    status = find_pg_dump(conn, pg_dump, sizeof pg_dump);
  }
  if (status == TIX_OK) {
    status = tix_conninfo_rewrite(conninfo, NULL, &bare_conninfo, &password);
  }
  if (status == TIX_OK) {
    dbname_argument = option_with_value("--dbname=", bare_conninfo);
    file_argument = option_with_value("--file=", dump_path);
    if (dbname_argument == NULL || file_argument == NULL) {
      status = tix_fail(TIX_ENOMEM, "out of memory");
    }
  }
  if (status == TIX_OK) {
    const char *const arguments[] = {
        pg_dump,       "--schema-only", "--no-owner", "--no-privileges",
        file_argument, dbname_argument, NULL};
    tix_process_request request = {.arguments = arguments,
                                   .password = password,
                                   .timeout_ms = timeout_ms,
                                   .failure_status = TIX_EIO};
    tix_process_result result;
    status = tix_process_run_checked(&request, &result);
    if (status != TIX_OK) {
      tix_fail_detail_unlabel(); /* pg_dump quotes the server's refusal */
    }
    if (status != TIX_OK && result.timed_out) {
      tix_fail_hint("A session may hold a lock on a table it dumps. Set " CATALOG_DUMP_TIMEOUT_ENV
                    " to wait longer, or TIX_SCHEMA_FILE= (empty) to skip the schema file.");
    }
  }
  free(dbname_argument);
  free(file_argument);
  free(bare_conninfo);
  if (password != NULL) {
    explicit_bzero(password, strlen(password));
    free(password);
  }
  return status;
}

/* ----------------------------------------------------------- schema.sql */

/* The ledger as INSERTs for a fresh install, without applied_at and
 * execution_ms, which describe this database and not the schema, so the
 * file stays the same for the same migrations. */
static int write_ledger_rows(PGconn *conn, FILE *stream) {
  PGresult *result = NULL;
  int status = tix_admin_exec(
      conn, "cannot read the migration ledger",
      "SELECT format('INSERT INTO %I.%I (version, name, checksum, execution_ms)"
      " VALUES (%s, %L, %L, 0);', n.nspname, c.relname, m.version, m.name, m.checksum)"
      " FROM " TIX_LEDGER_TABLE " m,"
      " pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
      " WHERE c.oid = '" TIX_LEDGER_TABLE "'::regclass ORDER BY m.version",
      0, NULL, &result);
  if (status != TIX_OK) {
    return status;
  }
  fprintf(stream, "--\n-- The applied migrations, so that a database made from this file is "
                  "up to date.\n--\n\n");
  for (int row = 0; row < PQntuples(result); row++) {
    fprintf(stream, "%s\n", PQgetvalue(result, row, 0));
  }
  PQclear(result);
  return TIX_OK;
}

/* Copies pg_dump's output without the \restrict lines of recent minor
 * releases: their key is random, which would change the file each time. */
static int copy_dump(const char *dump_path, FILE *stream) {
  FILE *dump = fopen(dump_path, "re");
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
  int dump_fd = mkostemp(dump_path, O_CLOEXEC);
  if (dump_fd < 0) {
    return tix_fail(TIX_EIO, "cannot write next to %s: %s", path, strerror(errno));
  }
  close(dump_fd);
  int status = run_pg_dump(conn, conninfo, dump_path);
  int fd = status == TIX_OK ? mkostemp(temporary_path, O_CLOEXEC) : -1;
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
