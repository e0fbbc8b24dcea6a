/*
 * endpoint.c — the sockets of loopback test servers (see endpoint.h).
 */
#include "endpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_BACKLOG 64
#define HOST_TEXT_MAX  256

/* "host:port" or "[v6 address]:port", numeric port. */
static int resolve_tcp(const char *text, struct endpoint *out) {
  const char *colon = strrchr(text, ':');
  char host[HOST_TEXT_MAX];
  if (colon == NULL || (size_t)(colon - text) >= sizeof host) {
    return -EINVAL;
  }
  bool bracketed = text[0] == '[' && colon > text + 1 && colon[-1] == ']';
  const char *start = bracketed ? text + 1 : text;
  size_t host_length = (size_t)(colon - start) - (bracketed ? 1 : 0);
  memcpy(host, start, host_length);
  host[host_length] = '\0';
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
  struct addrinfo *found = NULL;
  if (getaddrinfo(host, colon + 1, &hints, &found) != 0 || found == NULL) {
    return -EINVAL;
  }
  memcpy(&out->address, found->ai_addr, found->ai_addrlen);
  out->length = found->ai_addrlen;
  freeaddrinfo(found);
  return 0;
}

int endpoint_resolve(const char *text, struct endpoint *out) {
  if (text[0] != '/') {
    return resolve_tcp(text, out);
  }
  struct sockaddr_un *local = (struct sockaddr_un *)&out->address;
  memset(local, 0, sizeof *local);
  local->sun_family = AF_UNIX;
  struct stat info;
  bool directory = stat(text, &info) == 0 && S_ISDIR(info.st_mode);
  int written = snprintf(local->sun_path, sizeof local->sun_path,
                         directory ? "%s/.s.PGSQL.5432" : "%s", text);
  if (written < 0 || (size_t)written >= sizeof local->sun_path) {
    return -ENAMETOOLONG;
  }
  out->length = sizeof *local;
  return 0;
}

void endpoint_send_immediately(int fd) {
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

int endpoint_listen_loopback(int port, int *fd_out, int *port_out) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -errno;
  }
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  struct sockaddr_in address = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t length = sizeof address;
  if (bind(fd, (struct sockaddr *)&address, length) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
      getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
    int error = -errno;
    close(fd);
    return error;
  }
  *fd_out = fd;
  *port_out = ntohs(address.sin_port);
  return 0;
}

int endpoint_connect(const struct endpoint *endpoint) {
  int fd = socket(endpoint->address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  if (connect(fd, (const struct sockaddr *)&endpoint->address, endpoint->length) != 0 ||
      fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
    close(fd);
    return -1;
  }
  endpoint_send_immediately(fd);
  return fd;
}
