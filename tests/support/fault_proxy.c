/*
 * fault_proxy.c — the loopback fault proxy (see fault_proxy.h): one thread,
 * one poll() loop over the listener, a wake-up pipe and both sockets of every
 * forwarded connection. Each direction queues what it read as chunks, so a
 * delay can hold them and a stall can keep them; the COMMIT faults watch the
 * bytes with pg_wire as they pass.
 */
#include "fault_proxy.h"

#include "endpoint.h"
#include "pg_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SESSIONS_MAX      128   /* connections forwarded at once; more are closed */
#define BLACKHOLES_MAX    64    /* swallowed connections kept open; beyond, the oldest closes */
#define CHUNK_BYTES_MAX   16384 /* one read */
#define CHUNKS_QUEUED_MAX 16    /* per direction; reading pauses while full */
#define ACCEPTS_PER_ROUND 16
#define WAKE_BYTES_MAX    64
#define POLL_FDS_MAX      (2 + 2 * SESSIONS_MAX)
/* How long fault_proxy_set waits for the proxy thread to take a change up. */
#define SETTINGS_APPLIED_WAIT_MS 5000

struct chunk {
  int64_t due_ms; /* not forwarded before then (FAULT_DELAY) */
  size_t size;
  size_t written;
  uint8_t bytes[];
};

/* One way of one connection: read from `from`, queued, written to `to`. */
struct direction {
  int from;
  int to;
  struct chunk *queue[CHUNKS_QUEUED_MAX];
  int head;
  int count;
  bool ended; /* `from` reached its end */
};

struct session {
  int client;
  int server;
  struct direction to_server;
  struct direction to_client;
  struct pg_wire_session wire;
};

/* What the test switches; the proxy thread takes a copy each round. */
struct settings {
  int cut_after_left;
  int cut_before_left;
  bool stalled;
  int delay_ms;
  fault_mode accept_mode; /* FAULT_ACCEPT, FAULT_REFUSE or FAULT_BLACKHOLE */
  long cut_all_asked;
  bool stopping;
};

struct fault_proxy {
  pthread_t thread;
  pthread_mutex_t mutex;
  pthread_cond_t applied_signal;
  struct settings settings; /* under the mutex, with the next three */
  long generation;          /* changes made to settings */
  long applied_generation;  /* changes the proxy thread has taken up */
  fault_proxy_stats stats;
  int wake[2]; /* a byte written here interrupts poll() */
  int listener;
  int port;
  struct endpoint upstream;
  /* The proxy thread's alone. */
  struct session *sessions[SESSIONS_MAX];
  int blackholes[BLACKHOLES_MAX];
  int next_blackhole;
  long cut_all_done;
};

static const char *const mode_names[] = {
    [FAULT_NONE] = "none",
    [FAULT_CUT_AFTER_COMMIT] = "cut-after-commit",
    [FAULT_CUT_BEFORE_COMMIT] = "cut-before-commit",
    [FAULT_CUT_ALL] = "cut-all",
    [FAULT_STALL] = "stall",
    [FAULT_RESUME] = "resume",
    [FAULT_DELAY] = "delay",
    [FAULT_REFUSE] = "refuse",
    [FAULT_BLACKHOLE] = "blackhole",
    [FAULT_ACCEPT] = "accept",
};

const char *fault_mode_name(fault_mode mode) {
  return mode_names[mode];
}

bool fault_mode_from_name(const char *name, fault_mode *out) {
  for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++) {
    if (strcmp(name, mode_names[i]) == 0) {
      *out = (fault_mode)i;
      return true;
    }
  }
  return false;
}

static int64_t now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void add_to_stats(fault_proxy *proxy, long *counter, long amount) {
  pthread_mutex_lock(&proxy->mutex);
  *counter += amount;
  pthread_mutex_unlock(&proxy->mutex);
}

/* ------------------------------------------------------------ sessions */

static void free_queue(struct direction *direction) {
  for (int i = 0; i < direction->count; i++) {
    free(direction->queue[(direction->head + i) % CHUNKS_QUEUED_MAX]);
  }
  direction->count = 0;
}

static void close_session(fault_proxy *proxy, int index) {
  struct session *session = proxy->sessions[index];
  close(session->client);
  close(session->server);
  free_queue(&session->to_server);
  free_queue(&session->to_client);
  free(session);
  proxy->sessions[index] = NULL;
  pthread_mutex_lock(&proxy->mutex);
  proxy->stats.open--;
  pthread_mutex_unlock(&proxy->mutex);
}

static void start_session(fault_proxy *proxy, int client) {
  int index = 0;
  while (index < SESSIONS_MAX && proxy->sessions[index] != NULL) {
    index++;
  }
  int server = index < SESSIONS_MAX ? endpoint_connect(&proxy->upstream) : -1;
  struct session *session = server >= 0 ? calloc(1, sizeof *session) : NULL;
  if (session == NULL) {
    if (server >= 0) {
      close(server);
    }
    close(client);
    return;
  }
  endpoint_send_immediately(client);
  *session = (struct session){
      .client = client,
      .server = server,
      .to_server = {.from = client, .to = server},
      .to_client = {.from = server, .to = client},
  };
  pg_wire_session_init(&session->wire);
  proxy->sessions[index] = session;
  pthread_mutex_lock(&proxy->mutex);
  proxy->stats.open++;
  pthread_mutex_unlock(&proxy->mutex);
}

/* Keeps client open and silent; the oldest swallowed one closes when full. */
static void swallow(fault_proxy *proxy, int client) {
  int *slot = &proxy->blackholes[proxy->next_blackhole];
  if (*slot >= 0) {
    close(*slot);
  }
  *slot = client;
  proxy->next_blackhole = (proxy->next_blackhole + 1) % BLACKHOLES_MAX;
}

static void accept_clients(fault_proxy *proxy, const struct settings *settings) {
  for (int round = 0; round < ACCEPTS_PER_ROUND; round++) {
    int client = accept4(proxy->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) {
      return;
    }
    add_to_stats(proxy, &proxy->stats.accepted, 1);
    if (settings->accept_mode == FAULT_REFUSE) {
      close(client);
    } else if (settings->accept_mode == FAULT_BLACKHOLE) {
      swallow(proxy, client);
    } else {
      start_session(proxy, client);
    }
  }
}

static void cut_all(fault_proxy *proxy) {
  long cut = 0;
  for (int i = 0; i < SESSIONS_MAX; i++) {
    if (proxy->sessions[i] != NULL) {
      close_session(proxy, i);
      cut++;
    }
  }
  add_to_stats(proxy, &proxy->stats.cuts, cut);
}

/* ------------------------------------------------------------ faults */

enum commit_fault { COMMIT_PASSES, COMMIT_CUT_BEFORE, COMMIT_CUT_AFTER };

/* A COMMIT went by: counts it and uses up one armed COMMIT fault. */
static enum commit_fault take_commit_fault(fault_proxy *proxy) {
  enum commit_fault fault = COMMIT_PASSES;
  pthread_mutex_lock(&proxy->mutex);
  proxy->stats.commits_seen++;
  if (proxy->settings.cut_before_left > 0) {
    proxy->settings.cut_before_left--;
    fault = COMMIT_CUT_BEFORE;
  } else if (proxy->settings.cut_after_left > 0) {
    proxy->settings.cut_after_left--;
    fault = COMMIT_CUT_AFTER;
  }
  pthread_mutex_unlock(&proxy->mutex);
  return fault;
}

/* Client bytes on their way: false when the connection is to be cut. */
static bool watch_client(fault_proxy *proxy, struct session *session, struct chunk *chunk) {
  size_t offset = 0;
  for (size_t round = 0; round <= chunk->size && offset < chunk->size; round++) {
    long group = 0;
    offset +=
        pg_wire_scan_client(&session->wire, chunk->bytes + offset, chunk->size - offset, &group);
    enum commit_fault fault = group > 0 ? take_commit_fault(proxy) : COMMIT_PASSES;
    if (fault == COMMIT_CUT_BEFORE) {
      add_to_stats(proxy, &proxy->stats.cuts, 1);
      return false;
    }
    if (fault == COMMIT_CUT_AFTER && session->wire.watched_group == 0) {
      session->wire.watched_group = group;
    }
  }
  return true;
}

/* Server bytes on their way: what belongs to a watched COMMIT's reply is
 * dropped, and once that reply is complete the connection is cut. */
static bool watch_server(fault_proxy *proxy, struct session *session, struct chunk *chunk) {
  struct pg_wire_reply_scan scan;
  pg_wire_scan_server(&session->wire, chunk->bytes, chunk->size, &scan);
  chunk->size = scan.forward_bytes;
  if (scan.commit_answered) {
    add_to_stats(proxy, &proxy->stats.cuts, 1);
    return false;
  }
  return true;
}

/* ------------------------------------------------------------ forwarding */

/* Reads one chunk into direction's queue. False when the session is over. */
static bool read_chunk(fault_proxy *proxy, struct session *session, struct direction *direction,
                       const struct settings *settings) {
  uint8_t buffer[CHUNK_BYTES_MAX];
  ssize_t got = read(direction->from, buffer, sizeof buffer);
  if (got <= 0) {
    direction->ended = got == 0;
    return got == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
  struct chunk *chunk = malloc(sizeof *chunk + (size_t)got);
  if (chunk == NULL) {
    return false;
  }
  *chunk = (struct chunk){.due_ms = now_ms() + settings->delay_ms, .size = (size_t)got};
  memcpy(chunk->bytes, buffer, (size_t)got);
  bool from_client = direction == &session->to_server;
  bool going_on =
      from_client ? watch_client(proxy, session, chunk) : watch_server(proxy, session, chunk);
  if (!going_on || chunk->size == 0) {
    free(chunk);
    return going_on;
  }
  direction->queue[(direction->head + direction->count) % CHUNKS_QUEUED_MAX] = chunk;
  direction->count++;
  return true;
}

/* Writes the chunks that are due. False when the destination is gone. */
static bool write_due(struct direction *direction) {
  int64_t now = now_ms();
  for (int round = 0; round < CHUNKS_QUEUED_MAX && direction->count > 0; round++) {
    struct chunk *chunk = direction->queue[direction->head];
    if (chunk->due_ms > now) {
      return true;
    }
    ssize_t put = send(direction->to, chunk->bytes + chunk->written, chunk->size - chunk->written,
                       MSG_NOSIGNAL);
    if (put < 0) {
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
    chunk->written += (size_t)put;
    if (chunk->written < chunk->size) {
      return true;
    }
    free(chunk);
    direction->head = (direction->head + 1) % CHUNKS_QUEUED_MAX;
    direction->count--;
  }
  return true;
}

/* Poll events for one socket: read into inbound, write from outbound. */
static short socket_events(const struct direction *inbound, const struct direction *outbound,
                           const struct settings *settings, int64_t now, int64_t *timeout_ms) {
  if (settings->stalled) {
    return 0;
  }
  short events = 0;
  if (!inbound->ended && inbound->count < CHUNKS_QUEUED_MAX) {
    events |= POLLIN;
  }
  if (outbound->count > 0) {
    int64_t wait_ms = outbound->queue[outbound->head]->due_ms - now;
    if (wait_ms <= 0) {
      events |= POLLOUT;
    } else if (*timeout_ms < 0 || wait_ms < *timeout_ms) {
      *timeout_ms = wait_ms;
    }
  }
  return events;
}

/* Fills the poll set; returns poll()'s timeout: until the next delayed
 * chunk is due, or none. */
static int fill_poll_set(fault_proxy *proxy, const struct settings *settings,
                         struct pollfd fds[POLL_FDS_MAX]) {
  fds[0] = (struct pollfd){.fd = proxy->wake[0], .events = POLLIN};
  fds[1] = (struct pollfd){.fd = proxy->listener, .events = POLLIN};
  int64_t now = now_ms(), timeout_ms = -1;
  for (int i = 0; i < SESSIONS_MAX; i++) {
    struct session *session = proxy->sessions[i];
    struct pollfd *pair = &fds[2 + 2 * i];
    pair[0] = (struct pollfd){.fd = -1};
    pair[1] = (struct pollfd){.fd = -1};
    if (session != NULL) {
      pair[0].fd = session->client;
      pair[0].events =
          socket_events(&session->to_server, &session->to_client, settings, now, &timeout_ms);
      pair[1].fd = session->server;
      pair[1].events =
          socket_events(&session->to_client, &session->to_server, settings, now, &timeout_ms);
    }
  }
  return (int)timeout_ms;
}

/* One socket's readiness. False when the session is over. */
static bool serve_socket(fault_proxy *proxy, struct session *session, const struct pollfd *socket,
                         const struct settings *settings) {
  bool client = socket->fd == session->client;
  struct direction *inbound = client ? &session->to_server : &session->to_client;
  struct direction *outbound = client ? &session->to_client : &session->to_server;
  /* A hang-up that no read will collect (stalled, or the queue full) ends it. */
  if ((socket->revents & (POLLERR | POLLNVAL)) ||
      ((socket->revents & POLLHUP) && !(socket->events & POLLIN))) {
    return false;
  }
  if ((socket->revents & (POLLIN | POLLHUP)) && !read_chunk(proxy, session, inbound, settings)) {
    return false;
  }
  return !(socket->revents & POLLOUT) || write_due(outbound);
}

static void serve_session(fault_proxy *proxy, int index, const struct pollfd pair[2],
                          const struct settings *settings) {
  struct session *session = proxy->sessions[index];
  bool going_on = serve_socket(proxy, session, &pair[0], settings) &&
                  serve_socket(proxy, session, &pair[1], settings);
  /* One side ended and what it sent is delivered: nothing more will come. */
  bool drained = (session->to_server.ended && session->to_server.count == 0) ||
                 (session->to_client.ended && session->to_client.count == 0);
  if (!going_on || drained) {
    close_session(proxy, index);
  }
}

/* Takes up the latest settings and tells fault_proxy_set they apply. */
static struct settings take_up_settings(fault_proxy *proxy) {
  pthread_mutex_lock(&proxy->mutex);
  struct settings settings = proxy->settings;
  long generation = proxy->generation;
  pthread_mutex_unlock(&proxy->mutex);
  if (settings.cut_all_asked != proxy->cut_all_done) {
    cut_all(proxy);
    proxy->cut_all_done = settings.cut_all_asked;
  }
  pthread_mutex_lock(&proxy->mutex);
  proxy->applied_generation = generation;
  pthread_cond_broadcast(&proxy->applied_signal);
  pthread_mutex_unlock(&proxy->mutex);
  return settings;
}

static void *run_proxy(void *argument) {
  fault_proxy *proxy = argument;
  struct pollfd fds[POLL_FDS_MAX];
  for (;;) {
    struct settings settings = take_up_settings(proxy);
    if (settings.stopping) {
      break;
    }
    int timeout_ms = fill_poll_set(proxy, &settings, fds);
    if (poll(fds, POLL_FDS_MAX, timeout_ms) < 0) {
      continue; /* EINTR; the set is rebuilt */
    }
    if (fds[0].revents & POLLIN) {
      char drained[WAKE_BYTES_MAX];
      while (read(proxy->wake[0], drained, sizeof drained) == (ssize_t)sizeof drained) {
      }
    }
    if (fds[1].revents & POLLIN) {
      accept_clients(proxy, &settings);
    }
    for (int i = 0; i < SESSIONS_MAX; i++) {
      if (proxy->sessions[i] != NULL && fds[2 + 2 * i].fd == proxy->sessions[i]->client) {
        serve_session(proxy, i, &fds[2 + 2 * i], &settings);
      }
    }
  }
  cut_all(proxy);
  return NULL;
}

/* ------------------------------------------------------------ the API */

static void free_proxy(fault_proxy *proxy) {
  for (int i = 0; i < BLACKHOLES_MAX; i++) {
    if (proxy->blackholes[i] >= 0) {
      close(proxy->blackholes[i]);
    }
  }
  if (proxy->listener >= 0) {
    close(proxy->listener);
  }
  if (proxy->wake[0] >= 0) {
    close(proxy->wake[0]);
    close(proxy->wake[1]);
  }
  pthread_cond_destroy(&proxy->applied_signal);
  pthread_mutex_destroy(&proxy->mutex);
  free(proxy);
}

int fault_proxy_start(const char *upstream, int listen_port, fault_proxy **out) {
  *out = NULL;
  fault_proxy *proxy = calloc(1, sizeof *proxy);
  if (proxy == NULL) {
    return -ENOMEM;
  }
  proxy->listener = proxy->wake[0] = proxy->wake[1] = -1;
  for (int i = 0; i < BLACKHOLES_MAX; i++) {
    proxy->blackholes[i] = -1;
  }
  proxy->settings.accept_mode = FAULT_ACCEPT;
  pthread_mutex_init(&proxy->mutex, NULL);
  pthread_cond_init(&proxy->applied_signal, NULL);
  int status = endpoint_resolve(upstream, &proxy->upstream);
  if (status == 0) {
    status = endpoint_listen_loopback(listen_port, &proxy->listener, &proxy->port);
  }
  if (status == 0 && pipe2(proxy->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    status = -errno;
  }
  if (status == 0) {
    status = -pthread_create(&proxy->thread, NULL, run_proxy, proxy);
  }
  if (status != 0) {
    free_proxy(proxy);
    return status;
  }
  *out = proxy;
  return 0;
}

int fault_proxy_port(const fault_proxy *proxy) {
  return proxy->port;
}

static void wake_up(fault_proxy *proxy) {
  char byte = 1;
  if (write(proxy->wake[1], &byte, 1) < 0) {
    /* Full: the proxy thread has wake-ups pending already. */
  }
}

/* Under the mutex: one change to the settings. */
static void change_settings(struct settings *settings, fault_mode mode, int count_or_ms) {
  int amount = count_or_ms > 0 ? count_or_ms : 0;
  switch (mode) {
  case FAULT_NONE:
    *settings =
        (struct settings){.accept_mode = FAULT_ACCEPT, .cut_all_asked = settings->cut_all_asked};
    break;
  case FAULT_CUT_AFTER_COMMIT:
    settings->cut_after_left = amount;
    settings->cut_before_left = 0;
    break;
  case FAULT_CUT_BEFORE_COMMIT:
    settings->cut_before_left = amount;
    settings->cut_after_left = 0;
    break;
  case FAULT_CUT_ALL:
    settings->cut_all_asked++;
    break;
  case FAULT_STALL:
  case FAULT_RESUME:
    settings->stalled = mode == FAULT_STALL;
    break;
  case FAULT_DELAY:
    settings->delay_ms = amount;
    break;
  case FAULT_REFUSE:
  case FAULT_BLACKHOLE:
  case FAULT_ACCEPT:
    settings->accept_mode = mode;
    break;
  }
}

/* Returns once the proxy thread works with the change: a cut-all is done, a
 * stall holds everything from then on. */
void fault_proxy_set(fault_proxy *proxy, fault_mode mode, int count_or_ms) {
  pthread_mutex_lock(&proxy->mutex);
  change_settings(&proxy->settings, mode, count_or_ms);
  long generation = ++proxy->generation;
  wake_up(proxy);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += SETTINGS_APPLIED_WAIT_MS / 1000;
  while (proxy->applied_generation < generation &&
         pthread_cond_timedwait(&proxy->applied_signal, &proxy->mutex, &deadline) == 0) {
  }
  pthread_mutex_unlock(&proxy->mutex);
}

void fault_proxy_get_stats(fault_proxy *proxy, fault_proxy_stats *out) {
  pthread_mutex_lock(&proxy->mutex);
  *out = proxy->stats;
  pthread_mutex_unlock(&proxy->mutex);
}

void fault_proxy_stop(fault_proxy *proxy) {
  if (proxy == NULL) {
    return;
  }
  pthread_mutex_lock(&proxy->mutex);
  proxy->settings.stopping = true;
  wake_up(proxy);
  pthread_mutex_unlock(&proxy->mutex);
  pthread_join(proxy->thread, NULL);
  free_proxy(proxy);
}
