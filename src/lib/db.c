/*
 * db.c — the tix handle: opens the pool (waiting, bounded, for the database)
 * and, for the embedded default, starts the private cluster on demand and
 * applies the migrations when it had to create it; a schema that is behind
 * is refused, never migrated behind the user's back. A handle opened from
 * the environment tells its pool where the settings came from, for the hint
 * of a database it cannot reach.
 */
#include "db.h"

#include "cluster.h"
#include "config.h"
#include "error.h"
#include "group.h"
#include "migrate.h"
#include "statements.h"

#include <stdlib.h>
#include <string.h>

#define CONNINFO_MAX_BYTES 4096
#define CLUSTER_LOG_NAME   "server.log"

/* The embedded cluster answers, or will: its postmaster is alive, even if
 * it is starting or shutting down. Once stopped, it stays stopped until
 * someone starts it, so waiting for it would only delay the answer. */
static bool origin_may_answer(void *context) {
  const struct tix_origin *origin = context;
  if (origin->source != TIX_SOURCE_EMBEDDED) {
    return true;
  }
  tix_diag failure = *tix_last_diag();
  tix_cluster *cluster = NULL;
  tix_cluster_state state;
  bool known = tix_cluster_open(origin->data_dir, &cluster) == TIX_OK &&
               tix_cluster_state_get(cluster, &state) == TIX_OK;
  tix_cluster_destroy(cluster);
  tix_diag_set(&failure);
  return !known || state.running; /* when in doubt, wait */
}

/* A hint that names where the configuration came from: the settings that
 * are set, or the embedded cluster and whether it runs. */
static void origin_explain(void *context) {
  const struct tix_origin *origin = context;
  if (origin->source != TIX_SOURCE_EMBEDDED) {
    tix_fail_hint("%s", origin->hint);
    return;
  }
  if (!origin_may_answer(context)) {
    tix_fail_hint("The embedded cluster in %s is not running: start it with \"tix db start\".",
                  origin->data_dir);
  } else {
    tix_fail_hint("The embedded cluster in %s runs but does not let tix in: see its log, %s/%s.",
                  origin->data_dir, origin->data_dir, CLUSTER_LOG_NAME);
  }
}

void tix_options_default(tix_options *options) {
  *options = (tix_options){
      .max_connections = 20,
      .acquire_timeout_ms = 60000,
      .idle_timeout_ms = 30000,
      .connect_timeout_ms =
          tix_env_milliseconds_or_invalid(TIX_CONNECT_TIMEOUT_ENV, TIX_CONNECT_TIMEOUT_DEFAULT_MS,
                                          TIX_CONNECT_TIMEOUT_MIN_MS, TIX_CONNECT_TIMEOUT_MAX_MS),
      .application_name = "tix",
      .committers = 4,
      .queue_max = 100000,
  };
}

/* options, or the defaults in *defaults when it is NULL, checked where a
 * setting of the environment may have gone wrong: a bad
 * TIX_CONNECT_TIMEOUT_MS is reported by name. */
static int options_resolve(const tix_options *options, tix_options *defaults,
                           const tix_options **out) {
  if (options == NULL) {
    tix_options_default(defaults);
    options = defaults;
  }
  *out = options;
  int timeout_ms = options->connect_timeout_ms;
  if (timeout_ms >= TIX_CONNECT_TIMEOUT_MIN_MS && timeout_ms <= TIX_CONNECT_TIMEOUT_MAX_MS) {
    return TIX_OK;
  }
  int status =
      tix_env_milliseconds(TIX_CONNECT_TIMEOUT_ENV, TIX_CONNECT_TIMEOUT_DEFAULT_MS,
                           TIX_CONNECT_TIMEOUT_MIN_MS, TIX_CONNECT_TIMEOUT_MAX_MS, &timeout_ms);
  return status != TIX_OK ? status
                          : tix_fail(TIX_EINVAL, "the connect timeout must be from %d to %d ms",
                                     TIX_CONNECT_TIMEOUT_MIN_MS, TIX_CONNECT_TIMEOUT_MAX_MS);
}

/* tix_open, with what is known of where conninfo came from (or NULL). */
static int open_handle(const char *conninfo, const tix_options *options,
                       const struct tix_origin *origin, tix **out) {
  if (conninfo == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "tix_open needs a conninfo and a place for the handle");
  }
  *out = NULL;
  tix_options defaults;
  int status = options_resolve(options, &defaults, &options);
  if (status != TIX_OK) {
    return status;
  }
  tix *db = calloc(1, sizeof *db);
  if (db == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  db->options = *options;
  status = tix_pool_create(conninfo, options, tix_statements_prepare, NULL, &db->pool);
  if (status != TIX_OK) {
    goto free_handle;
  }
  if (origin != NULL) {
    db->origin = *origin;
    tix_pool_set_advisor(db->pool,
                         &(tix_connect_advisor){origin_may_answer, origin_explain, &db->origin});
  }
  status = tix_group_create(db, options, &db->group);
  if (status != TIX_OK) {
    goto destroy_pool;
  }
  /* Fail now, not at the first purchase, when the database is unreachable. */
  PGconn *conn = NULL;
  status = tix_pool_acquire(db->pool, &conn);
  if (status != TIX_OK) {
    goto destroy_pool;
  }
  tix_pool_release(db->pool, conn, false);
  *out = db;
  return TIX_OK;

destroy_pool:
  tix_group_destroy(db->group);
  tix_pool_destroy(db->pool);
free_handle:
  free(db);
  return status;
}

int tix_open(const char *conninfo, const tix_options *options, tix **out) {
  return open_handle(conninfo, options, NULL, out);
}

void tix_close(tix *db) {
  if (db == NULL) {
    return;
  }
  tix_group_destroy(db->group); /* answers what is queued, on the pool */
  tix_pool_destroy(db->pool);
  free(db);
}

/* Migrations are applied without being asked only to a cluster that initdb
 * has just made: its database is new, so nothing depends on what it had,
 * and a fresh checkout works at the first command. Anywhere else a pending
 * migration may be unfinished work (a file still being written): it waits
 * for `tix migrate up`, and tix_open_from_env refuses meanwhile. A schema
 * file that cannot be written after the migrations were applied must not
 * fail the user's command: the database is migrated, only the file is
 * stale, so it is a warning. */
int tix_config_prepare(tix_config *config, bool apply_migrations) {
  if (tix_config_get_source(config) != TIX_SOURCE_EMBEDDED) {
    return TIX_OK;
  }
  tix_cluster *cluster = NULL;
  int status = tix_cluster_open(tix_config_data_dir(config), &cluster);
  if (status != TIX_OK) {
    return status;
  }
  bool created_now = false;
  char conninfo[CONNINFO_MAX_BYTES];
  status = tix_cluster_ensure_running(cluster, &created_now);
  if (status == TIX_OK) {
    status = tix_cluster_conninfo(cluster, conninfo, sizeof conninfo);
  }
  if (status == TIX_OK) {
    status = tix_config_set_conninfo(config, conninfo);
  }
  if (status == TIX_OK && created_now && apply_migrations) {
    tix_migrate_options migrate_options;
    tix_migrate_options_default(&migrate_options);
    int schema_status = TIX_OK;
    status = migrate_up(conninfo, &migrate_options, &schema_status);
    if (status == TIX_OK && schema_status != TIX_OK) {
      fprintf(stderr, "tix: warning: %s\n", tix_last_diag()->message);
      tix_diag_clear();
    }
  }
  tix_cluster_destroy(cluster);
  return status;
}

/* On the pool's first connection, so that it costs one query. */
static int check_schema(tix *db) {
  PGconn *conn = NULL;
  int status = tix_db_acquire(db, &conn);
  if (status == TIX_OK) {
    status = migrate_check_connection(conn, NULL);
    tix_db_release(db, conn, PQstatus(conn) != CONNECTION_OK);
  }
  return status;
}

/* Preparing tix's statements fails first when a pending migration adds
 * what they use: the check, on a connection of its own, then says which
 * migrations are missing, which "not migrated" alone would not. */
static int explain_schema_failure(const char *conninfo) {
  tix_diag failure = *tix_last_diag();
  int status = tix_schema_check(conninfo, NULL);
  if (status == TIX_EPENDING) {
    return status;
  }
  tix_diag_set(&failure);
  return failure.status;
}

/* The handle on the configured database, whose pool knows where its
 * conninfo came from. */
static int open_configured(const tix_config *config, const tix_options *options, tix **out) {
  struct tix_origin origin = {.source = tix_config_get_source(config)};
  const char *data_dir = tix_config_data_dir(config);
  snprintf(origin.data_dir, sizeof origin.data_dir, "%s", data_dir != NULL ? data_dir : "");
  tix_config_unreachable_hint(config, origin.hint, sizeof origin.hint);
  return open_handle(tix_config_conninfo(config), options, &origin, out);
}

int tix_open_from_env(const tix_options *options, tix **out) {
  tix_options defaults;
  int status = options_resolve(options, &defaults, &options);
  if (status != TIX_OK) {
    return status;
  }
  tix_config *config = NULL;
  status = tix_config_from_env(&config);
  if (status != TIX_OK) {
    return status;
  }
  status = tix_config_prepare(config, true);
  if (status == TIX_OK) {
    status = open_configured(config, options, out);
  }
  if (status == TIX_OK) {
    status = check_schema(*out);
    if (status != TIX_OK) {
      tix_close(*out);
      *out = NULL;
    }
  } else if (status == TIX_ESCHEMA) {
    status = explain_schema_failure(tix_config_conninfo(config));
  }
  tix_config_destroy(config);
  return status;
}
