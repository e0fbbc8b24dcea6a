/*
 * migrate_internal.h — what the pieces of the migration runner share. A
 * session is everything one command works with: its options, the files and
 * their checksums, two connections (one runs the migrations, one only holds
 * the advisory lock), the ledger, and the plan that merges files and ledger.
 *
 *   migrate_session.c  options, ledger, checksums, plan; opening, closing
 *   migrate_lock.c     the advisory lock that makes migrators take turns
 *   migrate_run.c      one section and its ledger change, together
 *   migrate.c          up, down, redo, status, accept, the schema file
 *   migrate_verify.c   up, down, up again on a scratch database
 *   migrate_check.c    whether a database lacks migrations, in one query
 *   migrate_new.c      a new migration file from the template
 */
#ifndef TIX_MIGRATE_INTERNAL_H
#define TIX_MIGRATE_INTERNAL_H

#include "admin.h"
#include "migration_file.h"
#include "tix.h"

#include <libpq-fe.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define MIGRATE_LOCK_TIMEOUT_ENV    "TIX_MIGRATE_LOCK_TIMEOUT_MS"
#define MIGRATE_SCHEMA_FILE_ENV     "TIX_SCHEMA_FILE"
#define MIGRATE_LOCK_TIMEOUT_MAX_MS (24 * 60 * 60 * 1000)
#define MIGRATE_CHECKSUM_HEX_SIZE   65

struct migrate_ledger_row {
  int64_t version;
  char name[MIGRATION_NAME_MAX_BYTES];
  char checksum[MIGRATE_CHECKSUM_HEX_SIZE];
  char applied_at[TIX_TIMESTAMP_SIZE];
  int execution_ms;
};

/* A version known from the files, the ledger or both. */
struct migrate_entry {
  int64_t version;
  const migration_file *file;           /* NULL: its file is gone */
  const struct migrate_ledger_row *row; /* NULL: not applied */
  const char *checksum;                 /* of the file now; NULL without a file */
  tix_migration_state state;
};

struct migrate_session {
  tix_migrate_options options;
  char directory[PATH_MAX];
  char schema_path[PATH_MAX]; /* empty: no schema.sql */
  const char *conninfo;
  migration_set set;
  char (*checksums)[MIGRATE_CHECKSUM_HEX_SIZE]; /* parallel to set.files */
  PGconn *conn;                                 /* runs the migrations */
  PGconn *lock_conn;                            /* holds the advisory lock, nothing else */
  bool ledger_exists;
  struct migrate_ledger_row *rows; /* by version */
  size_t row_count;
  struct migrate_entry *entries; /* by version */
  size_t entry_count;
  bool changed;
};

enum migrate_session_mode {
  MIGRATE_SESSION_READ,  /* look only: no lock, no ledger created */
  MIGRATE_SESSION_WRITE, /* take the lock and create the ledger */
};

/* Reports to options.progress, when there is one. */
void migrate_progress(const struct migrate_session *session, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Loads the files (bad ones are refused before the database is touched),
 * connects, takes the lock and creates the ledger when writing, then reads
 * the ledger and plans. Close it whatever this returns. */
int migrate_session_open(struct migrate_session *session, const char *conninfo,
                         const tix_migrate_options *options, enum migrate_session_mode mode);
void migrate_session_close(struct migrate_session *session);

/* The plan's entry of a version, NULL when there is none. */
const struct migrate_entry *migrate_entry_find(const struct migrate_session *session,
                                               int64_t version);

/* Adds (up) or removes (down) the ledger row of a migration. */
int migrate_ledger_record(PGconn *conn, const migration_file *file, const char *checksum,
                          int execution_ms, bool up);

/* Takes the migration lock on a connection of its own, waiting at most
 * options.lock_timeout_ms. */
int migrate_lock_acquire(struct migrate_session *session);

/* Runs the up or down section of a file with its ledger change: in one
 * transaction, or (transaction:false) one statement after another. */
int migrate_run_section(struct migrate_session *session, const migration_file *file,
                        const char *checksum, bool up);

/* "in a transaction" or "outside a transaction (transaction:false)". */
const char *migrate_transaction_mode(const migration_section *section);

#endif /* TIX_MIGRATE_INTERNAL_H */
