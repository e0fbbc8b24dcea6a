/*
 * group.h — internal: group commit's queues and committers. Purchases are
 * queued per event; a committer takes everything queued for one event (up
 * to TIX_BATCH_MAX) and decides it in one transaction (batch.h), while the
 * next batch of that event fills behind it. Events are independent: up to
 * options.committers of them commit in parallel, each on its own connection.
 */
#ifndef TIX_GROUP_H
#define TIX_GROUP_H

#include "sale.h"
#include "tix.h"

typedef struct tix_group tix_group;

/* No thread starts until the first submission. */
int tix_group_create(tix *db, const tix_options *options, tix_group **out);
/* Answers everything still queued, then stops the committers. */
void tix_group_destroy(tix_group *group);
/* Queues a checked, normalized sale; done is called once unless this fails. */
int tix_group_submit(tix_group *group, const tix_sale *sale, tix_purchase_done done, void *context);
void tix_group_stats_read(tix_group *group, tix_group_stats *out);

#endif /* TIX_GROUP_H */
