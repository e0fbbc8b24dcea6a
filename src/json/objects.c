/*
 * objects.c — the event, purchase and error objects of DESIGN §3 as jansson
 * values. The CLI's --json and the server's bodies both come from here.
 */
#include "tix_json.h"

json_t *tix_json_event(const tix_event *event) {
  json_t *max_per_customer =
      event->max_per_customer > 0 ? json_integer(event->max_per_customer) : json_null();
  json_t *cancelled_at =
      event->cancelled_at[0] != '\0' ? json_string(event->cancelled_at) : json_null();
  /* "o" steals the references above, also when packing fails. */
  return json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:i, s:s, s:s, s:o}", "id", event->id, "name",
                   event->name, "date", event->date, "total_tickets", event->total_tickets,
                   "available_tickets", event->available_tickets, "max_per_customer",
                   max_per_customer, "version", event->version, "created_at", event->created_at,
                   "updated_at", event->updated_at, "cancelled_at", cancelled_at);
}

json_t *tix_json_purchase(const tix_purchase *purchase) {
  json_t *tickets = json_array();
  for (size_t i = 0; tickets != NULL && i < purchase->ticket_count; i++) {
    json_array_append_new(tickets, json_string(purchase->tickets[i]));
  }
  json_t *customer = purchase->customer[0] != '\0' ? json_string(purchase->customer) : json_null();
  json_t *expires_at =
      purchase->expires_at[0] != '\0' ? json_string(purchase->expires_at) : json_null();
  /* "o" steals the references above, also when packing fails. */
  return json_pack("{s:s, s:s, s:o, s:i, s:s, s:o, s:o, s:s}", "purchase_id", purchase->purchase_id,
                   "event_id", purchase->event_id, "customer", customer, "quantity",
                   purchase->quantity, "status", purchase->status, "tickets", tickets, "expires_at",
                   expires_at, "created_at", purchase->created_at);
}

json_t *tix_json_error(int status, const tix_diag *diag) {
  const char *message = diag != NULL && diag->status == status && diag->message[0] != '\0'
                            ? diag->message
                            : tix_strerror(status);
  return json_pack("{s:{s:s,s:s}}", "error", "code", tix_error_code(status), "message", message);
}

json_t *tix_json_purchase_error(int status, const tix_diag *diag, const tix_purchase *purchase) {
  json_t *error = tix_json_error(status, diag);
  json_t *fields = json_object_get(error, "error");
  if (fields == NULL || purchase == NULL) {
    return error;
  }
  if (status == TIX_EINSUFFICIENT && purchase->available_tickets >= 0) {
    json_object_set_new(fields, "available", json_integer(purchase->available_tickets));
  }
  if (purchase->purchase_id[0] != '\0') {
    json_object_set_new(fields, "purchase_id", json_string(purchase->purchase_id));
  }
  return error;
}
