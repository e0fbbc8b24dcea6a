/*
 * event_input.c — every event argument checked before the database sees
 * it (names, RFC 3339 dates, ids, ticket counts, patches, list filters), so
 * bad input is refused with a message fit for the person who typed it, and
 * the keyset cursors of listings, encoded and decoded.
 */
#include "event.h"

#include "error.h"
#include "sql.h"
#include "text.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_MAX_BYTES         (TIX_NAME_MAX_CHARS * 4)
#define TIMESTAMP_MAX_BYTES    (TIX_TIMESTAMP_SIZE - 1)
#define FRACTION_DIGITS_MAX    9
#define CURSOR_TEXT_MAX_BYTES  ((TIX_CURSOR_SIZE - 1) / 4 * 3)
#define QUOTED_VALUE_MAX_CHARS 40
/* "±HH:MM", with room for whatever an int could print: the compiler cannot
 * know the offset stays within a day. */
#define OFFSET_TEXT_SIZE  24
#define QUOTED_VALUE_SIZE (QUOTED_VALUE_MAX_CHARS + 4)

static const char base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ------------------------------------------------------------- checks */

/* A bad value quoted in a message: printable ASCII only and short, so the
 * message stays one readable line of valid UTF-8 whatever was passed. */
static const char *quote_value(const char *value, char buffer[QUOTED_VALUE_SIZE]) {
  size_t used = 0;
  for (; used < QUOTED_VALUE_MAX_CHARS && value[used] != '\0'; used++) {
    unsigned char c = (unsigned char)value[used];
    buffer[used] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  if (value[used] != '\0') {
    memcpy(buffer + used, "...", 3);
    used += 3;
  }
  buffer[used] = '\0';
  return buffer;
}

static const tix_text_rule event_name_rule = {
    .what = "event name",
    .max_characters = TIX_NAME_MAX_CHARS,
    .max_bytes = NAME_MAX_BYTES,
};

/* A query is free text too, but blank means "no filter" (as an empty query
 * parameter does) and spaces around its words are harmless. */
static const tix_text_rule query_rule = {
    .what = "search query",
    .max_characters = TIX_EVENT_QUERY_MAX_BYTES,
    .max_bytes = TIX_EVENT_QUERY_MAX_BYTES,
    .blank_allowed = true,
    .padding_allowed = true,
};

/* Reads exactly count digits; false when one of them is not a digit. */
static bool read_digits(const char *text, int count, int *value) {
  *value = 0;
  for (int i = 0; i < count; i++) {
    if (!isdigit((unsigned char)text[i])) {
      return false;
    }
    *value = *value * 10 + (text[i] - '0');
  }
  return true;
}

static int days_in_month(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}

/* An RFC 3339 timestamp in parts. */
typedef struct timestamp_parts {
  int year, month, day, hour, minute, second;
  char fraction[FRACTION_DIGITS_MAX + 1]; /* the digits after the point, "" when none */
  int offset_minutes;                     /* east of UTC: +01:00 is 60 */
} timestamp_parts;

/* "YYYY-MM-DDTHH:MM:SS", with a real calendar date; 60 seconds is a leap
 * second, which RFC 3339 allows and PostgreSQL accepts. */
static bool parse_date_and_time(const char *text, timestamp_parts *parts) {
  bool shape = read_digits(text, 4, &parts->year) && text[4] == '-' &&
               read_digits(text + 5, 2, &parts->month) && text[7] == '-' &&
               read_digits(text + 8, 2, &parts->day) && (text[10] == 'T' || text[10] == 't') &&
               read_digits(text + 11, 2, &parts->hour) && text[13] == ':' &&
               read_digits(text + 14, 2, &parts->minute) && text[16] == ':' &&
               read_digits(text + 17, 2, &parts->second);
  return shape && parts->year >= 1 && parts->month >= 1 && parts->month <= 12 && parts->day >= 1 &&
         parts->day <= days_in_month(parts->year, parts->month) && parts->hour <= 23 &&
         parts->minute <= 59 && parts->second <= 60;
}

/* "[.fraction](Z|±HH:MM)" to the end of the text. */
static bool parse_fraction_and_offset(const char *text, timestamp_parts *parts) {
  parts->fraction[0] = '\0';
  if (*text == '.') {
    int digits = 0;
    for (text++; digits <= FRACTION_DIGITS_MAX && isdigit((unsigned char)*text); text++) {
      if (digits < FRACTION_DIGITS_MAX) {
        parts->fraction[digits] = *text;
      }
      digits++;
    }
    if (digits == 0 || digits > FRACTION_DIGITS_MAX) {
      return false;
    }
    parts->fraction[digits] = '\0';
  }
  parts->offset_minutes = 0;
  if (*text == 'Z' || *text == 'z') {
    return text[1] == '\0';
  }
  int hours, minutes;
  bool valid = (*text == '+' || *text == '-') && read_digits(text + 1, 2, &hours) &&
               text[3] == ':' && read_digits(text + 4, 2, &minutes) && text[6] == '\0' &&
               hours <= 23 && minutes <= 59;
  if (valid) {
    parts->offset_minutes = (*text == '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  return valid;
}

static bool parse_timestamp(const char *text, timestamp_parts *parts) {
  size_t length = strnlen(text, TIMESTAMP_MAX_BYTES + 1);
  return length <= TIMESTAMP_MAX_BYTES && parse_date_and_time(text, parts) &&
         parse_fraction_and_offset(text + 19, parts);
}

static bool timestamp_valid(const char *text) {
  timestamp_parts unused;
  return parse_timestamp(text, &unused);
}

/* Seconds since the epoch of the instant (the fraction left out). */
static time_t timestamp_seconds(const timestamp_parts *parts) {
  struct tm fields = {.tm_year = parts->year - 1900,
                      .tm_mon = parts->month - 1,
                      .tm_mday = parts->day,
                      .tm_hour = parts->hour,
                      .tm_min = parts->minute,
                      .tm_sec = parts->second};
  return timegm(&fields) - (time_t)parts->offset_minutes * 60;
}

int tix_timestamp_check(const char *text, const char *what) {
  if (text == NULL) {
    return tix_fail(TIX_EINVAL, "%s is required", what);
  }
  if (!timestamp_valid(text)) {
    char quoted[QUOTED_VALUE_SIZE];
    tix_fail(TIX_EINVAL, "%s must be an RFC 3339 date and time, not \"%s\"", what,
             quote_value(text, quoted));
    tix_fail_hint("Write it like 2030-05-01T20:00:00Z, or with its offset from UTC: "
                  "2030-05-01T22:00:00+02:00.");
    return TIX_EINVAL;
  }
  return TIX_OK;
}

/* An event's date (a valid timestamp) must not have passed unless the
 * caller imports history. The local clock decides: this runs before the
 * database is asked anything. */
static int check_not_past(const char *date, bool allow_past) {
  timestamp_parts parts;
  if (allow_past || !parse_timestamp(date, &parts) || timestamp_seconds(&parts) >= time(NULL)) {
    return TIX_OK;
  }
  char quoted[QUOTED_VALUE_SIZE];
  tix_fail(TIX_EINVAL, "the event date %s is in the past", quote_value(date, quoted));
  tix_fail_detail("Events are created for dates to come, and tickets are sold until then.");
  tix_fail_hint("To record an event that already took place, allow past dates (--allow-past).");
  return TIX_EINVAL;
}

int tix_event_date_offset_minutes(const char *date) {
  timestamp_parts parts;
  return parse_timestamp(date, &parts) ? parts.offset_minutes : 0;
}

void tix_event_local_date(const char *utc, int offset_minutes, char out[TIX_TIMESTAMP_SIZE]) {
  timestamp_parts parts;
  struct tm local;
  time_t seconds = 0;
  bool parsed = parse_timestamp(utc, &parts);
  if (parsed) {
    seconds = timestamp_seconds(&parts) + (time_t)offset_minutes * 60;
  }
  if (!parsed || gmtime_r(&seconds, &local) == NULL) {
    tix_text_copy(out, TIX_TIMESTAMP_SIZE, utc); /* not the database's form: as it is */
    return;
  }
  bool fraction = strspn(parts.fraction, "0") < strlen(parts.fraction);
  int offset = offset_minutes < 0 ? -offset_minutes : offset_minutes;
  char zone[OFFSET_TEXT_SIZE] = "Z";
  if (offset_minutes != 0) {
    snprintf(zone, sizeof zone, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+', offset / 60,
             offset % 60);
  }
  int written =
      snprintf(out, TIX_TIMESTAMP_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d%s%s%s", local.tm_year + 1900,
               local.tm_mon + 1, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec,
               fraction ? "." : "", fraction ? parts.fraction : "", zone);
  if (written < 0 || written >= TIX_TIMESTAMP_SIZE) {
    tix_text_copy(out, TIX_TIMESTAMP_SIZE, utc); /* a year past 9999: UTC, as stored */
  }
}

int tix_event_id_check(const char *event_id) {
  if (event_id == NULL) {
    return tix_fail(TIX_EINVAL, "event id is required");
  }
  if (!tix_uuid_is_valid(event_id)) {
    char quoted[QUOTED_VALUE_SIZE];
    tix_fail(TIX_EINVAL, "invalid event id \"%s\"", quote_value(event_id, quoted));
    tix_fail_hint("An event id is a UUID such as 0b7c5a2e-4f1d-4c3b-9a8e-2d6f1e0c9b7a.");
    return TIX_EINVAL;
  }
  return TIX_OK;
}

static int check_total_tickets(int total_tickets) {
  if (total_tickets < 0 || total_tickets > TIX_TICKETS_MAX) {
    tix_fail(TIX_EINVAL, "total tickets must be between 0 and %d", TIX_TICKETS_MAX);
    tix_fail_detail("Got %d.", total_tickets);
    return TIX_EINVAL;
  }
  return TIX_OK;
}

/* total_tickets < 0 when the total is not known here (a patch). */
static int check_max_per_customer(int max_per_customer, int total_tickets) {
  int maximum = total_tickets >= 0 ? total_tickets : TIX_TICKETS_MAX;
  if (max_per_customer < 0 || max_per_customer > maximum) {
    tix_fail(TIX_EINVAL, "max per customer must be between 1 and %d, or 0 for no limit", maximum);
    tix_fail_detail("Got %d.", max_per_customer);
    return TIX_EINVAL;
  }
  return TIX_OK;
}

int tix_event_input_check(const tix_event_input *input) {
  if (input == NULL) {
    return tix_fail(TIX_EINVAL, "the event to create is missing");
  }
  int status = tix_text_check(input->name, &event_name_rule);
  if (status == TIX_OK) {
    status = tix_timestamp_check(input->date, "event date");
  }
  if (status == TIX_OK) {
    status = check_not_past(input->date, input->allow_past);
  }
  if (status == TIX_OK) {
    status = check_total_tickets(input->total_tickets);
  }
  if (status == TIX_OK) {
    status = check_max_per_customer(input->max_per_customer, input->total_tickets);
  }
  return status;
}

int tix_event_patch_check(const tix_event_patch *patch) {
  if (patch == NULL) {
    return tix_fail(TIX_EINVAL, "the change to make is missing");
  }
  if (patch->name == NULL && patch->date == NULL && patch->total_tickets < 0 &&
      patch->max_per_customer < 0) {
    tix_fail(TIX_EINVAL, "nothing to update");
    tix_fail_hint("Change at least one of name, date, total tickets or max per customer.");
    return TIX_EINVAL;
  }
  int status = patch->name != NULL ? tix_text_check(patch->name, &event_name_rule) : TIX_OK;
  if (status == TIX_OK && patch->date != NULL) {
    status = tix_timestamp_check(patch->date, "event date");
  }
  if (status == TIX_OK && patch->date != NULL) {
    status = check_not_past(patch->date, patch->allow_past);
  }
  if (status == TIX_OK && patch->total_tickets >= 0) {
    status = check_total_tickets(patch->total_tickets);
  }
  if (status == TIX_OK && patch->max_per_customer >= 0) {
    status = check_max_per_customer(patch->max_per_customer, patch->total_tickets);
  }
  return status;
}

/* ------------------------------------------------------------- cursor */

static void base64url_encode(const unsigned char *data, size_t size, char *out, size_t out_size) {
  assert((size * 4 + 2) / 3 < out_size);
  size_t used = 0;
  for (size_t at = 0; at < size; at += 3) {
    unsigned long group = (unsigned long)data[at] << 16;
    group |= at + 1 < size ? (unsigned long)data[at + 1] << 8 : 0;
    group |= at + 2 < size ? data[at + 2] : 0;
    size_t characters = size - at >= 3 ? 4 : size - at + 1;
    for (size_t k = 0; k < characters; k++) {
      out[used++] = base64url_alphabet[(group >> (18 - 6 * k)) & 0x3f];
    }
  }
  out[used] = '\0';
}

/* Decodes unpadded base64url into out (NUL-terminated); false when the
 * text is not that or does not fit. */
static bool base64url_decode(const char *text, char *out, size_t out_size) {
  size_t length = strnlen(text, TIX_CURSOR_SIZE);
  if (length >= TIX_CURSOR_SIZE || length % 4 == 1 || length * 3 / 4 >= out_size) {
    return false;
  }
  size_t used = 0;
  unsigned long group = 0;
  for (size_t at = 0; at < length; at++) {
    const char *found = strchr(base64url_alphabet, text[at]);
    if (found == NULL || *found == '\0') {
      return false;
    }
    group = group << 6 | (unsigned long)(found - base64url_alphabet);
    if (at % 4 == 3 || at == length - 1) {
      size_t characters = at % 4 + 1;
      group <<= 6 * (4 - characters);
      for (size_t k = 0; k + 1 < characters; k++) {
        out[used++] = (char)((group >> (16 - 8 * k)) & 0xff);
      }
      group = 0;
    }
  }
  out[used] = '\0';
  return strlen(out) == used;
}

/* A cursor is base64url("<date>|<id>") of the last row of a page. */
int tix_event_cursor_encode(const tix_event *last, char cursor[TIX_CURSOR_SIZE]) {
  char text[CURSOR_TEXT_MAX_BYTES + 1];
  int length = snprintf(text, sizeof text, "%s|%s", last->date, last->id);
  if (length < 0 || (size_t)length >= sizeof text) {
    return tix_fail(TIX_EINTERNAL, "event %s has a date that cannot go in a cursor", last->id);
  }
  base64url_encode((const unsigned char *)text, (size_t)length, cursor, TIX_CURSOR_SIZE);
  return TIX_OK;
}

int tix_event_cursor_decode(const char *cursor, char date[TIX_TIMESTAMP_SIZE],
                            char id[TIX_UUID_SIZE]) {
  char text[CURSOR_TEXT_MAX_BYTES + 1];
  char *separator = NULL;
  bool valid = base64url_decode(cursor, text, sizeof text) &&
               (separator = strchr(text, '|')) != NULL &&
               (size_t)(separator - text) < TIX_TIMESTAMP_SIZE;
  if (valid) {
    *separator = '\0';
    valid = timestamp_valid(text) && tix_uuid_is_valid(separator + 1);
  }
  if (!valid) {
    char quoted[QUOTED_VALUE_SIZE];
    tix_fail(TIX_EINVAL, "invalid cursor \"%s\"", quote_value(cursor, quoted));
    tix_fail_hint("Pass the next_cursor of the previous page unchanged.");
    return TIX_EINVAL;
  }
  /* Both parts were measured by the checks above. */
  memcpy(date, text, (size_t)(separator - text) + 1);
  memcpy(id, separator + 1, TIX_UUID_SIZE);
  return TIX_OK;
}

int tix_event_filter_check(const tix_event_filter *filter) {
  if (filter == NULL) {
    return tix_fail(TIX_EINVAL, "the list filter is missing");
  }
  int status = TIX_OK;
  if (tix_event_given(filter->from) != NULL) {
    status = tix_timestamp_check(filter->from, "from");
  }
  if (status == TIX_OK && tix_event_given(filter->to) != NULL) {
    status = tix_timestamp_check(filter->to, "to");
  }
  if (status == TIX_OK && filter->query != NULL) {
    status = tix_text_check(filter->query, &query_rule);
  }
  if (status == TIX_OK && (filter->limit < 0 || filter->limit > TIX_LIST_LIMIT_MAX)) {
    status = tix_fail(TIX_EINVAL, "limit must be between 1 and %d", TIX_LIST_LIMIT_MAX);
  }
  if (status == TIX_OK && tix_event_given(filter->cursor) != NULL) {
    char date[TIX_TIMESTAMP_SIZE], id[TIX_UUID_SIZE];
    status = tix_event_cursor_decode(filter->cursor, date, id);
  }
  return status;
}
