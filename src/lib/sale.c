/*
 * sale.c — the decision over a list of sales of one event (see sale.h): is
 * the event there and on sale (not cancelled, its date still to come), are
 * there enough tickets, does the customer stay within the event's limit, was
 * the purchase id used before. The same rules serve one sale (the four
 * strategies) and a batch (group commit).
 */
#include "sale.h"

#include "error.h"
#include "text.h"

#include <ctype.h>
#include <string.h>
#include <sys/random.h>

static void copy_lowercase(char destination[TIX_UUID_SIZE], const char *uuid) {
  size_t i = 0;
  for (; i < TIX_UUID_SIZE - 1 && uuid[i] != '\0'; i++) {
    destination[i] = (char)tolower((unsigned char)uuid[i]);
  }
  destination[i] = '\0';
}

/* A version 4 UUID from the kernel's generator, made here rather than by
 * the database so that a retry after a lost connection reuses it. */
static int generate_uuid(char destination[TIX_UUID_SIZE]) {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
    return tix_fail(TIX_EINTERNAL, "could not make a purchase id");
  }
  bytes[6] = (unsigned char)((bytes[6] & 0x0F) | 0x40);
  bytes[8] = (unsigned char)((bytes[8] & 0x3F) | 0x80);
  static const char digits[] = "0123456789abcdef";
  char *cursor = destination;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      *cursor++ = '-';
    }
    *cursor++ = digits[bytes[i] >> 4];
    *cursor++ = digits[bytes[i] & 0x0F];
  }
  *cursor = '\0';
  return TIX_OK;
}

int tix_sale_init(tix_sale *sale, const tix_purchase_request *request) {
  *sale = (tix_sale){
      .customer = request->customer,
      .quantity = request->quantity,
      .hold_seconds = request->hold_seconds,
      .available_after = -1,
  };
  copy_lowercase(sale->event_id, request->event_id);
  if (request->purchase_id != NULL) {
    copy_lowercase(sale->purchase_id, request->purchase_id);
    return TIX_OK;
  }
  return generate_uuid(sale->purchase_id);
}

void tix_sale_identify(const tix_sale *sale, tix_purchase *out) {
  tix_text_copy(out->purchase_id, sizeof out->purchase_id, sale->purchase_id);
  tix_text_copy(out->event_id, sizeof out->event_id, sale->event_id);
  tix_text_copy(out->customer, sizeof out->customer, sale->customer ? sale->customer : "");
  out->quantity = sale->quantity;
}

static bool same_customer(const tix_sale *left, const tix_sale *right) {
  return left->customer != NULL && right->customer != NULL &&
         strcmp(left->customer, right->customer) == 0;
}

/* A purchase id that an earlier sale of the list is selling: this one is a
 * replay (or a conflict) of it, answered once that sale is committed. */
static bool id_sold_earlier(const tix_sale *sales, size_t index) {
  for (size_t earlier = 0; earlier < index; earlier++) {
    if (sales[earlier].verdict == TIX_OK &&
        strcmp(sales[earlier].purchase_id, sales[index].purchase_id) == 0) {
      return true;
    }
  }
  return false;
}

static int decide_one(const tix_event_state *event, int remaining, const tix_sale *sale) {
  if (!event->found) {
    return TIX_ENOTFOUND;
  }
  if (event->cancelled) {
    return TIX_ECANCELLED;
  }
  if (event->past) {
    return TIX_EPAST;
  }
  if (sale->quantity > remaining) {
    return TIX_EINSUFFICIENT;
  }
  if (event->max_per_customer > 0 && sale->customer != NULL &&
      sale->customer_bought + sale->quantity > event->max_per_customer) {
    return TIX_ELIMIT;
  }
  return TIX_OK;
}

/* What earlier sales of the list, accepted already, add to this one's
 * customer. Quadratic only in sales of a limited event with a customer. */
static int bought_earlier_in_list(const tix_sale *sales, size_t index) {
  int bought = 0;
  for (size_t earlier = 0; earlier < index; earlier++) {
    if (sales[earlier].verdict == TIX_OK && same_customer(&sales[earlier], &sales[index])) {
      bought += sales[earlier].quantity;
    }
  }
  return bought;
}

void tix_sales_decide(const tix_event_state *event, tix_sale *sales, size_t count) {
  int remaining = event->available;
  for (size_t index = 0; index < count; index++) {
    tix_sale *sale = &sales[index];
    if (sale->id_taken || id_sold_earlier(sales, index)) {
      sale->verdict = TIX_EUNIQUE;
      sale->available_after = remaining;
      continue;
    }
    if (event->max_per_customer > 0 && sale->customer != NULL) {
      sale->customer_bought += bought_earlier_in_list(sales, index);
    }
    sale->verdict = decide_one(event, remaining, sale);
    if (sale->verdict == TIX_OK) {
      remaining -= sale->quantity;
    }
    sale->available_after = remaining;
  }
}

int tix_sale_fail(const tix_sale *sale, const tix_event_state *event) {
  switch (sale->verdict) {
  case TIX_ENOTFOUND:
    return tix_fail(TIX_ENOTFOUND, "event %s does not exist", sale->event_id);
  case TIX_ECANCELLED:
    return tix_fail(TIX_ECANCELLED, "event %s is cancelled", sale->event_id);
  case TIX_EPAST:
    /* A ticket is worth something until the event starts; after that a
     * sale would only take money for something the buyer cannot attend. */
    tix_fail(TIX_EPAST, "event %s is no longer on sale: its date has passed", sale->event_id);
    tix_fail_detail("Tickets are sold until the date and time the event starts.");
    return TIX_EPAST;
  case TIX_EINSUFFICIENT:
    if (sale->available_after == 0) {
      tix_fail(TIX_EINSUFFICIENT, "the event is sold out");
    } else {
      tix_fail(TIX_EINSUFFICIENT, "only %d %s left", sale->available_after,
               sale->available_after == 1 ? "ticket is" : "tickets are");
    }
    tix_fail_detail("%d %s asked for.", sale->quantity, sale->quantity == 1 ? "was" : "were");
    return TIX_EINSUFFICIENT;
  case TIX_ELIMIT:
    tix_fail(TIX_ELIMIT, "customer \"%s\" may have at most %d %s for this event", sale->customer,
             event->max_per_customer, event->max_per_customer == 1 ? "ticket" : "tickets");
    tix_fail_detail("They already have %d and asked for %d more.", sale->customer_bought,
                    sale->quantity);
    return TIX_ELIMIT;
  default:
    return tix_fail(sale->verdict, "%s", tix_strerror(sale->verdict));
  }
}
