/*
 * migrate_new.c — `tix migrate new NAME`: the next numbered migration file,
 * written from a template that has both sections, never over an existing
 * file.
 */
#include "migrate_internal.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIGRATION_TEMPLATE                                                                         \
  "-- %s: say what this migration changes and why.\n"                                              \
  "\n"                                                                                             \
  "-- migrate:up\n"                                                                                \
  "\n"                                                                                             \
  "\n"                                                                                             \
  "-- migrate:down\n"                                                                              \
  "\n"

static int write_new_file(const char *path, const char *name) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return tix_fail(TIX_EIO, "cannot create %s: %s", path, strerror(errno));
  }
  char text[sizeof MIGRATION_TEMPLATE + MIGRATION_NAME_MAX_BYTES];
  int length = snprintf(text, sizeof text, MIGRATION_TEMPLATE, name);
  int status = TIX_OK;
  if (write(fd, text, (size_t)length) != length) {
    status = tix_fail(TIX_EIO, "cannot write %s: %s", path, strerror(errno));
    unlink(path);
  }
  close(fd);
  return status;
}

int tix_migrate_new(const tix_migrate_options *options, const char *name, char *path_out,
                    size_t path_size) {
  if (name == NULL || !migration_name_is_valid(name)) {
    tix_fail(TIX_EINVAL, "invalid migration name \"%s\"", name != NULL ? name : "");
    tix_fail_detail("A name is lowercase letters, digits and underscores, at most %d bytes.",
                    MIGRATION_NAME_MAX_BYTES - 1);
    return TIX_EINVAL;
  }
  char directory[PATH_MAX];
  int status = migration_directory_resolve(options != NULL ? options->directory : NULL, directory,
                                           sizeof directory);
  if (status == TIX_OK && mkdir(directory, 0755) != 0 && errno != EEXIST) {
    status = tix_fail(TIX_EIO, "cannot create the directory %s: %s", directory, strerror(errno));
  }
  int64_t highest = 0;
  if (status == TIX_OK) {
    status = migration_directory_highest_version(directory, &highest);
  }
  if (status != TIX_OK) {
    return status;
  }
  if ((size_t)snprintf(path_out, path_size, "%s/%04lld_%s.sql", directory, (long long)highest + 1,
                       name) >= path_size) {
    return tix_fail(TIX_EINVAL, "the path of the new migration is too long");
  }
  return write_new_file(path_out, name);
}
