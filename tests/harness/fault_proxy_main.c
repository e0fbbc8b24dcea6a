/*
 * fault_proxy_main.c — `fault-proxy`, the fault proxy (tests/support/
 * fault_proxy.h) as a program for shell tests:
 *
 *   fault-proxy --upstream DIR|HOST:PORT [--listen 127.0.0.1:PORT]
 *               [--mode MODE] [--count N]
 *
 * prints the port it listens on, then takes commands on standard input, one
 * a line: a mode with an optional number ("cut-after-commit 1", "stall",
 * "resume", "delay 200", "none") or "stats"; it answers each with one line.
 * It runs until SIGTERM or SIGINT, whether or not standard input is open.
 */
#include "fault_proxy.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define COMMAND_BYTES_MAX 256
#define LISTEN_PREFIX     "127.0.0.1:"

struct arguments {
  const char *upstream;
  int listen_port;
  fault_mode mode;
  int count;
};

static int usage(void) {
  fprintf(stderr, "usage: fault-proxy --upstream DIR|HOST:PORT [--listen " LISTEN_PREFIX "PORT] "
                  "[--mode MODE] [--count N]\n");
  return 2;
}

/* A whole number in [0, maximum], or -1. */
static int parse_number(const char *text, int maximum) {
  char *end = NULL;
  long value = strtol(text, &end, 10);
  return text[0] != '\0' && *end == '\0' && value >= 0 && value <= maximum ? (int)value : -1;
}

static bool parse_arguments(int argc, char **argv, struct arguments *arguments) {
  *arguments = (struct arguments){.mode = FAULT_NONE, .count = 1};
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *value = argv[i + 1];
    if (strcmp(argv[i], "--upstream") == 0) {
      arguments->upstream = value;
    } else if (strcmp(argv[i], "--listen") == 0 &&
               strncmp(value, LISTEN_PREFIX, strlen(LISTEN_PREFIX)) == 0) {
      arguments->listen_port = parse_number(value + strlen(LISTEN_PREFIX), 65535);
    } else if (strcmp(argv[i], "--mode") == 0) {
      if (!fault_mode_from_name(value, &arguments->mode)) {
        return false;
      }
    } else if (strcmp(argv[i], "--count") == 0) {
      arguments->count = parse_number(value, 1000000);
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && arguments->upstream != NULL && arguments->listen_port >= 0 &&
         arguments->count >= 0;
}

static void answer_command(fault_proxy *proxy, char *line) {
  line[strcspn(line, "\r")] = '\0';
  char *name = strtok(line, " ");
  char *number = strtok(NULL, " ");
  fault_mode mode;
  int amount = number != NULL ? parse_number(number, 1000000) : 1;
  if (name != NULL && strcmp(name, "stats") == 0) {
    fault_proxy_stats stats;
    fault_proxy_get_stats(proxy, &stats);
    printf("accepted=%ld commits=%ld cuts=%ld open=%d\n", stats.accepted, stats.commits_seen,
           stats.cuts, stats.open);
  } else if (name != NULL && fault_mode_from_name(name, &mode) && amount >= 0) {
    fault_proxy_set(proxy, mode, amount);
    printf("ok %s\n", fault_mode_name(mode));
  } else {
    printf("error: unknown command\n");
  }
  fflush(stdout);
}

/* Answers the whole lines in pending[0…*length) and keeps the rest. A line
 * longer than the buffer is dropped. */
static void answer_lines(fault_proxy *proxy, char *pending, size_t *length) {
  size_t start = 0;
  for (size_t i = 0; i < *length; i++) {
    if (pending[i] == '\n') {
      pending[i] = '\0';
      answer_command(proxy, pending + start);
      start = i + 1;
    }
  }
  *length = start == 0 && *length == COMMAND_BYTES_MAX ? 0 : *length - start;
  memmove(pending, pending + start, *length);
}

/* Serves commands until a termination signal. Read with read(), not stdio,
 * so no line waits in a buffer that poll() cannot see. */
static void serve_commands(fault_proxy *proxy, int signals) {
  struct pollfd watched[2] = {{.fd = signals, .events = POLLIN},
                              {.fd = STDIN_FILENO, .events = POLLIN}};
  char pending[COMMAND_BYTES_MAX];
  size_t length = 0;
  for (;;) {
    if (poll(watched, 2, -1) < 0 && errno != EINTR) {
      return;
    }
    if (watched[0].revents & POLLIN) {
      return;
    }
    if (watched[1].revents & (POLLIN | POLLHUP)) {
      ssize_t got = read(STDIN_FILENO, pending + length, sizeof pending - length);
      if (got <= 0) {
        watched[1].fd = -1; /* input closed: keep running until a signal */
        continue;
      }
      length += (size_t)got;
      answer_lines(proxy, pending, &length);
    }
  }
}

int main(int argc, char **argv) {
  struct arguments arguments;
  if (!parse_arguments(argc, argv, &arguments)) {
    return usage();
  }
  sigset_t terminating;
  sigemptyset(&terminating);
  sigaddset(&terminating, SIGTERM);
  sigaddset(&terminating, SIGINT);
  /* Blocked before the proxy's thread starts, so it inherits the mask and
   * the signals reach the signalfd only. */
  pthread_sigmask(SIG_BLOCK, &terminating, NULL);
  int signals = signalfd(-1, &terminating, SFD_CLOEXEC);
  fault_proxy *proxy = NULL;
  int status = fault_proxy_start(arguments.upstream, arguments.listen_port, &proxy);
  if (signals < 0 || status != 0) {
    fprintf(stderr, "fault-proxy: cannot start: %s\n", strerror(status != 0 ? -status : errno));
    return 1;
  }
  fault_proxy_set(proxy, arguments.mode, arguments.count);
  printf("%d\n", fault_proxy_port(proxy));
  fflush(stdout);
  serve_commands(proxy, signals);
  fault_proxy_stop(proxy);
  close(signals);
  return 0;
}
