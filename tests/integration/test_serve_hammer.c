/*
 * test_serve_hammer.c — `tix serve` under load, in-process: 64 keep-alive
 * connections (plain sockets) buy 1–4 tickets at a time from one hot event
 * of 2,000 tickets until it is sold out, with idempotent replays (200 and
 * the same tickets) and refunds mixed in. Then DESIGN §1 in the database,
 * and every 201 not refunded found there with its tickets. In the suite
 * 'concurrent', so it also runs under ThreadSanitizer (TIX_HAMMER_SCALE
 * divides the connections and tickets).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "purchase_fixture.h"
#include "server.h"
#include "testdb.h"

#define HAMMER_CONNECTIONS     64
#define HAMMER_TICKETS         2000
#define HAMMER_SCALE_MAX       16
#define HAMMER_CONNECTIONS_MIN 8
#define ATTEMPTS_MAX           4000  /* per connection: a bound, never reached */
#define REPLAY_EVERY           10    /* every tenth purchase is sent twice */
#define REFUND_EVERY           25    /* every 25th is refunded */
#define RESPONSE_MAX_BYTES     16384 /* a purchase of 4 tickets is < 1 kB */
#define PURCHASES_MAX          (HAMMER_TICKETS + HAMMER_TICKETS / REFUND_EVERY * 4 + 64)
#define DRAIN_TIMEOUT_MS       30000

static char conninfo[1024];
static PGconn *admin;
static tix *db;
static tix_server *server;
static char event_id[TIX_UUID_SIZE];
static int connections = HAMMER_CONNECTIONS;
static int tickets = HAMMER_TICKETS;

/* Every purchase answered 201, for the checks after. */
static struct {
  pthread_mutex_t mutex;
  char ids[PURCHASES_MAX][TIX_UUID_SIZE];
  int quantities[PURCHASES_MAX];
  bool refunded[PURCHASES_MAX];
  int count;
  int replays_wrong; /* replays not 200 with the same body: must stay 0 */
  int unexpected;    /* answers outside 200/201/409/503: must stay 0 */
  long answered;
} sold = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static int connect_to_server(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)tix_server_port(server))};
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* One request on a keep-alive connection: the status, the body in body
 * (NUL-terminated); -1 when the connection failed. */
static int exchange(int fd, const char *method, const char *path, const char *json, char *body,
                    size_t body_size) {
  char buffer[RESPONSE_MAX_BYTES];
  int length = snprintf(buffer, sizeof buffer,
                        "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\n\r\n%s",
                        method, path, strlen(json), json);
  if (send(fd, buffer, (size_t)length, MSG_NOSIGNAL) != length) {
    return -1;
  }
  size_t received = 0;
  char *end = NULL;
  long content_length = -1;
  while (received < sizeof buffer - 1) {
    ssize_t got = recv(fd, buffer + received, sizeof buffer - 1 - received, 0);
    if (got <= 0) {
      return -1;
    }
    received += (size_t)got;
    buffer[received] = '\0';
    if (end == NULL && (end = strstr(buffer, "\r\n\r\n")) != NULL) {
      char *header = strcasestr(buffer, "\r\nContent-Length:");
      content_length = header != NULL ? strtol(header + 17, NULL, 10) : 0;
    }
    if (end != NULL && received >= (size_t)(end + 4 - buffer) + (size_t)content_length) {
      snprintf(body, body_size, "%.*s", (int)content_length, end + 4);
      return atoi(buffer + 9);
    }
  }
  return -1;
}

static void record(const char *purchase_id, int quantity, bool refunded) {
  pthread_mutex_lock(&sold.mutex);
  if (sold.count < PURCHASES_MAX) {
    snprintf(sold.ids[sold.count], TIX_UUID_SIZE, "%s", purchase_id);
    sold.quantities[sold.count] = quantity;
    sold.refunded[sold.count++] = refunded;
  }
  pthread_mutex_unlock(&sold.mutex);
}

static void count(int *counter) {
  pthread_mutex_lock(&sold.mutex);
  (*counter)++;
  pthread_mutex_unlock(&sold.mutex);
}

/* Sells until the event is sold out; returns false when it should stop. */
static bool buy_once(int fd, int buyer, int attempt, const char *path) {
  char request_body[256], body[RESPONSE_MAX_BYTES], first[RESPONSE_MAX_BYTES];
  char purchase_id[TIX_UUID_SIZE];
  int quantity = 1 + (buyer + attempt) % 4;
  snprintf(purchase_id, sizeof purchase_id, "%08x-%04x-4000-8000-%012x", (unsigned)getpid(),
           (unsigned)buyer, (unsigned)attempt);
  snprintf(request_body, sizeof request_body, "{\"quantity\":%d,\"purchase_id\":\"%s\"}", quantity,
           purchase_id);
  int status = exchange(fd, "POST", path, request_body, first, sizeof first);
  if (status == 201 && attempt % REPLAY_EVERY == 0 &&
      (exchange(fd, "POST", path, request_body, body, sizeof body) != 200 ||
       strcmp(body, first) != 0)) {
    count(&sold.replays_wrong);
  }
  if (status == 201) {
    bool refund = attempt % REFUND_EVERY == REFUND_EVERY - 1;
    char refund_path[128];
    snprintf(refund_path, sizeof refund_path, "/purchases/%s/refund", purchase_id);
    refund = refund && exchange(fd, "POST", refund_path, "", body, sizeof body) == 200;
    record(purchase_id, quantity, refund);
    return true;
  }
  if (status == 409 || status == 503) {
    /* Sold out ends this buyer; fewer left than asked for, or a full
     * queue, is worth another try. */
    return strstr(first, "\"available\":0") == NULL;
  }
  count(&sold.unexpected);
  return false;
}

static void *buyer_thread(void *argument) {
  int buyer = (int)(intptr_t)argument;
  char path[128];
  snprintf(path, sizeof path, "/events/%s/purchases", event_id);
  int fd = connect_to_server();
  if (fd < 0) {
    count(&sold.unexpected);
    return NULL;
  }
  for (int attempt = 0; attempt < ATTEMPTS_MAX && buy_once(fd, buyer, attempt, path); attempt++) {
  }
  close(fd);
  return NULL;
}

static void scale_from_env(void) {
  const char *text = getenv("TIX_HAMMER_SCALE");
  int scale = text != NULL && text[0] != '\0' ? atoi(text) : 1;
  assert_true(scale >= 1 && scale <= HAMMER_SCALE_MAX);
  connections = HAMMER_CONNECTIONS / scale;
  connections = connections < HAMMER_CONNECTIONS_MIN ? HAMMER_CONNECTIONS_MIN : connections;
  tickets = HAMMER_TICKETS / scale;
}

static void check_every_sale(void) {
  long sold_tickets = 0;
  for (int i = 0; i < sold.count; i++) {
    long valid = fixture_query(admin,
                               "SELECT count(*) FROM tickets WHERE purchase_id = $1::uuid "
                               "AND voided_at IS NULL",
                               sold.ids[i]);
    assert_int_equal(valid, sold.refunded[i] ? 0 : sold.quantities[i]);
    sold_tickets += sold.refunded[i] ? 0 : sold.quantities[i];
  }
  assert_int_equal(sold_tickets, tickets);
}

static void hammer_sells_out_through_the_server(void **state) {
  fixture_create_event(admin, tickets, 0, event_id);
  tix_server_options options;
  tix_server_options_default(&options);
  options.port = 0;
  assert_int_equal(tix_server_start(db, &options, &server), TIX_OK);
  pthread_t threads[HAMMER_CONNECTIONS];
  long started_ms = fixture_now_ms();
  for (int i = 0; i < connections; i++) {
    assert_int_equal(pthread_create(&threads[i], NULL, buyer_thread, (void *)(intptr_t)i), 0);
  }
  for (int i = 0; i < connections; i++) {
    pthread_join(threads[i], NULL);
  }
  long elapsed_ms = fixture_now_ms() - started_ms;
  assert_int_equal(tix_server_drain(server, DRAIN_TIMEOUT_MS), 0);
  tix_server_destroy(server);
  printf("# %d connections: %d purchases answered 201 in %ld ms (%.0f/s)\n", connections,
         sold.count, elapsed_ms, sold.count * 1000.0 / (double)(elapsed_ms > 0 ? elapsed_ms : 1));
  assert_int_equal(sold.unexpected, 0);
  assert_int_equal(sold.replays_wrong, 0);
  assert_int_equal(fixture_available(admin, event_id), 0);
  fixture_check_invariants(admin, event_id);
  check_every_sale();
}

static int setup(void **state) {
  scale_from_env();
  testdb_create_migrated("serve_hammer", conninfo, sizeof conninfo);
  admin = testdb_connect(conninfo);
  db = fixture_open(conninfo, 20, "serve-hammer");
  return 0;
}

static int teardown(void **state) {
  tix_close(db);
  PQfinish(admin);
  testdb_drop(conninfo);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hammer_sells_out_through_the_server),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
