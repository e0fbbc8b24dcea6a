/*
 * cluster.c — the embedded PostgreSQL cluster that tix runs when no database
 * is configured (DESIGN §5): its state, and starting it (initdb once, pg_ctl
 * start on a private Unix socket, no TCP port, the database created) and
 * stopping it, one tix process at a time. cluster_internal.h lists the
 * pieces this is made of.
 */
#include "cluster_internal.h"

#include "clock.h"
#include "config.h"
#include "error.h"
#include "pool.h"
#include "sql.h"
#include "text.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define PG_CTL_TIMEOUT_S     60
#define PG_CTL_GRACE_MS      10000 /* beyond pg_ctl's own -t */
#define START_ATTEMPTS_MAX   5
#define START_RETRY_PAUSE_MS 500
#define LOCK_WAIT_MS         180000
#define LOCK_POLL_MS         100
#define ZOMBIE_WAIT_MS       10000
#define ZOMBIE_POLL_MS       50
#define CONNECT_TIMEOUT_MS   10000
#define PING_TIMEOUT_S       "2"
#define TIMEOUT_TEXT_BYTES   16
#define LOG_TAIL_READ_BYTES  TIX_PROCESS_OUTPUT_BYTES
#define LOG_TAIL_LINES_MAX   64 /* more than a tail holds */
#define DUPLICATE_DATABASE   "42P04"

/* ------------------------------------------------------------- state */

/* Whether a postmaster answers on the socket, even if only to refuse
 * connections while it starts up or shuts down. */
static bool cluster_answers(const tix_cluster *cluster) {
  char conninfo[CLUSTER_CONNINFO_BYTES];
  if (cluster_build_conninfo(cluster, "postgres", conninfo, sizeof conninfo) != TIX_OK ||
      !tix_conninfo_append(conninfo, sizeof conninfo, "connect_timeout", PING_TIMEOUT_S)) {
    return false;
  }
  PGPing ping = PQping(conninfo);
  return ping == PQPING_OK || ping == PQPING_REJECT;
}

int tix_cluster_state_get(tix_cluster *cluster, tix_cluster_state *out) {
  assert(cluster != NULL && out != NULL);
  memset(out, 0, sizeof *out);
  tix_text_copy(out->data_dir, sizeof out->data_dir, cluster->data_dir);
  tix_text_copy(out->socket_dir, sizeof out->socket_dir, cluster->socket_dir);
  char version[CLUSTER_VERSION_BYTES];
  int status = cluster_read_data_version(cluster, version, sizeof version);
  if (status != TIX_OK || version[0] == '\0') {
    return status;
  }
  out->initialized = true;
  out->major_version = atoi(version);
  long pid = 0;
  status = cluster_find_postmaster(cluster, &pid);
  if (status == TIX_OK && pid != 0 && cluster_answers(cluster)) {
    out->running = true;
    out->pid = pid;
  }
  return status;
}

/* ------------------------------------------------ starting, stopping */

/* The end of the server log: why the postmaster would not start. */
static void read_log_tail(const tix_cluster *cluster, char *out, size_t size) {
  tix_process_result tail = {0};
  out[0] = '\0';
  int fd = open(cluster->log_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return;
  }
  off_t end = lseek(fd, 0, SEEK_END);
  off_t start = end > LOG_TAIL_READ_BYTES - 1 ? end - (LOG_TAIL_READ_BYTES - 1) : 0;
  ssize_t length = pread(fd, tail.output, LOG_TAIL_READ_BYTES - 1, start);
  close(fd);
  if (length > 0) {
    tail.output_length = (size_t)length;
    tix_process_output_tail(&tail, out, size);
  }
}

/* What the server says when it will not start, in tix's words: the raw
 * lines ("2025-… [123] FATAL:  lock file …") stay in the server log. */
static const struct {
  const char *server_says;
  const char *tix_says;
} start_failures[] = {
    {"lock file \"postmaster.pid\" already exists",
     "another server is already using this data directory"},
    {".s.PGSQL.", "another server is already using the cluster's socket"},
    {"Address already in use", "another server is already using the cluster's socket"},
    {"has invalid permissions", "the data directory's permissions are wrong (it must be 0700)"},
    {"has wrong ownership", "the data directory does not belong to the server's user"},
    {"database files are incompatible with server",
     "the data directory was made by another PostgreSQL version"},
    {"shared memory", "the system did not give the server the shared memory it needs"},
    {"configuration file", "a configuration file of the cluster has an error"},
};

/* The server's last complaint in text (its log, or pg_ctl's output) as a
 * sentence of tix's, with the pid of the server in the way when the hint
 * that follows names it. False when text holds no complaint. */
static bool explain_start_failure(const char *text, char *out, size_t size) {
  const char *complaint = NULL;
  const char *line = text;
  for (int count = 0; count < LOG_TAIL_LINES_MAX && *line != '\0'; count++) {
    complaint = tix_server_message(line) != NULL ? tix_server_message(line) : complaint;
    line += strcspn(line, "\n");
    line += *line == '\n' ? 1 : 0;
  }
  if (complaint == NULL) {
    return false;
  }
  int length = (int)strcspn(complaint, "\n");
  const char *pid = strstr(complaint, "(PID ");
  long other_pid = pid != NULL ? strtol(pid + strlen("(PID "), NULL, 10) : 0;
  char says[TIX_PROCESS_TAIL_BYTES];
  snprintf(says, sizeof says, "the server stopped while starting: %.*s", length, complaint);
  for (size_t i = 0; i < sizeof start_failures / sizeof start_failures[0]; i++) {
    const char *found = strstr(complaint, start_failures[i].server_says);
    if (found != NULL && found < complaint + length) {
      snprintf(says, sizeof says, "%s", start_failures[i].tix_says);
      break;
    }
  }
  says[0] = (char)toupper((unsigned char)says[0]);
  if (other_pid > 0) {
    snprintf(out, size, "%s (pid %ld).", says, other_pid);
  } else {
    snprintf(out, size, "%s.", says);
  }
  return true;
}

static int run_pg_ctl(const tix_cluster *cluster, const char *const *arguments,
                      tix_process_result *result) {
  return cluster_run_server_program(cluster, "pg_ctl", arguments,
                                    PG_CTL_TIMEOUT_S * 1000 + PG_CTL_GRACE_MS, result);
}

static int start_server_once(const tix_cluster *cluster) {
  char timeout_s[TIMEOUT_TEXT_BYTES];
  snprintf(timeout_s, sizeof timeout_s, "%d", PG_CTL_TIMEOUT_S);
  const char *const arguments[] = {"start", "-D", cluster->pgdata, "-l", cluster->log_file,
                                   "-w",    "-t", timeout_s,       NULL};
  tix_process_result result;
  int status = run_pg_ctl(cluster, arguments, &result);
  if (status != TIX_OK) {
    char log_tail[TIX_PROCESS_TAIL_BYTES + 1];
    char output_tail[TIX_PROCESS_TAIL_BYTES + 1];
    char reason[TIX_PROCESS_TAIL_BYTES +
                sizeof "pg_ctl said: " + sizeof " (pid 9223372036854775807)."];
    read_log_tail(cluster, log_tail, sizeof log_tail);
    tix_process_output_tail(&result, output_tail, sizeof output_tail);
    if (!explain_start_failure(log_tail, reason, sizeof reason) &&
        !explain_start_failure(output_tail, reason, sizeof reason)) {
      snprintf(reason, sizeof reason, "pg_ctl said: %s", output_tail);
    }
    tix_fail(TIX_ECLUSTER, "could not start the PostgreSQL server in \"%s\"", cluster->pgdata);
    tix_fail_detail("%s", reason);
    tix_fail_hint("See the server log \"%s\".", cluster->log_file);
  }
  return status;
}

/* After a crash, backends orphaned by a killed postmaster can hold the old
 * shared memory for a moment and make the first start fail: retry a few
 * times, but only then, so that a real error is reported at once. */
static int start_server(const tix_cluster *cluster) {
  long stale_pid = 0;
  int status = cluster_read_postmaster_pid(cluster, &stale_pid);
  /* PostgreSQL takes a zombie for a live postmaster, and a postmaster
   * killed a moment ago stays one until its new parent reaps it. */
  int64_t deadline_ms = tix_now_ms() + ZOMBIE_WAIT_MS;
  while (stale_pid > 0 && cluster_process_is_zombie(stale_pid) && tix_now_ms() < deadline_ms) {
    tix_sleep_ms(ZOMBIE_POLL_MS);
  }
  for (int attempt = 1; status == TIX_OK && attempt <= START_ATTEMPTS_MAX; attempt++) {
    status = start_server_once(cluster);
    if (status == TIX_OK || stale_pid == 0 || attempt == START_ATTEMPTS_MAX) {
      break;
    }
    tix_sleep_ms((int64_t)START_RETRY_PAUSE_MS * attempt);
    status = TIX_OK;
  }
  return status;
}

/* CREATE DATABASE tix, once: the name is a constant, so no quoting. */
static int ensure_database(const tix_cluster *cluster) {
  char conninfo[CLUSTER_CONNINFO_BYTES];
  PGconn *conn = NULL;
  int status = cluster_build_conninfo(cluster, "postgres", conninfo, sizeof conninfo);
  if (status == TIX_OK) {
    status = tix_connect(conninfo, "tix", CONNECT_TIMEOUT_MS, &conn);
  }
  if (status != TIX_OK) {
    return status;
  }
  const char *const values[] = {CLUSTER_DATABASE};
  PGresult *result = NULL;
  status = tix_sql_exec(conn, "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", 1, values,
                        &result);
  if (status != TIX_OK) {
    goto finish_connection;
  }
  bool missing = PQntuples(result) == 0;
  PQclear(result);
  if (missing) {
    status = tix_sql_exec(conn, "CREATE DATABASE " CLUSTER_DATABASE, 0, NULL, NULL);
  }
  if (status != TIX_OK && strcmp(tix_last_diag()->sqlstate, DUPLICATE_DATABASE) == 0) {
    tix_diag_clear(); /* another process made it meanwhile */
    status = TIX_OK;
  }
finish_connection:
  PQfinish(conn);
  return status;
}

/* One start or stop at a time per data directory: two commands starting
 * the cluster at once would otherwise race in initdb and pg_ctl. */
static int lock_cluster(tix_cluster *cluster) {
  assert(cluster->lock_fd < 0);
  int fd = open(cluster->lock_file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return tix_fail(TIX_ECLUSTER, "could not open \"%s\": %s", cluster->lock_file, strerror(errno));
  }
  int64_t deadline_ms = tix_now_ms() + LOCK_WAIT_MS;
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if ((errno != EWOULDBLOCK && errno != EINTR) || tix_now_ms() >= deadline_ms) {
      close(fd);
      tix_fail(TIX_ECLUSTER, "another tix process keeps starting or stopping the cluster");
      tix_fail_detail("Waited %d s for the lock on \"%s\".", LOCK_WAIT_MS / 1000,
                      cluster->lock_file);
      return TIX_ECLUSTER;
    }
    tix_sleep_ms(LOCK_POLL_MS);
  }
  cluster->lock_fd = fd;
  return TIX_OK;
}

static void unlock_cluster(tix_cluster *cluster) {
  if (cluster->lock_fd >= 0) {
    close(cluster->lock_fd); /* releases the flock */
    cluster->lock_fd = -1;
  }
}

/* With the lock held: initdb when needed, start, create the database.
 * *created_now: initdb ran here, so the database is new and nobody else
 * has used it; whoever started it may migrate it without asking. */
static int start_locked(tix_cluster *cluster, bool *created_now) {
  tix_cluster_state state;
  char data_version[CLUSTER_VERSION_BYTES];
  int status = tix_cluster_state_get(cluster, &state);
  if (status != TIX_OK || state.running) {
    return status == TIX_OK ? ensure_database(cluster) : status;
  }
  status = cluster_read_data_version(cluster, data_version, sizeof data_version);
  if (status == TIX_OK && data_version[0] == '\0') {
    status = cluster_initdb(cluster);
    *created_now = status == TIX_OK;
  } else if (status == TIX_OK) {
    status = cluster_check_version_matches(cluster, data_version);
  }
  if (status == TIX_OK) {
    status = cluster_prepare_start(cluster);
  }
  if (status == TIX_OK) {
    status = start_server(cluster);
  }
  if (status == TIX_OK) {
    status = ensure_database(cluster);
  }
  return status;
}

/* The server user and programs, before the lock (for stop) or before
 * anything is made (for start). */
static int resolve_server(tix_cluster *cluster) {
  int status = cluster_resolve_server_user(cluster);
  if (status == TIX_OK) {
    status = cluster_resolve_bindir(cluster);
  }
  return status;
}

static int start_cluster(tix_cluster *cluster, bool *created_now) {
  *created_now = false;
  int status = resolve_server(cluster);
  if (status == TIX_OK) {
    status = cluster_check_server_can_reach(cluster);
  }
  if (status == TIX_OK) {
    status = cluster_make_data_dir(cluster);
  }
  if (status == TIX_OK) {
    status = lock_cluster(cluster);
  }
  if (status != TIX_OK) {
    return status;
  }
  status = start_locked(cluster, created_now);
  unlock_cluster(cluster);
  return status;
}

int tix_cluster_start(tix_cluster *cluster) {
  assert(cluster != NULL);
  bool created_now = false;
  return start_cluster(cluster, &created_now);
}

int tix_cluster_ensure_running(tix_cluster *cluster, bool *created_now) {
  assert(cluster != NULL && created_now != NULL);
  *created_now = false;
  tix_cluster_state state;
  int status = tix_cluster_state_get(cluster, &state);
  if (status != TIX_OK || state.running) {
    return status;
  }
  return start_cluster(cluster, created_now);
}

static int stop_server(const tix_cluster *cluster) {
  char timeout_s[TIMEOUT_TEXT_BYTES];
  snprintf(timeout_s, sizeof timeout_s, "%d", PG_CTL_TIMEOUT_S);
  const char *const arguments[] = {"stop", "-D", cluster->pgdata, "-m", "fast",
                                   "-w",   "-t", timeout_s,       NULL};
  tix_process_result result;
  int status = run_pg_ctl(cluster, arguments, &result);
  if (status != TIX_OK) {
    char tail[TIX_PROCESS_TAIL_BYTES + 1];
    tix_process_output_tail(&result, tail, sizeof tail);
    tix_fail(TIX_ECLUSTER, "could not stop the PostgreSQL server in \"%s\"", cluster->pgdata);
    tix_fail_detail("%s", tail);
  }
  return status;
}

/* Stopping what does not run is harmless; a postmaster that is alive but
 * does not answer is still stopped. Only a pid checked to be this
 * cluster's postmaster is stopped: a stale postmaster.pid may name a
 * process that has nothing to do with PostgreSQL. */
int tix_cluster_stop(tix_cluster *cluster) {
  assert(cluster != NULL);
  long pid = 0;
  int status = cluster_find_postmaster(cluster, &pid);
  if (status == TIX_OK && pid != 0) {
    status = resolve_server(cluster);
  }
  if (status == TIX_OK && pid != 0) {
    status = lock_cluster(cluster);
  }
  if (status != TIX_OK || pid == 0) {
    return status;
  }
  status = cluster_find_postmaster(cluster, &pid);
  if (status == TIX_OK && pid != 0) {
    status = stop_server(cluster);
  }
  unlock_cluster(cluster);
  return status;
}
