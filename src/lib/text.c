/*
 * text.c — bounded copies, strict UTF-8 and percent-encoding (see text.h).
 */
#include "text.h"

#include <string.h>

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

long tix_utf8_length(const char *text, size_t size) {
  const unsigned char *bytes = (const unsigned char *)text;
  long characters = 0;
  size_t at = 0;
  while (at < size) {
    unsigned char low, high;
    size_t length = utf8_sequence(bytes[at], &low, &high);
    if (length == 0 || length > size - at) {
      return -1;
    }
    for (size_t k = 1; k < length; k++) {
      unsigned char minimum = k == 1 ? low : 0x80, maximum = k == 1 ? high : 0xBF;
      if (bytes[at + k] < minimum || bytes[at + k] > maximum) {
        return -1;
      }
    }
    at += length;
    characters++;
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
