/*
 * test_process.c — the one subprocess runner, with ordinary programs: the
 * child inherits nothing but stdio (not even a descriptor opened without
 * close-on-exec), a program missing from PATH is found missing before any
 * fork, the deadline kills, the output keeps its tail and stays bounded,
 * the password travels in PGPASSWORD only, and the working directory, the
 * exit status and a function run in the child are as asked.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "process.h"
#include "tix.h"

#define SHORT_TIMEOUT_MS 300
#define LONG_TIMEOUT_MS  10000
#define KILL_WITHIN_MS   5000

static tix_process_request shell(const char *const *arguments) {
  return (tix_process_request){
      .arguments = arguments, .timeout_ms = LONG_TIMEOUT_MS, .failure_status = TIX_EIO};
}

static void child_inherits_only_stdio(void **state) {
  int leaked = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, as a careless library might */
  assert_true(leaked >= 0);
  const char *const arguments[] = {"sh", "-c", "ls /proc/$$/fd", NULL};
  tix_process_request request = shell(arguments);
  tix_process_result result;
  assert_int_equal(tix_process_run_checked(&request, &result), TIX_OK);
  assert_string_equal(result.output, "0\n1\n2\n");
  close(leaked);
}

static void a_missing_program_is_found_missing_before_fork(void **state) {
  const char *const arguments[] = {"tix-no-such-program", NULL};
  tix_process_request request = shell(arguments);
  tix_process_result result;
  assert_int_equal(tix_process_run(&request, &result), TIX_EIO);
  assert_string_equal(tix_last_diag()->message, "no program \"tix-no-such-program\" in PATH");
  assert_int_equal(result.exit_code, -1);
}

static void the_deadline_kills_the_child(void **state) {
  const char *const arguments[] = {"sleep", "30", NULL};
  tix_process_request request = shell(arguments);
  request.timeout_ms = SHORT_TIMEOUT_MS;
  tix_process_result result;
  int64_t started_ms = tix_now_ms();
  assert_int_equal(tix_process_run_checked(&request, &result), TIX_EIO);
  assert_true(tix_now_ms() - started_ms < KILL_WITHIN_MS);
  assert_true(result.timed_out);
  assert_string_equal(tix_last_diag()->message, "sleep did not finish within 300 ms");
}

static void the_output_keeps_its_tail(void **state) {
  const char *const arguments[] = {"sh", "-c", "seq 1 5000", NULL};
  tix_process_request request = shell(arguments);
  tix_process_result result;
  assert_int_equal(tix_process_run_checked(&request, &result), TIX_OK);
  assert_true(result.output_length < sizeof result.output);
  assert_int_equal(strlen(result.output), result.output_length);
  const char *ending = "4999\n5000\n";
  assert_string_equal(result.output + result.output_length - strlen(ending), ending);
  char tail[TIX_PROCESS_TAIL_BYTES + 1];
  tix_process_output_tail(&result, tail, sizeof tail);
  assert_string_equal(tail, "4993\n4994\n4995\n4996\n4997\n4998\n4999\n5000");
}

static void the_password_travels_in_the_environment(void **state) {
  setenv("PGPASSWORD", "inherited", 1);
  const char *const arguments[] = {"sh", "-c", "env | grep -c '^PGPASSWORD='; echo \"$PGPASSWORD\"",
                                   NULL};
  tix_process_request request = shell(arguments);
  request.password = "s3cret 'quoted'";
  tix_process_result result;
  assert_int_equal(tix_process_run_checked(&request, &result), TIX_OK);
  assert_string_equal(result.output, "1\ns3cret 'quoted'\n");
  unsetenv("PGPASSWORD");
}

static void directory_and_exit_status_are_as_asked(void **state) {
  const char *const arguments[] = {"sh", "-c", "pwd; exit 3", NULL};
  tix_process_request request = shell(arguments);
  request.directory = "/";
  tix_process_result result;
  assert_int_equal(tix_process_run(&request, &result), TIX_OK);
  assert_int_equal(result.exit_code, 3);
  assert_string_equal(result.output, "/\n");
  assert_int_equal(tix_process_run_checked(&request, &result), TIX_EIO);
  assert_string_equal(tix_last_diag()->message, "sh failed (exit status 3)");
  assert_string_equal(tix_last_diag()->detail, "/");
}

static void answer_in_child(const void *argument) {
  const char *text = argument;
  (void)!write(STDOUT_FILENO, text, strlen(text));
  _exit(5);
}

static void a_function_runs_in_the_child(void **state) {
  tix_process_request request = {.function = answer_in_child,
                                 .function_argument = "from the child",
                                 .timeout_ms = LONG_TIMEOUT_MS,
                                 .failure_status = TIX_ECLUSTER};
  tix_process_result result;
  assert_int_equal(tix_process_run(&request, &result), TIX_OK);
  assert_int_equal(result.exit_code, 5);
  assert_string_equal(result.output, "from the child");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(child_inherits_only_stdio),
      cmocka_unit_test(a_missing_program_is_found_missing_before_fork),
      cmocka_unit_test(the_deadline_kills_the_child),
      cmocka_unit_test(the_output_keeps_its_tail),
      cmocka_unit_test(the_password_travels_in_the_environment),
      cmocka_unit_test(directory_and_exit_status_are_as_asked),
      cmocka_unit_test(a_function_runs_in_the_child),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
