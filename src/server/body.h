/*
 * body.h — reading a request's JSON body strictly: the media type, the
 * nesting depth, duplicate and unknown keys, and every field's type.
 */
#ifndef TIX_SERVER_BODY_H
#define TIX_SERVER_BODY_H

#include "server_internal.h"

#define BODY_MESSAGE_BYTES 256

/* Why a body was refused: the HTTP status, the error code, a sentence. */
typedef struct input_error {
  unsigned status;
  const char *code;
  char message[BODY_MESSAGE_BYTES];
} input_error;

/* The body as a JSON object; *out is NULL when the body is empty and not
 * required. False (with error set) when it is not JSON (415), malformed,
 * too deep or not an object (400). */
bool body_object(const server_request *request, bool required, json_t **out, input_error *error);
/* False when object has a key not in names (a NULL-terminated list). */
bool body_only_fields(json_t *object, const char *const *names, input_error *error);
/* A string field; absent leaves *out alone unless required. */
bool body_string(json_t *object, const char *name, bool required, const char **out,
                 input_error *error);
/* A whole-number field within int's range; absent leaves *out alone unless
 * required; null gives null_value when nullable, else is refused. */
bool body_integer(json_t *object, const char *name, bool required, bool nullable, int null_value,
                  int *out, input_error *error);
/* Queues the error. */
enum MHD_Result respond_input_error(server_request *request, const input_error *error);

#endif /* TIX_SERVER_BODY_H */
