/*
 * body.c — strict JSON input. jansson parses; here we bound what it may be
 * given (nesting depth before parsing, so a deep body costs no recursion)
 * and refuse what DESIGN §3 does not allow: other media types, duplicate
 * or unknown keys, fractional or out-of-range numbers, wrong types.
 */
#include "body.h"

#include "response.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool refuse(input_error *error, unsigned status, const char *code, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static bool refuse(input_error *error, unsigned status, const char *code, const char *format, ...) {
  va_list arguments;
  va_start(arguments, format);
  error->status = status;
  error->code = code;
  vsnprintf(error->message, sizeof error->message, format, arguments);
  va_end(arguments);
  return false;
}

/* application/json, with parameters (charset) or not. */
static bool is_json_media_type(const char *content_type) {
  static const char json_type[] = "application/json";
  if (content_type == NULL || strncasecmp(content_type, json_type, sizeof json_type - 1) != 0) {
    return false;
  }
  char next = content_type[sizeof json_type - 1];
  return next == '\0' || next == ';' || next == ' ';
}

/* The deepest nesting of arrays and objects, outside strings; stops
 * counting past SERVER_JSON_DEPTH_MAX. */
static int nesting_depth(const char *text, size_t size) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < size && deepest <= SERVER_JSON_DEPTH_MAX; i++) {
    char c = text[i];
    if (in_string) {
      in_string = escaped || c != '"';
      escaped = !escaped && c == '\\';
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = ++depth > deepest ? depth : deepest;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return deepest;
}

bool body_object(const server_request *request, bool required, json_t **out, input_error *error) {
  *out = NULL;
  if (request->body_size == 0) {
    return !required ||
           refuse(error, MHD_HTTP_BAD_REQUEST, "invalid_json", "The request needs a JSON body.");
  }
  const char *content_type = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!is_json_media_type(content_type)) {
    return refuse(error, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                  "The body must be application/json.");
  }
  if (nesting_depth(request->body, request->body_size) > SERVER_JSON_DEPTH_MAX) {
    return refuse(error, MHD_HTTP_BAD_REQUEST, "invalid_json", "The JSON is nested too deeply.");
  }
  json_error_t parse_error;
  json_t *value =
      json_loadb(request->body, request->body_size, JSON_REJECT_DUPLICATES, &parse_error);
  if (value == NULL) {
    return refuse(error, MHD_HTTP_BAD_REQUEST, "invalid_json", "Malformed JSON: %s.",
                  parse_error.text);
  }
  if (!json_is_object(value)) {
    json_decref(value);
    return refuse(error, MHD_HTTP_BAD_REQUEST, "invalid_json", "The body must be a JSON object.");
  }
  *out = value;
  return true;
}

bool body_only_fields(json_t *object, const char *const *names, input_error *error) {
  const char *key;
  json_t *value;
  json_object_foreach(object, key, value) {
    bool known = false;
    for (size_t i = 0; names[i] != NULL && !known; i++) {
      known = strcmp(key, names[i]) == 0;
    }
    if (!known) {
      return refuse(error, MHD_HTTP_BAD_REQUEST, "invalid_argument", "Unknown field \"%.64s\".",
                    key);
    }
  }
  return true;
}

bool body_string(json_t *object, const char *name, bool required, const char **out,
                 input_error *error) {
  json_t *value = json_object_get(object, name);
  if (value == NULL) {
    return !required || refuse(error, MHD_HTTP_BAD_REQUEST, "invalid_argument",
                               "The field \"%s\" is required.", name);
  }
  if (!json_is_string(value)) {
    return refuse(error, MHD_HTTP_BAD_REQUEST, "invalid_argument",
                  "The field \"%s\" must be a string.", name);
  }
  *out = json_string_value(value);
  return true;
}

bool body_integer(json_t *object, const char *name, bool required, bool nullable, int null_value,
                  int *out, input_error *error) {
  json_t *value = json_object_get(object, name);
  if (value == NULL) {
    return !required || refuse(error, MHD_HTTP_BAD_REQUEST, "invalid_argument",
                               "The field \"%s\" is required.", name);
  }
  if (nullable && json_is_null(value)) {
    *out = null_value;
    return true;
  }
  if (!json_is_integer(value) || json_integer_value(value) < INT_MIN ||
      json_integer_value(value) > INT_MAX) {
    return refuse(error, MHD_HTTP_BAD_REQUEST, "invalid_argument",
                  "The field \"%s\" must be a whole number.", name);
  }
  *out = (int)json_integer_value(value);
  return true;
}

enum MHD_Result respond_input_error(server_request *request, const input_error *error) {
  return respond_error(request, error->status, error->code, error->message);
}
