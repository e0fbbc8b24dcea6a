/*
 * server.h — `tix serve`, the HTTP JSON API of DESIGN §3 on libmicrohttpd:
 * what the CLI and the tests see of it. A server serves one tix handle; a
 * purchase suspends its connection until group commit answers it.
 */
#ifndef TIX_SERVER_H
#define TIX_SERVER_H

#include "tix.h"

#include <stdbool.h>

#define TIX_SERVER_DEFAULT_PORT    8080
#define TIX_SERVER_DEFAULT_BIND    "127.0.0.1"
#define TIX_SERVER_DEFAULT_THREADS 4
#define TIX_SERVER_THREADS_MAX     64

typedef struct tix_server_options {
  const char *bind_address; /* an IPv4 or IPv6 literal; default 127.0.0.1 */
  int port;                 /* 0: any free port (see tix_server_port) */
  int threads;              /* libmicrohttpd's worker threads */
  const char *admin_token;  /* NULL or "": admin routes are open, loopback only */
  bool log_requests;        /* one line per request on stderr */
} tix_server_options;

typedef struct tix_server tix_server;

void tix_server_options_default(tix_server_options *options);
/* Whether options may be served: without an admin token only on loopback.
 * Returns TIX_OK or TIX_EINVAL with the reason in tix_last_diag(). */
int tix_server_options_check(const tix_server_options *options);
/* Listens and serves db until tix_server_drain/destroy. */
int tix_server_start(tix *db, const tix_server_options *options, tix_server **out);
/* The port it listens on (the chosen one when options.port was 0). */
int tix_server_port(const tix_server *server);
/* Stops accepting connections and waits up to timeout_ms for every request
 * in progress to be answered; returns how many are still in progress. */
int tix_server_drain(tix_server *server, int timeout_ms);
/* Stops the daemon. Every suspended connection must have been answered:
 * drain first, and close the tix handle (which answers everything queued)
 * if draining did not finish. */
void tix_server_destroy(tix_server *server);

/* What `tix serve` does: opens the database from the environment, serves
 * until SIGTERM or SIGINT, drains, stops. Returns an exit code of DESIGN §4. */
int tix_server_run(const tix_server_options *options);

#endif /* TIX_SERVER_H */
