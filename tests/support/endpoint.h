/*
 * endpoint.h — the sockets of loopback test servers such as the fault proxy:
 * where an upstream is (a PostgreSQL socket directory, a socket file, or
 * host:port), a listener on 127.0.0.1, and a plain connect.
 */
#ifndef TIX_ENDPOINT_H
#define TIX_ENDPOINT_H

#include <sys/socket.h>

struct endpoint {
  struct sockaddr_storage address;
  socklen_t length;
};

/* text: a directory holding PostgreSQL's socket .s.PGSQL.5432 (the host= of
 * a Unix-socket conninfo), the path of a socket file, or "host:port"
 * ("[::1]:port" for IPv6). Returns 0 or a negative errno. */
int endpoint_resolve(const char *text, struct endpoint *out);

/* A non-blocking listener on 127.0.0.1:port (0: an ephemeral port); the port
 * it got in *port_out. Returns 0 or a negative errno. */
int endpoint_listen_loopback(int port, int *fd_out, int *port_out);

/* A blocking connect, since a local server answers at once or refuses; the
 * socket is non-blocking once connected. Returns it, or -1. */
int endpoint_connect(const struct endpoint *endpoint);

/* Small writes go out at once: Nagle's wait would be a delay nobody asked
 * for. Harmless on Unix sockets. */
void endpoint_send_immediately(int fd);

#endif /* TIX_ENDPOINT_H */
