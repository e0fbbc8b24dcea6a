/*
 * cluster_files.c — the directories and files the server needs, made so
 * that the server user owns and can reach them: the data directory (made
 * whole or not at all), the socket directory, the log, the settings file
 * tix.conf, and the cluster itself, made by initdb.
 */
#include "cluster_internal.h"

#include "error.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_COMPONENTS_MAX 256
#define SMALL_FILE_BYTES    1024
#define REMOVE_OPEN_FDS_MAX 16
#define INITDB_TIMEOUT_MS   300000

int cluster_read_data_version(const tix_cluster *cluster, char *version, size_t size) {
  char text[SMALL_FILE_BYTES];
  bool exists = false;
  int status = cluster_read_pgdata_file(cluster, "PG_VERSION", text, sizeof text, &exists);
  if (status != TIX_OK) {
    return status;
  }
  text[strcspn(text, " \t\r\n")] = '\0';
  tix_text_copy(version, size, exists ? text : "");
  return TIX_OK;
}

/* In the child, as the server user: every existing component of the path
 * must be searchable; the first one that is not is written out. Only
 * async-signal-safe calls. */
static void reach_in_child(const void *argument) {
  const char *data_dir = argument;
  char path[CLUSTER_PATH_BYTES];
  size_t length = strlen(data_dir);
  memcpy(path, data_dir, length + 1);
  for (size_t end = 1; end <= length; end++) {
    if (path[end] != '/' && path[end] != '\0') {
      continue;
    }
    char saved = path[end];
    path[end] = '\0';
    struct stat info;
    if (stat(path, &info) != 0 || !S_ISDIR(info.st_mode)) {
      _exit(0); /* missing or no directory: creating it says what is wrong */
    }
    if (access(path, X_OK) != 0) {
      (void)!write(STDOUT_FILENO, path, end);
      _exit(1);
    }
    path[end] = saved;
  }
  _exit(0);
}

int cluster_check_server_can_reach(const tix_cluster *cluster) {
  if (!cluster->user.switch_to) {
    return TIX_OK;
  }
  tix_process_request request = {.function = reach_in_child,
                                 .function_argument = cluster->data_dir,
                                 .name = "the reach check",
                                 .user = &cluster->user,
                                 .timeout_ms = CLUSTER_REACH_TIMEOUT_MS,
                                 .failure_status = TIX_ECLUSTER};
  tix_process_result result;
  int status = tix_process_run(&request, &result);
  if (status != TIX_OK || (result.exit_code == 0 && !result.timed_out)) {
    return status;
  }
  if (result.timed_out) {
    return tix_fail(TIX_ECLUSTER, "could not tell whether the %s user can reach \"%s\"",
                    CLUSTER_SERVER_USER_NAME, cluster->data_dir);
  }
  tix_fail(TIX_ECLUSTER, "the %s user cannot reach the data directory \"%s\"",
           CLUSTER_SERVER_USER_NAME, cluster->data_dir);
  tix_fail_detail("The server runs as %s (PostgreSQL refuses root), and \"%s\" is not searchable "
                  "by it.",
                  CLUSTER_SERVER_USER_NAME, result.output);
  tix_fail_hint("Let others search that directory (chmod o+x), or set TIX_DATA to a directory "
                "%s can reach.",
                CLUSTER_SERVER_USER_NAME);
  return TIX_ECLUSTER;
}

static int give_to_server_user(const tix_cluster *cluster, const char *path) {
  if (cluster->user.switch_to && lchown(path, cluster->user.uid, cluster->user.gid) != 0) {
    return tix_fail(TIX_ECLUSTER, "could not give \"%s\" to the %s user: %s", path,
                    CLUSTER_SERVER_USER_NAME, strerror(errno));
  }
  return TIX_OK;
}

static void remove_created(char *path, const size_t *ends, int count) {
  for (int i = count - 1; i >= 0; i--) {
    path[ends[i]] = '\0';
    rmdir(path);
  }
}

/* One line: which component could not be made, and why. */
static void fail_make_data_dir(const tix_cluster *cluster, const char *component, int error) {
  if (error == EEXIST) {
    tix_fail(TIX_ECLUSTER, "could not create the data directory \"%s\": \"%s\" is not a directory",
             cluster->data_dir, component);
  } else if (strcmp(component, cluster->data_dir) == 0) {
    tix_fail(TIX_ECLUSTER, "could not create the data directory \"%s\": %s", cluster->data_dir,
             strerror(error));
  } else {
    tix_fail(TIX_ECLUSTER, "could not create the data directory \"%s\": cannot create \"%s\": %s",
             cluster->data_dir, component, strerror(error));
  }
}

/* mkdir -p that undoes itself on failure, so that a refused start changes
 * nothing. Parents it makes are 0755 so the server user can pass. */
int cluster_make_data_dir(const tix_cluster *cluster) {
  char path[CLUSTER_PATH_BYTES];
  size_t ends[PATH_COMPONENTS_MAX];
  int created = 0;
  size_t length = strlen(cluster->data_dir);
  memcpy(path, cluster->data_dir, length + 1);
  for (size_t end = 1; end <= length; end++) {
    if (path[end] != '/' && path[end] != '\0') {
      continue;
    }
    path[end] = '\0';
    bool last = end == length;
    struct stat info;
    if (created < PATH_COMPONENTS_MAX && mkdir(path, last ? 0700 : 0755) == 0) {
      ends[created++] = end;
      chmod(path, last ? 0700 : 0755); /* whatever the umask */
    } else if (created >= PATH_COMPONENTS_MAX) {
      tix_fail(TIX_ECLUSTER, "could not create the data directory \"%s\": too many components",
               cluster->data_dir);
      remove_created(path, ends, created);
      return TIX_ECLUSTER;
    } else if (errno != EEXIST || stat(path, &info) != 0 || !S_ISDIR(info.st_mode)) {
      fail_make_data_dir(cluster, path, errno);
      remove_created(path, ends, created);
      return TIX_ECLUSTER;
    }
    path[end] = last ? '\0' : '/';
  }
  return created > 0 ? give_to_server_user(cluster, cluster->data_dir) : TIX_OK;
}

/* A directory the server writes in: made if absent, given to the server
 * user. A private one under /tmp must already be ours, not a planted one. */
static int prepare_server_dir(const tix_cluster *cluster, const char *path, bool shared_parent) {
  struct stat info;
  if (mkdir(path, 0700) == 0) {
    chmod(path, 0700);
    return give_to_server_user(cluster, path);
  }
  if (errno != EEXIST || lstat(path, &info) != 0 || !S_ISDIR(info.st_mode)) {
    return tix_fail(TIX_ECLUSTER, "could not create the directory \"%s\": %s", path,
                    strerror(errno == EEXIST ? ENOTDIR : errno));
  }
  if (shared_parent) {
    if (info.st_uid != cluster->user.uid || (info.st_mode & 077) != 0) {
      tix_fail(TIX_ECLUSTER, "the socket directory \"%s\" belongs to someone else", path);
      tix_fail_hint("Remove it, or use a shorter TIX_DATA path.");
      return TIX_ECLUSTER;
    }
    return TIX_OK;
  }
  return give_to_server_user(cluster, path);
}

/* Writes a whole file the server will read, owned by the server user. */
static int write_server_file(const tix_cluster *cluster, const char *path, const char *text,
                             int flags) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | flags, 0600);
  if (fd < 0) {
    return tix_fail(TIX_ECLUSTER, "could not write \"%s\": %s", path, strerror(errno));
  }
  size_t length = strlen(text);
  bool written = write(fd, text, length) == (ssize_t)length;
  int saved_errno = errno;
  bool owned = !cluster->user.switch_to || fchown(fd, cluster->user.uid, cluster->user.gid) == 0;
  if (!owned) {
    saved_errno = errno;
  }
  close(fd);
  if (!written || !owned) {
    return tix_fail(TIX_ECLUSTER, "could not write \"%s\": %s", path, strerror(saved_errno));
  }
  return TIX_OK;
}

/* A postgresql.conf string: quotes doubled, backslashes escaped. */
static bool quote_setting(const char *value, char *out, size_t size) {
  size_t used = 0;
  for (const char *c = value; *c != '\0'; c++) {
    if (used + 3 >= size) {
      return false;
    }
    if (*c == '\'' || *c == '\\') {
      out[used++] = *c;
    }
    out[used++] = *c;
  }
  out[used] = '\0';
  return true;
}

/* Settings go to a file of their own, included from postgresql.conf, so
 * that no path needs quoting through pg_ctl -o and a move of the data
 * directory is picked up at the next start. */
static int write_server_settings(const tix_cluster *cluster) {
  char quoted[CLUSTER_SOCKET_DIR_BYTES * 2];
  char text[CLUSTER_SOCKET_DIR_BYTES * 4];
  char path[CLUSTER_PATH_BYTES];
  if (!quote_setting(cluster->socket_dir, quoted, sizeof quoted)) {
    return tix_fail(TIX_EINVAL, "the socket directory path is too long");
  }
  snprintf(text, sizeof text,
           "# Written by tix at every start; put your own settings in postgresql.conf.\n"
           "listen_addresses = ''\n"
           "unix_socket_directories = '%s'\n",
           quoted);
  int status = cluster_join_path(path, sizeof path, cluster->pgdata, CLUSTER_SETTINGS_FILE);
  if (status == TIX_OK) {
    status = write_server_file(cluster, path, text, O_TRUNC);
  }
  return status;
}

static int remove_entry(const char *path, const struct stat *info, int type, struct FTW *where) {
  return remove(path);
}

/* Clears what an interrupted initdb left, so the next one starts clean. */
static int remove_leftover(const char *path) {
  struct stat info;
  if (lstat(path, &info) != 0) {
    return TIX_OK;
  }
  if (nftw(path, remove_entry, REMOVE_OPEN_FDS_MAX, FTW_DEPTH | FTW_PHYS) != 0) {
    return tix_fail(TIX_ECLUSTER, "could not remove the unfinished cluster \"%s\": %s", path,
                    strerror(errno));
  }
  return TIX_OK;
}

/* initdb into a staging directory renamed into place only when complete:
 * an interrupted initdb never leaves a half cluster that looks initialised. */
int cluster_initdb(tix_cluster *cluster) {
  char staging[CLUSTER_PATH_BYTES];
  char conf[CLUSTER_PATH_BYTES];
  int status = cluster_join_path(staging, sizeof staging, cluster->data_dir, "pgdata.initdb");
  if (status == TIX_OK) {
    status = cluster_join_path(conf, sizeof conf, staging, "postgresql.conf");
  }
  if (status == TIX_OK) {
    status = remove_leftover(staging);
  }
  if (status == TIX_OK) {
    status = prepare_server_dir(cluster, staging, false);
  }
  if (status != TIX_OK) {
    return status;
  }
  const char *const arguments[] = {"-D",
                                   staging,
                                   "-U",
                                   CLUSTER_SUPERUSER,
                                   "--auth-local=trust",
                                   "--auth-host=reject",
                                   "-E",
                                   "UTF8",
                                   "--no-locale",
                                   "--no-instructions",
                                   NULL};
  tix_process_result result;
  status = cluster_run_server_program(cluster, "initdb", arguments, INITDB_TIMEOUT_MS, &result);
  if (status == TIX_OK) {
    status = write_server_file(cluster, conf,
                               "\n# tix: the socket directory and no TCP port\n"
                               "include_if_exists = '" CLUSTER_SETTINGS_FILE "'\n",
                               O_APPEND);
  }
  if (status == TIX_OK && rename(staging, cluster->pgdata) != 0) {
    status = tix_fail(TIX_ECLUSTER, "could not move the new cluster into \"%s\": %s",
                      cluster->pgdata, strerror(errno));
  }
  return status;
}

int cluster_prepare_start(const tix_cluster *cluster) {
  int status = prepare_server_dir(cluster, cluster->socket_dir, cluster->socket_dir_private);
  if (status == TIX_OK) {
    status = write_server_file(cluster, cluster->log_file, "", O_APPEND);
  }
  if (status == TIX_OK) {
    status = write_server_settings(cluster);
  }
  return status;
}
