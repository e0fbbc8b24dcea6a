/*
 * migrate.c — applies and rolls back schema migrations, keeping the ledger
 * schema_migrations. Each migration runs in its own transaction with its
 * ledger row, so it is applied whole or not at all; the migration lock
 * makes concurrent migrators apply each migration exactly once; checksums
 * of the normalised files catch edited history. This file holds the
 * commands (up, down, redo, status, accept); migrate_internal.h lists the
 * pieces they are made of.
 */
#include "migrate.h"

#include "catalog.h"
#include "error.h"
#include "migrate_internal.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------- up */

static int refuse_drift(const struct migrate_session *session) {
  for (size_t i = 0; i < session->entry_count; i++) {
    const struct migrate_entry *entry = &session->entries[i];
    if (entry->state != TIX_MIGRATION_DRIFTED) {
      continue;
    }
    tix_fail(TIX_EDRIFT, "migration %s was changed after it was applied", entry->file->file_name);
    tix_fail_detail("Its checksum is %.12s… in the ledger and %.12s… in the file. "
                    "Nothing was run.",
                    entry->row->checksum, entry->checksum);
    tix_fail_hint("If the change is intended and already reflected in the database, run "
                  "\"tix migrate accept %lld\".",
                  (long long)entry->version);
    return TIX_EDRIFT;
  }
  return TIX_OK;
}

static bool selected_for_up(const struct migrate_entry *entry, int64_t target_version) {
  bool pending =
      entry->state == TIX_MIGRATION_PENDING || entry->state == TIX_MIGRATION_OUT_OF_ORDER;
  return pending && (target_version == 0 || entry->version <= target_version);
}

static int refuse_out_of_order(const struct migrate_session *session, int64_t target_version) {
  char names[sizeof tix_last_diag()->detail / 2] = "";
  const struct migrate_entry *first = NULL;
  for (size_t i = 0; i < session->entry_count; i++) {
    const struct migrate_entry *entry = &session->entries[i];
    if (entry->state == TIX_MIGRATION_OUT_OF_ORDER && selected_for_up(entry, target_version)) {
      first = first == NULL ? entry : first;
      size_t used = strlen(names);
      snprintf(names + used, sizeof names - used, "%s%s", used > 0 ? ", " : "",
               entry->file->file_name);
    }
  }
  if (first == NULL || session->options.allow_out_of_order) {
    return TIX_OK;
  }
  tix_fail(TIX_EORDER, "migration %s is older than the newest applied migration (%lld)",
           first->file->file_name, (long long)session->rows[session->row_count - 1].version);
  tix_fail_detail("Out of order: %s. Nothing was run.", names);
  tix_fail_hint("If they do not depend on later migrations, run again with "
                "--allow-out-of-order; otherwise renumber them after the newest.");
  return TIX_EORDER;
}

/* An applied migration whose file is gone: this checkout does not know the
 * schema it applied (another branch, a file deleted by mistake), so
 * nothing more is applied on top of it. */
static int refuse_missing_files(const struct migrate_session *session) {
  for (size_t i = 0; i < session->entry_count; i++) {
    const struct migrate_entry *entry = &session->entries[i];
    if (entry->state != TIX_MIGRATION_MISSING_FILE) {
      continue;
    }
    tix_fail(TIX_EMIGRATION, "migration %lld (%s) is applied but its file is missing",
             (long long)entry->version, entry->row->name);
    tix_fail_detail("The database has a migration this checkout does not know. Nothing was run.");
    tix_fail_hint("Restore the file from version control, or switch to the branch that has it.");
    return TIX_EMIGRATION;
  }
  return TIX_OK;
}

/* Every file about to be applied has something to apply. */
static int refuse_empty(const struct migrate_session *session, int64_t target_version) {
  for (size_t i = 0; i < session->entry_count; i++) {
    const struct migrate_entry *entry = &session->entries[i];
    if (selected_for_up(entry, target_version)) {
      int status = migration_file_require_up(entry->file);
      if (status != TIX_OK) {
        return status;
      }
    }
  }
  return TIX_OK;
}

/* Everything that would make up refuse is found before anything runs. */
static int up_refuse(const struct migrate_session *session, int64_t target_version) {
  int status = refuse_missing_files(session);
  if (status == TIX_OK) {
    status = refuse_drift(session);
  }
  if (status == TIX_OK) {
    status = refuse_out_of_order(session, target_version);
  }
  if (status == TIX_OK) {
    status = refuse_empty(session, target_version);
  }
  return status;
}

static int up_run(struct migrate_session *session) {
  int64_t target_version = session->options.target_version;
  int status = up_refuse(session, target_version);
  size_t selected = 0;
  for (size_t i = 0; status == TIX_OK && i < session->entry_count; i++) {
    const struct migrate_entry *entry = &session->entries[i];
    if (!selected_for_up(entry, target_version)) {
      continue;
    }
    selected++;
    if (session->options.dry_run) {
      migrate_progress(session, "would apply %s %s\n", entry->file->file_name,
                       migrate_transaction_mode(&entry->file->up));
    } else {
      status = migrate_run_section(session, entry->file, entry->checksum, true);
    }
  }
  if (status == TIX_OK && selected == 0) {
    migrate_progress(session, "nothing to apply: the database is up to date\n");
  }
  return status;
}

/* After a change, the schema file. The change is committed whatever
 * happens here, so a failure says that it was made and only the file was
 * not written. */
static int write_schema_if_changed(struct migrate_session *session, const char *done) {
  if (!session->changed || session->schema_path[0] == '\0') {
    return TIX_OK;
  }
  int status = catalog_write_schema(session->conninfo, session->conn, session->schema_path);
  if (status == TIX_OK) {
    migrate_progress(session, "wrote %s\n", session->schema_path);
    return TIX_OK;
  }
  tix_diag cause = *tix_last_diag();
  tix_fail(status, "%s, but the schema file %s was not written: %s", done, session->schema_path,
           cause.message);
  tix_fail_detail("%s", cause.detail);
  tix_fail_hint("%s", cause.hint[0] != '\0' ? cause.hint
                                            : "Set TIX_SCHEMA_FILE= (empty) to skip the file.");
  return status;
}

int migrate_up(const char *conninfo, const tix_migrate_options *options, int *schema_status_out) {
  *schema_status_out = TIX_OK;
  struct migrate_session session;
  bool dry_run = options != NULL && options->dry_run;
  int status = migrate_session_open(&session, conninfo, options,
                                    dry_run ? MIGRATE_SESSION_READ : MIGRATE_SESSION_WRITE);
  if (status == TIX_OK) {
    status = up_run(&session);
  }
  if (status == TIX_OK) {
    *schema_status_out = write_schema_if_changed(&session, "the migrations were applied");
  }
  migrate_session_close(&session);
  return status;
}

int tix_migrate_up(const char *conninfo, const tix_migrate_options *options) {
  int schema_status = TIX_OK;
  int status = migrate_up(conninfo, options, &schema_status);
  return status != TIX_OK ? status : schema_status;
}

/* ------------------------------------------------------------------ down */

static bool selected_for_down(const struct migrate_session *session, size_t row_index) {
  const tix_migrate_options *options = &session->options;
  size_t from_newest = session->row_count - 1 - row_index;
  if (options->steps > 0) {
    return from_newest < (size_t)options->steps;
  }
  return session->rows[row_index].version > options->target_version;
}

/* Everything to roll back must have its file, unchanged, before any runs. */
static int refuse_down(const struct migrate_session *session) {
  for (size_t i = session->row_count; i-- > 0;) {
    const struct migrate_entry *entry = migrate_entry_find(session, session->rows[i].version);
    if (!selected_for_down(session, i) || entry == NULL) {
      continue;
    }
    if (entry->state == TIX_MIGRATION_MISSING_FILE) {
      tix_fail(TIX_EMIGRATION, "cannot roll back migration %lld (%s): its file is missing",
               (long long)entry->version, entry->row->name);
      tix_fail_detail("Its down section is in that file. Nothing was run.");
      tix_fail_hint("Restore the file from version control.");
      return TIX_EMIGRATION;
    }
    if (entry->state == TIX_MIGRATION_DRIFTED) {
      tix_fail(TIX_EDRIFT, "migration %s was changed after it was applied", entry->file->file_name);
      tix_fail_detail("Its down section may no longer match what was applied. Nothing was run.");
      tix_fail_hint("Check the change; if it is intended, run \"tix migrate accept %lld\".",
                    (long long)entry->version);
      return TIX_EDRIFT;
    }
  }
  return TIX_OK;
}

/* Newest first. *last_version_out gets the oldest version rolled back. */
static int down_run(struct migrate_session *session, int64_t *last_version_out) {
  int status = refuse_down(session);
  size_t selected = 0;
  for (size_t i = session->row_count; status == TIX_OK && i-- > 0;) {
    if (!selected_for_down(session, i)) {
      continue;
    }
    const struct migrate_entry *entry = migrate_entry_find(session, session->rows[i].version);
    selected++;
    *last_version_out = entry->version;
    if (session->options.dry_run) {
      migrate_progress(session, "would roll back %s %s\n", entry->file->file_name,
                       migrate_transaction_mode(&entry->file->down));
    } else {
      status = migrate_run_section(session, entry->file, entry->checksum, false);
    }
  }
  if (status == TIX_OK && selected == 0) {
    migrate_progress(session, "nothing to roll back\n");
  }
  return status;
}

int tix_migrate_down(const char *conninfo, const tix_migrate_options *options) {
  struct migrate_session session;
  bool dry_run = options != NULL && options->dry_run;
  int status = migrate_session_open(&session, conninfo, options,
                                    dry_run ? MIGRATE_SESSION_READ : MIGRATE_SESSION_WRITE);
  int64_t last_version = 0;
  if (status == TIX_OK) {
    status = down_run(&session, &last_version);
  }
  if (status == TIX_OK) {
    status = write_schema_if_changed(&session, "the migrations were rolled back");
  }
  migrate_session_close(&session);
  return status;
}

/* The newest applied migration down, then up again. Its up section is
 * checked first: redo must be able to apply what it rolls back. */
static int redo_newest(struct migrate_session *session) {
  const struct migrate_entry *newest =
      migrate_entry_find(session, session->rows[session->row_count - 1].version);
  int status = TIX_OK;
  if (newest != NULL && newest->file != NULL) { /* a missing file: down_run says so */
    status = migration_file_require_up(newest->file);
  }
  int64_t version = 0;
  if (status == TIX_OK) {
    status = down_run(session, &version);
  }
  if (status != TIX_OK) {
    return status;
  }
  const struct migrate_entry *entry = migrate_entry_find(session, version);
  if (session->options.dry_run) {
    migrate_progress(session, "would apply %s %s\n", entry->file->file_name,
                     migrate_transaction_mode(&entry->file->up));
    return TIX_OK;
  }
  return migrate_run_section(session, entry->file, entry->checksum, true);
}

/* Down one, then up that one again, under one hold of the lock. */
int tix_migrate_redo(const char *conninfo, const tix_migrate_options *options) {
  struct migrate_session session;
  bool dry_run = options != NULL && options->dry_run;
  int status = migrate_session_open(&session, conninfo, options,
                                    dry_run ? MIGRATE_SESSION_READ : MIGRATE_SESSION_WRITE);
  session.options.steps = 1;
  if (status == TIX_OK && session.row_count == 0) {
    migrate_progress(&session, "nothing to redo: no migration is applied\n");
  } else if (status == TIX_OK) {
    status = redo_newest(&session);
  }
  if (status == TIX_OK) {
    status = write_schema_if_changed(&session, "the migration was redone");
  }
  migrate_session_close(&session);
  return status;
}

/* ---------------------------------------------------------------- status */

static void status_fill(const struct migrate_entry *entry, tix_migration_status *out) {
  *out = (tix_migration_status){.version = entry->version, .state = entry->state};
  snprintf(out->name, sizeof out->name, "%s",
           entry->file != NULL ? entry->file->name : entry->row->name);
  if (entry->row != NULL) {
    snprintf(out->applied_at, sizeof out->applied_at, "%s", entry->row->applied_at);
    out->execution_ms = entry->row->execution_ms;
  }
}

int tix_migrate_status(const char *conninfo, const tix_migrate_options *options,
                       tix_migration_status **list, size_t *count) {
  if (list == NULL || count == NULL) {
    return tix_fail(TIX_EINVAL, "tix_migrate_status needs a place for the list");
  }
  *list = NULL;
  *count = 0;
  struct migrate_session session;
  int status = migrate_session_open(&session, conninfo, options, MIGRATE_SESSION_READ);
  if (status == TIX_OK) {
    *list = calloc(session.entry_count + 1, sizeof **list);
    status = *list != NULL ? TIX_OK : tix_fail(TIX_ENOMEM, "out of memory");
  }
  for (size_t i = 0; status == TIX_OK && i < session.entry_count; i++) {
    status_fill(&session.entries[i], &(*list)[i]);
  }
  if (status == TIX_OK) {
    *count = session.entry_count;
  }
  migrate_session_close(&session);
  return status;
}

const char *tix_migration_state_name(tix_migration_state state) {
  switch (state) {
  case TIX_MIGRATION_PENDING:
    return "pending";
  case TIX_MIGRATION_APPLIED:
    return "applied";
  case TIX_MIGRATION_DRIFTED:
    return "drifted";
  case TIX_MIGRATION_OUT_OF_ORDER:
    return "out_of_order";
  case TIX_MIGRATION_MISSING_FILE:
    return "missing_file";
  }
  return "unknown";
}

/* ---------------------------------------------------------------- accept */

static int accept_entry(struct migrate_session *session, const struct migrate_entry *entry,
                        int64_t version) {
  if (entry == NULL || entry->row == NULL) {
    tix_fail(TIX_ENOTFOUND, "migration %lld is not applied", (long long)version);
    tix_fail_hint("accept records the new checksum of an applied migration whose file changed.");
    return TIX_ENOTFOUND;
  }
  if (entry->file == NULL) {
    return tix_fail(TIX_ENOTFOUND, "migration %lld has no file to take the checksum of",
                    (long long)version);
  }
  if (entry->state != TIX_MIGRATION_DRIFTED) {
    migrate_progress(session, "%s already matches the ledger\n", entry->file->file_name);
    return TIX_OK;
  }
  char version_text[32];
  snprintf(version_text, sizeof version_text, "%lld", (long long)version);
  const char *const values[] = {version_text, entry->checksum, entry->file->name};
  int status =
      tix_admin_exec(session->conn, "cannot update the ledger",
                     "UPDATE " TIX_LEDGER_TABLE " SET checksum = $2, name = $3 WHERE version = $1",
                     3, values, NULL);
  if (status == TIX_OK) {
    migrate_progress(session, "accepted the new checksum of %s\n", entry->file->file_name);
  }
  return status;
}

int tix_migrate_accept(const char *conninfo, const tix_migrate_options *options, int64_t version) {
  struct migrate_session session;
  int status = migrate_session_open(&session, conninfo, options, MIGRATE_SESSION_WRITE);
  if (status == TIX_OK) {
    status = accept_entry(&session, migrate_entry_find(&session, version), version);
  }
  migrate_session_close(&session);
  return status;
}
