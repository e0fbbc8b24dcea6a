/*
 * clock.h — internal: time as every subsystem measures it: milliseconds on a
 * monotonic clock, sleeping that survives signals, and absolute deadlines
 * for pthread_cond_timedwait on a CLOCK_MONOTONIC condition variable.
 */
#ifndef TIX_CLOCK_H
#define TIX_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on a monotonic clock. */
int64_t tix_now_ms(void);
/* Sleeps the whole duration, resuming after signals. */
void tix_sleep_ms(int64_t duration_ms);
void tix_sleep_us(int64_t duration_us);
/* The CLOCK_MONOTONIC instant duration_ms from now. */
struct timespec tix_deadline_after_ms(int64_t duration_ms);

#endif /* TIX_CLOCK_H */
