/*
 * cluster.h — internal: the embedded PostgreSQL cluster (initdb, pg_ctl,
 * the postgres system user when running as root, the socket directory).
 */
#ifndef TIX_CLUSTER_H
#define TIX_CLUSTER_H

#include "tix.h"

/* Starts the cluster unless it runs. *created_now: it did not exist, and
 * initdb made it in this call (its database is new: nobody has used it). */
int tix_cluster_ensure_running(tix_cluster *cluster, bool *created_now);

/* The libpq conninfo of the cluster's database, for tix_open. */
int tix_cluster_conninfo(tix_cluster *cluster, char *buffer, size_t size);

#endif /* TIX_CLUSTER_H */
