/*
 * db.c — the tix handle: opens the pool (waiting, bounded, for the database)
 * and, for the embedded default, starts the private cluster on demand and
 * applies migrations when it had to start it.
 */
#include "db.h"

#include "cluster.h"
#include "config.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

#define CONNINFO_MAX_BYTES         4096
#define CONNECT_TIMEOUT_DEFAULT_MS 10000
#define CONNECT_TIMEOUT_MAX_MS     600000

void tix_options_default(tix_options *options) {
  *options = (tix_options){
      .max_connections = 20,
      .acquire_timeout_ms = 60000,
      .idle_timeout_ms = 30000,
      .connect_timeout_ms = tix_env_milliseconds(
          "TIX_CONNECT_TIMEOUT_MS", CONNECT_TIMEOUT_DEFAULT_MS, CONNECT_TIMEOUT_MAX_MS),
      .application_name = "tix",
  };
}

int tix_open(const char *conninfo, const tix_options *options, tix **out) {
  if (conninfo == NULL || out == NULL) {
    return tix_fail(TIX_EINVAL, "tix_open needs a conninfo and a place for the handle");
  }
  *out = NULL;
  tix_options defaults;
  if (options == NULL) {
    tix_options_default(&defaults);
    options = &defaults;
  }
  tix *db = calloc(1, sizeof *db);
  if (db == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  db->options = *options;
  int status = tix_pool_create(conninfo, options, NULL, NULL, &db->pool);
  if (status != TIX_OK) {
    goto free_handle;
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
  tix_pool_destroy(db->pool);
free_handle:
  free(db);
  return status;
}

void tix_close(tix *db) {
  if (db == NULL) {
    return;
  }
  tix_pool_destroy(db->pool);
  free(db);
}

int tix_db_acquire(tix *db, PGconn **out) {
  return tix_pool_acquire(db->pool, out);
}

void tix_db_release(tix *db, PGconn *conn, bool broken) {
  tix_pool_release(db->pool, conn, broken);
}

int tix_config_prepare(tix_config *config, bool apply_migrations) {
  if (tix_config_get_source(config) != TIX_SOURCE_EMBEDDED) {
    return TIX_OK;
  }
  tix_cluster *cluster = NULL;
  int status = tix_cluster_open(tix_config_data_dir(config), &cluster);
  if (status != TIX_OK) {
    return status;
  }
  bool started_now = false;
  char conninfo[CONNINFO_MAX_BYTES];
  status = tix_cluster_ensure_running(cluster, &started_now);
  if (status == TIX_OK) {
    status = tix_cluster_conninfo(cluster, conninfo, sizeof conninfo);
  }
  if (status == TIX_OK) {
    status = tix_config_set_conninfo(config, conninfo);
  }
  if (status == TIX_OK && started_now && apply_migrations) {
    tix_migrate_options migrate_options;
    tix_migrate_options_default(&migrate_options);
    status = tix_migrate_up(conninfo, &migrate_options);
  }
  tix_cluster_destroy(cluster);
  return status;
}

int tix_open_from_env(const tix_options *options, tix **out) {
  tix_config *config = NULL;
  int status = tix_config_from_env(&config);
  if (status != TIX_OK) {
    return status;
  }
  status = tix_config_prepare(config, true);
  if (status == TIX_OK) {
    status = tix_open(tix_config_conninfo(config), options, out);
  }
  tix_config_destroy(config);
  return status;
}
