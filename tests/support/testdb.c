/*
 * testdb.c — creates and drops the per-test databases in the suite's
 * throwaway cluster (TIX_TEST_ADMIN_URL, set by tests/harness/pg-cluster).
 */
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *admin_url(void) {
  const char *url = getenv("TIX_TEST_ADMIN_URL");
  if (url == NULL || url[0] == '\0') {
    fprintf(stderr, "TIX_TEST_ADMIN_URL is not set: run the suite with scripts/test\n");
    exit(1);
  }
  return url;
}

static void ignore_notice(void *context, const char *message) {
  (void)context;
  (void)message;
}

PGconn *testdb_connect(const char *conninfo) {
  PGconn *conn = PQconnectdb(conninfo);
  PQsetNoticeProcessor(conn, ignore_notice, NULL);
  if (PQstatus(conn) != CONNECTION_OK) {
    fprintf(stderr, "testdb: cannot connect: %s", PQerrorMessage(conn));
    exit(1);
  }
  return conn;
}

static void admin_command(const char *before, const char *database, const char *after) {
  PGconn *conn = testdb_connect(admin_url());
  char *identifier = PQescapeIdentifier(conn, database, strlen(database));
  char sql[512];
  snprintf(sql, sizeof sql, "%s%s%s", before, identifier, after);
  PGresult *result = PQexec(conn, sql);
  if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK) {
    fprintf(stderr, "testdb: %s failed: %s", sql, PQerrorMessage(conn));
    exit(1);
  }
  PQclear(result);
  PQfreemem(identifier);
  PQfinish(conn);
}

void testdb_create(const char *label, char *conninfo_out, size_t size) {
  static int counter;
  char database[64];
  snprintf(database, sizeof database, "t_%.30s_%ld_%d", label, (long)getpid(), counter++);
  admin_command("DROP DATABASE IF EXISTS ", database, " WITH (FORCE)");
  admin_command("CREATE DATABASE ", database, "");
  snprintf(conninfo_out, size, "%s dbname=%s", admin_url(), database);
}

const char *testdb_migrations_dir(void) {
  return TIX_BUILTIN_MIGRATIONS_DIR;
}

void testdb_create_migrated(const char *label, char *conninfo_out, size_t size) {
  testdb_create(label, conninfo_out, size);
  tix_migrate_options options;
  tix_migrate_options_default(&options);
  options.directory = testdb_migrations_dir();
  options.schema_file = "";
  int status = tix_migrate_up(conninfo_out, &options);
  if (status != TIX_OK) {
    fprintf(stderr, "testdb: migrations failed: %s\n", tix_last_diag()->message);
    exit(1);
  }
}

void testdb_drop(const char *conninfo) {
  const char *name = strstr(conninfo, "dbname=t_");
  if (name == NULL) {
    return;
  }
  admin_command("DROP DATABASE IF EXISTS ", name + strlen("dbname="), " WITH (FORCE)");
}

long testdb_query_long(PGconn *conn, const char *sql) {
  PGresult *result = PQexec(conn, sql);
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) < 1) {
    fprintf(stderr, "testdb: query failed: %s\n%s", sql, PQerrorMessage(conn));
    exit(1);
  }
  long value = PQgetisnull(result, 0, 0) ? -1 : atol(PQgetvalue(result, 0, 0));
  PQclear(result);
  return value;
}
