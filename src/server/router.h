/*
 * router.h — from method and path to a handler: 404 for unknown paths,
 * 405 with Allow for known paths and other methods, admin routes checked.
 */
#ifndef TIX_SERVER_ROUTER_H
#define TIX_SERVER_ROUTER_H

#include "server_internal.h"

/* Answers a fully received request. */
enum MHD_Result router_dispatch(server_request *request);

#endif /* TIX_SERVER_ROUTER_H */
