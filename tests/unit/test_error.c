/*
 * test_error.c — the status table, the SQLSTATE mapping, and the server's
 * own lines, which never reach the user raw.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"

static void every_status_has_a_code_and_a_sentence(void **state) {
  for (int status = TIX_ERROR_BASE_ + 1; status < TIX_ERROR_END_; status++) {
    assert_string_not_equal(tix_error_code(status), "unknown");
    assert_string_not_equal(tix_strerror(status), "Unknown status.");
  }
  assert_string_equal(tix_error_code(TIX_OK), "ok");
  assert_string_equal(tix_error_code(12345), "unknown");
  assert_string_equal(tix_error_code(TIX_EINSUFFICIENT), "insufficient_tickets");
}

static void sqlstates_map_once(void **state) {
  assert_int_equal(tix_status_from_sqlstate("23505", NULL), TIX_EUNIQUE);
  assert_int_equal(tix_status_from_sqlstate("23503", NULL), TIX_EFOREIGNKEY);
  assert_int_equal(tix_status_from_sqlstate("23502", NULL), TIX_ENOTNULL);
  assert_int_equal(tix_status_from_sqlstate("23514", "events_total_bounded"), TIX_ECHECK);
  assert_int_equal(tix_status_from_sqlstate("23514", "purchases_customer_limit"), TIX_ELIMIT);
  assert_int_equal(tix_status_from_sqlstate("40001", NULL), TIX_ESERIALIZATION);
  assert_int_equal(tix_status_from_sqlstate("40P01", NULL), TIX_EDEADLOCK);
  assert_int_equal(tix_status_from_sqlstate("57014", NULL), TIX_ECANCELED);
  assert_int_equal(tix_status_from_sqlstate("08006", NULL), TIX_EUNAVAILABLE);
  assert_int_equal(tix_status_from_sqlstate("08001", NULL), TIX_EUNAVAILABLE);
  assert_int_equal(tix_status_from_sqlstate("57P01", NULL), TIX_EUNAVAILABLE);
  assert_int_equal(tix_status_from_sqlstate("42P01", NULL), TIX_ESCHEMA);
  assert_int_equal(tix_status_from_sqlstate("XX000", NULL), TIX_EDATABASE);
  assert_int_equal(tix_status_from_sqlstate(NULL, NULL), TIX_EDATABASE);
  assert_int_equal(tix_status_from_sqlstate("123", NULL), TIX_EDATABASE);
}

static void diagnostics_are_per_call(void **state) {
  assert_int_equal(tix_fail(TIX_ENOTFOUND, "event %s not found", "x"), TIX_ENOTFOUND);
  tix_fail_detail("detail %d", 1);
  tix_fail_hint("hint");
  assert_string_equal(tix_last_diag()->message, "event x not found");
  assert_string_equal(tix_last_diag()->detail, "detail 1");
  assert_string_equal(tix_last_diag()->hint, "hint");
  tix_fail(TIX_EINVAL, "second");
  assert_string_equal(tix_last_diag()->detail, "");
  assert_int_equal(tix_last_diag()->status, TIX_EINVAL);
}

static void server_lines_are_read_not_shown(void **state) {
  assert_string_equal(tix_server_message("2025-01-01 UTC [123] FATAL:  lock file exists\nHINT:  x"),
                      "lock file exists\nHINT:  x");
  assert_string_equal(tix_server_message("connection to server on socket \"/s\" failed: "
                                         "FATAL:  the database system is shutting down"),
                      "the database system is shutting down");
  assert_null(tix_server_message("No such file or directory"));
  assert_null(tix_server_message("no label here\nFATAL:  on the next line"));

  tix_fail(TIX_ECLUSTER, "initdb failed");
  tix_fail_detail("creating template1 ... 2025 [9] FATAL:  could not create shared memory\n"
                  "PANIC:  no memory\nchild process exited with exit code 1");
  tix_fail_detail_unlabel();
  assert_string_equal(tix_last_diag()->detail,
                      "creating template1 ... 2025 [9] could not create shared memory\n"
                      "no memory\nchild process exited with exit code 1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_status_has_a_code_and_a_sentence),
      cmocka_unit_test(sqlstates_map_once),
      cmocka_unit_test(diagnostics_are_per_call),
      cmocka_unit_test(server_lines_are_read_not_shown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
