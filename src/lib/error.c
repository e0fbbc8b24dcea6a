/*
 * error.c — the status table, tix_strerror, the per-thread diagnostic and
 * the one mapping from SQLSTATE to tix status.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct status_entry {
  int status;
  const char *code;
  const char *sentence;
};

static const struct status_entry status_table[] = {
#define TIX_TABLE_ENTRY_(name, code, sentence) {name, code, sentence},
    TIX_ERROR_TABLE(TIX_TABLE_ENTRY_)
#undef TIX_TABLE_ENTRY_
};

static _Thread_local tix_diag thread_diag;

static const struct status_entry *find_status(int status) {
  for (size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++) {
    if (status_table[i].status == status) {
      return &status_table[i];
    }
  }
  return NULL;
}

const char *tix_strerror(int status) {
  if (status == TIX_OK) {
    return "Success.";
  }
  const struct status_entry *entry = find_status(status);
  return entry != NULL ? entry->sentence : "Unknown status.";
}

const char *tix_error_code(int status) {
  if (status == TIX_OK) {
    return "ok";
  }
  const struct status_entry *entry = find_status(status);
  return entry != NULL ? entry->code : "unknown";
}

const tix_diag *tix_last_diag(void) {
  return &thread_diag;
}

void tix_diag_clear(void) {
  memset(&thread_diag, 0, sizeof thread_diag);
}

void tix_diag_set(const tix_diag *diag) {
  thread_diag = *diag;
}

int tix_fail(int status, const char *format, ...) {
  tix_diag_clear();
  thread_diag.status = status;
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(thread_diag.message, sizeof thread_diag.message, format, arguments);
  va_end(arguments);
  return status;
}

void tix_fail_detail(const char *format, ...) {
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(thread_diag.detail, sizeof thread_diag.detail, format, arguments);
  va_end(arguments);
}

void tix_fail_hint(const char *format, ...) {
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(thread_diag.hint, sizeof thread_diag.hint, format, arguments);
  va_end(arguments);
}

/* Constraint names that carry a business meaning of their own. */
static int status_from_constraint(const char *constraint) {
  if (constraint == NULL) {
    return TIX_ECHECK;
  }
  if (strcmp(constraint, "purchases_customer_limit") == 0) {
    return TIX_ELIMIT;
  }
  if (strcmp(constraint, "events_available_nonnegative") == 0) {
    return TIX_EINSUFFICIENT;
  }
  return TIX_ECHECK;
}

int tix_status_from_sqlstate(const char *sqlstate, const char *constraint) {
  if (sqlstate == NULL || strlen(sqlstate) != 5) {
    return TIX_EDATABASE;
  }
  static const struct {
    const char *sqlstate;
    int status;
  } exact[] = {
      {"23505", TIX_EUNIQUE},        {"23503", TIX_EFOREIGNKEY},  {"23502", TIX_ENOTNULL},
      {"40001", TIX_ESERIALIZATION}, {"40P01", TIX_EDEADLOCK},    {"57014", TIX_ECANCELED},
      {"55P03", TIX_ELOCKED},        {"42P01", TIX_ESCHEMA},      {"42883", TIX_ESCHEMA},
      {"22P02", TIX_EINVAL},         {"22007", TIX_EINVAL},       {"22008", TIX_EINVAL},
      {"22003", TIX_EINVAL},         {"22001", TIX_EINVAL},       {"53300", TIX_EUNAVAILABLE},
      {"57P01", TIX_EUNAVAILABLE},   {"57P02", TIX_EUNAVAILABLE}, {"57P03", TIX_EUNAVAILABLE},
      {"3D000", TIX_EUNAVAILABLE},   {"28P01", TIX_EUNAVAILABLE}, {"28000", TIX_EUNAVAILABLE},
  };
  if (strcmp(sqlstate, "23514") == 0) {
    return status_from_constraint(constraint);
  }
  for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
    if (strcmp(exact[i].sqlstate, sqlstate) == 0) {
      return exact[i].status;
    }
  }
  if (strncmp(sqlstate, "08", 2) == 0) { /* connection exceptions */
    return TIX_EUNAVAILABLE;
  }
  return TIX_EDATABASE;
}

static void copy_field(char *destination, size_t size, const char *source) {
  snprintf(destination, size, "%s", source != NULL ? source : "");
}

/* Messages of class 22/23 are about the caller's data and safe to show;
 * others may quote internals, so they get the table's sentence instead. */
static bool message_is_safe(const char *sqlstate) {
  return sqlstate != NULL && (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
                              strcmp(sqlstate, "P0001") == 0);
}

int tix_fail_from_result(PGconn *conn, const PGresult *result) {
  const char *sqlstate = result != NULL ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
  bool connection_lost = sqlstate == NULL && (conn == NULL || PQstatus(conn) != CONNECTION_OK);
  if (connection_lost) {
    tix_fail(TIX_EUNAVAILABLE, "lost the connection to the database");
    return TIX_EUNAVAILABLE;
  }
  const char *constraint = PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
  int status = tix_status_from_sqlstate(sqlstate, constraint);
  const char *primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  tix_fail(status, "%s",
           message_is_safe(sqlstate) && primary != NULL ? primary : tix_strerror(status));
  if (message_is_safe(sqlstate)) {
    copy_field(thread_diag.detail, sizeof thread_diag.detail,
               PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL));
    copy_field(thread_diag.hint, sizeof thread_diag.hint,
               PQresultErrorField(result, PG_DIAG_MESSAGE_HINT));
  }
  copy_field(thread_diag.sqlstate, sizeof thread_diag.sqlstate, sqlstate);
  copy_field(thread_diag.constraint, sizeof thread_diag.constraint, constraint);
  return status;
}

/* The labels tix_server_message looks for, all of one length. */
#define SEVERITY_LABEL_BYTES (sizeof "FATAL:  " - 1)

const char *tix_server_message(const char *line) {
  static const char *const labels[] = {"FATAL:  ", "PANIC:  ", "ERROR:  "};
  const char *line_end = line + strcspn(line, "\n");
  const char *found = NULL;
  for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
    const char *label = strstr(line, labels[i]);
    if (label != NULL && label < line_end && (found == NULL || label < found)) {
      found = label + strlen(labels[i]);
    }
  }
  return found;
}

void tix_fail_detail_unlabel(void) {
  char *detail = thread_diag.detail;
  for (size_t scanned = 0; scanned < sizeof thread_diag.detail && detail[0] != '\0'; scanned++) {
    const char *message = tix_server_message(detail);
    if (message == NULL) {
      detail += strcspn(detail, "\n");
      detail += detail[0] == '\n' ? 1 : 0;
      continue;
    }
    char *label = (char *)message - SEVERITY_LABEL_BYTES;
    memmove(label, message, strlen(message) + 1);
  }
}

bool tix_status_is_connection_loss(int status) {
  return status == TIX_EUNAVAILABLE;
}
