/*
 * response.c — every answer of the server goes through here, so every
 * error has the shape of DESIGN §3, every 503 a Retry-After, and no 500
 * says more than that something failed inside.
 */
#include "response.h"

#include "tix_json.h"

#include <stdlib.h>
#include <string.h>

unsigned response_http_status(int status) {
  switch (status) {
  case TIX_OK:
    return MHD_HTTP_OK;
  case TIX_EINVAL:
    return MHD_HTTP_BAD_REQUEST;
  case TIX_ENOTFOUND:
    return MHD_HTTP_NOT_FOUND;
  case TIX_EINSUFFICIENT:
  case TIX_ECONFLICT:
  case TIX_ELIMIT:
  case TIX_ECANCELLED:
  case TIX_ESTATE:
    return MHD_HTTP_CONFLICT;
  case TIX_EEXPIRED:
    return MHD_HTTP_GONE;
  case TIX_EVERSION:
    return MHD_HTTP_PRECONDITION_FAILED;
  case TIX_EUNAVAILABLE:
  case TIX_EQUEUEFULL:
  case TIX_EUNKNOWN:
  case TIX_ETIMEOUT:
  case TIX_EBUSY:
  case TIX_ESCHEMA:
    return MHD_HTTP_SERVICE_UNAVAILABLE;
  default:
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
  }
}

struct MHD_Response *response_json(json_t *body) {
  char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(body);
  if (text == NULL) {
    return NULL;
  }
  struct MHD_Response *response =
      MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
  if (response == NULL) {
    free(text);
    return NULL;
  }
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  return response;
}

enum MHD_Result response_queue(server_request *request, unsigned status,
                               struct MHD_Response *response) {
  if (response == NULL) {
    /* Out of memory: an empty 500 needs no allocation of ours. */
    status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    response = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (response == NULL) {
      return MHD_NO;
    }
  }
  if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, SERVER_RETRY_AFTER_SECONDS);
  }
  request->status = status;
  enum MHD_Result result = MHD_queue_response(request->connection, status, response);
  MHD_destroy_response(response);
  return result;
}

enum MHD_Result respond_json(server_request *request, unsigned status, json_t *body,
                             const char *location, const char *etag) {
  struct MHD_Response *response = response_json(body);
  if (response != NULL && location != NULL) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, location);
  }
  if (response != NULL && etag != NULL) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_ETAG, etag);
  }
  return response_queue(request, status, response);
}

enum MHD_Result respond_error(server_request *request, unsigned status, const char *code,
                              const char *message) {
  json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
  return respond_json(request, status, body, NULL, NULL);
}

json_t *response_failure_body(int status, const tix_diag *diag, const tix_purchase *purchase) {
  if (response_http_status(status) == MHD_HTTP_INTERNAL_SERVER_ERROR) {
    /* The diagnostic of an unexpected failure may name database objects:
     * the log is the place for it, never the client. */
    return tix_json_error(TIX_EINTERNAL, NULL);
  }
  return purchase != NULL ? tix_json_purchase_error(status, diag, purchase)
                          : tix_json_error(status, diag);
}

enum MHD_Result respond_failure(server_request *request, int status) {
  const tix_diag *diag = tix_last_diag();
  if (response_http_status(status) == MHD_HTTP_INTERNAL_SERVER_ERROR) {
    fprintf(stderr, "tix serve: %s %s: %s (%s)\n", request->method, request->path, diag->message,
            diag->sqlstate);
  }
  return respond_json(request, response_http_status(status),
                      response_failure_body(status, diag, NULL), NULL, NULL);
}
