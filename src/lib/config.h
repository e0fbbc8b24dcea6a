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

/* A duration in milliseconds from the environment variable name; fallback
 * when it is unset, not a whole number, negative or above maximum. */
int tix_env_milliseconds(const char *name, int fallback, int maximum);

#endif /* TIX_CONFIG_H */
