/*
 * cluster_internal.h — what the pieces of the embedded cluster share: the
 * handle, and the steps that start and stop it.
 *
 *   cluster_paths.c       the data directory's paths, the socket directory,
 *                         the conninfo and URL that name them
 *   cluster_programs.c    the server user and the server programs: finding
 *                         them, their version, running them
 *   cluster_files.c       the directories and files the server needs,
 *                         made for the server user; initdb
 *   cluster_postmaster.c  postmaster.pid, and whether the process it names
 *                         really is this cluster's postmaster
 *   cluster.c             state, start and stop, one at a time
 *
 * The data directory (TIX_DATA) holds:
 *   pgdata/      the cluster itself, mode 0700, owned by the server user
 *   run/         the socket directory, unless that path is too long for a
 *                socket; then /tmp/tix-<hash of the data directory's path>
 *   server.log   the server's log (pg_ctl -l)
 *   tix.lock     serialises start and stop between tix processes
 */
#ifndef TIX_CLUSTER_INTERNAL_H
#define TIX_CLUSTER_INTERNAL_H

#include "cluster.h"
#include "process.h"
#include "tix.h"

#include <stdbool.h>
#include <stddef.h>

#define CLUSTER_PATH_BYTES       4096
#define CLUSTER_SOCKET_DIR_BYTES 256 /* as tix_cluster_state.socket_dir */
#define CLUSTER_CONNINFO_BYTES   (2 * CLUSTER_PATH_BYTES)
#define CLUSTER_VERSION_BYTES    64
#define CLUSTER_SERVER_USER_NAME "postgres"
#define CLUSTER_SUPERUSER        "tix"
#define CLUSTER_DATABASE         "tix"
#define CLUSTER_SETTINGS_FILE    "tix.conf"
#define CLUSTER_REACH_TIMEOUT_MS 10000

struct tix_cluster {
  char data_dir[CLUSTER_PATH_BYTES];
  char pgdata[CLUSTER_PATH_BYTES];
  char log_file[CLUSTER_PATH_BYTES];
  char lock_file[CLUSTER_PATH_BYTES];
  char socket_dir[CLUSTER_SOCKET_DIR_BYTES];
  bool socket_dir_private;         /* under /tmp: the path inside was too long */
  char bindir[CLUSTER_PATH_BYTES]; /* empty until resolved */
  bool user_resolved;
  tix_process_user user; /* who runs initdb and pg_ctl: postgres when tix is root */
  int lock_fd;
};

/* cluster_paths.c */
int cluster_join_path(char *destination, size_t size, const char *directory, const char *name);
/* host, user and dbname of the cluster's socket, for libpq. */
int cluster_build_conninfo(const tix_cluster *cluster, const char *database, char *buffer,
                           size_t size);
/* Reads a small file whole; one that is not there is no error (*exists). */
int cluster_read_small_file(const char *path, char *buffer, size_t size, bool *exists);
/* The same for a file of pgdata ("PG_VERSION", "postmaster.pid"). */
int cluster_read_pgdata_file(const tix_cluster *cluster, const char *name, char *buffer,
                             size_t size, bool *exists);

/* cluster_programs.c */
int cluster_resolve_server_user(tix_cluster *cluster);
/* TIX_PG_BINDIR, else what pg_config --bindir says; checks the programs. */
int cluster_resolve_bindir(tix_cluster *cluster);
/* Fails, naming both, when the data directory's major version is not the
 * server programs'. */
int cluster_check_version_matches(tix_cluster *cluster, const char *data_version);
/* Runs bindir/program with arguments (NULL-terminated, after the program)
 * as the server user in the data directory; a failure is TIX_ECLUSTER. */
int cluster_run_server_program(const tix_cluster *cluster, const char *program,
                               const char *const *arguments, int timeout_ms,
                               tix_process_result *result);

/* cluster_files.c */
/* The major version in PG_VERSION ("15", "9.6"); "" when not initialised. */
int cluster_read_data_version(const tix_cluster *cluster, char *version, size_t size);
/* As root, fails before anything is made when the server user could not
 * reach the data directory: initdb's own error would not say why. */
int cluster_check_server_can_reach(const tix_cluster *cluster);
/* mkdir -p of the data directory that undoes itself on failure. */
int cluster_make_data_dir(const tix_cluster *cluster);
/* The socket directory, the log and tix.conf, as the server wants them. */
int cluster_prepare_start(const tix_cluster *cluster);
/* initdb into a staging directory, renamed into place once complete. */
int cluster_initdb(tix_cluster *cluster);

/* cluster_postmaster.c */
/* The pid in postmaster.pid's first line, 0 when there is none. */
int cluster_read_postmaster_pid(const tix_cluster *cluster, long *pid);
/* A killed postmaster stays a zombie until its new parent reaps it. */
bool cluster_process_is_zombie(long pid);
/* The pid of this cluster's live postmaster, 0 when there is none: a pid
 * file whose process is gone, a zombie, or another process that now has
 * that pid. Only such a pid may be signalled. */
int cluster_find_postmaster(const tix_cluster *cluster, long *pid_out);

#endif /* TIX_CLUSTER_INTERNAL_H */
