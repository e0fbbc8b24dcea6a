/*
 * connection.h — libmicrohttpd's callbacks: a request's life from its first
 * header to its completion (body collected within its limit, dispatched,
 * logged, freed).
 */
#ifndef TIX_SERVER_CONNECTION_H
#define TIX_SERVER_CONNECTION_H

#include "server_internal.h"

/* MHD_AccessHandlerCallback; cls is the tix_server. */
enum MHD_Result connection_handle(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **request_context);
/* MHD_RequestCompletedCallback; cls is the tix_server. */
void connection_completed(void *cls, struct MHD_Connection *connection, void **request_context,
                          enum MHD_RequestTerminationCode code);

#endif /* TIX_SERVER_CONNECTION_H */
