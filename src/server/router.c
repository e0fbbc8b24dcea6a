/*
 * router.c — the route table of DESIGN §3. A pattern's "*" segments are
 * ids, copied into request->parameters for the handler.
 */
#include "router.h"

#include "handlers.h"
#include "response.h"

#include <string.h>

#define ROUTER_SEGMENTS_MAX 4  /* the longest pattern has 3 segments */
#define ROUTER_ALLOW_BYTES  64 /* "GET, POST, PATCH, DELETE" and room */

typedef struct route {
  const char *method;
  const char *pattern;
  route_handler handler;
  bool admin;
} route;

static const route routes[] = {
    {"GET", "/healthz", health_get, false},
    {"POST", "/events", events_create, true},
    {"GET", "/events", events_list, false},
    {"GET", "/events/*", events_get, false},
    {"PATCH", "/events/*", events_update, true},
    {"DELETE", "/events/*", events_cancel, true},
    {"POST", "/events/*/purchases", purchases_create, false},
    {"GET", "/purchases/*", purchases_get, false},
    {"POST", "/purchases/*/confirm", purchases_confirm, false},
    {"POST", "/purchases/*/refund", purchases_refund, true},
};
#define ROUTE_COUNT (sizeof routes / sizeof routes[0])

/* Whether path matches pattern segment by segment; the segments matched
 * by "*" go to parameters (too long ones cannot be ids: no match). */
static bool path_matches(const char *pattern, const char *path,
                         char parameters[2][SERVER_PATH_PARAMETER_BYTES]) {
  int captured = 0;
  for (int segment = 0; segment < ROUTER_SEGMENTS_MAX; segment++) {
    if (*pattern == '\0' || *path == '\0') {
      return *pattern == '\0' && *path == '\0';
    }
    if (*pattern++ != '/' || *path++ != '/') {
      return false;
    }
    size_t path_length = strcspn(path, "/");
    size_t pattern_length = strcspn(pattern, "/");
    if (pattern_length == 1 && *pattern == '*') {
      if (path_length == 0 || path_length >= SERVER_PATH_PARAMETER_BYTES || captured == 2) {
        return false;
      }
      memcpy(parameters[captured], path, path_length);
      parameters[captured++][path_length] = '\0';
    } else if (path_length != pattern_length || strncmp(path, pattern, path_length) != 0) {
      return false;
    }
    path += path_length;
    pattern += pattern_length;
  }
  return false;
}

static enum MHD_Result method_not_allowed(server_request *request, const char *allow) {
  struct MHD_Response *response =
      response_json(json_pack("{s:{s:s,s:s}}", "error", "code", "method_not_allowed", "message",
                              "This method is not allowed on this path."));
  if (response != NULL) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
  }
  return response_queue(request, MHD_HTTP_METHOD_NOT_ALLOWED, response);
}

enum MHD_Result router_dispatch(server_request *request) {
  char allow[ROUTER_ALLOW_BYTES] = "";
  for (size_t i = 0; i < ROUTE_COUNT; i++) {
    if (!path_matches(routes[i].pattern, request->path, request->parameters)) {
      continue;
    }
    if (strcmp(routes[i].method, request->method) == 0) {
      enum MHD_Result refused;
      if (routes[i].admin && !auth_admin(request, &refused)) {
        return refused;
      }
      return routes[i].handler(request);
    }
    size_t used = strlen(allow);
    snprintf(allow + used, sizeof allow - used, "%s%s", used > 0 ? ", " : "", routes[i].method);
  }
  if (allow[0] != '\0') {
    return method_not_allowed(request, allow);
  }
  return respond_error(request, MHD_HTTP_NOT_FOUND, "not_found", "No such route.");
}
