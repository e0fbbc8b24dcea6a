/*
 * json.c — the JSON objects of DESIGN §3 that `--json` prints, built from the
 * library's structs so every verb spells them the same way.
 */
#include "cli.h"

json_t *cli_event_json(const tix_event *event) {
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
