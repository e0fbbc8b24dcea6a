/*
 * cluster.c — the embedded PostgreSQL cluster that tix runs when no database
 * is configured (DESIGN §5): initdb once, pg_ctl start on a private Unix
 * socket (no TCP port), pg_ctl stop. PostgreSQL refuses to run as root, so
 * when tix is root the server programs run as the postgres system user.
 *
 * The data directory (TIX_DATA) holds:
 *   pgdata/      the cluster itself, mode 0700, owned by the server user
 *   run/         the socket directory, unless that path is too long for a
 *                socket; then /tmp/tix-<hash of the data directory's path>
 *   server.log   the server's log (pg_ctl -l)
 *   tix.lock     serialises start and stop between tix processes
 */
#include "cluster.h"

#include "config.h"
#include "error.h"
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PATH_BYTES             4096
#define SOCKET_DIR_BYTES       256 /* as tix_cluster_state.socket_dir */
#define SOCKET_PATH_BYTES_MAX  107 /* sun_path: 108 bytes with the terminator */
#define SOCKET_FILE_NAME       ".s.PGSQL.5432"
#define PRIVATE_SOCKET_PARENT  "/tmp"
#define SERVER_USER_NAME       "postgres"
#define CLUSTER_SUPERUSER      "tix"
#define CLUSTER_DATABASE       "tix"
#define SETTINGS_FILE_NAME     "tix.conf"
#define PATH_COMPONENTS_MAX    256
#define GROUPS_MAX             64
#define PASSWD_BUFFER_BYTES    16384
#define CHILD_OUTPUT_BYTES     8192
#define CHILD_READ_BYTES       4096
#define CHILD_DRAIN_READS_MAX  64
#define CHILD_POLL_SLICE_MS    50
#define TAIL_LINES_MAX         8
#define TAIL_BYTES_MAX         800
#define SMALL_FILE_BYTES       1024
#define VERSION_BYTES          64
#define CONNINFO_BYTES         (2 * PATH_BYTES)
#define PG_CTL_TIMEOUT_S       60
#define PG_CTL_GRACE_MS        10000 /* beyond pg_ctl's own -t */
#define QUICK_CHILD_TIMEOUT_MS 10000 /* pg_config, --version, the reach check */
#define INITDB_TIMEOUT_MS      300000
#define START_ATTEMPTS_MAX     5
#define START_RETRY_PAUSE_MS   500
#define LOCK_WAIT_MS           180000
#define LOCK_POLL_MS           100
#define ZOMBIE_WAIT_MS         10000
#define ZOMBIE_POLL_MS         50
#define CONNECT_TIMEOUT_MS     10000
#define REMOVE_OPEN_FDS_MAX    16

/* Who runs initdb and pg_ctl: the postgres user when tix is root. */
struct server_user {
  bool resolved;
  bool switch_to; /* tix is root: drop to the postgres user in the child */
  uid_t uid;
  gid_t gid;
  gid_t groups[GROUPS_MAX];
  int group_count;
};

struct tix_cluster {
  char data_dir[PATH_BYTES];
  char pgdata[PATH_BYTES];
  char log_file[PATH_BYTES];
  char lock_file[PATH_BYTES];
  char socket_dir[SOCKET_DIR_BYTES];
  bool socket_dir_private; /* under /tmp: the path inside was too long */
  char bindir[PATH_BYTES]; /* empty until resolved */
  struct server_user user;
  int lock_fd;
};

/* What a child process wrote on stdout and stderr: the tail is what explains
 * a failure, so the head is dropped when it overflows. */
struct child_output {
  char text[CHILD_OUTPUT_BYTES];
  size_t length;
};

/* Runs in the forked child after its stdio and user are set; never returns. */
typedef void (*child_body)(const tix_cluster *cluster, const void *argument);

struct exec_request {
  const char *const *arguments; /* arguments[0] is the program */
  bool search_path;             /* find arguments[0] in PATH (pg_config) */
  const char *directory;        /* working directory, or NULL */
};

/* ------------------------------------------------------------- paths */

static int copy_text(char *destination, size_t size, const char *source) {
  size_t length = strlen(source);
  if (length >= size) {
    return TIX_EINVAL;
  }
  memcpy(destination, source, length + 1);
  return TIX_OK;
}

static int join_path(char *destination, size_t size, const char *directory, const char *name) {
  int written = snprintf(destination, size, "%s/%s", directory, name);
  if (written < 0 || (size_t)written >= size) {
    return tix_fail(TIX_EINVAL, "the data directory path is too long");
  }
  return TIX_OK;
}

/* Removes empty and "." components and trailing slashes, so that every
 * spelling of one path hashes to the same private socket directory. */
static void clean_path(char *path) {
  char *write = path;
  const char *read = path;
  while (*read != '\0') {
    if (read[0] == '/' && (read[1] == '/' || (read[1] == '.' && (read[2] == '/' || !read[2])))) {
      read += read[1] == '/' ? 1 : 2;
      continue;
    }
    *write++ = *read++;
  }
  *write = '\0';
  if (write > path + 1 && write[-1] == '/') {
    write[-1] = '\0';
  }
  if (path[0] == '\0') {
    strcpy(path, "/");
  }
}

static int absolute_path(const char *path, char *out, size_t size) {
  char joined[PATH_BYTES];
  if (path[0] == '/') {
    if (copy_text(joined, sizeof joined, path) != TIX_OK) {
      return tix_fail(TIX_EINVAL, "the data directory path is too long");
    }
  } else {
    char cwd[PATH_BYTES];
    if (getcwd(cwd, sizeof cwd) == NULL) {
      return tix_fail(TIX_ECLUSTER, "could not resolve the data directory \"%s\": %s", path,
                      strerror(errno));
    }
    int status = join_path(joined, sizeof joined, cwd, path);
    if (status != TIX_OK) {
      return status;
    }
  }
  clean_path(joined);
  return copy_text(out, size, joined) == TIX_OK
             ? TIX_OK
             : tix_fail(TIX_EINVAL, "the data directory path is too long");
}

/* The symlink-free path of an absolute path whose last components may not
 * exist yet: the deepest existing ancestor resolved, the rest appended. */
static int canonical_path(const char *path, char *out, size_t size) {
  char prefix[PATH_BYTES];
  char resolved[PATH_MAX];
  if (copy_text(prefix, sizeof prefix, path) != TIX_OK) {
    return tix_fail(TIX_EINVAL, "the data directory path is too long");
  }
  size_t cut = strlen(prefix);
  for (int component = 0; component < PATH_COMPONENTS_MAX; component++) {
    if (realpath(prefix[0] != '\0' ? prefix : "/", resolved) != NULL) {
      const char *base = strcmp(resolved, "/") == 0 ? "" : resolved;
      int written = snprintf(out, size, "%s%s", base, path + cut);
      if (written < 0 || (size_t)written >= size) {
        return tix_fail(TIX_EINVAL, "the data directory path is too long");
      }
      if (out[0] == '\0') {
        strcpy(out, "/");
      }
      return TIX_OK;
    }
    char *slash = strrchr(prefix, '/');
    if (slash == NULL) {
      break;
    }
    *slash = '\0';
    cut = (size_t)(slash - prefix);
  }
  return copy_text(out, size, path);
}

/* FNV-1a: stable across runs and builds, which is all a directory name needs. */
static unsigned long long path_hash(const char *path) {
  unsigned long long hash = 14695981039346656037ULL;
  for (const unsigned char *c = (const unsigned char *)path; *c != '\0'; c++) {
    hash ^= *c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

static void choose_socket_dir(tix_cluster *cluster) {
  char inside[PATH_BYTES];
  int written = snprintf(inside, sizeof inside, "%s/run", cluster->data_dir);
  size_t socket_length = (size_t)written + 1 + strlen(SOCKET_FILE_NAME);
  if (written > 0 && socket_length <= SOCKET_PATH_BYTES_MAX) {
    copy_text(cluster->socket_dir, sizeof cluster->socket_dir, inside);
    cluster->socket_dir_private = false;
  } else {
    snprintf(cluster->socket_dir, sizeof cluster->socket_dir, "%s/tix-%016llx",
             PRIVATE_SOCKET_PARENT, path_hash(cluster->data_dir));
    cluster->socket_dir_private = true;
  }
}

int tix_cluster_open(const char *data_dir, tix_cluster **out) {
  if (data_dir == NULL || data_dir[0] == '\0' || out == NULL) {
    return tix_fail(TIX_EINVAL,
                    "tix_cluster_open needs a data directory and a place for the handle");
  }
  *out = NULL;
  tix_cluster *cluster = calloc(1, sizeof *cluster);
  if (cluster == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  cluster->lock_fd = -1;
  char absolute[PATH_BYTES];
  int status = absolute_path(data_dir, absolute, sizeof absolute);
  if (status == TIX_OK) {
    status = canonical_path(absolute, cluster->data_dir, sizeof cluster->data_dir);
  }
  if (status == TIX_OK) {
    status = join_path(cluster->pgdata, sizeof cluster->pgdata, cluster->data_dir, "pgdata");
  }
  if (status == TIX_OK) {
    status =
        join_path(cluster->log_file, sizeof cluster->log_file, cluster->data_dir, "server.log");
  }
  if (status == TIX_OK) {
    status =
        join_path(cluster->lock_file, sizeof cluster->lock_file, cluster->data_dir, "tix.lock");
  }
  if (status != TIX_OK) {
    free(cluster);
    return status;
  }
  choose_socket_dir(cluster);
  *out = cluster;
  return TIX_OK;
}

void tix_cluster_destroy(tix_cluster *cluster) {
  if (cluster == NULL) {
    return;
  }
  if (cluster->lock_fd >= 0) {
    close(cluster->lock_fd);
  }
  free(cluster);
}

/* ----------------------------------------------------- reading state */

/* Reads a small file whole; a file that is not there is no error. */
static int read_small_file(const char *path, char *buffer, size_t size, bool *exists) {
  *exists = false;
  buffer[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return TIX_OK;
    }
    return tix_fail(TIX_ECLUSTER, "could not read \"%s\": %s", path, strerror(errno));
  }
  ssize_t length = read(fd, buffer, size - 1);
  int saved_errno = errno;
  close(fd);
  if (length < 0) {
    return tix_fail(TIX_ECLUSTER, "could not read \"%s\": %s", path, strerror(saved_errno));
  }
  buffer[length] = '\0';
  *exists = true;
  return TIX_OK;
}

/* The major version in PG_VERSION ("15", or "9.6" for old ones), "" when
 * the cluster is not initialised. */
static int read_data_version(const tix_cluster *cluster, char *version, size_t size) {
  char path[PATH_BYTES];
  char text[SMALL_FILE_BYTES];
  bool exists = false;
  int status = join_path(path, sizeof path, cluster->pgdata, "PG_VERSION");
  if (status == TIX_OK) {
    status = read_small_file(path, text, sizeof text, &exists);
  }
  if (status != TIX_OK) {
    return status;
  }
  text[strcspn(text, " \t\r\n")] = '\0';
  copy_text(version, size, exists ? text : "");
  return TIX_OK;
}

/* The pid in postmaster.pid's first line, 0 when there is none. */
static int read_postmaster_pid(const tix_cluster *cluster, long *pid) {
  char path[PATH_BYTES];
  char text[SMALL_FILE_BYTES];
  bool exists = false;
  *pid = 0;
  int status = join_path(path, sizeof path, cluster->pgdata, "postmaster.pid");
  if (status == TIX_OK) {
    status = read_small_file(path, text, sizeof text, &exists);
  }
  if (status == TIX_OK && exists) {
    long value = strtol(text, NULL, 10);
    *pid = value > 0 ? value : 0;
  }
  return status;
}

/* A zombie counts as dead: a killed postmaster whose new parent has not
 * reaped it yet (a container's init may be slow to) would otherwise make
 * stop wait for a process that can no longer exit. */
static bool process_is_zombie(long pid) {
  char path[64];
  char text[SMALL_FILE_BYTES];
  bool exists = false;
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  if (read_small_file(path, text, sizeof text, &exists) != TIX_OK || !exists) {
    return false;
  }
  const char *end_of_name = strrchr(text, ')'); /* "pid (name) state …" */
  return end_of_name != NULL && end_of_name[1] == ' ' && end_of_name[2] == 'Z';
}

static bool process_alive(long pid) {
  return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM) && !process_is_zombie(pid);
}

static int build_conninfo(const tix_cluster *cluster, const char *database, char *buffer,
                          size_t size) {
  if (size == 0) {
    return tix_fail(TIX_EINVAL, "no room for the conninfo");
  }
  buffer[0] = '\0';
  bool fits = tix_conninfo_append(buffer, size, "host", cluster->socket_dir) &&
              tix_conninfo_append(buffer, size, "user", CLUSTER_SUPERUSER) &&
              tix_conninfo_append(buffer, size, "dbname", database);
  return fits ? TIX_OK : tix_fail(TIX_EINVAL, "no room for the conninfo");
}

int tix_cluster_conninfo(tix_cluster *cluster, char *buffer, size_t size) {
  assert(cluster != NULL && buffer != NULL);
  return build_conninfo(cluster, CLUSTER_DATABASE, buffer, size);
}

/* Whether a postmaster answers on the socket, even if only to refuse
 * connections while it starts up or shuts down. */
static bool cluster_answers(const tix_cluster *cluster) {
  char conninfo[CONNINFO_BYTES];
  if (build_conninfo(cluster, "postgres", conninfo, sizeof conninfo) != TIX_OK ||
      !tix_conninfo_append(conninfo, sizeof conninfo, "connect_timeout", "2")) {
    return false;
  }
  PGPing ping = PQping(conninfo);
  return ping == PQPING_OK || ping == PQPING_REJECT;
}

int tix_cluster_state_get(tix_cluster *cluster, tix_cluster_state *out) {
  assert(cluster != NULL && out != NULL);
  memset(out, 0, sizeof *out);
  copy_text(out->data_dir, sizeof out->data_dir, cluster->data_dir);
  copy_text(out->socket_dir, sizeof out->socket_dir, cluster->socket_dir);
  char version[VERSION_BYTES];
  int status = read_data_version(cluster, version, sizeof version);
  if (status != TIX_OK || version[0] == '\0') {
    return status;
  }
  out->initialized = true;
  out->major_version = atoi(version);
  long pid = 0;
  status = read_postmaster_pid(cluster, &pid);
  if (status == TIX_OK && process_alive(pid) && cluster_answers(cluster)) {
    out->running = true;
    out->pid = pid;
  }
  return status;
}

/* RFC 3986 unreserved characters stay, everything else is %XX, so that a
 * socket path with spaces, '&' or '=' survives in a query parameter. */
static bool percent_encode(const char *text, char *out, size_t size) {
  static const char hex[] = "0123456789ABCDEF";
  size_t used = 0;
  for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
    if (used + 4 > size) {
      return false;
    }
    if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
        strchr("-._~", *c) != NULL) {
      out[used++] = (char)*c;
    } else {
      out[used++] = '%';
      out[used++] = hex[*c >> 4];
      out[used++] = hex[*c & 0x0F];
    }
  }
  if (used >= size) {
    return false;
  }
  out[used] = '\0';
  return true;
}

int tix_cluster_url(tix_cluster *cluster, char *buffer, size_t size) {
  assert(cluster != NULL && buffer != NULL);
  char host[SOCKET_DIR_BYTES * 3];
  if (!percent_encode(cluster->socket_dir, host, sizeof host)) {
    return tix_fail(TIX_EINVAL, "no room for the URL");
  }
  int written = snprintf(buffer, size, "postgresql:///%s?host=%s&user=%s", CLUSTER_DATABASE, host,
                         CLUSTER_SUPERUSER);
  if (written < 0 || (size_t)written >= size) {
    return tix_fail(TIX_EINVAL, "no room for the URL");
  }
  return TIX_OK;
}

/* --------------------------------------------------- child processes */

static void append_output(struct child_output *output, const char *data, size_t length) {
  if (length >= sizeof output->text) {
    data += length - (sizeof output->text - 1);
    length = sizeof output->text - 1;
  }
  size_t room = sizeof output->text - 1 - output->length;
  if (length > room) {
    size_t drop = length - room;
    memmove(output->text, output->text + drop, output->length - drop);
    output->length -= drop;
  }
  memcpy(output->text + output->length, data, length);
  output->length += length;
  output->text[output->length] = '\0';
}

/* The last lines of text, for a DETAIL: enough to see why a server program
 * failed without pasting its whole log. */
static void last_lines(const char *text, size_t length, char *out, size_t size) {
  while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r')) {
    length--;
  }
  size_t start = length;
  int lines = 0;
  while (start > 0 && length - start < TAIL_BYTES_MAX) {
    if (text[start - 1] == '\n' && ++lines >= TAIL_LINES_MAX) {
      break;
    }
    start--;
  }
  snprintf(out, size, "%.*s", (int)(length - start), text + start);
}

static void child_body_exec(const tix_cluster *cluster, const void *argument) {
  const struct exec_request *request = argument;
  if (request->directory != NULL && chdir(request->directory) != 0) {
    _exit(126);
  }
  if (request->search_path) {
    execvp(request->arguments[0], (char *const *)request->arguments);
  } else {
    execv(request->arguments[0], (char *const *)request->arguments);
  }
  static const char message[] = "tix: could not execute ";
  (void)!write(STDERR_FILENO, message, sizeof message - 1);
  (void)!write(STDERR_FILENO, request->arguments[0], strlen(request->arguments[0]));
  (void)!write(STDERR_FILENO, "\n", 1);
  _exit(127);
}

/* In the forked child: only async-signal-safe calls until exec, because the
 * parent may have other threads (tix serve). */
static void child_start(const tix_cluster *cluster, bool as_server_user, int output_fd,
                        child_body body, const void *argument) {
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(output_fd, STDOUT_FILENO) < 0 ||
      dup2(output_fd, STDERR_FILENO) < 0) {
    _exit(126);
  }
  const struct server_user *user = &cluster->user;
  if (as_server_user && user->switch_to) {
    if (setgroups((size_t)user->group_count, user->groups) != 0 || setgid(user->gid) != 0 ||
        setuid(user->uid) != 0) {
      static const char message[] = "tix: could not switch to the postgres user\n";
      (void)!write(STDERR_FILENO, message, sizeof message - 1);
      _exit(126);
    }
  }
  body(cluster, argument);
  _exit(127);
}

/* Reads what is there without blocking; *eof when the writers are gone. */
static void drain_output(int fd, struct child_output *output, bool *eof) {
  char chunk[CHILD_READ_BYTES];
  for (int read_count = 0; read_count < CHILD_DRAIN_READS_MAX && !*eof; read_count++) {
    ssize_t length = read(fd, chunk, sizeof chunk);
    if (length > 0) {
      append_output(output, chunk, (size_t)length);
    } else if (length == 0 || (errno != EINTR && errno != EAGAIN)) {
      *eof = true;
    } else if (errno == EAGAIN) {
      return;
    }
  }
}

/* Collects the child's output until it exits. The child is reaped even if
 * something it started still holds the pipe, and killed at the deadline. */
static int collect_child(pid_t pid, int fd, int timeout_ms, struct child_output *output,
                         int *exit_code) {
  int64_t deadline_ms = tix_now_ms() + timeout_ms;
  bool eof = false;
  int wait_status = 0;
  int status = TIX_OK;
  for (;;) {
    drain_output(fd, output, &eof);
    pid_t reaped = waitpid(pid, &wait_status, WNOHANG);
    if (reaped == pid) {
      drain_output(fd, output, &eof);
      break;
    }
    if (reaped < 0 && errno != EINTR) {
      status = tix_fail(TIX_ECLUSTER, "could not wait for a child process: %s", strerror(errno));
      break;
    }
    if (tix_now_ms() >= deadline_ms) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
      }
      status = TIX_ETIMEOUT;
      break;
    }
    struct pollfd readable = {.fd = eof ? -1 : fd, .events = POLLIN};
    poll(&readable, 1, CHILD_POLL_SLICE_MS);
  }
  close(fd);
  *exit_code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  return status;
}

/* Forks, runs body in the child (as the server user when asked) and waits
 * at most timeout_ms. TIX_OK means it ran; *exit_code says how it ended. */
static int run_child(const tix_cluster *cluster, bool as_server_user, child_body body,
                     const void *argument, int timeout_ms, struct child_output *output,
                     int *exit_code) {
  output->length = 0;
  output->text[0] = '\0';
  *exit_code = -1;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return tix_fail(TIX_ECLUSTER, "could not create a pipe: %s", strerror(errno));
  }
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    child_start(cluster, as_server_user, fds[1], body, argument);
  }
  int saved_errno = errno;
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return tix_fail(TIX_ECLUSTER, "could not start a process: %s", strerror(saved_errno));
  }
  return collect_child(pid, fds[0], timeout_ms, output, exit_code);
}

/* Runs a program; a non-zero exit is a TIX_ECLUSTER failure whose detail is
 * the tail of the program's output. */
static int run_program(tix_cluster *cluster, const struct exec_request *request,
                       bool as_server_user, int timeout_ms, struct child_output *output) {
  int exit_code = -1;
  int status =
      run_child(cluster, as_server_user, child_body_exec, request, timeout_ms, output, &exit_code);
  const char *name = strrchr(request->arguments[0], '/');
  name = name != NULL ? name + 1 : request->arguments[0];
  if (status == TIX_ETIMEOUT) {
    return tix_fail(TIX_ECLUSTER, "%s did not finish within %d s", name, timeout_ms / 1000);
  }
  if (status == TIX_OK && exit_code != 0) {
    char tail[TAIL_BYTES_MAX + 1];
    last_lines(output->text, output->length, tail, sizeof tail);
    status = tix_fail(TIX_ECLUSTER, "%s failed (exit status %d)", name, exit_code);
    tix_fail_detail("%s", tail);
  }
  return status;
}

/* -------------------------------------------- server user, binaries */

static int resolve_server_user(tix_cluster *cluster) {
  struct server_user *user = &cluster->user;
  if (user->resolved) {
    return TIX_OK;
  }
  if (geteuid() != 0) {
    *user = (struct server_user){.resolved = true, .uid = geteuid(), .gid = getegid()};
    return TIX_OK;
  }
  struct passwd entry;
  struct passwd *found = NULL;
  char buffer[PASSWD_BUFFER_BYTES];
  if (getpwnam_r(SERVER_USER_NAME, &entry, buffer, sizeof buffer, &found) != 0 || found == NULL ||
      entry.pw_uid == 0) {
    tix_fail(TIX_ECLUSTER, "tix runs as root, but there is no unprivileged \"%s\" system user",
             SERVER_USER_NAME);
    tix_fail_hint("PostgreSQL refuses to run as root: create the user (adduser --system --group "
                  "postgres) or run tix as an ordinary user.");
    return TIX_ECLUSTER;
  }
  user->switch_to = true;
  user->uid = entry.pw_uid;
  user->gid = entry.pw_gid;
  user->group_count = GROUPS_MAX;
  if (getgrouplist(SERVER_USER_NAME, entry.pw_gid, user->groups, &user->group_count) < 0) {
    user->groups[0] = entry.pw_gid;
    user->group_count = 1;
  }
  user->resolved = true;
  return TIX_OK;
}

static int check_programs(const tix_cluster *cluster) {
  static const char *const programs[] = {"initdb", "pg_ctl", "postgres"};
  for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
    char path[PATH_BYTES];
    int status = join_path(path, sizeof path, cluster->bindir, programs[i]);
    if (status != TIX_OK) {
      return status;
    }
    if (access(path, X_OK) != 0) {
      tix_fail(TIX_ECLUSTER, "no PostgreSQL server program \"%s\" in \"%s\"", programs[i],
               cluster->bindir);
      tix_fail_hint("Install the PostgreSQL server, or set TIX_PG_BINDIR to the directory that "
                    "holds initdb and pg_ctl.");
      return TIX_ECLUSTER;
    }
  }
  return TIX_OK;
}

/* TIX_PG_BINDIR, else what pg_config --bindir says. */
static int resolve_bindir(tix_cluster *cluster) {
  if (cluster->bindir[0] != '\0') {
    return TIX_OK;
  }
  const char *configured = getenv("TIX_PG_BINDIR");
  if (configured != NULL && configured[0] != '\0') {
    if (copy_text(cluster->bindir, sizeof cluster->bindir, configured) != TIX_OK) {
      return tix_fail(TIX_EINVAL, "TIX_PG_BINDIR is too long");
    }
    return check_programs(cluster);
  }
  static const char *const arguments[] = {"pg_config", "--bindir", NULL};
  struct exec_request request = {.arguments = arguments, .search_path = true};
  struct child_output output;
  int status = run_program(cluster, &request, false, QUICK_CHILD_TIMEOUT_MS, &output);
  if (status != TIX_OK) {
    char reason[TAIL_BYTES_MAX + 1];
    last_lines(output.text, output.length, reason, sizeof reason);
    tix_fail(TIX_ECLUSTER, "could not find the PostgreSQL server programs");
    tix_fail_detail("pg_config --bindir did not answer: %s", reason);
    tix_fail_hint("Install PostgreSQL, or set TIX_PG_BINDIR to the directory that holds initdb "
                  "and pg_ctl.");
    return TIX_ECLUSTER;
  }
  output.text[strcspn(output.text, "\r\n")] = '\0';
  if (copy_text(cluster->bindir, sizeof cluster->bindir, output.text) != TIX_OK) {
    return tix_fail(TIX_ECLUSTER, "pg_config --bindir gave a path that is too long");
  }
  return check_programs(cluster);
}

/* The server programs' major version, in PG_VERSION's spelling. */
static int binaries_version(tix_cluster *cluster, char *version, size_t size) {
  char program[PATH_BYTES];
  int status = join_path(program, sizeof program, cluster->bindir, "pg_ctl");
  if (status != TIX_OK) {
    return status;
  }
  const char *const arguments[] = {program, "--version", NULL};
  struct exec_request request = {.arguments = arguments};
  struct child_output output;
  status = run_program(cluster, &request, false, QUICK_CHILD_TIMEOUT_MS, &output);
  if (status != TIX_OK) {
    return status;
  }
  /* "pg_ctl (PostgreSQL) 15.4 (Debian …)"; before 10 the major was "9.6". */
  const char *number = strstr(output.text, "PostgreSQL) ");
  if (number == NULL) {
    return tix_fail(TIX_ECLUSTER, "could not tell the version of \"%s\"", program);
  }
  number += strlen("PostgreSQL) ");
  long major = strtol(number, NULL, 10);
  if (major < 10 && number[1] == '.') {
    snprintf(version, size, "%ld.%ld", major, strtol(number + 2, NULL, 10));
  } else {
    snprintf(version, size, "%ld", major);
  }
  return TIX_OK;
}

static int check_version_matches(tix_cluster *cluster, const char *data_version) {
  char binary_version[VERSION_BYTES];
  int status = binaries_version(cluster, binary_version, sizeof binary_version);
  if (status != TIX_OK || strcmp(binary_version, data_version) == 0) {
    return status;
  }
  tix_fail(TIX_ECLUSTER,
           "the data directory was initialized by PostgreSQL %s, but the server programs are "
           "PostgreSQL %s",
           data_version, binary_version);
  tix_fail_detail("The cluster is in \"%s\"; the programs are in \"%s\".", cluster->pgdata,
                  cluster->bindir);
  tix_fail_hint("Use the PostgreSQL %s programs (set TIX_PG_BINDIR), or set TIX_DATA to a new "
                "directory.",
                data_version);
  return TIX_ECLUSTER;
}

/* ------------------------------------------- directories and files */

/* In the child, as the server user: every existing component of the path
 * must be searchable; the first one that is not is written out. */
static void child_body_reach(const tix_cluster *cluster, const void *argument) {
  char path[PATH_BYTES];
  size_t length = strlen(cluster->data_dir);
  memcpy(path, cluster->data_dir, length + 1);
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

/* As root, fails before anything is created when the postgres user could
 * not reach the data directory: initdb's own error would not say why. */
static int check_server_can_reach(tix_cluster *cluster) {
  if (!cluster->user.switch_to) {
    return TIX_OK;
  }
  struct child_output output;
  int exit_code = -1;
  int status =
      run_child(cluster, true, child_body_reach, NULL, QUICK_CHILD_TIMEOUT_MS, &output, &exit_code);
  if (status != TIX_OK || exit_code == 0) {
    return status;
  }
  tix_fail(TIX_ECLUSTER, "the %s user cannot reach the data directory \"%s\"", SERVER_USER_NAME,
           cluster->data_dir);
  tix_fail_detail("The server runs as %s (PostgreSQL refuses root), and \"%s\" is not searchable "
                  "by it.",
                  SERVER_USER_NAME, output.text);
  tix_fail_hint("Let others search that directory (chmod o+x), or set TIX_DATA to a directory "
                "%s can reach.",
                SERVER_USER_NAME);
  return TIX_ECLUSTER;
}

static int give_to_server_user(const tix_cluster *cluster, const char *path) {
  if (cluster->user.switch_to && lchown(path, cluster->user.uid, cluster->user.gid) != 0) {
    return tix_fail(TIX_ECLUSTER, "could not give \"%s\" to the %s user: %s", path,
                    SERVER_USER_NAME, strerror(errno));
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
static int make_data_dir(tix_cluster *cluster) {
  char path[PATH_BYTES];
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
  char quoted[SOCKET_DIR_BYTES * 2];
  char text[SOCKET_DIR_BYTES * 4];
  char path[PATH_BYTES];
  if (!quote_setting(cluster->socket_dir, quoted, sizeof quoted)) {
    return tix_fail(TIX_EINVAL, "the socket directory path is too long");
  }
  snprintf(text, sizeof text,
           "# Written by tix at every start; put your own settings in postgresql.conf.\n"
           "listen_addresses = ''\n"
           "unix_socket_directories = '%s'\n",
           quoted);
  int status = join_path(path, sizeof path, cluster->pgdata, SETTINGS_FILE_NAME);
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
static int run_initdb(tix_cluster *cluster) {
  char staging[PATH_BYTES];
  char program[PATH_BYTES];
  char conf[PATH_BYTES];
  int status = join_path(staging, sizeof staging, cluster->data_dir, "pgdata.initdb");
  if (status == TIX_OK) {
    status = join_path(program, sizeof program, cluster->bindir, "initdb");
  }
  if (status == TIX_OK) {
    status = join_path(conf, sizeof conf, staging, "postgresql.conf");
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
  const char *const arguments[] = {program,
                                   "-D",
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
  struct exec_request request = {.arguments = arguments, .directory = cluster->data_dir};
  struct child_output output;
  status = run_program(cluster, &request, true, INITDB_TIMEOUT_MS, &output);
  if (status == TIX_OK) {
    status = write_server_file(cluster, conf,
                               "\n# tix: the socket directory and no TCP port\n"
                               "include_if_exists = '" SETTINGS_FILE_NAME "'\n",
                               O_APPEND);
  }
  if (status == TIX_OK && rename(staging, cluster->pgdata) != 0) {
    status = tix_fail(TIX_ECLUSTER, "could not move the new cluster into \"%s\": %s",
                      cluster->pgdata, strerror(errno));
  }
  return status;
}

/* ------------------------------------------------ starting, stopping */

static void sleep_ms(int64_t milliseconds) {
  struct timespec pause = {.tv_sec = milliseconds / 1000,
                           .tv_nsec = (milliseconds % 1000) * 1000000};
  while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
  }
}

/* The end of the server log: why the postmaster would not start. */
static void read_log_tail(const tix_cluster *cluster, char *out, size_t size) {
  char text[CHILD_OUTPUT_BYTES];
  out[0] = '\0';
  int fd = open(cluster->log_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return;
  }
  off_t end = lseek(fd, 0, SEEK_END);
  off_t start = end > (off_t)(sizeof text - 1) ? end - (off_t)(sizeof text - 1) : 0;
  ssize_t length = pread(fd, text, sizeof text - 1, start);
  close(fd);
  if (length > 0) {
    last_lines(text, (size_t)length, out, size);
  }
}

static int start_server_once(tix_cluster *cluster) {
  char program[PATH_BYTES];
  char timeout_s[16];
  int status = join_path(program, sizeof program, cluster->bindir, "pg_ctl");
  if (status != TIX_OK) {
    return status;
  }
  snprintf(timeout_s, sizeof timeout_s, "%d", PG_CTL_TIMEOUT_S);
  const char *const arguments[] = {program,           "start", "-D", cluster->pgdata, "-l",
                                   cluster->log_file, "-w",    "-t", timeout_s,       NULL};
  struct exec_request request = {.arguments = arguments, .directory = cluster->data_dir};
  struct child_output output;
  status = run_program(cluster, &request, true, PG_CTL_TIMEOUT_S * 1000 + PG_CTL_GRACE_MS, &output);
  if (status != TIX_OK) {
    char tail[TAIL_BYTES_MAX + 1];
    read_log_tail(cluster, tail, sizeof tail);
    tix_fail(TIX_ECLUSTER, "could not start the PostgreSQL server in \"%s\"", cluster->pgdata);
    tix_fail_detail("%s", tail[0] != '\0' ? tail : output.text);
    tix_fail_hint("See the server log \"%s\".", cluster->log_file);
  }
  return status;
}

/* After a crash, backends orphaned by a killed postmaster can hold the old
 * shared memory for a moment and make the first start fail: retry a few
 * times, but only then, so that a real error is reported at once. */
static int start_server(tix_cluster *cluster) {
  long stale_pid = 0;
  int status = read_postmaster_pid(cluster, &stale_pid);
  /* PostgreSQL takes a zombie for a live postmaster, and a postmaster
   * killed a moment ago stays one until its new parent reaps it. */
  int64_t deadline_ms = tix_now_ms() + ZOMBIE_WAIT_MS;
  while (stale_pid > 0 && process_is_zombie(stale_pid) && tix_now_ms() < deadline_ms) {
    sleep_ms(ZOMBIE_POLL_MS);
  }
  for (int attempt = 1; status == TIX_OK && attempt <= START_ATTEMPTS_MAX; attempt++) {
    status = start_server_once(cluster);
    if (status == TIX_OK || stale_pid == 0 || attempt == START_ATTEMPTS_MAX) {
      break;
    }
    sleep_ms((int64_t)START_RETRY_PAUSE_MS * attempt);
    status = TIX_OK;
  }
  return status;
}

/* CREATE DATABASE tix, once: the name is a constant, so no quoting. */
static int ensure_database(tix_cluster *cluster) {
  char conninfo[CONNINFO_BYTES];
  PGconn *conn = NULL;
  int status = build_conninfo(cluster, "postgres", conninfo, sizeof conninfo);
  if (status == TIX_OK) {
    status = tix_connect(conninfo, "tix", CONNECT_TIMEOUT_MS, &conn);
  }
  if (status != TIX_OK) {
    return status;
  }
  const char *const values[] = {CLUSTER_DATABASE};
  PGresult *result = PQexecParams(conn, "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
                                  1, NULL, values, NULL, NULL, 0);
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    status = tix_fail_from_result(conn, result);
    goto clear_result;
  }
  if (PQntuples(result) == 0) {
    PQclear(result);
    result = PQexecParams(conn, "CREATE DATABASE " CLUSTER_DATABASE, 0, NULL, NULL, NULL, NULL, 0);
    const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    bool created = PQresultStatus(result) == PGRES_COMMAND_OK;
    if (!created && (sqlstate == NULL || strcmp(sqlstate, "42P04") != 0)) {
      status = tix_fail_from_result(conn, result);
    }
  }
clear_result:
  PQclear(result);
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
    sleep_ms(LOCK_POLL_MS);
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

static int prepare_start(tix_cluster *cluster) {
  int status = prepare_server_dir(cluster, cluster->socket_dir, cluster->socket_dir_private);
  if (status == TIX_OK) {
    status = write_server_file(cluster, cluster->log_file, "", O_APPEND);
  }
  if (status == TIX_OK) {
    status = write_server_settings(cluster);
  }
  return status;
}

/* With the lock held: initdb when needed, start, create the database. */
static int start_locked(tix_cluster *cluster, bool *started_now) {
  tix_cluster_state state;
  char data_version[VERSION_BYTES];
  int status = tix_cluster_state_get(cluster, &state);
  if (status != TIX_OK || state.running) {
    return status == TIX_OK ? ensure_database(cluster) : status;
  }
  status = read_data_version(cluster, data_version, sizeof data_version);
  if (status == TIX_OK && data_version[0] == '\0') {
    status = run_initdb(cluster);
  } else if (status == TIX_OK) {
    status = check_version_matches(cluster, data_version);
  }
  if (status == TIX_OK) {
    status = prepare_start(cluster);
  }
  if (status == TIX_OK) {
    status = start_server(cluster);
  }
  if (status == TIX_OK) {
    *started_now = true;
    status = ensure_database(cluster);
  }
  return status;
}

static int start_cluster(tix_cluster *cluster, bool *started_now) {
  *started_now = false;
  int status = resolve_server_user(cluster);
  if (status == TIX_OK) {
    status = resolve_bindir(cluster);
  }
  if (status == TIX_OK) {
    status = check_server_can_reach(cluster);
  }
  if (status == TIX_OK) {
    status = make_data_dir(cluster);
  }
  if (status == TIX_OK) {
    status = lock_cluster(cluster);
  }
  if (status != TIX_OK) {
    return status;
  }
  status = start_locked(cluster, started_now);
  unlock_cluster(cluster);
  return status;
}

int tix_cluster_start(tix_cluster *cluster) {
  assert(cluster != NULL);
  bool started_now = false;
  return start_cluster(cluster, &started_now);
}

int tix_cluster_ensure_running(tix_cluster *cluster, bool *started_now) {
  assert(cluster != NULL && started_now != NULL);
  *started_now = false;
  tix_cluster_state state;
  int status = tix_cluster_state_get(cluster, &state);
  if (status != TIX_OK || state.running) {
    return status;
  }
  return start_cluster(cluster, started_now);
}

static int stop_server(tix_cluster *cluster) {
  char program[PATH_BYTES];
  char timeout_s[16];
  int status = join_path(program, sizeof program, cluster->bindir, "pg_ctl");
  if (status != TIX_OK) {
    return status;
  }
  snprintf(timeout_s, sizeof timeout_s, "%d", PG_CTL_TIMEOUT_S);
  const char *const arguments[] = {program, "stop", "-D", cluster->pgdata, "-m",
                                   "fast",  "-w",   "-t", timeout_s,       NULL};
  struct exec_request request = {.arguments = arguments, .directory = cluster->data_dir};
  struct child_output output;
  status = run_program(cluster, &request, true, PG_CTL_TIMEOUT_S * 1000 + PG_CTL_GRACE_MS, &output);
  if (status != TIX_OK) {
    tix_fail(TIX_ECLUSTER, "could not stop the PostgreSQL server in \"%s\"", cluster->pgdata);
    char tail[TAIL_BYTES_MAX + 1];
    last_lines(output.text, output.length, tail, sizeof tail);
    tix_fail_detail("%s", tail);
  }
  return status;
}

/* Stopping what does not run is harmless; a postmaster that is alive but
 * does not answer is still stopped. */
int tix_cluster_stop(tix_cluster *cluster) {
  assert(cluster != NULL);
  long pid = 0;
  int status = read_postmaster_pid(cluster, &pid);
  if (status != TIX_OK || !process_alive(pid)) {
    return status;
  }
  status = resolve_server_user(cluster);
  if (status == TIX_OK) {
    status = resolve_bindir(cluster);
  }
  if (status == TIX_OK) {
    status = lock_cluster(cluster);
  }
  if (status != TIX_OK) {
    return status;
  }
  status = read_postmaster_pid(cluster, &pid);
  if (status == TIX_OK && process_alive(pid)) {
    status = stop_server(cluster);
  }
  unlock_cluster(cluster);
  return status;
}
