/*
 * cluster_paths.c — where the embedded cluster lives: the data directory as
 * one canonical absolute path (every spelling of it is one cluster), the
 * paths inside it, the socket directory (inside, or a short private one
 * under /tmp when the socket path would pass 107 bytes), and the conninfo
 * and URL that name the socket.
 */
#include "cluster_internal.h"

#include "config.h"
#include "error.h"
#include "text.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SOCKET_PATH_BYTES_MAX 107 /* sun_path: 108 bytes with the terminator */
#define SOCKET_FILE_NAME      ".s.PGSQL.5432"
#define PRIVATE_SOCKET_PARENT "/tmp"
#define PATH_COMPONENTS_MAX   256
#define TOO_LONG              "the data directory path is too long"

int cluster_join_path(char *destination, size_t size, const char *directory, const char *name) {
  int written = snprintf(destination, size, "%s/%s", directory, name);
  if (written < 0 || (size_t)written >= size) {
    return tix_fail(TIX_EINVAL, TOO_LONG);
  }
  return TIX_OK;
}

/* Removes empty and "." components and trailing slashes, so that every
 * spelling of one path hashes to the same private socket directory. */
static void clean_path(char *path) {
  char *write = path;
  const char *read = path;
  while (*read != '\0') {
    if (read[0] == '/' && (read[1] == '/' || (read[1] == '.' && (read[2] == '/' || !read[2])))) {
      read += read[1] == '/' ? 1 : 2;
      continue;
    }
    *write++ = *read++;
  }
  *write = '\0';
  if (write > path + 1 && write[-1] == '/') {
    write[-1] = '\0';
  }
  if (path[0] == '\0') {
    strcpy(path, "/");
  }
}

static int absolute_path(const char *path, char *out, size_t size) {
  char joined[CLUSTER_PATH_BYTES];
  if (path[0] == '/') {
    if (!tix_text_copy(joined, sizeof joined, path)) {
      return tix_fail(TIX_EINVAL, TOO_LONG);
    }
  } else {
    char cwd[CLUSTER_PATH_BYTES];
    if (getcwd(cwd, sizeof cwd) == NULL) {
      return tix_fail(TIX_ECLUSTER, "could not resolve the data directory \"%s\": %s", path,
                      strerror(errno));
    }
    int status = cluster_join_path(joined, sizeof joined, cwd, path);
    if (status != TIX_OK) {
      return status;
    }
  }
  clean_path(joined);
  return tix_text_copy(out, size, joined) ? TIX_OK : tix_fail(TIX_EINVAL, TOO_LONG);
}

/* The symlink-free path of an absolute path whose last components may not
 * exist yet: the deepest existing ancestor resolved, the rest appended. */
static int canonical_path(const char *path, char *out, size_t size) {
  char prefix[CLUSTER_PATH_BYTES];
  char resolved[PATH_MAX];
  if (!tix_text_copy(prefix, sizeof prefix, path)) {
    return tix_fail(TIX_EINVAL, TOO_LONG);
  }
  size_t cut = strlen(prefix);
  for (int component = 0; component < PATH_COMPONENTS_MAX; component++) {
    if (realpath(prefix[0] != '\0' ? prefix : "/", resolved) != NULL) {
      const char *base = strcmp(resolved, "/") == 0 ? "" : resolved;
      int written = snprintf(out, size, "%s%s", base, path + cut);
      if (written < 0 || (size_t)written >= size) {
        return tix_fail(TIX_EINVAL, TOO_LONG);
      }
      if (out[0] == '\0') {
        strcpy(out, "/");
      }
      return TIX_OK;
    }
    char *slash = strrchr(prefix, '/');
    if (slash == NULL) {
      break;
    }
    *slash = '\0';
    cut = (size_t)(slash - prefix);
  }
  return tix_text_copy(out, size, path) ? TIX_OK : tix_fail(TIX_EINVAL, TOO_LONG);
}

/* FNV-1a: stable across runs and builds, which is all a directory name needs. */
static unsigned long long path_hash(const char *path) {
  unsigned long long hash = 14695981039346656037ULL;
  for (const unsigned char *c = (const unsigned char *)path; *c != '\0'; c++) {
    hash ^= *c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

static void choose_socket_dir(tix_cluster *cluster) {
  char inside[CLUSTER_PATH_BYTES];
  int written = snprintf(inside, sizeof inside, "%s/run", cluster->data_dir);
  size_t socket_length = (size_t)written + 1 + strlen(SOCKET_FILE_NAME);
  if (written > 0 && socket_length <= SOCKET_PATH_BYTES_MAX) {
    tix_text_copy(cluster->socket_dir, sizeof cluster->socket_dir, inside);
    cluster->socket_dir_private = false;
  } else {
    snprintf(cluster->socket_dir, sizeof cluster->socket_dir, "%s/tix-%016llx",
             PRIVATE_SOCKET_PARENT, path_hash(cluster->data_dir));
    cluster->socket_dir_private = true;
  }
}

static int resolve_paths(tix_cluster *cluster, const char *data_dir) {
  char absolute[CLUSTER_PATH_BYTES];
  int status = absolute_path(data_dir, absolute, sizeof absolute);
  if (status == TIX_OK) {
    status = canonical_path(absolute, cluster->data_dir, sizeof cluster->data_dir);
  }
  if (status == TIX_OK) {
    status =
        cluster_join_path(cluster->pgdata, sizeof cluster->pgdata, cluster->data_dir, "pgdata");
  }
  if (status == TIX_OK) {
    status = cluster_join_path(cluster->log_file, sizeof cluster->log_file, cluster->data_dir,
                               "server.log");
  }
  if (status == TIX_OK) {
    status = cluster_join_path(cluster->lock_file, sizeof cluster->lock_file, cluster->data_dir,
                               "tix.lock");
  }
  if (status == TIX_OK) {
    choose_socket_dir(cluster);
  }
  return status;
}

int tix_cluster_open(const char *data_dir, tix_cluster **out) {
  if (data_dir == NULL || data_dir[0] == '\0' || out == NULL) {
    return tix_fail(TIX_EINVAL,
                    "tix_cluster_open needs a data directory and a place for the handle");
  }
  *out = NULL;
  tix_cluster *cluster = calloc(1, sizeof *cluster);
  if (cluster == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  cluster->lock_fd = -1;
  int status = resolve_paths(cluster, data_dir);
  if (status != TIX_OK) {
    free(cluster);
    return status;
  }
  *out = cluster;
  return TIX_OK;
}

void tix_cluster_destroy(tix_cluster *cluster) {
  if (cluster == NULL) {
    return;
  }
  if (cluster->lock_fd >= 0) {
    close(cluster->lock_fd);
  }
  free(cluster);
}

int cluster_read_small_file(const char *path, char *buffer, size_t size, bool *exists) {
  *exists = false;
  buffer[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return TIX_OK;
    }
    return tix_fail(TIX_ECLUSTER, "could not read \"%s\": %s", path, strerror(errno));
  }
  ssize_t length = read(fd, buffer, size - 1);
  int saved_errno = errno;
  close(fd);
  if (length < 0) {
    return tix_fail(TIX_ECLUSTER, "could not read \"%s\": %s", path, strerror(saved_errno));
  }
  buffer[length] = '\0';
  *exists = true;
  return TIX_OK;
}

int cluster_read_pgdata_file(const tix_cluster *cluster, const char *name, char *buffer,
                             size_t size, bool *exists) {
  char path[CLUSTER_PATH_BYTES];
  int status = cluster_join_path(path, sizeof path, cluster->pgdata, name);
  if (status == TIX_OK) {
    status = cluster_read_small_file(path, buffer, size, exists);
  }
  return status;
}

int cluster_build_conninfo(const tix_cluster *cluster, const char *database, char *buffer,
                           size_t size) {
  if (size == 0) {
    return tix_fail(TIX_EINVAL, "no room for the conninfo");
  }
  buffer[0] = '\0';
  bool fits = tix_conninfo_append(buffer, size, "host", cluster->socket_dir) &&
              tix_conninfo_append(buffer, size, "user", CLUSTER_SUPERUSER) &&
              tix_conninfo_append(buffer, size, "dbname", database);
  return fits ? TIX_OK : tix_fail(TIX_EINVAL, "no room for the conninfo");
}

int tix_cluster_conninfo(tix_cluster *cluster, char *buffer, size_t size) {
  assert(cluster != NULL && buffer != NULL);
  return cluster_build_conninfo(cluster, CLUSTER_DATABASE, buffer, size);
}

int tix_cluster_url(tix_cluster *cluster, char *buffer, size_t size) {
  assert(cluster != NULL && buffer != NULL);
  char host[CLUSTER_SOCKET_DIR_BYTES * 3];
  if (!tix_percent_encode(cluster->socket_dir, host, sizeof host)) {
    return tix_fail(TIX_EINVAL, "no room for the URL");
  }
  int written = snprintf(buffer, size, "postgresql:///%s?host=%s&user=%s", CLUSTER_DATABASE, host,
                         CLUSTER_SUPERUSER);
  if (written < 0 || (size_t)written >= size) {
    return tix_fail(TIX_EINVAL, "no room for the URL");
  }
  return TIX_OK;
}
