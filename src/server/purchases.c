/*
 * purchases.c — the purchase routes of DESIGN §3. Buying goes through
 * group commit without a thread waiting per buyer: the connection is
 * suspended, the request submitted, and the completion (on a committer
 * thread) stores the answer and resumes the connection; libmicrohttpd then
 * calls the handler again on the connection's own thread, which sends it.
 * Reading, confirming and refunding are synchronous library calls.
 */
#include "body.h"
#include "handlers.h"
#include "response.h"

#include "tix_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const purchase_fields[] = {"quantity", "purchase_id", "customer", "hold_seconds",
                                              NULL};

/* Keeps the answer for the connection's thread and wakes the connection.
 * Safe from any thread: MHD_resume_connection signals the daemon's thread
 * through its inter-thread channel (MHD_ALLOW_SUSPEND_RESUME). */
static void store_answer(server_request *waiting, unsigned status, json_t *body,
                         const char *purchase_id) {
  char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(body);
  struct MHD_Connection *connection = waiting->connection;
  tix_server *server = waiting->server;
  pthread_mutex_lock(&waiting->lock);
  waiting->answer_status = text != NULL ? status : MHD_HTTP_INTERNAL_SERVER_ERROR;
  waiting->answer_body = text;
  if (purchase_id != NULL) {
    snprintf(waiting->answer_location, sizeof waiting->answer_location, "/purchases/%s",
             purchase_id);
  }
  waiting->phase = REQUEST_ANSWERED;
  pthread_mutex_unlock(&waiting->lock);
  /* After the resume the request may be answered and freed at once: it is
   * not touched again here. */
  atomic_fetch_sub(&server->suspended, 1);
  MHD_resume_connection(connection);
}

static void purchase_done(void *context, int status, const tix_purchase *purchase,
                          const tix_diag *diag) {
  if (status == TIX_OK) {
    store_answer(context, purchase->replayed ? MHD_HTTP_OK : MHD_HTTP_CREATED,
                 tix_json_purchase(purchase), purchase->replayed ? NULL : purchase->purchase_id);
  } else {
    store_answer(context, response_http_status(status),
                 response_failure_body(status, diag, purchase), NULL);
  }
}

enum MHD_Result purchases_answer(server_request *request) {
  pthread_mutex_lock(&request->lock);
  request_phase phase = request->phase;
  unsigned status = request->answer_status;
  char *text = request->answer_body;
  request->answer_body = NULL;
  pthread_mutex_unlock(&request->lock);
  if (phase != REQUEST_ANSWERED) {
    return MHD_YES; /* called again before the answer: nothing to send yet */
  }
  struct MHD_Response *response = NULL;
  if (text != NULL) {
    response = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
  }
  if (response == NULL) {
    free(text);
  } else {
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (request->answer_location[0] != '\0') {
      MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, request->answer_location);
    }
  }
  return response_queue(request, status, response);
}

static bool read_purchase(server_request *request, json_t **object, tix_purchase_request *purchase,
                          input_error *error) {
  purchase->event_id = request->parameters[0];
  return body_object(request, true, object, error) &&
         body_only_fields(*object, purchase_fields, error) &&
         body_integer(*object, "quantity", true, false, 0, &purchase->quantity, error) &&
         body_string(*object, "purchase_id", false, &purchase->purchase_id, error) &&
         body_string(*object, "customer", false, &purchase->customer, error) &&
         body_integer(*object, "hold_seconds", false, false, 0, &purchase->hold_seconds, error);
}

enum MHD_Result purchases_create(server_request *request) {
  json_t *object = NULL;
  input_error error;
  tix_purchase_request purchase = {0};
  if (!read_purchase(request, &object, &purchase, &error)) {
    json_decref(object);
    return respond_input_error(request, &error);
  }
  int status = tix_purchase_request_check(&purchase);
  if (status != TIX_OK) {
    json_decref(object);
    return respond_failure(request, status);
  }
  /* Suspended before submitting: the answer may come before submit
   * returns, and resuming a connection not yet suspended is undefined. */
  pthread_mutex_lock(&request->lock);
  request->phase = REQUEST_WAITING;
  pthread_mutex_unlock(&request->lock);
  atomic_fetch_add(&request->server->suspended, 1);
  MHD_suspend_connection(request->connection);
  status = tix_purchase_submit(request->server->db, &purchase, purchase_done, request);
  if (status != TIX_OK) {
    tix_purchase failed = {.available_tickets = -1};
    if (purchase.purchase_id != NULL) {
      snprintf(failed.purchase_id, sizeof failed.purchase_id, "%s", purchase.purchase_id);
    }
    store_answer(request, response_http_status(status),
                 response_failure_body(status, tix_last_diag(), &failed), NULL);
  }
  json_decref(object);
  return MHD_YES;
}

/* One synchronous purchase call's answer: the purchase, or its error. */
static enum MHD_Result respond_purchase(server_request *request, int status,
                                        tix_purchase *purchase) {
  enum MHD_Result result =
      status == TIX_OK ? respond_json(request, MHD_HTTP_OK, tix_json_purchase(purchase), NULL, NULL)
                       : respond_failure(request, status);
  tix_purchase_free(purchase);
  return result;
}

enum MHD_Result purchases_get(server_request *request) {
  tix_purchase purchase;
  int status = tix_purchase_get(request->server->db, request->parameters[0], &purchase);
  return respond_purchase(request, status, &purchase);
}

enum MHD_Result purchases_confirm(server_request *request) {
  tix_purchase purchase;
  int status = tix_purchase_confirm(request->server->db, request->parameters[0], &purchase);
  return respond_purchase(request, status, &purchase);
}

enum MHD_Result purchases_refund(server_request *request) {
  tix_purchase purchase;
  int status = tix_purchase_refund(request->server->db, request->parameters[0], &purchase);
  return respond_purchase(request, status, &purchase);
}
