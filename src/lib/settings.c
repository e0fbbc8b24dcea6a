/*
 * settings.c — every setting tix reads from the environment, checked as
 * strictly as a flag: a bad one is TIX_EINVAL (exit 2) naming it and saying
 * what is wrong with it. Connection strings are checked here before libpq
 * reads them, because libpq's own parse errors quote the string, password
 * and all: a problem is located by the option it follows, never quoted.
 */
#include "config.h"

#include "error.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SHOWN_VALUE_BYTES   64  /* of a value that holds no secret */
#define SHOWN_PATH_BYTES    256 /* of a path */
#define PROBLEM_BYTES       384 /* one sentence saying what is wrong */
#define LOCATOR_BYTES       96  /* "after the value of sslmode" */
#define PORT_MAX            65535
#define PORT_DIGITS_MAX     5
#define CONNINFO_TOKENS_MAX 4096 /* keyword=value pairs of one string */
#define HOSTS_MAX           4096 /* of a multi-host list */
/* What is wrong with a "%" escape, after what has it (a format). */
#define BAD_PERCENT                                                                                \
  "has a \"%%\" that is not followed by two hexadecimal digits, or is %%00 (write \"%%\" "         \
  "itself as %%25)"
#define URI_HINT                                                                                   \
  "Write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE?OPTION=VALUE, with \"%\", \"@\" "     \
  "and \"/\" in a user name or password written %25, %40 and %2F."
#define KEYWORD_VALUE_HINT                                                                         \
  "Write it as host=HOST port=PORT dbname=DATABASE user=USER password=PASSWORD, with a value "     \
  "that holds spaces or quotes in single quotes ('a b', 'it\\'s')."

/* ------------------------------------------------------------ values */

/* value for a DETAIL, for settings that hold no secret: bounded, and a
 * control character (a stray line break) shown as "?". */
static void show_value(const char *value, size_t limit, char *out, size_t size) {
  size_t length = strlen(value);
  size_t shown = length < limit ? length : limit;
  snprintf(out, size, "%.*s%s", (int)shown, value, length > limit ? "…" : "");
  for (char *c = out; *c != '\0'; c++) {
    if ((unsigned char)*c < 0x20 || *c == 0x7f) {
      *c = '?';
    }
  }
}

static int fail_value(const char *name, const char *value, size_t limit, const char *what) {
  char shown[SHOWN_PATH_BYTES + 8];
  show_value(value, limit, shown, sizeof shown);
  tix_fail(TIX_EINVAL, "%s %s", name, what);
  tix_fail_detail("It is \"%s\".", shown);
  return TIX_EINVAL;
}

int tix_fail_setting(const char *name, const char *value, const char *what) {
  return fail_value(name, value, SHOWN_VALUE_BYTES, what);
}

int tix_env_milliseconds(const char *name, int fallback, int minimum, int maximum, int *out) {
  *out = fallback;
  const char *text = getenv(name);
  if (text == NULL || text[0] == '\0') {
    return TIX_OK;
  }
  char *end = NULL;
  errno = 0;
  long long value = strtoll(text, &end, 10);
  /* Digits only: no sign, no spaces, no "1e3", no "10s". */
  if (!isdigit((unsigned char)text[0]) || *end != '\0' || errno != 0 || value < minimum ||
      value > maximum) {
    char what[PROBLEM_BYTES];
    snprintf(what, sizeof what, "must be a whole number of milliseconds from %d to %d", minimum,
             maximum);
    fail_value(name, text, SHOWN_VALUE_BYTES, what);
    tix_fail_hint("Unset %s for the default, %d ms.", name, fallback);
    return TIX_EINVAL;
  }
  *out = (int)value;
  return TIX_OK;
}

int tix_env_milliseconds_or_invalid(const char *name, int fallback, int minimum, int maximum) {
  int value = fallback;
  if (tix_env_milliseconds(name, fallback, minimum, maximum, &value) != TIX_OK) {
    tix_diag_clear(); /* reported again by whoever uses the value */
    return TIX_SETTING_INVALID;
  }
  return value;
}

/* A port, or a comma-separated list of them (one per host); an empty item
 * means libpq's default. */
static bool port_list_valid(const char *list) {
  for (int item = 0; item < HOSTS_MAX; item++) {
    size_t digits = strspn(list, "0123456789");
    long port = digits > 0 && digits <= PORT_DIGITS_MAX ? strtol(list, NULL, 10) : 0;
    if ((digits > 0 && (port < 1 || port > PORT_MAX)) || (list[digits] != ',' && list[digits])) {
      return false;
    }
    if (list[digits] == '\0') {
      return true;
    }
    list += digits + 1;
  }
  return false;
}

int tix_env_port_check(const char *name) {
  const char *text = getenv(name);
  if (text == NULL || text[0] == '\0' || port_list_valid(text)) {
    return TIX_OK;
  }
  return fail_value(name, text, SHOWN_VALUE_BYTES, "must be a port number from 1 to 65535");
}

/* -------------------------------------------------------------- paths */

static int fail_path(const char *name, const char *path, const char *what, int error) {
  fail_value(name, path, SHOWN_PATH_BYTES, what);
  if (error != 0) {
    char shown[SHOWN_PATH_BYTES + 8];
    show_value(path, SHOWN_PATH_BYTES, shown, sizeof shown);
    tix_fail_detail("It is \"%s\": %s.", shown, strerror(error));
  }
  return TIX_EINVAL;
}

static int check_path_kind(const char *name, const char *path, tix_path_kind kind) {
  struct stat info;
  bool exists = stat(path, &info) == 0;
  int error = exists ? 0 : errno;
  switch (kind) {
  case TIX_PATH_DIRECTORY:
    if (!exists || !S_ISDIR(info.st_mode)) {
      return fail_path(name, path, "names no directory", exists ? ENOTDIR : error);
    }
    return TIX_OK;
  case TIX_PATH_DIRECTORY_TO_MAKE:
    if (exists && !S_ISDIR(info.st_mode)) {
      return fail_path(name, path, "names a file, not a directory", 0);
    }
    return TIX_OK;
  case TIX_PATH_ANY:
    return TIX_OK;
  }
  return TIX_OK;
}

int tix_env_path(const char *name, tix_path_kind kind, const char **out) {
  const char *path = getenv(name);
  *out = path;
  if (path == NULL || path[0] == '\0') {
    return TIX_OK;
  }
  if (strlen(path) >= PATH_MAX) {
    return fail_path(name, path, "is too long for a path", 0);
  }
  for (const char *c = path; *c != '\0'; c++) {
    if ((unsigned char)*c < 0x20 || *c == 0x7f) {
      return fail_path(name, path, "holds a control character (a line break?)", 0);
    }
  }
  return check_path_kind(name, path, kind);
}

/* ------------------------------------------------- connection strings */

static bool is_known_keyword(const char *keyword, size_t length) {
  PQconninfoOption *options = PQconninfoParse("", NULL);
  bool known = false;
  for (PQconninfoOption *option = options; option != NULL && option->keyword != NULL; option++) {
    known = known ||
            (strlen(option->keyword) == length && strncmp(option->keyword, keyword, length) == 0);
  }
  PQconninfoFree(options);
  return known;
}

/* "after the value of KEYWORD" when keyword is one of libpq's own (so no
 * fragment of a password), "at the start" when there is none. */
static void locate_after(const char *keyword, size_t length, char *out, size_t size) {
  if (keyword == NULL) {
    snprintf(out, size, "at the start");
  } else if (is_known_keyword(keyword, length)) {
    snprintf(out, size, "after the value of %.*s", (int)length, keyword);
  } else {
    snprintf(out, size, "after an option libpq does not know");
  }
}

struct token {
  const char *start;
  size_t length;
};

/* Mirrors libpq's reading of "keyword = value …" (conninfo_parse): the
 * first problem it would report, located, never quoted. */
static void keyword_value_problem(const char *text, char *problem, size_t size) {
  struct token previous = {NULL, 0};
  char where[LOCATOR_BYTES];
  const char *c = text;
  for (int token = 0; token < CONNINFO_TOKENS_MAX; token++) {
    while (isspace((unsigned char)*c)) {
      c++;
    }
    if (*c == '\0') {
      return;
    }
    struct token keyword = {c, strcspn(c, "= \t\n\r\f\v")};
    c += keyword.length;
    while (isspace((unsigned char)*c)) {
      c++;
    }
    locate_after(previous.start, previous.length, where, sizeof where);
    if (*c != '=') {
      snprintf(problem, size, "there is a word without \"=\" %s (is a value with spaces unquoted?)",
               where);
      return;
    }
    c++;
    while (isspace((unsigned char)*c)) {
      c++;
    }
    bool quoted = *c == '\'';
    c += quoted ? 1 : 0;
    while (*c != '\0' && (quoted ? *c != '\'' : !isspace((unsigned char)*c))) {
      c += c[0] == '\\' && c[1] != '\0' ? 2 : 1;
    }
    bool known = is_known_keyword(keyword.start, keyword.length);
    if (quoted && *c == '\0' && known) {
      snprintf(problem, size, "the quoted value of %.*s is never closed with \"'\"",
               (int)keyword.length, keyword.start);
      return;
    }
    if (quoted && *c == '\0') {
      snprintf(problem, size, "a quoted value %s is never closed with \"'\"", where);
      return;
    }
    c += quoted ? 1 : 0;
    if (!known) {
      snprintf(problem, size, "an option libpq does not know comes %s", where);
      return;
    }
    previous = keyword;
  }
}

/* The parts of a URI as libpq cuts them (conninfo_uri_parse_options). */
struct uri_parts {
  struct token user, password, hosts, dbname, query;
};

static size_t uri_prefix_length(const char *text) {
  static const char *const prefixes[] = {"postgresql://", "postgres://"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    if (strncmp(text, prefixes[i], strlen(prefixes[i])) == 0) {
      return strlen(prefixes[i]);
    }
  }
  return 0;
}

/* Userinfo ends at the first "@" before any "/"; the host list at "/" or
 * "?"; the database name at "?". A "[" opens an IPv6 address. */
static void uri_cut(const char *rest, struct uri_parts *parts) {
  *parts = (struct uri_parts){{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
  const char *c = rest;
  size_t userinfo = strcspn(c, "@/");
  if (c[userinfo] == '@') {
    size_t user = strcspn(c, ":@");
    parts->user = (struct token){c, user};
    if (c[user] == ':') {
      parts->password = (struct token){c + user + 1, userinfo - user - 1};
    }
    c += userinfo + 1;
  }
  const char *hosts = c;
  bool in_brackets = false;
  while (*c != '\0' && (in_brackets || (*c != '/' && *c != '?'))) {
    in_brackets = *c == '[' ? true : *c == ']' ? false : in_brackets;
    c++;
  }
  parts->hosts = (struct token){hosts, (size_t)(c - hosts)};
  if (*c == '/') {
    c++;
    parts->dbname = (struct token){c, strcspn(c, "?")};
    c += parts->dbname.length;
  }
  if (*c == '?') {
    parts->query = (struct token){c + 1, strlen(c + 1)};
  }
}

/* Whether every "%" starts a valid escape other than %00. */
static bool percent_valid(struct token token) {
  for (size_t i = 0; i < token.length; i++) {
    if (token.start[i] != '%') {
      continue;
    }
    if (i + 2 >= token.length || !isxdigit((unsigned char)token.start[i + 1]) ||
        !isxdigit((unsigned char)token.start[i + 2]) ||
        (token.start[i + 1] == '0' && token.start[i + 2] == '0')) {
      return false;
    }
    i += 2;
  }
  return true;
}

static bool token_has(struct token token, char wanted) {
  return token.start != NULL && memchr(token.start, wanted, token.length) != NULL;
}

/* The host list: an IPv6 address's brackets closed, not empty, and
 * followed by a port or the next host. */
static void uri_hosts_problem(struct token hosts, char *problem, size_t size) {
  const char *c = hosts.start;
  const char *end = hosts.start + hosts.length;
  for (int host = 0; host < HOSTS_MAX && c < end; host++) {
    if (*c == '[') {
      const char *close = memchr(c, ']', (size_t)(end - c));
      if (close == NULL || close == c + 1) {
        snprintf(problem, size, "an IPv6 address in the host part %s",
                 close == NULL ? "opens \"[\" and never closes it with \"]\"" : "is empty");
        return;
      }
      c = close + 1;
      if (c < end && *c != ':' && *c != ',') {
        snprintf(problem, size,
                 "an IPv6 address in the host part is followed by something "
                 "other than \":PORT\", \",\", \"/\" or \"?\"");
        return;
      }
    }
    c += strcspn(c, ",") < (size_t)(end - c) ? strcspn(c, ",") + 1 : (size_t)(end - c);
  }
}

/* One query parameter "keyword=value": exactly one "=", a keyword libpq
 * knows (ssl=true is its alias for sslmode=require), escapes valid. */
static void uri_parameter_problem(struct token parameter, struct token previous, char *problem,
                                  size_t size) {
  char where[LOCATOR_BYTES];
  locate_after(previous.start, previous.length, where, sizeof where);
  const char *equals = memchr(parameter.start, '=', parameter.length);
  struct token keyword = {parameter.start,
                          equals != NULL ? (size_t)(equals - parameter.start) : parameter.length};
  struct token value = {equals != NULL ? equals + 1 : NULL,
                        equals != NULL ? parameter.length - keyword.length - 1 : 0};
  if (equals == NULL || token_has(value, '=')) {
    snprintf(problem, size,
             "a query parameter %s has %s \"=\" (write \"=\" and \"&\" in a value "
             "as %%3D and %%26)",
             where, equals == NULL ? "no" : "more than one");
  } else if (!percent_valid(keyword) || !percent_valid(value)) {
    snprintf(problem, size, "a query parameter %s " BAD_PERCENT, where);
  } else if (!is_known_keyword(keyword.start, keyword.length) &&
             !(keyword.length == 3 && strncmp(keyword.start, "ssl", 3) == 0)) {
    snprintf(problem, size, "a query parameter libpq does not know comes %s", where);
  }
}

static void uri_query_problem(struct token query, char *problem, size_t size) {
  struct token previous = {NULL, 0};
  const char *c = query.start;
  const char *end = query.start + query.length;
  for (int parameter = 0; parameter < CONNINFO_TOKENS_MAX && c < end && !problem[0]; parameter++) {
    size_t length = strcspn(c, "&");
    struct token current = {c, length < (size_t)(end - c) ? length : (size_t)(end - c)};
    uri_parameter_problem(current, previous, problem, size);
    previous = (struct token){current.start, strcspn(current.start, "=")};
    c += current.length + 1;
  }
}

static void uri_problem(const char *text, char *problem, size_t size) {
  struct uri_parts parts;
  uri_cut(text + uri_prefix_length(text), &parts);
  static const char *const names[] = {"user name", "password", "host part", "database name"};
  const struct token *decoded[] = {&parts.user, &parts.password, &parts.hosts, &parts.dbname};
  if (token_has(parts.hosts, '@') || token_has(parts.dbname, '@')) {
    snprintf(problem, size, "there is an \"@\" after the one that ends the user name and password");
    return;
  }
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (decoded[i]->start != NULL && !percent_valid(*decoded[i])) {
      snprintf(problem, size, "the %s " BAD_PERCENT, names[i]);
      return;
    }
  }
  uri_hosts_problem(parts.hosts, problem, size);
  if (problem[0] == '\0' && parts.query.start != NULL) {
    uri_query_problem(parts.query, problem, size);
  }
}

/* The ports libpq read: numbers, and one for all hosts or one per host. */
static void ports_problem(const char *text, char *problem, size_t size) {
  PQconninfoOption *options = PQconninfoParse(text, NULL);
  if (options == NULL) {
    snprintf(problem, size, "libpq cannot read the string");
    return;
  }
  const char *hosts = "";
  const char *ports = "";
  for (PQconninfoOption *option = options; option->keyword != NULL; option++) {
    bool set = option->val != NULL && option->val[0] != '\0';
    if (set && (strcmp(option->keyword, "host") == 0 || strcmp(option->keyword, "hostaddr") == 0)) {
      hosts = option->val;
    } else if (set && strcmp(option->keyword, "port") == 0) {
      ports = option->val;
    }
  }
  size_t host_count = 1;
  size_t port_count = 1;
  for (const char *c = hosts; *c != '\0'; c++) {
    host_count += *c == ',';
  }
  for (const char *c = ports; *c != '\0'; c++) {
    port_count += *c == ',';
  }
  if (!port_list_valid(ports)) {
    snprintf(problem, size, "a port is not a number from 1 to 65535");
  } else if (ports[0] != '\0' && port_count != 1 && port_count != host_count) {
    snprintf(problem, size, "there are %zu hosts but %zu ports (give one port, or one per host)",
             host_count, port_count);
  }
  PQconninfoFree(options);
}

int tix_conninfo_check(const char *setting, const char *conninfo) {
  char problem[PROBLEM_BYTES] = "";
  bool uri = uri_prefix_length(conninfo) > 0;
  if (!uri && strchr(conninfo, '=') == NULL) {
    return TIX_OK; /* a database name alone, as libpq takes it */
  }
  if (uri) {
    uri_problem(conninfo, problem, sizeof problem);
  } else {
    keyword_value_problem(conninfo, problem, sizeof problem);
  }
  if (problem[0] == '\0') {
    ports_problem(conninfo, problem, sizeof problem);
  }
  if (problem[0] == '\0') {
    return TIX_OK;
  }
  tix_fail(TIX_EINVAL, "%s is not a valid connection %s", setting, uri ? "URI" : "string");
  tix_fail_detail("In %s, %s. The value is not shown, as it may hold a password.", setting,
                  problem);
  tix_fail_hint("%s", uri ? URI_HINT : KEYWORD_VALUE_HINT);
  return TIX_EINVAL;
}
