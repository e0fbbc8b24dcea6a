/*
 * process.c — running another program and waiting for it (see process.h).
 * tix serve has threads, so between fork and exec the child may only make
 * async-signal-safe calls: the program is looked up, the environment built,
 * /dev/null opened and the pipe made before fork, all close-on-exec, and
 * the child closes every other descriptor it inherited before it execs.
 */
#include "process.h"

#include "clock.h"
#include "error.h"
#include "text.h"
#include "tix.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PATH_ENTRIES_MAX    256
#define ENVIRONMENT_MAX     4096
#define READ_CHUNK_BYTES    4096
#define DRAIN_READS_MAX     64
#define POLL_SLICE_MS       50
#define TAIL_LINES_MAX      8
#define DESCRIPTORS_MAX     65536 /* closed one by one where close_range is missing */
#define DEFAULT_SEARCH_PATH "/usr/local/bin:/usr/bin:/bin"
#define PASSWORD_VARIABLE   "PGPASSWORD="
#define EXIT_SETUP_FAILED   126
#define EXIT_EXECUTE_FAILED 127
#define SIGNAL_EXIT_BASE    128
#define NAME_FOR_A_FUNCTION "a check"

extern char **environ;

/* What the child needs, all made before fork. */
struct launch {
  char program[PATH_MAX];
  char **environment;    /* environ itself, or a copy with our PGPASSWORD */
  bool owns_environment; /* the copy: free it (but not the strings of environ) */
  char *password_entry;  /* "PGPASSWORD=…" in that copy */
  int null_fd;
  int read_fd;
  int write_fd;
  int descriptor_limit;
};

/* ------------------------------------------------------ before fork */

static bool is_executable_file(const char *path) {
  struct stat info;
  return stat(path, &info) == 0 && S_ISREG(info.st_mode) && access(path, X_OK) == 0;
}

int tix_process_find_program(const char *name, int failure_status, char *out, size_t size) {
  if (strchr(name, '/') != NULL) {
    return tix_text_copy(out, size, name)
               ? TIX_OK
               : tix_fail(failure_status, "the path of \"%s\" is too long", name);
  }
  const char *search = getenv("PATH");
  const char *cursor = search != NULL && search[0] != '\0' ? search : DEFAULT_SEARCH_PATH;
  for (int entry = 0; entry < PATH_ENTRIES_MAX && *cursor != '\0'; entry++) {
    size_t length = strcspn(cursor, ":");
    int written = snprintf(out, size, "%.*s/%s", (int)length, cursor, name);
    if (length > 0 && written > 0 && (size_t)written < size && is_executable_file(out)) {
      return TIX_OK;
    }
    cursor += length + (cursor[length] == ':' ? 1 : 0);
  }
  out[0] = '\0';
  return tix_fail(failure_status, "no program \"%s\" in PATH", name);
}

/* Our environment with PGPASSWORD replaced by the password. */
static int build_environment(struct launch *launch, const char *password) {
  size_t entry_size = strlen(PASSWORD_VARIABLE) + strlen(password) + 1;
  launch->password_entry = malloc(entry_size);
  if (launch->password_entry == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  snprintf(launch->password_entry, entry_size, "%s%s", PASSWORD_VARIABLE, password);
  size_t count = 0;
  while (environ[count] != NULL && count < ENVIRONMENT_MAX) {
    count++;
  }
  char **environment = calloc(count + 2, sizeof *environment);
  if (environment == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  size_t used = 0;
  for (size_t i = 0; i < count; i++) {
    if (strncmp(environ[i], PASSWORD_VARIABLE, strlen(PASSWORD_VARIABLE)) != 0) {
      environment[used++] = environ[i];
    }
  }
  environment[used] = launch->password_entry;
  launch->environment = environment;
  launch->owns_environment = true;
  return TIX_OK;
}

static void launch_release(struct launch *launch) {
  int descriptors[] = {launch->null_fd, launch->read_fd, launch->write_fd};
  for (size_t i = 0; i < sizeof descriptors / sizeof descriptors[0]; i++) {
    if (descriptors[i] >= 0) {
      close(descriptors[i]);
    }
  }
  if (launch->password_entry != NULL) {
    explicit_bzero(launch->password_entry, strlen(launch->password_entry));
    free(launch->password_entry);
  }
  if (launch->owns_environment) {
    free(launch->environment);
  }
}

/* Everything close-on-exec: a child another thread starts meanwhile must
 * not keep our pipe open (our read would wait for it) nor /dev/null. */
static int launch_prepare(const tix_process_request *request, struct launch *launch) {
  *launch = (struct launch){.environment = environ, .null_fd = -1, .read_fd = -1, .write_fd = -1};
  long limit = sysconf(_SC_OPEN_MAX);
  launch->descriptor_limit = limit > 0 && limit < DESCRIPTORS_MAX ? (int)limit : DESCRIPTORS_MAX;
  int status = TIX_OK;
  if (request->function == NULL) {
    status = tix_process_find_program(request->arguments[0], request->failure_status,
                                      launch->program, sizeof launch->program);
  }
  if (status == TIX_OK && request->password != NULL) {
    status = build_environment(launch, request->password);
  }
  if (status != TIX_OK) {
    return status;
  }
  int pipe_fds[2];
  launch->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (launch->null_fd < 0 || pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return tix_fail(request->failure_status, "could not prepare a child process: %s",
                    strerror(errno));
  }
  launch->read_fd = pipe_fds[0];
  launch->write_fd = pipe_fds[1];
  fcntl(launch->read_fd, F_SETFL, O_NONBLOCK);
  return TIX_OK;
}

/* ------------------------------------------------------- in the child */

static void child_say(const char *first, const char *second) {
  (void)!write(STDERR_FILENO, first, strlen(first));
  (void)!write(STDERR_FILENO, second, strlen(second));
  (void)!write(STDERR_FILENO, "\n", 1);
}

/* Whatever we inherited beyond stdio: ours, or another thread's. */
static void child_close_descriptors(int limit) {
  if (close_range(3, ~0U, 0) == 0) {
    return;
  }
  for (int fd = 3; fd < limit; fd++) {
    close(fd);
  }
}

/* Only async-signal-safe calls until exec; never returns. */
static void child_start(const tix_process_request *request, const struct launch *launch) {
  if (dup2(launch->null_fd, STDIN_FILENO) < 0 || dup2(launch->write_fd, STDOUT_FILENO) < 0 ||
      dup2(launch->write_fd, STDERR_FILENO) < 0) {
    _exit(EXIT_SETUP_FAILED);
  }
  child_close_descriptors(launch->descriptor_limit);
  const tix_process_user *user = request->user;
  if (user != NULL && user->switch_to &&
      (setgroups((size_t)user->group_count, user->groups) != 0 || setgid(user->gid) != 0 ||
       setuid(user->uid) != 0)) {
    child_say("tix: could not switch to the server user", "");
    _exit(EXIT_SETUP_FAILED);
  }
  if (request->directory != NULL && chdir(request->directory) != 0) {
    child_say("tix: could not change to the directory ", request->directory);
    _exit(EXIT_SETUP_FAILED);
  }
  if (request->function != NULL) {
    request->function(request->function_argument);
    _exit(EXIT_EXECUTE_FAILED);
  }
  execve(launch->program, (char *const *)request->arguments, launch->environment);
  child_say("tix: could not execute ", launch->program);
  _exit(EXIT_EXECUTE_FAILED);
}

/* ------------------------------------------------------ in the parent */

static void append_output(tix_process_result *result, const char *data, size_t length) {
  size_t capacity = sizeof result->output - 1;
  if (length > capacity) {
    data += length - capacity;
    length = capacity;
  }
  if (length > capacity - result->output_length) {
    size_t drop = length - (capacity - result->output_length);
    memmove(result->output, result->output + drop, result->output_length - drop);
    result->output_length -= drop;
  }
  memcpy(result->output + result->output_length, data, length);
  result->output_length += length;
  result->output[result->output_length] = '\0';
}

/* Reads what is there without blocking; *eof once every writer is gone. */
static void drain_output(int fd, tix_process_result *result, bool *eof) {
  char chunk[READ_CHUNK_BYTES];
  for (int reads = 0; reads < DRAIN_READS_MAX && !*eof; reads++) {
    ssize_t length = read(fd, chunk, sizeof chunk);
    if (length > 0) {
      append_output(result, chunk, (size_t)length);
    } else if (length == 0 || (errno != EINTR && errno != EAGAIN)) {
      *eof = true;
    } else if (errno == EAGAIN) {
      return;
    }
  }
}

/* Collects the output until the child exits: it is reaped even when
 * something it started (a postmaster) still holds the pipe, and killed at
 * the deadline, which bounds the loop. */
static int collect_child(const tix_process_request *request, pid_t pid, int fd,
                         tix_process_result *result) {
  int64_t deadline_ms = tix_now_ms() + request->timeout_ms;
  bool eof = false;
  int wait_status = 0;
  for (;;) {
    drain_output(fd, result, &eof);
    pid_t reaped = waitpid(pid, &wait_status, WNOHANG);
    if (reaped == pid) {
      drain_output(fd, result, &eof);
      break;
    }
    if (reaped < 0 && errno != EINTR) {
      return tix_fail(request->failure_status, "could not wait for a child process: %s",
                      strerror(errno));
    }
    if (tix_now_ms() >= deadline_ms) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
      }
      result->timed_out = true;
      break;
    }
    struct pollfd readable = {.fd = eof ? -1 : fd, .events = POLLIN};
    poll(&readable, 1, POLL_SLICE_MS);
  }
  result->exit_code =
      WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : SIGNAL_EXIT_BASE + WTERMSIG(wait_status);
  return TIX_OK;
}

int tix_process_run(const tix_process_request *request, tix_process_result *result) {
  *result = (tix_process_result){.exit_code = -1};
  struct launch launch;
  pid_t pid = -1;
  int status = launch_prepare(request, &launch);
  if (status != TIX_OK) {
    goto release_launch;
  }
  pid = fork();
  if (pid == 0) {
    child_start(request, &launch);
  }
  if (pid < 0) {
    status = tix_fail(request->failure_status, "could not start a process: %s", strerror(errno));
    goto release_launch;
  }
  close(launch.write_fd); /* the child's copy is the only writer left */
  launch.write_fd = -1;
  status = collect_child(request, pid, launch.read_fd, result);
release_launch:
  launch_release(&launch);
  return status;
}

static const char *program_name(const tix_process_request *request) {
  if (request->name != NULL) {
    return request->name;
  }
  if (request->function != NULL) {
    return NAME_FOR_A_FUNCTION;
  }
  const char *slash = strrchr(request->arguments[0], '/');
  return slash != NULL ? slash + 1 : request->arguments[0];
}

int tix_process_run_checked(const tix_process_request *request, tix_process_result *result) {
  int status = tix_process_run(request, result);
  if (status != TIX_OK) {
    return status;
  }
  const char *name = program_name(request);
  char tail[TIX_PROCESS_TAIL_BYTES + 1];
  tix_process_output_tail(result, tail, sizeof tail);
  if (result->timed_out) {
    status = request->timeout_ms % 1000 == 0
                 ? tix_fail(request->failure_status, "%s did not finish within %d s", name,
                            request->timeout_ms / 1000)
                 : tix_fail(request->failure_status, "%s did not finish within %d ms", name,
                            request->timeout_ms);
    tix_fail_detail("It was stopped.%s%s", tail[0] != '\0' ? " It wrote: " : "", tail);
  } else if (result->exit_code != 0) {
    status =
        tix_fail(request->failure_status, "%s failed (exit status %d)", name, result->exit_code);
    tix_fail_detail("%s", tail);
  }
  return status;
}

void tix_process_output_tail(const tix_process_result *result, char *out, size_t size) {
  const char *text = result->output;
  size_t length = result->output_length;
  while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r')) {
    length--;
  }
  size_t start = length;
  int lines = 0;
  while (start > 0 && length - start < TIX_PROCESS_TAIL_BYTES) {
    if (text[start - 1] == '\n' && ++lines >= TAIL_LINES_MAX) {
      break;
    }
    start--;
  }
  snprintf(out, size, "%.*s", (int)(length - start), text + start);
}
