/*
 * config.h — internal helpers of the configuration subsystem.
 */
#ifndef TIX_CONFIG_H
#define TIX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* host, port, database and user of a conninfo, never its password. */
void tix_conninfo_describe(const char *conninfo, char *buffer, size_t size);

/* Appends keyword='value' to a key=value conninfo, with libpq's quoting
 * (a backslash before ' and \\). False when it does not fit in size. */
bool tix_conninfo_append(char *conninfo, size_t size, const char *keyword, const char *value);

/* Rebuilds conninfo as keyword='value' pairs: dbname replaced when dbname is
 * not NULL, the password left out when password_out is not NULL (it gets a
 * copy of the password, or NULL), so that a child process need not see it
 * in its arguments. Free the results with free(). */
int tix_conninfo_rewrite(const char *conninfo, const char *dbname, char **out, char **password_out);

/* A duration in milliseconds from the environment variable name; fallback
 * when it is unset, not a whole number, negative or above maximum. */
int tix_env_milliseconds(const char *name, int fallback, int maximum);

#endif /* TIX_CONFIG_H */
