/*
 * text.c — bounded copies, strict UTF-8, percent-encoding, the rule for
 * human-readable fields and their escaping for a terminal (see text.h).
 */
#include "text.h"

#include "error.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The longest escape of one character or byte: a backslash, u, four hex digits. */
#define ESCAPE_MAX_BYTES 6

bool tix_text_copy(char *destination, size_t size, const char *source) {
  if (size == 0) {
    return false;
  }
  size_t length = strnlen(source, size);
  bool fits = length < size;
  size_t copied = fits ? length : size - 1;
  memcpy(destination, source, copied);
  destination[copied] = '\0';
  return fits;
}

/* How many bytes a UTF-8 sequence starting with lead has, and the range its
 * second byte must fall in (which rules out overlong forms, surrogates and
 * code points past U+10FFFF); 0 for a byte that cannot start one. */
static size_t utf8_sequence(unsigned char lead, unsigned char *low, unsigned char *high) {
  *low = 0x80;
  *high = 0xBF;
  if (lead < 0x80) {
    return 1;
  }
  if (lead >= 0xC2 && lead <= 0xDF) {
    return 2;
  }
  if (lead >= 0xE0 && lead <= 0xEF) {
    *low = lead == 0xE0 ? 0xA0 : 0x80;
    *high = lead == 0xED ? 0x9F : 0xBF;
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    *low = lead == 0xF0 ? 0x90 : 0x80;
    *high = lead == 0xF4 ? 0x8F : 0xBF;
    return 4;
  }
  return 0;
}

/* Decodes the character at bytes[0…size): its length in bytes, with its
 * code point in *code_point, or 0 when the bytes there are not UTF-8. */
static size_t utf8_decode(const unsigned char *bytes, size_t size, uint32_t *code_point) {
  unsigned char low, high;
  size_t length = utf8_sequence(bytes[0], &low, &high);
  if (length == 0 || length > size) {
    return 0;
  }
  static const unsigned char lead_mask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  uint32_t value = bytes[0] & lead_mask[length];
  for (size_t k = 1; k < length; k++) {
    unsigned char minimum = k == 1 ? low : 0x80, maximum = k == 1 ? high : 0xBF;
    if (bytes[k] < minimum || bytes[k] > maximum) {
      return 0;
    }
    value = value << 6 | (bytes[k] & 0x3F);
  }
  *code_point = value;
  return length;
}

long tix_utf8_length(const char *text, size_t size) {
  const unsigned char *bytes = (const unsigned char *)text;
  long characters = 0;
  for (size_t at = 0, length = 0; at < size; at += length, characters++) {
    uint32_t unused;
    length = utf8_decode(bytes + at, size - at, &unused);
    if (length == 0) {
      return -1;
    }
  }
  return characters;
}

static bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("-._~", c) != NULL);
}

bool tix_percent_encode(const char *text, char *out, size_t size) {
  static const char hex[] = "0123456789ABCDEF";
  size_t used = 0;
  for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
    if (used + 4 > size) {
      return false;
    }
    if (is_unreserved(*c)) {
      out[used++] = (char)*c;
    } else {
      out[used++] = '%';
      out[used++] = hex[*c >> 4];
      out[used++] = hex[*c & 0x0F];
    }
  }
  if (used >= size) {
    return false;
  }
  out[used] = '\0';
  return true;
}

/* ------------------------------------------------ human-readable fields */

typedef struct code_range {
  uint32_t first, last;
} code_range;

/* Characters that break a line or the layout around them (see text.h). */
static const code_range control_characters[] = {
    {0x0000, 0x001F}, {0x007F, 0x009F}, {0x061C, 0x061C}, {0x200E, 0x200F},
    {0x2028, 0x2029}, {0x202A, 0x202E}, {0x2066, 0x2069}, {0xFFF9, 0xFFFB},
};

/* Unicode White_Space, and the characters that show nothing: a field made
 * of these alone looks empty, and one of them first or last looks absent. */
static const code_range blank_characters[] = {
    {0x0009, 0x000D},   {0x0020, 0x0020},   {0x0085, 0x0085}, {0x00A0, 0x00A0}, {0x00AD, 0x00AD},
    {0x034F, 0x034F},   {0x115F, 0x1160},   {0x1680, 0x1680}, {0x17B4, 0x17B5}, {0x180B, 0x180F},
    {0x2000, 0x200F},   {0x2028, 0x202F},   {0x205F, 0x206F}, {0x2800, 0x2800}, {0x3000, 0x3000},
    {0x3164, 0x3164},   {0xFE00, 0xFE0F},   {0xFEFF, 0xFEFF}, {0xFFA0, 0xFFA0}, {0x1D173, 0x1D17A},
    {0xE0000, 0xE007F}, {0xE0100, 0xE01EF},
};

static bool in_ranges(uint32_t code_point, const code_range *ranges, size_t count) {
  for (size_t i = 0; i < count; i++) {
    if (code_point >= ranges[i].first && code_point <= ranges[i].last) {
      return true;
    }
  }
  return false;
}

static bool is_control(uint32_t code_point) {
  return in_ranges(code_point, control_characters,
                   sizeof control_characters / sizeof control_characters[0]);
}

static bool is_blank(uint32_t code_point) {
  return in_ranges(code_point, blank_characters,
                   sizeof blank_characters / sizeof blank_characters[0]);
}

/* What one pass over a field found; positions count characters from 1. */
typedef struct text_scan {
  long characters;
  long visible;      /* characters that are not blank */
  long invalid_byte; /* offset of the first byte that is not UTF-8, or -1 */
  long control_at;   /* the first control character, 0 when none */
  uint32_t control;
  uint32_t first, last; /* the first and last characters */
} text_scan;

static void scan_text(const char *text, size_t size, text_scan *scan) {
  const unsigned char *bytes = (const unsigned char *)text;
  *scan = (text_scan){.invalid_byte = -1};
  for (size_t at = 0, length = 0; at < size; at += length) {
    uint32_t code_point = 0;
    length = utf8_decode(bytes + at, size - at, &code_point);
    if (length == 0) {
      scan->invalid_byte = (long)at;
      return;
    }
    scan->characters++;
    if (scan->control_at == 0 && is_control(code_point)) {
      scan->control_at = scan->characters;
      scan->control = code_point;
    }
    scan->visible += is_blank(code_point) ? 0 : 1;
    scan->first = scan->characters == 1 ? code_point : scan->first;
    scan->last = code_point;
  }
}

static int fail_too_long(const tix_text_rule *rule) {
  tix_fail(TIX_EINVAL, "%s is too long", rule->what);
  tix_fail_detail("It may have at most %ld characters (%zu bytes of UTF-8).", rule->max_characters,
                  rule->max_bytes);
  return TIX_EINVAL;
}

/* The checks after the encoding's: characters, not bytes. */
static int check_characters(const text_scan *scan, const tix_text_rule *rule) {
  if (scan->characters > rule->max_characters) {
    return fail_too_long(rule);
  }
  if (scan->control_at > 0) {
    tix_fail(TIX_EINVAL, "%s must not contain control characters", rule->what);
    tix_fail_detail("Character %ld is U+%04X, which would change how the text is displayed.",
                    scan->control_at, (unsigned)scan->control);
    return TIX_EINVAL;
  }
  if (scan->visible == 0 && !rule->blank_allowed) {
    tix_fail(TIX_EINVAL, "%s must not be blank", rule->what);
    tix_fail_detail("It has only spaces or invisible characters.");
    if (rule->blank_hint != NULL) {
      tix_fail_hint("%s", rule->blank_hint);
    }
    return TIX_EINVAL;
  }
  bool padded = scan->characters > 0 && (is_blank(scan->first) || is_blank(scan->last));
  if (padded && !rule->padding_allowed) {
    tix_fail(TIX_EINVAL, "%s must not begin or end with a space or an invisible character",
             rule->what);
    tix_fail_detail("It %s with U+%04X.", is_blank(scan->first) ? "begins" : "ends",
                    (unsigned)(is_blank(scan->first) ? scan->first : scan->last));
    return TIX_EINVAL;
  }
  return TIX_OK;
}

int tix_text_check(const char *text, const tix_text_rule *rule) {
  if (text == NULL) {
    return tix_fail(TIX_EINVAL, "%s is required", rule->what);
  }
  size_t size = strnlen(text, rule->max_bytes + 1);
  if (size > rule->max_bytes) {
    return fail_too_long(rule);
  }
  text_scan scan;
  scan_text(text, size, &scan);
  if (scan.invalid_byte >= 0) {
    tix_fail(TIX_EINVAL, "%s is not valid UTF-8", rule->what);
    tix_fail_detail("Byte %ld is not part of a UTF-8 character.", scan.invalid_byte + 1);
    return TIX_EINVAL;
  }
  return check_characters(&scan, rule);
}

bool tix_text_is_blank(const char *text) {
  const unsigned char *bytes = (const unsigned char *)text;
  size_t size = text != NULL ? strlen(text) : 0;
  for (size_t at = 0, length = 0; at < size; at += length) {
    uint32_t code_point = 0;
    length = utf8_decode(bytes + at, size - at, &code_point);
    if (length == 0 || !is_blank(code_point)) {
      return false;
    }
  }
  return true;
}

bool tix_text_escape(const char *text, char *out, size_t size) {
  const unsigned char *bytes = (const unsigned char *)text;
  size_t length = strlen(text), used = 0;
  bool fits = size > 0;
  for (size_t at = 0, step = 0; fits && at < length; at += step) {
    uint32_t code_point = 0;
    char escaped[ESCAPE_MAX_BYTES + 1];
    step = utf8_decode(bytes + at, length - at, &code_point);
    const char *piece = (const char *)bytes + at;
    size_t piece_size = step;
    if (step == 0) { /* a byte that is not UTF-8 */
      step = 1;
      piece_size = (size_t)snprintf(escaped, sizeof escaped, "\\x%02x", bytes[at]);
      piece = escaped;
    } else if (is_control(code_point)) {
      piece_size = (size_t)snprintf(escaped, sizeof escaped, "\\u%04x", (unsigned)code_point);
      piece = escaped;
    }
    fits = used + piece_size < size;
    if (fits) {
      memcpy(out + used, piece, piece_size);
      used += piece_size;
    }
  }
  if (size > 0) {
    out[used] = '\0';
  }
  return fits;
}
