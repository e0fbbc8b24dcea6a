/*
 * cluster_programs.c — who runs the server and with which programs. As
 * root the server programs run as the postgres system user (PostgreSQL
 * refuses root); the programs come from TIX_PG_BINDIR or pg_config
 * --bindir, and their major version must be the data directory's.
 */
#include "cluster_internal.h"

#include "config.h"
#include "error.h"
#include "postgres_programs.h"
#include "text.h"

#include <assert.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASSWD_BUFFER_BYTES   16384
#define PROGRAM_ARGUMENTS_MAX 16
#define BINDIR_ENV            "TIX_PG_BINDIR"

int cluster_resolve_server_user(tix_cluster *cluster) {
  if (cluster->user_resolved) {
    return TIX_OK;
  }
  if (geteuid() != 0) {
    cluster->user = (tix_process_user){.uid = geteuid(), .gid = getegid()};
    cluster->user_resolved = true;
    return TIX_OK;
  }
  struct passwd entry;
  struct passwd *found = NULL;
  char buffer[PASSWD_BUFFER_BYTES];
  if (getpwnam_r(CLUSTER_SERVER_USER_NAME, &entry, buffer, sizeof buffer, &found) != 0 ||
      found == NULL || entry.pw_uid == 0) {
    tix_fail(TIX_ECLUSTER, "tix runs as root, but there is no unprivileged \"%s\" system user",
             CLUSTER_SERVER_USER_NAME);
    tix_fail_hint("PostgreSQL refuses to run as root: create the user (adduser --system --group "
                  "postgres) or run tix as an ordinary user.");
    return TIX_ECLUSTER;
  }
  tix_process_user *user = &cluster->user;
  *user = (tix_process_user){.switch_to = true, .uid = entry.pw_uid, .gid = entry.pw_gid};
  user->group_count = TIX_PROCESS_GROUPS_MAX;
  if (getgrouplist(CLUSTER_SERVER_USER_NAME, entry.pw_gid, user->groups, &user->group_count) < 0) {
    user->groups[0] = entry.pw_gid;
    user->group_count = 1;
  }
  cluster->user_resolved = true;
  return TIX_OK;
}

/* From TIX_PG_BINDIR, a missing program is a configuration error. */
static int check_programs(const tix_cluster *cluster, bool configured) {
  static const char *const programs[] = {"initdb", "pg_ctl", "postgres"};
  for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
    char path[CLUSTER_PATH_BYTES];
    int status = cluster_join_path(path, sizeof path, cluster->bindir, programs[i]);
    if (status != TIX_OK) {
      return status;
    }
    if (access(path, X_OK) != 0) {
      status = configured ? TIX_EINVAL : TIX_ECLUSTER;
      tix_fail(status, "no PostgreSQL server program \"%s\" in \"%s\"%s", programs[i],
               cluster->bindir, configured ? " (" BINDIR_ENV ")" : "");
      tix_fail_hint("Install the PostgreSQL server, or set " BINDIR_ENV " to the directory that "
                    "holds initdb and pg_ctl.");
      return status;
    }
  }
  return TIX_OK;
}

static int bindir_from_pg_config(tix_cluster *cluster) {
  if (tix_postgres_bindir(TIX_ECLUSTER, cluster->bindir, sizeof cluster->bindir) == TIX_OK) {
    return TIX_OK;
  }
  const tix_diag *cause = tix_last_diag();
  char reason[sizeof cause->message + sizeof cause->detail + 2];
  snprintf(reason, sizeof reason, "%s%s%s", cause->message, cause->detail[0] != '\0' ? ": " : "",
           cause->detail);
  tix_fail(TIX_ECLUSTER, "could not find the PostgreSQL server programs");
  tix_fail_detail("pg_config --bindir did not answer: %s", reason);
  tix_fail_hint("Install PostgreSQL, or set " BINDIR_ENV " to the directory that holds initdb "
                "and pg_ctl.");
  return TIX_ECLUSTER;
}

int cluster_resolve_bindir(tix_cluster *cluster) {
  if (cluster->bindir[0] != '\0') {
    return TIX_OK;
  }
  const char *configured = NULL;
  int status = tix_env_path(BINDIR_ENV, TIX_PATH_DIRECTORY, &configured);
  bool from_environment = configured != NULL && configured[0] != '\0';
  if (status == TIX_OK && from_environment) {
    if (!tix_text_copy(cluster->bindir, sizeof cluster->bindir, configured)) {
      status = tix_fail(TIX_EINVAL, BINDIR_ENV " is too long");
    }
  } else if (status == TIX_OK) {
    status = bindir_from_pg_config(cluster);
  }
  if (status == TIX_OK) {
    status = check_programs(cluster, from_environment);
  }
  if (status != TIX_OK) {
    cluster->bindir[0] = '\0';
  }
  return status;
}

int cluster_run_server_program(const tix_cluster *cluster, const char *program,
                               const char *const *arguments, int timeout_ms,
                               tix_process_result *result) {
  char path[CLUSTER_PATH_BYTES];
  const char *argv[PROGRAM_ARGUMENTS_MAX + 2] = {path};
  int count = 0;
  while (arguments[count] != NULL && count < PROGRAM_ARGUMENTS_MAX) {
    argv[count + 1] = arguments[count];
    count++;
  }
  assert(arguments[count] == NULL); /* more is a programmer's error */
  int status = cluster_join_path(path, sizeof path, cluster->bindir, program);
  if (status != TIX_OK) {
    return status;
  }
  tix_process_request request = {.arguments = argv,
                                 .user = &cluster->user,
                                 .directory = cluster->data_dir,
                                 .timeout_ms = timeout_ms,
                                 .failure_status = TIX_ECLUSTER};
  status = tix_process_run_checked(&request, result);
  if (status != TIX_OK) {
    tix_fail_detail_unlabel(); /* initdb's output may quote the server's FATAL lines */
  }
  return status;
}

int cluster_check_version_matches(tix_cluster *cluster, const char *data_version) {
  char program[CLUSTER_PATH_BYTES];
  char binary_version[TIX_POSTGRES_VERSION_BYTES];
  int status = cluster_join_path(program, sizeof program, cluster->bindir, "pg_ctl");
  if (status == TIX_OK) {
    status =
        tix_postgres_major_version(program, TIX_ECLUSTER, binary_version, sizeof binary_version);
  }
  if (status != TIX_OK || strcmp(binary_version, data_version) == 0) {
    return status;
  }
  tix_fail(TIX_ECLUSTER,
           "the data directory was initialized by PostgreSQL %s, but the server programs are "
           "PostgreSQL %s",
           data_version, binary_version);
  tix_fail_detail("The cluster is in \"%s\"; the programs are in \"%s\".", cluster->pgdata,
                  cluster->bindir);
  tix_fail_hint("Use the PostgreSQL %s programs (set " BINDIR_ENV "), or set TIX_DATA to a new "
                "directory.",
                data_version);
  return TIX_ECLUSTER;
}
