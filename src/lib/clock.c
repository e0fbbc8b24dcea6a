/*
 * clock.c — monotonic milliseconds, sleeps and deadlines (see clock.h).
 */
#include "clock.h"

#include <errno.h>

int64_t tix_now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void tix_sleep_us(int64_t duration_us) {
  if (duration_us <= 0) {
    return;
  }
  struct timespec pause = {.tv_sec = duration_us / 1000000,
                           .tv_nsec = (duration_us % 1000000) * 1000};
  while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
  }
}

void tix_sleep_ms(int64_t duration_ms) {
  tix_sleep_us(duration_ms * 1000);
}

struct timespec tix_deadline_after_ms(int64_t duration_ms) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += duration_ms / 1000;
  deadline.tv_nsec += (duration_ms % 1000) * 1000000;
  if (deadline.tv_nsec >= 1000000000) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000;
  }
  return deadline;
}
