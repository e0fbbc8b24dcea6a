/*
 * server.c — the daemon's life: the options checked (no admin token, no
 * address but loopback), libmicrohttpd started with its own epoll threads
 * and suspend/resume, drained (no new connections, every request in
 * progress answered) and stopped.
 */
#include "connection.h"
#include "server_internal.h"

#include "error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SERVER_DRAIN_POLL_MS 10

void tix_server_options_default(tix_server_options *options) {
  memset(options, 0, sizeof *options);
  options->bind_address = TIX_SERVER_DEFAULT_BIND;
  options->port = TIX_SERVER_DEFAULT_PORT;
  options->threads = TIX_SERVER_DEFAULT_THREADS;
}

/* The address to bind, IPv4 or IPv6; false when it is neither. */
static bool parse_address(const char *text, struct sockaddr_storage *out, bool *loopback) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    return true;
  }
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    return true;
  }
  return false;
}

int tix_server_options_check(const tix_server_options *options) {
  struct sockaddr_storage address;
  bool loopback = false;
  if (!parse_address(options->bind_address, &address, &loopback)) {
    return tix_fail(TIX_EINVAL, "invalid bind address \"%s\"", options->bind_address);
  }
  if (options->port < 0 || options->port > 65535 || options->threads < 1 ||
      options->threads > TIX_SERVER_THREADS_MAX) {
    return tix_fail(TIX_EINVAL, "the port must be 0 to 65535 and the threads 1 to %d",
                    TIX_SERVER_THREADS_MAX);
  }
  if (options->admin_token != NULL &&
      strlen(options->admin_token) >= SERVER_ADMIN_TOKEN_MAX_BYTES) {
    return tix_fail(TIX_EINVAL, "TIX_ADMIN_TOKEN is longer than %d bytes",
                    SERVER_ADMIN_TOKEN_MAX_BYTES - 1);
  }
  if (!loopback && (options->admin_token == NULL || options->admin_token[0] == '\0')) {
    int status = tix_fail(TIX_EINVAL, "refusing to listen on %s without TIX_ADMIN_TOKEN",
                          options->bind_address);
    tix_fail_detail("Without a token the admin routes would be open to the network.");
    tix_fail_hint("Set TIX_ADMIN_TOKEN, or bind to 127.0.0.1.");
    return status;
  }
  return TIX_OK;
}

static struct MHD_Daemon *start_daemon(tix_server *server, struct sockaddr_storage *address) {
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
  if (address->ss_family == AF_INET6) {
    flags |= MHD_USE_IPv6;
  }
  ((struct sockaddr_in *)address)->sin_port = htons((uint16_t)server->options.port);
  return MHD_start_daemon(flags, (uint16_t)server->options.port, NULL, NULL, connection_handle,
                          server, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)address,
                          MHD_OPTION_THREAD_POOL_SIZE, (unsigned)server->options.threads,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVER_CONNECTIONS_MAX,
                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)SERVER_CONNECTIONS_PER_IP,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_IDLE_TIMEOUT_SECONDS,
                          MHD_OPTION_NOTIFY_COMPLETED, connection_completed, server,
                          MHD_OPTION_END);
}

int tix_server_start(tix *db, const tix_server_options *options, tix_server **out) {
  *out = NULL;
  int status = tix_server_options_check(options);
  if (status != TIX_OK) {
    return status;
  }
  struct sockaddr_storage address;
  bool loopback;
  parse_address(options->bind_address, &address, &loopback);
  tix_server *server = calloc(1, sizeof *server);
  if (server == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory starting the server");
  }
  server->db = db;
  server->options = *options;
  if (options->admin_token != NULL) {
    snprintf(server->admin_token, sizeof server->admin_token, "%s", options->admin_token);
  }
  server->daemon = start_daemon(server, &address);
  if (server->daemon == NULL) {
    free(server);
    status = tix_fail(TIX_EINVAL, "could not listen on %s port %d", options->bind_address,
                      options->port);
    tix_fail_detail("The port may be in use, or the address not one of this machine's.");
    return status;
  }
  *out = server;
  return TIX_OK;
}

int tix_server_port(const tix_server *server) {
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
  return info != NULL ? info->port : server->options.port;
}

int tix_server_drain(tix_server *server, int timeout_ms) {
  /* Quiescing closes the listening socket: new connections are refused
   * while those open are served to the end. */
  MHD_socket listener = MHD_quiesce_daemon(server->daemon);
  if (listener != MHD_INVALID_SOCKET) {
    close(listener);
  }
  struct timespec pause = {0, SERVER_DRAIN_POLL_MS * 1000000L};
  for (int waited_ms = 0; waited_ms < timeout_ms; waited_ms += SERVER_DRAIN_POLL_MS) {
    if (atomic_load(&server->in_progress) == 0) {
      break;
    }
    nanosleep(&pause, NULL);
  }
  return atomic_load(&server->in_progress);
}

void tix_server_destroy(tix_server *server) {
  if (server == NULL) {
    return;
  }
  MHD_stop_daemon(server->daemon);
  free(server);
}
