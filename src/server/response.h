/*
 * response.h — answering a request: JSON bodies, the error shape of
 * DESIGN §3 and the HTTP status of every library status.
 */
#ifndef TIX_SERVER_RESPONSE_H
#define TIX_SERVER_RESPONSE_H

#include "server_internal.h"

/* The HTTP status for a library status (DESIGN §3). */
unsigned response_http_status(int status);
/* A response holding body (taken, freed here) as compact JSON; NULL when
 * out of memory. */
struct MHD_Response *response_json(json_t *body);
/* Queues response with status (adding Retry-After to a 503), and frees
 * it; a NULL response (out of memory) becomes a bare 500. */
enum MHD_Result response_queue(server_request *request, unsigned status,
                               struct MHD_Response *response);
/* Queues body (taken) with status, and Location / ETag when not NULL. */
enum MHD_Result respond_json(server_request *request, unsigned status, json_t *body,
                             const char *location, const char *etag);
/* Queues {"error": {"code", "message"}} with status: for what HTTP itself
 * refuses (unknown routes, methods, media types, bodies). */
enum MHD_Result respond_error(server_request *request, unsigned status, const char *code,
                              const char *message);
/* Queues the error of a failed library call: its HTTP status, its code and
 * the diagnostic's message; a 500 says nothing more than that it failed. */
enum MHD_Result respond_failure(server_request *request, int status);
/* The error body of a failed purchase (with purchase_id and available),
 * or of any call when purchase is NULL; a 500 tells nothing of the cause. */
json_t *response_failure_body(int status, const tix_diag *diag, const tix_purchase *purchase);

#endif /* TIX_SERVER_RESPONSE_H */
