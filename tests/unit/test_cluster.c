/*
 * test_cluster.c — the embedded cluster's path logic, without starting a
 * server: where the socket goes (inside the data directory, or a short
 * private directory when the path would pass the 107-byte socket limit),
 * the URL and conninfo libpq gets, the state of a cluster that is not
 * initialised, stopped, or left by a crash (even when its pid is another
 * process's now), and a pg_config missing from PATH.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ftw.h>
#include <libpq-fe.h>

#include "cluster.h"
#include "tix.h"

#define PATH_BYTES 4096

static char scratch[PATH_BYTES]; /* a temporary directory for the tests that need files */

static int make_scratch(void **state) {
  snprintf(scratch, sizeof scratch, "/tmp/tix-unit-cluster.XXXXXX");
  assert_non_null(mkdtemp(scratch));
  return 0;
}

static int remove_entry(const char *path, const struct stat *info, int type, struct FTW *where) {
  return remove(path);
}

static int remove_scratch(void **state) {
  assert_int_equal(nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
  return 0;
}

static tix_cluster *open_cluster(const char *data_dir) {
  tix_cluster *cluster = NULL;
  assert_int_equal(tix_cluster_open(data_dir, &cluster), TIX_OK);
  assert_non_null(cluster);
  return cluster;
}

static void state_of(const char *data_dir, tix_cluster_state *state) {
  tix_cluster *cluster = open_cluster(data_dir);
  assert_int_equal(tix_cluster_state_get(cluster, state), TIX_OK);
  tix_cluster_destroy(cluster);
}

static void write_file(const char *directory, const char *name, const char *text) {
  char path[PATH_BYTES];
  snprintf(path, sizeof path, "%s/%s", directory, name);
  FILE *file = fopen(path, "w");
  assert_non_null(file);
  fputs(text, file);
  fclose(file);
}

/* The host a URL or conninfo names, as libpq reads it. */
static void host_in(const char *conninfo, char *host, size_t size) {
  PQconninfoOption *options = PQconninfoParse(conninfo, NULL);
  assert_non_null(options);
  host[0] = '\0';
  for (PQconninfoOption *option = options; option->keyword != NULL; option++) {
    if (strcmp(option->keyword, "host") == 0 && option->val != NULL) {
      snprintf(host, size, "%s", option->val);
    }
  }
  PQconninfoFree(options);
}

static void short_path_keeps_socket_inside(void **state) {
  tix_cluster_state cluster_state;
  state_of("/nonexistent/tix data", &cluster_state);
  assert_string_equal(cluster_state.data_dir, "/nonexistent/tix data");
  assert_string_equal(cluster_state.socket_dir, "/nonexistent/tix data/run");
  assert_false(cluster_state.initialized);
  assert_false(cluster_state.running);
  assert_int_equal(cluster_state.major_version, 0);
}

static void spellings_of_one_path_are_one_path(void **state) {
  tix_cluster_state plain;
  tix_cluster_state messy;
  state_of("/nonexistent/a/b", &plain);
  state_of("/nonexistent//a/./b/", &messy);
  assert_string_equal(plain.data_dir, messy.data_dir);
  char cwd[PATH_BYTES];
  char expected[PATH_BYTES + 32];
  assert_non_null(getcwd(cwd, sizeof cwd));
  tix_cluster_state relative;
  state_of("tix-relative-nonexistent", &relative);
  snprintf(expected, sizeof expected, "%s/tix-relative-nonexistent", cwd);
  assert_string_equal(relative.data_dir, expected);
}

static void long_path_moves_socket_to_private_directory(void **state) {
  char long_path[PATH_BYTES];
  char other_path[PATH_BYTES];
  snprintf(long_path, sizeof long_path, "/nonexistent/%0100d/data", 0);
  snprintf(other_path, sizeof other_path, "/nonexistent/%0100d/data", 1);
  tix_cluster_state first;
  tix_cluster_state again;
  tix_cluster_state other;
  state_of(long_path, &first);
  state_of(long_path, &again);
  state_of(other_path, &other);
  assert_int_equal(strncmp(first.socket_dir, "/tmp/tix-", 9), 0);
  assert_true(strlen(first.socket_dir) + strlen("/.s.PGSQL.5432") <= 107);
  assert_string_equal(first.socket_dir, again.socket_dir);
  assert_string_not_equal(first.socket_dir, other.socket_dir);
}

static void socket_limit_is_107_bytes(void **state) {
  /* "<dir>/run/.s.PGSQL.5432" is the directory plus 18 bytes. */
  char at_limit[PATH_BYTES];
  char over_limit[PATH_BYTES];
  snprintf(at_limit, sizeof at_limit, "/%0*d", 107 - 18 - 1, 0);
  snprintf(over_limit, sizeof over_limit, "/%0*d", 107 - 18, 0);
  tix_cluster_state inside;
  tix_cluster_state outside;
  state_of(at_limit, &inside);
  state_of(over_limit, &outside);
  assert_int_equal(strlen(inside.socket_dir) + strlen("/.s.PGSQL.5432"), 107);
  assert_int_equal(strncmp(inside.socket_dir, at_limit, strlen(at_limit)), 0);
  assert_int_equal(strncmp(outside.socket_dir, "/tmp/tix-", 9), 0);
}

static void url_and_conninfo_name_the_socket(void **state) {
  const char *data_dir = "/nonexistent/odd dir&x=y'z\\";
  tix_cluster *cluster = open_cluster(data_dir);
  char url[1024];
  char conninfo[1024];
  char host[512];
  assert_int_equal(tix_cluster_url(cluster, url, sizeof url), TIX_OK);
  assert_string_equal(url, "postgresql:///tix?host=%2Fnonexistent%2Fodd%20dir%26x%3Dy%27z%5C%2Frun"
                           "&user=tix");
  host_in(url, host, sizeof host);
  assert_string_equal(host, "/nonexistent/odd dir&x=y'z\\/run");
  assert_int_equal(tix_cluster_conninfo(cluster, conninfo, sizeof conninfo), TIX_OK);
  host_in(conninfo, host, sizeof host);
  assert_string_equal(host, "/nonexistent/odd dir&x=y'z\\/run");
  assert_non_null(strstr(conninfo, "user='tix'"));
  assert_non_null(strstr(conninfo, "dbname='tix'"));
  assert_int_equal(tix_cluster_url(cluster, url, 20), TIX_EINVAL);
  assert_int_equal(tix_cluster_conninfo(cluster, conninfo, 20), TIX_EINVAL);
  tix_cluster_destroy(cluster);
}

static void stopped_and_crashed_clusters_are_not_running(void **state) {
  char pgdata[PATH_BYTES + 8];
  snprintf(pgdata, sizeof pgdata, "%s/pgdata", scratch);
  assert_int_equal(mkdir(pgdata, 0700), 0);
  write_file(pgdata, "PG_VERSION", "15\n");
  tix_cluster_state stopped;
  state_of(scratch, &stopped);
  assert_true(stopped.initialized);
  assert_false(stopped.running);
  assert_int_equal(stopped.major_version, 15);
  /* A postmaster.pid whose process is gone, as after kill -9. */
  write_file(pgdata, "postmaster.pid", "999999999\n/x\n");
  tix_cluster_state crashed;
  state_of(scratch, &crashed);
  assert_true(crashed.initialized);
  assert_false(crashed.running);
  assert_int_equal(crashed.pid, 0);
}

static void stop_of_a_missing_cluster_is_harmless(void **state) {
  char data_dir[PATH_BYTES + 32];
  snprintf(data_dir, sizeof data_dir, "%s/never-made", scratch);
  tix_cluster *cluster = open_cluster(data_dir);
  assert_int_equal(tix_cluster_stop(cluster), TIX_OK);
  tix_cluster_destroy(cluster);
  struct stat info;
  assert_int_not_equal(stat(data_dir, &info), 0);
}

static void missing_server_programs_change_nothing(void **state) {
  char data_dir[PATH_BYTES + 32];
  snprintf(data_dir, sizeof data_dir, "%s/no-programs/data", scratch);
  /* A setting that names no directory, or one without the programs, is a
   * configuration error like a bad flag (exit 2), naming the setting. */
  setenv("TIX_PG_BINDIR", "/nonexistent/bin", 1);
  tix_cluster *cluster = open_cluster(data_dir);
  assert_int_equal(tix_cluster_start(cluster), TIX_EINVAL);
  assert_non_null(strstr(tix_last_diag()->message, "TIX_PG_BINDIR"));
  assert_non_null(strstr(tix_last_diag()->detail, "/nonexistent/bin"));
  tix_cluster_destroy(cluster);
  setenv("TIX_PG_BINDIR", "/", 1);
  cluster = open_cluster(data_dir);
  assert_int_equal(tix_cluster_start(cluster), TIX_EINVAL);
  assert_non_null(strstr(tix_last_diag()->message, "TIX_PG_BINDIR"));
  assert_non_null(strstr(tix_last_diag()->hint, "TIX_PG_BINDIR"));
  tix_cluster_destroy(cluster);
  unsetenv("TIX_PG_BINDIR");
  char parent[PATH_BYTES + 32];
  snprintf(parent, sizeof parent, "%s/no-programs", scratch);
  struct stat info;
  assert_int_not_equal(stat(parent, &info), 0);
}

/* A pid file outlives a crash and its pid may now be another process's:
 * that process is neither reported as the server nor signalled. */
static void a_pid_file_naming_another_process_is_left_alone(void **state) {
  pid_t sleeper = fork();
  if (sleeper == 0) {
    execlp("sleep", "sleep", "60", (char *)NULL);
    _exit(127);
  }
  assert_true(sleeper > 0);
  char pgdata[PATH_BYTES + 8];
  char pid_file[64];
  snprintf(pgdata, sizeof pgdata, "%s/pgdata", scratch);
  snprintf(pid_file, sizeof pid_file, "%ld\n", (long)sleeper);
  assert_int_equal(mkdir(pgdata, 0700), 0);
  write_file(pgdata, "PG_VERSION", "15\n");
  write_file(pgdata, "postmaster.pid", pid_file);
  tix_cluster_state cluster_state;
  state_of(scratch, &cluster_state);
  assert_false(cluster_state.running);
  assert_int_equal(cluster_state.pid, 0);
  tix_cluster *cluster = open_cluster(scratch);
  assert_int_equal(tix_cluster_stop(cluster), TIX_OK);
  tix_cluster_destroy(cluster);
  int wait_status = 0;
  assert_int_equal(waitpid(sleeper, &wait_status, WNOHANG), 0); /* still running */
  kill(sleeper, SIGKILL);
  assert_int_equal(waitpid(sleeper, &wait_status, 0), sleeper);
}

/* pg_config is looked up in PATH before anything is forked, so a missing
 * one is said as such, not as a child that could not exec. */
static void pg_config_missing_from_path_is_said_so(void **state) {
  char data_dir[PATH_BYTES + 32];
  snprintf(data_dir, sizeof data_dir, "%s/no-pg-config/data", scratch);
  char *saved_path = strdup(getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin:/bin");
  assert_non_null(saved_path);
  unsetenv("TIX_PG_BINDIR");
  setenv("PATH", "/nonexistent", 1);
  tix_cluster *cluster = open_cluster(data_dir);
  int status = tix_cluster_start(cluster);
  setenv("PATH", saved_path, 1);
  free(saved_path);
  tix_cluster_destroy(cluster);
  assert_int_equal(status, TIX_ECLUSTER);
  assert_string_equal(tix_last_diag()->message, "could not find the PostgreSQL server programs");
  assert_non_null(strstr(tix_last_diag()->detail, "no program \"pg_config\" in PATH"));
}

static void bad_arguments_are_refused(void **state) {
  tix_cluster *cluster = NULL;
  assert_int_equal(tix_cluster_open("", &cluster), TIX_EINVAL);
  assert_int_equal(tix_cluster_open(NULL, &cluster), TIX_EINVAL);
  assert_null(cluster);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(short_path_keeps_socket_inside),
      cmocka_unit_test(spellings_of_one_path_are_one_path),
      cmocka_unit_test(long_path_moves_socket_to_private_directory),
      cmocka_unit_test(socket_limit_is_107_bytes),
      cmocka_unit_test(url_and_conninfo_name_the_socket),
      cmocka_unit_test_setup_teardown(stopped_and_crashed_clusters_are_not_running, make_scratch,
                                      remove_scratch),
      cmocka_unit_test_setup_teardown(stop_of_a_missing_cluster_is_harmless, make_scratch,
                                      remove_scratch),
      cmocka_unit_test_setup_teardown(missing_server_programs_change_nothing, make_scratch,
                                      remove_scratch),
      cmocka_unit_test_setup_teardown(a_pid_file_naming_another_process_is_left_alone, make_scratch,
                                      remove_scratch),
      cmocka_unit_test_setup_teardown(pg_config_missing_from_path_is_said_so, make_scratch,
                                      remove_scratch),
      cmocka_unit_test(bad_arguments_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
