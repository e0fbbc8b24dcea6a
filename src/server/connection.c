/*
 * connection.c — a request's life. libmicrohttpd calls the handler first
 * with the headers, then with each piece of the body, then once more with
 * nothing: the body is collected here within SERVER_BODY_MAX_BYTES (MHD
 * only refuses lengths that overflow, so the limit is ours), then the
 * router answers. A purchase suspends its connection; once group commit
 * resumes it, MHD calls the handler again and the stored answer is sent.
 */
#include "connection.h"

#include "handlers.h"
#include "response.h"
#include "router.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_us(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static server_request *request_new(tix_server *server, struct MHD_Connection *connection,
                                   const char *url, const char *method) {
  server_request *created = calloc(1, sizeof *created);
  if (created == NULL) {
    return NULL;
  }
  created->server = server;
  created->connection = connection;
  created->method = method;
  created->path = url;
  created->started_us = now_us();
  created->phase = REQUEST_RECEIVING;
  pthread_mutex_init(&created->lock, NULL);
  atomic_fetch_add(&server->in_progress, 1);
  return created;
}

/* A declared length over the limit is refused before any of it is read. */
static bool declared_too_large(struct MHD_Connection *connection) {
  const char *length =
      MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  return length != NULL && strtoull(length, NULL, 10) > SERVER_BODY_MAX_BYTES;
}

static enum MHD_Result too_large(server_request *request) {
  return respond_error(request, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                       "The body is larger than 64 KiB.");
}

/* Keeps a piece of the body; past the limit, counts it away instead. */
static void collect(server_request *request, const char *data, size_t size) {
  if (request->body_too_large || request->body_size + size > SERVER_BODY_MAX_BYTES) {
    request->body_too_large = true;
    free(request->body);
    request->body = NULL;
    request->body_size = 0;
    return;
  }
  if (request->body == NULL) {
    request->body = malloc(SERVER_BODY_MAX_BYTES);
    if (request->body == NULL) {
      request->body_too_large = true;
      return;
    }
  }
  memcpy(request->body + request->body_size, data, size);
  request->body_size += size;
}

enum MHD_Result connection_handle(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **request_context) {
  server_request *current = *request_context;
  if (current == NULL) {
    current = request_new(cls, connection, url, method);
    if (current == NULL) {
      return MHD_NO;
    }
    *request_context = current;
    return declared_too_large(connection) ? too_large(current) : MHD_YES;
  }
  if (current->phase != REQUEST_RECEIVING) {
    return purchases_answer(current);
  }
  if (*upload_data_size > 0) {
    if (current->status == 0) {
      collect(current, upload_data, *upload_data_size);
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (current->status != 0) {
    return MHD_YES; /* answered already (413 on the headers) */
  }
  return current->body_too_large ? too_large(current) : router_dispatch(current);
}

void connection_completed(void *cls, struct MHD_Connection *connection, void **request_context,
                          enum MHD_RequestTerminationCode code) {
  tix_server *server = cls;
  server_request *done = *request_context;
  if (done == NULL) {
    return;
  }
  *request_context = NULL;
  if (server->options.log_requests) {
    double elapsed_ms = (double)(now_us() - done->started_us) / 1000.0;
    fprintf(stderr, "%s %s %u %.1fms%s\n", done->method, done->path, done->status, elapsed_ms,
            code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)");
  }
  pthread_mutex_destroy(&done->lock);
  free(done->answer_body);
  free(done->body);
  free(done);
  atomic_fetch_sub(&server->in_progress, 1);
}
