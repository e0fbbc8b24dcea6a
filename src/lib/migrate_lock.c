/*
 * migrate_lock.c — the migration lock: a session advisory lock, held on a
 * connection of its own for as long as a command writes, so that two
 * migrators never apply one migration twice. A waiter polls for it outside
 * any transaction and says who holds it.
 */
#include "migrate_internal.h"

#include "clock.h"
#include "error.h"

#include <string.h>

/* The first 8 bytes of SHA-256("tix.migrate") as a signed bigint: fixed, so
 * every tix version and every host agrees on it, and unlikely to collide
 * with another application's advisory locks. */
#define LOCK_KEY      INT64_C(888637997003307873)
#define LOCK_POLL_MS  200
#define HOLDER_BYTES  512
#define KEY_TEXT_SIZE 32

static void lock_key_parts(char *high, char *low, size_t size) {
  uint64_t key = (uint64_t)LOCK_KEY;
  snprintf(high, size, "%u", (unsigned)(key >> 32));
  snprintf(low, size, "%u", (unsigned)(key & 0xffffffffu));
}

static int lock_try(PGconn *conn, bool *taken) {
  char key[KEY_TEXT_SIZE];
  snprintf(key, sizeof key, "%lld", (long long)LOCK_KEY);
  const char *const values[] = {key};
  PGresult *result = NULL;
  int status = tix_admin_exec(conn, "cannot take the migration lock",
                              "SELECT pg_try_advisory_lock($1::bigint)", 1, values, &result);
  if (status == TIX_OK) {
    *taken = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    PQclear(result);
  }
  return status;
}

/* Who holds the lock, for the person waiting: pid, application, client
 * address and since when its lock connection has been idle. */
static void lock_describe_holder(PGconn *conn, char *out, size_t size) {
  char high[KEY_TEXT_SIZE];
  char low[KEY_TEXT_SIZE];
  lock_key_parts(high, low, sizeof high);
  const char *const values[] = {high, low};
  PGresult *result = NULL;
  int status = tix_admin_exec(
      conn, "cannot tell who holds the migration lock",
      "SELECT format('pid %s (application %s, client %s) since %s', a.pid,"
      " coalesce(nullif(a.application_name, ''), 'unnamed'),"
      " coalesce(host(a.client_addr), 'local socket'),"
      " coalesce(to_char(a.state_change, 'YYYY-MM-DD HH24:MI:SS OF'), 'an unknown time'))"
      " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
      " WHERE l.locktype = 'advisory' AND l.granted"
      " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
      " AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 1"
      " LIMIT 1",
      2, values, &result);
  if (status == TIX_OK && PQntuples(result) == 1) {
    snprintf(out, size, "%s", PQgetvalue(result, 0, 0));
  } else {
    snprintf(out, size, "a session that could not be identified");
  }
  PQclear(result);
}

/* Polls rather than blocks: a waiter blocked in pg_advisory_lock would sit
 * in a transaction with a snapshot, and CREATE INDEX CONCURRENTLY on the
 * holder waits for every such snapshot: a deadlock nobody detects. */
int migrate_lock_acquire(struct migrate_session *session) {
  int status = tix_admin_connect(session->conninfo, NULL, &session->lock_conn);
  if (status != TIX_OK) {
    return status;
  }
  int timeout_ms = session->options.lock_timeout_ms;
  int64_t deadline_ms = tix_now_ms() + timeout_ms;
  int attempts_max = timeout_ms / LOCK_POLL_MS + 2;
  char holder[HOLDER_BYTES] = "";
  for (int attempt = 0; attempt < attempts_max; attempt++) {
    bool taken = false;
    status = lock_try(session->lock_conn, &taken);
    if (status != TIX_OK || taken) {
      return status;
    }
    if (attempt == 0) {
      lock_describe_holder(session->lock_conn, holder, sizeof holder);
      migrate_progress(session, "waiting for the migration lock, held by %s\n", holder);
    }
    int64_t left_ms = deadline_ms - tix_now_ms();
    if (left_ms <= 0) {
      break;
    }
    tix_sleep_ms(left_ms < LOCK_POLL_MS ? left_ms : LOCK_POLL_MS);
  }
  lock_describe_holder(session->lock_conn, holder, sizeof holder);
  tix_fail(TIX_ELOCKED, "another migration holds the migration lock");
  tix_fail_detail("Waited %d ms. The lock is held by %s.", timeout_ms, holder);
  tix_fail_hint("Wait for it to finish and try again (--lock-timeout-ms or "
                "TIX_MIGRATE_LOCK_TIMEOUT_MS waits longer), or end a stuck session with "
                "pg_terminate_backend(pid).");
  return TIX_ELOCKED;
}
