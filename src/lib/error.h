/*
 * error.h — internal: setting the thread's diagnostic and mapping
 * PostgreSQL's SQLSTATEs to tix statuses, in one place.
 */
#ifndef TIX_ERROR_H
#define TIX_ERROR_H

#include "tix.h"

#include <libpq-fe.h>

/* Records a failure for tix_last_diag() and returns status, so callers can
 * write `return tix_fail(TIX_EINVAL, "…", …);`. */
int tix_fail(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Adds a detail or hint to the failure just recorded. */
void tix_fail_detail(const char *format, ...) __attribute__((format(printf, 1, 2)));
void tix_fail_hint(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Makes diag the thread's diagnostic: an answer that another thread
 * decided (group commit) reads as if this thread had failed. */
void tix_diag_set(const tix_diag *diag);

/* The tix status for a SQLSTATE (and constraint name, which refines 23514). */
int tix_status_from_sqlstate(const char *sqlstate, const char *constraint);

/* Maps a failed result (or a broken connection when result is NULL) to a
 * status, records the diagnostic without SQL text, and returns the status. */
int tix_fail_from_result(PGconn *conn, const PGresult *result);

/* Where the message of a line PostgreSQL wrote begins: after the severity
 * label "FATAL:  ", "PANIC:  " or "ERROR:  " (and whatever precedes it: a
 * log line prefix, libpq's "connection to server … failed: "). NULL when
 * the line has no such label. Such lines are the server's, raw: tix shows
 * what they say in its own sentences, never the line itself. */
const char *tix_server_message(const char *line);

/* Drops those severity labels from the detail just recorded: a program tix
 * ran (initdb, pg_ctl, pg_dump) may have copied the server's lines into
 * the output its failure quotes. What they say stays. */
void tix_fail_detail_unlabel(void);

/* True when a status means the connection itself is gone. */
bool tix_status_is_connection_loss(int status);

#endif /* TIX_ERROR_H */
