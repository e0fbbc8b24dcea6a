/*
 * tix_json.h — the JSON objects of DESIGN §3 (an event, a purchase, the
 * error shape), built from libtix's structs. One copy, linked by both the
 * `tix` command (--json) and the HTTP server, so both spell them the same.
 */
#ifndef TIX_JSON_H
#define TIX_JSON_H

#include "tix.h"

#include <jansson.h>

/* The event object; NULL when out of memory. */
json_t *tix_json_event(const tix_event *event);
/* The purchase object with its ticket ids; NULL when out of memory. */
json_t *tix_json_purchase(const tix_purchase *purchase);
/* {"error": {"code", "message"}} for status: the diagnostic's message when
 * it describes this status, else the status's own sentence. */
json_t *tix_json_error(int status, const tix_diag *diag);
/* The error of a purchase attempt: also "available" when too few tickets
 * were left, and "purchase_id" whenever an attempt started, so that an
 * unknown outcome can be looked up or replayed with the same id. */
json_t *tix_json_purchase_error(int status, const tix_diag *diag, const tix_purchase *purchase);

#endif /* TIX_JSON_H */
