/*
 * cluster_postmaster.c — postmaster.pid and the process it names. A pid
 * file outlives a crash, and its pid may since have been given to another
 * process: before tix reports a server as running or signals anything, it
 * checks that the pid is a postgres program working in this cluster's data
 * directory (a postmaster changes to it at start), through /proc.
 */
#include "cluster_internal.h"

#include "error.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SMALL_FILE_BYTES 1024
#define PROC_PATH_BYTES  64
#define SERVER_PROGRAM   "postgres"
#define DELETED_SUFFIX   " (deleted)" /* /proc's mark of a replaced binary */

int cluster_read_postmaster_pid(const tix_cluster *cluster, long *pid) {
  char text[SMALL_FILE_BYTES];
  bool exists = false;
  *pid = 0;
  int status = cluster_read_pgdata_file(cluster, "postmaster.pid", text, sizeof text, &exists);
  if (status == TIX_OK && exists) {
    long value = strtol(text, NULL, 10);
    *pid = value > 0 && value <= INT_MAX ? value : 0;
  }
  return status;
}

/* A zombie counts as dead: a killed postmaster whose new parent has not
 * reaped it yet (a container's init may be slow to) would otherwise make
 * stop wait for a process that can no longer exit. */
bool cluster_process_is_zombie(long pid) {
  char path[PROC_PATH_BYTES];
  char text[SMALL_FILE_BYTES];
  bool exists = false;
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  if (cluster_read_small_file(path, text, sizeof text, &exists) != TIX_OK || !exists) {
    return false;
  }
  const char *end_of_name = strrchr(text, ')'); /* "pid (name) state …" */
  return end_of_name != NULL && end_of_name[1] == ' ' && end_of_name[2] == 'Z';
}

/* The target of a /proc/PID link, "" when it cannot be read: the process
 * is gone (or a zombie), or is not ours to inspect, and then it cannot be
 * a postmaster tix could stop either. */
static void read_process_link(long pid, const char *name, char *out, size_t size) {
  char path[PROC_PATH_BYTES];
  snprintf(path, sizeof path, "/proc/%ld/%s", pid, name);
  ssize_t length = readlink(path, out, size - 1);
  out[length > 0 ? length : 0] = '\0';
}

static bool runs_server_program(const char *executable) {
  const char *slash = strrchr(executable, '/');
  const char *base = slash != NULL ? slash + 1 : executable;
  size_t length = strlen(SERVER_PROGRAM);
  return strncmp(base, SERVER_PROGRAM, length) == 0 &&
         (base[length] == '\0' || strcmp(base + length, DELETED_SUFFIX) == 0);
}

static bool is_this_postmaster(const tix_cluster *cluster, long pid) {
  char working_directory[PATH_MAX];
  char executable[PATH_MAX];
  char pgdata[PATH_MAX];
  read_process_link(pid, "cwd", working_directory, sizeof working_directory);
  read_process_link(pid, "exe", executable, sizeof executable);
  return realpath(cluster->pgdata, pgdata) != NULL && strcmp(working_directory, pgdata) == 0 &&
         runs_server_program(executable);
}

int cluster_find_postmaster(const tix_cluster *cluster, long *pid_out) {
  *pid_out = 0;
  long pid = 0;
  int status = cluster_read_postmaster_pid(cluster, &pid);
  bool exists = pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
  if (status == TIX_OK && exists && is_this_postmaster(cluster, pid)) {
    *pid_out = pid;
  }
  return status;
}
