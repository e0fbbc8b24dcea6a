/*
 * strategy.h — internal: selling one purchase on one connection with one
 * of the four single-purchase strategies (group commit is batch.h).
 */
#ifndef TIX_STRATEGY_H
#define TIX_STRATEGY_H

#include "sale.h"

#include <libpq-fe.h>

/* Sells (or answers a replay) with one strategy on one connection, retrying
 * contention within a bound. A lost connection comes back as
 * TIX_EUNAVAILABLE; the caller retries on a fresh one. */
int tix_strategy_sell(PGconn *conn, tix_strategy strategy, tix_sale *sale, tix_purchase *out);

#endif /* TIX_STRATEGY_H */
