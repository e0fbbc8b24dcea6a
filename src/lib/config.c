/*
 * config.c — where tix finds its database (DESIGN §5): DATABASE_URL wins,
 * then DB_HOST/DB_PORT/DB_USERNAME/DB_PASSWORD/DB_NAME, then libpq's own
 * PG* variables, and when none is set, the embedded cluster under TIX_DATA.
 */
#include "config.h"

#include "error.h"
#include "tix.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONNINFO_MAX_BYTES           4096
#define REWRITTEN_CONNINFO_MAX_BYTES 8192
#define DEFAULT_DATA_DIR             ".tix"
#define SETTING_NAMES_BYTES          128 /* "DB_HOST, DB_PORT, … and DB_NAME" */

struct tix_config {
  tix_config_source source;
  char *conninfo;
  char *data_dir; /* absolute, only for the embedded source */
};

static const char *nonempty_env(const char *name) {
  const char *value = getenv(name);
  return value != NULL && value[0] != '\0' ? value : NULL;
}

static bool any_env_set(const char *const *names, size_t count) {
  for (size_t i = 0; i < count; i++) {
    if (nonempty_env(names[i]) != NULL) {
      return true;
    }
  }
  return false;
}

bool tix_conninfo_append(char *conninfo, size_t size, const char *keyword, const char *value) {
  size_t used = strlen(conninfo);
  int written = snprintf(conninfo + used, size - used, "%s%s='", used > 0 ? " " : "", keyword);
  if (written < 0 || (size_t)written >= size - used) {
    return false;
  }
  used += (size_t)written;
  for (const char *c = value; *c != '\0'; c++) {
    if (used + 3 >= size) {
      return false;
    }
    if (*c == '\'' || *c == '\\') {
      conninfo[used++] = '\\';
    }
    conninfo[used++] = *c;
  }
  conninfo[used++] = '\'';
  conninfo[used] = '\0';
  return true;
}

static int conninfo_from_db_vars(char **out) {
  static const char *const pairs[][2] = {{"DB_HOST", "host"},
                                         {"DB_PORT", "port"},
                                         {"DB_USERNAME", "user"},
                                         {"DB_PASSWORD", "password"},
                                         {"DB_NAME", "dbname"}};
  char *conninfo = calloc(1, CONNINFO_MAX_BYTES);
  if (conninfo == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    const char *value = nonempty_env(pairs[i][0]);
    if (value != NULL && !tix_conninfo_append(conninfo, CONNINFO_MAX_BYTES, pairs[i][1], value)) {
      free(conninfo);
      return tix_fail(TIX_EINVAL, "the DB_* settings are too long");
    }
  }
  *out = conninfo;
  return TIX_OK;
}

static int embedded_data_dir(char **out) {
  const char *configured = NULL;
  int status = tix_env_path("TIX_DATA", TIX_PATH_DIRECTORY_TO_MAKE, &configured);
  if (status != TIX_OK) {
    return status;
  }
  const char *path = configured != NULL && configured[0] != '\0' ? configured : DEFAULT_DATA_DIR;
  if (path[0] == '/') {
    *out = strdup(path);
  } else {
    char cwd[CONNINFO_MAX_BYTES];
    if (getcwd(cwd, sizeof cwd) == NULL) {
      return tix_fail(TIX_EIO, "cannot resolve the data directory \"%s\"", path);
    }
    size_t size = strlen(cwd) + strlen(path) + 2;
    *out = malloc(size);
    if (*out != NULL) {
      snprintf(*out, size, "%s/%s", cwd, path);
    }
  }
  return *out != NULL ? TIX_OK : tix_fail(TIX_ENOMEM, "out of memory");
}

static const char *const db_vars[] = {"DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD",
                                      "DB_NAME"};
static const char *const pg_vars[] = {"PGHOST",     "PGHOSTADDR", "PGPORT",
                                      "PGDATABASE", "PGUSER",     "PGSERVICE"};

/* A malformed setting is refused here, before libpq would quote it. */
static int resolve(tix_config *config) {
  const char *url = nonempty_env("DATABASE_URL");
  if (url != NULL) {
    config->source = TIX_SOURCE_DATABASE_URL;
    int status = tix_conninfo_check("DATABASE_URL", url);
    if (status != TIX_OK) {
      return status;
    }
    config->conninfo = strdup(url);
    return config->conninfo != NULL ? TIX_OK : tix_fail(TIX_ENOMEM, "out of memory");
  }
  if (any_env_set(db_vars, sizeof db_vars / sizeof db_vars[0])) {
    config->source = TIX_SOURCE_DB_VARS;
    int status = tix_env_port_check("DB_PORT");
    return status == TIX_OK ? conninfo_from_db_vars(&config->conninfo) : status;
  }
  if (any_env_set(pg_vars, sizeof pg_vars / sizeof pg_vars[0])) {
    config->source = TIX_SOURCE_PG_VARS;
    int status = tix_env_port_check("PGPORT");
    if (status != TIX_OK) {
      return status;
    }
    config->conninfo = strdup(""); /* libpq reads the PG* variables itself */
    return config->conninfo != NULL ? TIX_OK : tix_fail(TIX_ENOMEM, "out of memory");
  }
  config->source = TIX_SOURCE_EMBEDDED;
  config->conninfo = strdup("");
  if (config->conninfo == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  return embedded_data_dir(&config->data_dir);
}

int tix_config_from_env(tix_config **out) {
  if (out == NULL) {
    return tix_fail(TIX_EINVAL, "no place to store the configuration");
  }
  *out = NULL;
  tix_config *config = calloc(1, sizeof *config);
  if (config == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  int status = resolve(config);
  if (status != TIX_OK) {
    tix_config_destroy(config);
    return status;
  }
  *out = config;
  return TIX_OK;
}

void tix_config_destroy(tix_config *config) {
  if (config == NULL) {
    return;
  }
  free(config->conninfo);
  free(config->data_dir);
  free(config);
}

tix_config_source tix_config_get_source(const tix_config *config) {
  return config->source;
}

const char *tix_config_source_name(tix_config_source source) {
  switch (source) {
  case TIX_SOURCE_DATABASE_URL:
    return "DATABASE_URL";
  case TIX_SOURCE_DB_VARS:
    return "DB_* variables";
  case TIX_SOURCE_PG_VARS:
    return "PG* variables";
  case TIX_SOURCE_EMBEDDED:
    return "embedded cluster";
  }
  return "unknown";
}

const char *tix_config_conninfo(const tix_config *config) {
  return config->conninfo;
}

const char *tix_config_data_dir(const tix_config *config) {
  return config->data_dir;
}

int tix_config_set_conninfo(tix_config *config, const char *conninfo) {
  char *copy = strdup(conninfo);
  if (copy == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  free(config->conninfo);
  config->conninfo = copy;
  return TIX_OK;
}

/* The value libpq would use for keyword: the conninfo's, else its default
 * (which already reflects the PG* variables). */
static const char *effective(PQconninfoOption *parsed, PQconninfoOption *defaults,
                             const char *keyword) {
  for (PQconninfoOption *option = parsed; option != NULL && option->keyword != NULL; option++) {
    if (strcmp(option->keyword, keyword) == 0 && option->val != NULL && option->val[0] != '\0') {
      return option->val;
    }
  }
  for (PQconninfoOption *option = defaults; option != NULL && option->keyword != NULL; option++) {
    if (strcmp(option->keyword, keyword) == 0 && option->val != NULL && option->val[0] != '\0') {
      return option->val;
    }
  }
  return NULL;
}

/* libpq takes a string without "=" that is no URI for a database name. */
static PQconninfoOption *parse_as_libpq_would(const char *conninfo) {
  PQconninfoOption *parsed = PQconninfoParse(conninfo, NULL);
  char as_dbname[CONNINFO_MAX_BYTES] = "";
  if (parsed == NULL && strchr(conninfo, '=') == NULL &&
      tix_conninfo_append(as_dbname, sizeof as_dbname, "dbname", conninfo)) {
    parsed = PQconninfoParse(as_dbname, NULL);
  }
  return parsed;
}

void tix_conninfo_describe(const char *conninfo, char *buffer, size_t size) {
  PQconninfoOption *parsed = parse_as_libpq_would(conninfo);
  PQconninfoOption *defaults = PQconndefaults();
  const char *host = effective(parsed, defaults, "host");
  const char *port = effective(parsed, defaults, "port");
  const char *dbname = effective(parsed, defaults, "dbname");
  const char *user = effective(parsed, defaults, "user");
  if (parsed == NULL) {
    snprintf(buffer, size, "a connection string libpq cannot parse");
  } else {
    snprintf(buffer, size, "host=%s port=%s dbname=%s user=%s",
             host != NULL ? host : "(default socket)", port != NULL ? port : "5432",
             dbname != NULL ? dbname : "(user name)", user != NULL ? user : "(login name)");
  }
  PQconninfoFree(parsed);
  PQconninfoFree(defaults);
}

void tix_config_describe(const tix_config *config, char *buffer, size_t size) {
  char where[1024];
  tix_conninfo_describe(config->conninfo, where, sizeof where);
  if (config->data_dir != NULL) {
    snprintf(buffer, size, "%s in %s (%s)", tix_config_source_name(config->source),
             config->data_dir, where);
  } else {
    snprintf(buffer, size, "%s (%s)", tix_config_source_name(config->source), where);
  }
}

int tix_conninfo_rewrite(const char *conninfo, const char *dbname, char **out,
                         char **password_out) {
  *out = NULL;
  if (password_out != NULL) {
    *password_out = NULL;
  }
  PQconninfoOption *options = PQconninfoParse(conninfo, NULL);
  if (options == NULL) {
    return tix_fail(TIX_EINVAL, "the connection string cannot be parsed");
  }
  int status = TIX_OK;
  char *buffer = calloc(1, REWRITTEN_CONNINFO_MAX_BYTES);
  bool fits = buffer != NULL;
  for (PQconninfoOption *option = options; fits && option->keyword != NULL; option++) {
    const char *value = option->val;
    if (strcmp(option->keyword, "dbname") == 0 && dbname != NULL) {
      value = dbname;
    } else if (strcmp(option->keyword, "password") == 0 && password_out != NULL) {
      *password_out = value != NULL ? strdup(value) : NULL;
      value = NULL;
    }
    if (value != NULL && value[0] != '\0') {
      fits = tix_conninfo_append(buffer, REWRITTEN_CONNINFO_MAX_BYTES, option->keyword, value);
    }
  }
  if (!fits) {
    status =
        tix_fail(buffer == NULL ? TIX_ENOMEM : TIX_EINVAL, "the connection string is too long");
    free(buffer);
    buffer = NULL;
  }
  PQconninfoFree(options);
  *out = buffer;
  return status;
}

/* "A, B and C" of the variables in names that are set. */
static void list_set(const char *const *names, size_t count, char *buffer, size_t size) {
  buffer[0] = '\0';
  size_t set = 0;
  for (size_t i = 0; i < count; i++) {
    set += nonempty_env(names[i]) != NULL;
  }
  size_t listed = 0;
  for (size_t i = 0; i < count; i++) {
    if (nonempty_env(names[i]) == NULL) {
      continue;
    }
    listed++;
    size_t used = strlen(buffer);
    const char *separator = listed == 1 ? "" : listed == set ? " and " : ", ";
    snprintf(buffer + used, size - used, "%s%s", separator, names[i]);
  }
}

void tix_config_unreachable_hint(const tix_config *config, char *buffer, size_t size) {
  char names[SETTING_NAMES_BYTES];
  switch (config->source) {
  case TIX_SOURCE_DATABASE_URL:
    snprintf(names, sizeof names, "DATABASE_URL");
    break;
  case TIX_SOURCE_DB_VARS:
    list_set(db_vars, sizeof db_vars / sizeof db_vars[0], names, sizeof names);
    break;
  case TIX_SOURCE_PG_VARS:
    list_set(pg_vars, sizeof pg_vars / sizeof pg_vars[0], names, sizeof names);
    break;
  case TIX_SOURCE_EMBEDDED:
    buffer[0] = '\0';
    return;
  }
  snprintf(buffer, size, "Check that PostgreSQL is running there and that %s %s right.", names,
           strchr(names, ' ') != NULL ? "are" : "is");
}

#define MASK "********"

void tix_conninfo_mask_password(const char *conninfo, const char *text, char *out, size_t size) {
  PQconninfoOption *parsed = parse_as_libpq_would(conninfo);
  PQconninfoOption *defaults = PQconndefaults();
  const char *password = effective(parsed, defaults, "password");
  size_t used = 0;
  out[0] = '\0';
  for (const char *c = text; *c != '\0' && used + 1 < size;) {
    bool secret = password != NULL && strncmp(c, password, strlen(password)) == 0;
    int written = secret ? snprintf(out + used, size - used, MASK)
                         : snprintf(out + used, size - used, "%c", *c);
    used = written > 0 && (size_t)written < size - used ? used + (size_t)written : size - 1;
    c += secret ? strlen(password) : 1;
  }
  PQconninfoFree(parsed);
  PQconninfoFree(defaults);
}
