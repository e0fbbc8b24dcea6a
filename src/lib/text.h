/*
 * text.h — internal: the small text helpers every subsystem shares, written
 * once: bounded copies, UTF-8 validation and length, and percent-encoding.
 * They sit below every other subsystem and call none of them.
 */
#ifndef TIX_TEXT_H
#define TIX_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Copies source into destination[size]. False, with destination left as the
 * truncated copy, when it does not fit; callers that must not truncate check
 * it, callers filling fixed-size fields from the database may ignore it. */
bool tix_text_copy(char *destination, size_t size, const char *source);

/* The number of characters of text[0…size), or -1 when it is not strict
 * UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF). */
long tix_utf8_length(const char *text, size_t size);

/* RFC 3986 unreserved characters stay, everything else becomes %XX, so a
 * path with spaces, '&' or '=' survives in a URI. False when out is small. */
bool tix_percent_encode(const char *text, char *out, size_t size);

#endif /* TIX_TEXT_H */
