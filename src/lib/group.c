/*
 * group.c — group commit's queues and committer threads (see group.h).
 *
 * One mutex guards every queue. An event's queue is on the ready list when
 * purchases wait in it and no committer has it; a committer pops the first
 * ready queue, takes up to TIX_BATCH_MAX of its purchases, commits them
 * outside the mutex, and puts the queue back at the end of the ready list if
 * more arrived meanwhile: never delayed on purpose, and a hot event cannot
 * starve the others of committers. Callbacks run on the committer thread
 * after the batch's transaction, outside the mutex.
 */
#include "group.h"

#include "batch.h"
#include "db.h"
#include "error.h"
#include "purchase_read.h"
#include "text.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_BUCKETS        1024 /* hash buckets of the event queues */
#define GROUP_COMMITTERS_MAX 64
#define GROUP_QUEUE_MAX      10000000

/* A purchase waiting for its batch. */
typedef struct group_request {
  tix_sale sale;
  char customer[TIX_CUSTOMER_MAX_BYTES + 1]; /* sale.customer points here */
  tix_purchase_done done;
  void *context;
  struct group_request *next;
} group_request;

/* The purchases of one event waiting for a committer. */
typedef struct event_queue {
  char event_id[TIX_UUID_SIZE];
  group_request *head, *tail;
  int waiting;
  bool committing; /* a committer has a batch of it */
  bool ready;      /* on the ready list */
  struct event_queue *next_in_bucket;
  struct event_queue *next_ready;
} event_queue;

struct tix_group {
  tix *db;
  int committers;
  int queue_max;
  pthread_mutex_t mutex;
  pthread_cond_t work; /* a queue became ready, or stopping */
  event_queue *buckets[GROUP_BUCKETS];
  event_queue *ready_head, *ready_tail;
  int queued;
  bool stopping;
  uint64_t purchases;
  uint64_t batches;
  int thread_count; /* started so far; 0 until the first submission */
  pthread_t threads[GROUP_COMMITTERS_MAX];
};

/* --------------------------------------------------------------- queues */

static size_t bucket_of(const char *event_id) {
  uint64_t hash = 1469598103934665603ULL; /* FNV-1a */
  for (const char *c = event_id; *c != '\0'; c++) {
    hash = (hash ^ (unsigned char)*c) * 1099511628211ULL;
  }
  return (size_t)(hash % GROUP_BUCKETS);
}

/* The event's queue, made when absent; NULL when out of memory. */
static event_queue *queue_find_or_add(tix_group *group, const char *event_id) {
  size_t bucket = bucket_of(event_id);
  for (event_queue *queue = group->buckets[bucket]; queue != NULL; queue = queue->next_in_bucket) {
    if (strcmp(queue->event_id, event_id) == 0) {
      return queue;
    }
  }
  event_queue *queue = calloc(1, sizeof *queue);
  if (queue != NULL) {
    tix_text_copy(queue->event_id, sizeof queue->event_id, event_id);
    queue->next_in_bucket = group->buckets[bucket];
    group->buckets[bucket] = queue;
  }
  return queue;
}

static void queue_remove(tix_group *group, event_queue *queue) {
  event_queue **link = &group->buckets[bucket_of(queue->event_id)];
  while (*link != queue) {
    link = &(*link)->next_in_bucket;
  }
  *link = queue->next_in_bucket;
  free(queue);
}

static void ready_push(tix_group *group, event_queue *queue) {
  queue->ready = true;
  queue->next_ready = NULL;
  if (group->ready_tail != NULL) {
    group->ready_tail->next_ready = queue;
  } else {
    group->ready_head = queue;
  }
  group->ready_tail = queue;
  pthread_cond_signal(&group->work);
}

static event_queue *ready_pop(tix_group *group) {
  event_queue *queue = group->ready_head;
  group->ready_head = queue->next_ready;
  if (group->ready_head == NULL) {
    group->ready_tail = NULL;
  }
  queue->ready = false;
  return queue;
}

/* Detaches up to TIX_BATCH_MAX requests, oldest first. */
static group_request *queue_take_batch(tix_group *group, event_queue *queue, int *count_out) {
  group_request *first = queue->head, *last = NULL;
  int count = 0;
  for (group_request *request = first; request != NULL && count < TIX_BATCH_MAX;
       request = request->next) {
    last = request;
    count++;
  }
  queue->head = last->next;
  if (queue->head == NULL) {
    queue->tail = NULL;
  }
  last->next = NULL;
  queue->waiting -= count;
  queue->committing = true;
  group->queued -= count;
  *count_out = count;
  return first;
}

/* ------------------------------------------------------------- batches */

static void answer_requests(tix_batch_entry *entries, group_request *requests) {
  size_t index = 0;
  for (group_request *request = requests; request != NULL; index++) {
    group_request *next = request->next;
    tix_batch_entry *entry = &entries[index];
    request->done(request->context, entry->status, &entry->purchase, &entry->diag);
    tix_purchase_free(&entry->purchase);
    free(request);
    request = next;
  }
}

static void count_batch(tix_group *group, int count, const tix_batch_report *report) {
  pthread_mutex_lock(&group->mutex);
  group->purchases += (uint64_t)count;
  group->batches += (uint64_t)report->transactions;
  pthread_mutex_unlock(&group->mutex);
}

/* Out of memory for the batch itself: every purchase hears so. */
static void answer_out_of_memory(group_request *requests, int count) {
  tix_fail(TIX_ENOMEM, "out of memory for a batch of %d purchases", count);
  tix_diag diag = *tix_last_diag();
  for (group_request *request = requests; request != NULL;) {
    group_request *next = request->next;
    tix_purchase purchase;
    tix_purchase_reset(&purchase);
    tix_sale_identify(&request->sale, &purchase);
    request->done(request->context, TIX_ENOMEM, &purchase, &diag);
    free(request);
    request = next;
  }
}

/* Commits one batch and answers each of its requests, freeing them. The
 * figures are counted before the answers go out, so a caller that got its
 * answer sees its batch in tix_group_stats_get. */
static void commit_batch(tix_group *group, group_request *requests, int count) {
  tix_batch_entry *entries = calloc((size_t)count, sizeof *entries);
  if (entries == NULL) {
    answer_out_of_memory(requests, count);
    return;
  }
  size_t index = 0;
  for (group_request *request = requests; request != NULL; request = request->next) {
    entries[index].sale = request->sale;
    tix_purchase_reset(&entries[index].purchase);
    index++;
  }
  tix_batch_report report = {0};
  tix_batch_commit(group->db, entries, (size_t)count, &report);
  count_batch(group, count, &report);
  answer_requests(entries, requests);
  free(entries);
}

/* Called with the mutex held after a batch of queue was answered. */
static void queue_finish_batch(tix_group *group, event_queue *queue) {
  queue->committing = false;
  if (queue->waiting > 0) {
    ready_push(group, queue);
  } else {
    queue_remove(group, queue);
  }
}

static void *committer_main(void *argument) {
  tix_group *group = argument;
  pthread_mutex_lock(&group->mutex);
  for (;;) {
    while (group->ready_head == NULL && !group->stopping) {
      pthread_cond_wait(&group->work, &group->mutex);
    }
    if (group->ready_head == NULL) {
      break; /* stopping, and nothing left to commit */
    }
    event_queue *queue = ready_pop(group);
    int count = 0;
    group_request *requests = queue_take_batch(group, queue, &count);
    pthread_mutex_unlock(&group->mutex);
    commit_batch(group, requests, count);
    pthread_mutex_lock(&group->mutex);
    queue_finish_batch(group, queue);
  }
  pthread_mutex_unlock(&group->mutex);
  return NULL;
}

/* --------------------------------------------------------- life cycle */

int tix_group_create(tix *db, const tix_options *options, tix_group **out) {
  *out = NULL;
  if (options->committers < 1 || options->committers > GROUP_COMMITTERS_MAX) {
    return tix_fail(TIX_EINVAL, "committers must be between 1 and %d, not %d", GROUP_COMMITTERS_MAX,
                    options->committers);
  }
  if (options->queue_max < 1 || options->queue_max > GROUP_QUEUE_MAX) {
    return tix_fail(TIX_EINVAL, "the purchase queue must hold between 1 and %d, not %d",
                    GROUP_QUEUE_MAX, options->queue_max);
  }
  tix_group *group = calloc(1, sizeof *group);
  if (group == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  group->db = db;
  group->committers = options->committers;
  group->queue_max = options->queue_max;
  pthread_mutex_init(&group->mutex, NULL);
  pthread_cond_init(&group->work, NULL);
  *out = group;
  return TIX_OK;
}

void tix_group_destroy(tix_group *group) {
  if (group == NULL) {
    return;
  }
  pthread_mutex_lock(&group->mutex);
  group->stopping = true;
  pthread_cond_broadcast(&group->work);
  pthread_mutex_unlock(&group->mutex);
  for (int i = 0; i < group->thread_count; i++) {
    pthread_join(group->threads[i], NULL);
  }
  pthread_cond_destroy(&group->work);
  pthread_mutex_destroy(&group->mutex);
  free(group);
}

/* Called with the mutex held: the committers start with the first purchase,
 * so a handle that never uses group commit costs no thread. */
static int start_committers(tix_group *group) {
  while (group->thread_count < group->committers) {
    if (pthread_create(&group->threads[group->thread_count], NULL, committer_main, group) != 0) {
      return group->thread_count > 0 ? TIX_OK
                                     : tix_fail(TIX_ENOMEM, "could not start a committer thread");
    }
    group->thread_count++;
  }
  return TIX_OK;
}

static int refuse_locked(tix_group *group) {
  if (group->stopping) {
    return tix_fail(TIX_EUNAVAILABLE, "the tix handle is closing");
  }
  if (group->queued >= group->queue_max) {
    tix_fail(TIX_EQUEUEFULL, "too many purchases are waiting");
    tix_fail_detail("%d purchases are queued, the most this handle accepts.", group->queued);
    tix_fail_hint("Try again in a moment.");
    return TIX_EQUEUEFULL;
  }
  return start_committers(group);
}

static group_request *request_new(const tix_sale *sale, tix_purchase_done done, void *context) {
  group_request *request = calloc(1, sizeof *request);
  if (request == NULL) {
    return NULL;
  }
  request->sale = *sale;
  if (sale->customer != NULL) {
    tix_text_copy(request->customer, sizeof request->customer, sale->customer);
    request->sale.customer = request->customer;
  }
  request->done = done;
  request->context = context;
  return request;
}

static void queue_append(tix_group *group, event_queue *queue, group_request *request) {
  if (queue->tail != NULL) {
    queue->tail->next = request;
  } else {
    queue->head = request;
  }
  queue->tail = request;
  queue->waiting++;
  group->queued++;
  if (!queue->committing && !queue->ready) {
    ready_push(group, queue);
  }
}

int tix_group_submit(tix_group *group, const tix_sale *sale, tix_purchase_done done,
                     void *context) {
  group_request *request = request_new(sale, done, context);
  if (request == NULL) {
    return tix_fail(TIX_ENOMEM, "out of memory");
  }
  pthread_mutex_lock(&group->mutex);
  int status = refuse_locked(group);
  event_queue *queue = status == TIX_OK ? queue_find_or_add(group, sale->event_id) : NULL;
  if (status == TIX_OK && queue == NULL) {
    status = tix_fail(TIX_ENOMEM, "out of memory");
  }
  if (status == TIX_OK) {
    queue_append(group, queue, request);
  }
  pthread_mutex_unlock(&group->mutex);
  if (status != TIX_OK) {
    free(request);
  }
  return status;
}

void tix_group_stats_read(tix_group *group, tix_group_stats *out) {
  pthread_mutex_lock(&group->mutex);
  *out = (tix_group_stats){
      .purchases = group->purchases, .batches = group->batches, .queued = group->queued};
  pthread_mutex_unlock(&group->mutex);
}
