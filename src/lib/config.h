/*
 * config.h — internal helpers of the configuration subsystem.
 */
#ifndef TIX_CONFIG_H
#define TIX_CONFIG_H

#include "tix.h"

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

/* The hint for a database tix cannot reach, naming the settings it came
 * from (DATABASE_URL, the DB_* or PG* variables that are set); empty for
 * the embedded cluster, whose state only its owner can tell. */
void tix_config_unreachable_hint(const tix_config *config, char *buffer, size_t size);

/* text with every occurrence of the password conninfo uses (its own, or
 * PGPASSWORD's) masked, for messages that quote what libpq said. */
void tix_conninfo_mask_password(const char *conninfo, const char *text, char *out, size_t size);

/* ------------------------------------------------------------ settings.c
 * Every setting read from the environment is checked like a flag: a bad
 * one is TIX_EINVAL naming it and saying what is wrong, never ignored. */

/* How long tix waits for the database to answer a new connection: one
 * setting, one range, for the pool and for migrations alike. */
#define TIX_CONNECT_TIMEOUT_ENV        "TIX_CONNECT_TIMEOUT_MS"
#define TIX_CONNECT_TIMEOUT_DEFAULT_MS 10000
#define TIX_CONNECT_TIMEOUT_MIN_MS     1
#define TIX_CONNECT_TIMEOUT_MAX_MS     600000

/* What tix_env_milliseconds_or_invalid returns for a bad setting. */
#define TIX_SETTING_INVALID (-1)

/* A whole number of milliseconds within [minimum, maximum] from the
 * environment variable name; *out = fallback when it is unset or empty. */
int tix_env_milliseconds(const char *name, int fallback, int minimum, int maximum, int *out);
/* The same for defaults filled where no error can be returned (the
 * *_options_default functions): TIX_SETTING_INVALID when the setting is
 * bad, for whoever uses the value to report with tix_env_milliseconds. */
int tix_env_milliseconds_or_invalid(const char *name, int fallback, int minimum, int maximum);

/* Fails with TIX_EINVAL: "NAME what" ("TIX_STRATEGY is not a purchase
 * strategy"), the value in the detail, bounded and printable. Only for
 * settings that hold no secret. Returns TIX_EINVAL. */
int tix_fail_setting(const char *name, const char *value, const char *what);

/* A port number (or a comma-separated list, one per host), when set. */
int tix_env_port_check(const char *name);

typedef enum tix_path_kind {
  TIX_PATH_DIRECTORY,         /* must exist */
  TIX_PATH_DIRECTORY_TO_MAKE, /* a directory when it exists; made otherwise */
  TIX_PATH_ANY                /* a file to write, say: what fails is told when it does */
} tix_path_kind;

/* The path in the environment variable name (*out: getenv's answer, NULL
 * or "" when unset or empty, which are not checked): not too long, no
 * control characters, and of the kind wanted. */
int tix_env_path(const char *name, tix_path_kind kind, const char **out);

/* A connection string as libpq will read it (a URI, key=value pairs, or a
 * database name alone): TIX_EINVAL naming setting ("DATABASE_URL") and
 * where the problem is, never quoting the string, which may hold a
 * password (libpq's own parse errors would). */
int tix_conninfo_check(const char *setting, const char *conninfo);

#endif /* TIX_CONFIG_H */
