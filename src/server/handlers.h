/*
 * handlers.h — the route handlers of DESIGN §3, one group per file
 * (events.c, purchases.c, health.c), and the admin check they share.
 */
#ifndef TIX_SERVER_HANDLERS_H
#define TIX_SERVER_HANDLERS_H

#include "server_internal.h"

enum MHD_Result events_create(server_request *request);
enum MHD_Result events_list(server_request *request);
enum MHD_Result events_get(server_request *request);
enum MHD_Result events_update(server_request *request);
enum MHD_Result events_cancel(server_request *request);

enum MHD_Result purchases_create(server_request *request);
enum MHD_Result purchases_get(server_request *request);
enum MHD_Result purchases_confirm(server_request *request);
enum MHD_Result purchases_refund(server_request *request);
/* Queues the answer group commit gave a suspended purchase, once resumed. */
enum MHD_Result purchases_answer(server_request *request);

enum MHD_Result health_get(server_request *request);

/* Whether the request may use an admin route: true when no token is set or
 * it carries the right one; else queues 401 or 403 in *refused. */
bool auth_admin(server_request *request, enum MHD_Result *refused);

#endif /* TIX_SERVER_HANDLERS_H */
