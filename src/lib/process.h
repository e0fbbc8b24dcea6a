/*
 * process.h — internal: the one way libtix runs another program (initdb,
 * pg_ctl, pg_config, pg_dump). Everything the child needs (the program's
 * path, its arguments, its environment, /dev/null, the pipe) is made before
 * fork, so the child makes only async-signal-safe calls; it inherits no
 * descriptor of ours; its output is captured, bounded; it is killed at a
 * deadline; a password reaches it through PGPASSWORD, never its arguments.
 */
#ifndef TIX_PROCESS_H
#define TIX_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TIX_PROCESS_OUTPUT_BYTES 8192
#define TIX_PROCESS_GROUPS_MAX   64
#define TIX_PROCESS_TAIL_BYTES   800 /* the most tix_process_output_tail keeps */

/* Who a child runs as: as we are, or (tix is root) another user. */
typedef struct tix_process_user {
  bool switch_to;
  uid_t uid;
  gid_t gid;
  gid_t groups[TIX_PROCESS_GROUPS_MAX];
  int group_count;
} tix_process_user;

/* A check that must run as another user (can it reach a directory?): runs
 * in the child instead of a program, makes only async-signal-safe calls,
 * answers on standard output and ends with _exit. */
typedef void (*tix_process_function)(const void *argument);

typedef struct tix_process_request {
  /* NULL-terminated; [0] is a path, or a name looked up in PATH. */
  const char *const *arguments;
  tix_process_function function; /* instead of arguments */
  const void *function_argument;
  const char *name;             /* for messages; default: the program's base name */
  const tix_process_user *user; /* NULL: as we are */
  const char *directory;        /* the child's working directory, or NULL */
  const char *password;         /* PGPASSWORD in the child's environment, or NULL */
  int timeout_ms;               /* the child is killed after this long */
  int failure_status;           /* what a failure is (TIX_ECLUSTER, TIX_EIO) */
} tix_process_request;

typedef struct tix_process_result {
  int exit_code;  /* its exit status; 128 + the signal that ended it */
  bool timed_out; /* killed at the deadline */
  /* Standard output and error together; when longer, the head is dropped:
   * the tail is what explains a failure. */
  char output[TIX_PROCESS_OUTPUT_BYTES];
  size_t output_length;
} tix_process_result;

/* Runs the request and waits for it. TIX_OK when it ran, whatever its exit
 * status (result says); failure_status when it could not be run. */
int tix_process_run(const tix_process_request *request, tix_process_result *result);

/* tix_process_run where a non-zero exit or the deadline is a failure too:
 * "pg_dump failed (exit status 1)", "pg_dump did not finish within 120 s",
 * with the tail of its output as the detail. */
int tix_process_run_checked(const tix_process_request *request, tix_process_result *result);

/* The last lines of the output, for a DETAIL (at most TIX_PROCESS_TAIL_BYTES). */
void tix_process_output_tail(const tix_process_result *result, char *out, size_t size);

/* name itself when it holds a '/', else the first executable file of that
 * name in PATH; failure_status ("no program … in PATH") when there is none. */
int tix_process_find_program(const char *name, int failure_status, char *out, size_t size);

#endif /* TIX_PROCESS_H */
