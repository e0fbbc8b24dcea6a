/*
 * events.c — the event routes of DESIGN §3: create (201, Location, ETag),
 * list (keyset pages from the query string), read (ETag), update (needs
 * If-Match: 428 without it, 412 when stale) and cancel.
 */
#include "body.h"
#include "handlers.h"
#include "response.h"

#include "tix_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_ETAG_BYTES 24

static const char *const event_fields[] = {"name", "date", "total_tickets", "max_per_customer",
                                           NULL};

/* The event with its ETag ("<version>"), and a Location when created. */
static enum MHD_Result respond_event(server_request *request, unsigned status,
                                     const tix_event *event) {
  char etag[EVENTS_ETAG_BYTES], location[SERVER_LOCATION_BYTES];
  snprintf(etag, sizeof etag, "\"%d\"", event->version);
  snprintf(location, sizeof location, "/events/%s", event->id);
  return respond_json(request, status, tix_json_event(event),
                      status == MHD_HTTP_CREATED ? location : NULL, etag);
}

enum MHD_Result events_create(server_request *request) {
  json_t *object = NULL;
  input_error error;
  tix_event_input input = {0};
  bool valid =
      body_object(request, true, &object, &error) &&
      body_only_fields(object, event_fields, &error) &&
      body_string(object, "name", true, &input.name, &error) &&
      body_string(object, "date", true, &input.date, &error) &&
      body_integer(object, "total_tickets", true, false, 0, &input.total_tickets, &error) &&
      body_integer(object, "max_per_customer", false, true, 0, &input.max_per_customer, &error);
  enum MHD_Result result;
  if (!valid) {
    result = respond_input_error(request, &error);
  } else {
    tix_event event;
    int status = tix_event_create(request->server->db, &input, &event);
    result = status == TIX_OK ? respond_event(request, MHD_HTTP_CREATED, &event)
                              : respond_failure(request, status);
  }
  json_decref(object);
  return result;
}

enum MHD_Result events_get(server_request *request) {
  tix_event event;
  int status = tix_event_get(request->server->db, request->parameters[0], &event);
  return status == TIX_OK ? respond_event(request, MHD_HTTP_OK, &event)
                          : respond_failure(request, status);
}

enum MHD_Result events_cancel(server_request *request) {
  tix_event event;
  int status = tix_event_cancel(request->server->db, request->parameters[0], &event);
  return status == TIX_OK ? respond_event(request, MHD_HTTP_OK, &event)
                          : respond_failure(request, status);
}

/* If-Match: "<version>" (a bare number too); false when malformed. */
static bool parse_if_match(const char *header, int *version) {
  char *end = NULL;
  bool quoted = header[0] == '"';
  long value = strtol(header + quoted, &end, 10);
  if (end == header + quoted || value < 1 || value > 2147483647L) {
    return false;
  }
  if (quoted && *end++ != '"') {
    return false;
  }
  *version = (int)value;
  return *end == '\0';
}

static bool read_patch(server_request *request, json_t **object, tix_event_patch *patch,
                       input_error *error) {
  patch->total_tickets = -1;
  patch->max_per_customer = -1;
  return body_object(request, true, object, error) &&
         body_only_fields(*object, event_fields, error) &&
         body_string(*object, "name", false, &patch->name, error) &&
         body_string(*object, "date", false, &patch->date, error) &&
         body_integer(*object, "total_tickets", false, false, 0, &patch->total_tickets, error) &&
         body_integer(*object, "max_per_customer", false, true, 0, &patch->max_per_customer, error);
}

enum MHD_Result events_update(server_request *request) {
  const char *if_match =
      MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH);
  int version = 0;
  if (if_match == NULL) {
    return respond_error(request, MHD_HTTP_PRECONDITION_REQUIRED, "precondition_required",
                         "Changing an event needs If-Match with its ETag.");
  }
  if (!parse_if_match(if_match, &version)) {
    return respond_error(request, MHD_HTTP_BAD_REQUEST, "invalid_argument",
                         "If-Match must be the event's ETag, a quoted version number.");
  }
  json_t *object = NULL;
  input_error error;
  tix_event_patch patch = {0};
  enum MHD_Result result;
  if (!read_patch(request, &object, &patch, &error)) {
    result = respond_input_error(request, &error);
  } else {
    tix_event event;
    int status =
        tix_event_update(request->server->db, request->parameters[0], version, &patch, &event);
    result = status == TIX_OK ? respond_event(request, MHD_HTTP_OK, &event)
                              : respond_failure(request, status);
  }
  json_decref(object);
  return result;
}

/* The query string of a listing: known keys once each, a whole limit. */
typedef struct list_query {
  tix_event_filter filter;
  bool bad;
  char message[BODY_MESSAGE_BYTES];
} list_query;

static enum MHD_Result read_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
  list_query *query = cls;
  const char **slot = strcmp(key, "from") == 0     ? &query->filter.from
                      : strcmp(key, "to") == 0     ? &query->filter.to
                      : strcmp(key, "q") == 0      ? &query->filter.query
                      : strcmp(key, "cursor") == 0 ? &query->filter.cursor
                                                   : NULL;
  if (strcmp(key, "limit") == 0) {
    char *end = NULL;
    long limit = value != NULL ? strtol(value, &end, 10) : 0;
    query->bad =
        value == NULL || end == value || *end != '\0' || limit < 1 || limit > TIX_LIST_LIMIT_MAX;
    query->filter.limit = (int)limit;
    snprintf(query->message, sizeof query->message, "limit must be a whole number from 1 to %d.",
             TIX_LIST_LIMIT_MAX);
  } else if (slot == NULL || *slot != NULL || value == NULL) {
    query->bad = true;
    snprintf(query->message, sizeof query->message,
             "Unknown, repeated or empty query parameter \"%.64s\".", key);
  } else {
    *slot = value;
  }
  return query->bad ? MHD_NO : MHD_YES;
}

static json_t *page_json(const tix_event_page *page) {
  json_t *events = json_array();
  for (size_t i = 0; events != NULL && i < page->count; i++) {
    json_array_append_new(events, tix_json_event(&page->events[i]));
  }
  json_t *cursor = page->next_cursor[0] != '\0' ? json_string(page->next_cursor) : json_null();
  return json_pack("{s:o, s:o}", "events", events, "next_cursor", cursor);
}

enum MHD_Result events_list(server_request *request) {
  list_query query = {0};
  MHD_get_connection_values(request->connection, MHD_GET_ARGUMENT_KIND, read_argument, &query);
  if (query.bad) {
    return respond_error(request, MHD_HTTP_BAD_REQUEST, "invalid_argument", query.message);
  }
  tix_event_page page = {0};
  int status = tix_event_list(request->server->db, &query.filter, &page);
  if (status != TIX_OK) {
    return respond_failure(request, status);
  }
  enum MHD_Result result = respond_json(request, MHD_HTTP_OK, page_json(&page), NULL, NULL);
  tix_event_page_free(&page);
  return result;
}
