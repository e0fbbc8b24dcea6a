/*
 * server_internal.h — what the server's subsystems share: the server
 * itself, one request in flight, and the route handlers' signature.
 */
#ifndef TIX_SERVER_INTERNAL_H
#define TIX_SERVER_INTERNAL_H

#include "server.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define SERVER_BODY_MAX_BYTES        (64 * 1024) /* larger bodies: 413 */
#define SERVER_JSON_DEPTH_MAX        16          /* deeper nesting: 400 */
#define SERVER_CONNECTIONS_MAX       1024        /* open connections, all clients */
#define SERVER_CONNECTIONS_PER_IP    256         /* open connections of one address */
#define SERVER_IDLE_TIMEOUT_SECONDS  60          /* a keep-alive connection left idle */
#define SERVER_PATH_PARAMETER_BYTES  64          /* an id in a path; uuids need 37 */
#define SERVER_ADMIN_TOKEN_MAX_BYTES 256
#define SERVER_LOCATION_BYTES        128
#define SERVER_RETRY_AFTER_SECONDS   "1"

struct tix_server {
  tix *db;
  struct MHD_Daemon *daemon;
  tix_server_options options;
  char admin_token[SERVER_ADMIN_TOKEN_MAX_BYTES];
  atomic_int in_progress; /* requests begun and not yet completed */
  atomic_int suspended;   /* purchases waiting for group commit */
};

/* Where a request is in its life: receiving its body, waiting (suspended)
 * for group commit, or holding the answer group commit gave. */
typedef enum request_phase {
  REQUEST_RECEIVING,
  REQUEST_WAITING,
  REQUEST_ANSWERED,
} request_phase;

typedef struct server_request {
  struct tix_server *server;
  struct MHD_Connection *connection;
  const char *method;
  const char *path;
  char *body;
  size_t body_size;
  bool body_too_large;
  char parameters[2][SERVER_PATH_PARAMETER_BYTES]; /* the ids of the path */
  int64_t started_us;
  unsigned status; /* the HTTP status answered, for the log */
  /* The answer group commit gives on its committer thread, read by the
   * connection's thread once resumed; the lock orders the two (the
   * resume inside libmicrohttpd is invisible to ThreadSanitizer). */
  pthread_mutex_t lock;
  request_phase phase;
  unsigned answer_status;
  char *answer_body;
  char answer_location[SERVER_LOCATION_BYTES];
} server_request;

/* A route handler: answers the request (queues a response, or suspends it). */
typedef enum MHD_Result (*route_handler)(server_request *request);

#endif /* TIX_SERVER_INTERNAL_H */
