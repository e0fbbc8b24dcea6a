/*
 * health.c — GET /healthz: 200 when the server runs and the database
 * answers, 503 (with Retry-After) when it does not, saying which.
 */
#include "handlers.h"
#include "response.h"

/* No event has the nil uuid: "not found" proves a round trip to the
 * database without touching any row. */
#define HEALTH_PROBE_ID "00000000-0000-0000-0000-000000000000"

enum MHD_Result health_get(server_request *request) {
  tix_event event;
  int status = tix_event_get(request->server->db, HEALTH_PROBE_ID, &event);
  bool reachable = status == TIX_OK || status == TIX_ENOTFOUND;
  json_t *body = json_pack("{s:s, s:s}", "status", reachable ? "ok" : "unavailable", "database",
                           reachable ? "ok" : tix_error_code(status));
  return respond_json(request, reachable ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body, NULL,
                      NULL);
}
