/*
 * text.h — internal: the small text helpers every subsystem shares, written
 * once: bounded copies, UTF-8 validation and length, percent-encoding, and
 * the one rule for human-readable fields (event names, customers, search
 * queries). They sit below every other subsystem and call none of them but
 * error.c, to describe a field that breaks the rule.
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

/*
 * The rule for a field that people read (tix_text_check):
 *  - strict UTF-8 (tix_utf8_length's definition);
 *  - no control character: C0 (U+0000–U+001F, tab and newline included),
 *    DEL, C1 (U+0080–U+009F), the line and paragraph separators U+2028 and
 *    U+2029, and the format characters that reorder or restyle what follows
 *    them on a line: the bidirectional marks, embeddings, overrides and
 *    isolates (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069) and the
 *    interlinear annotation marks (U+FFF9–U+FFFB). The joiners U+200C and
 *    U+200D stay allowed: scripts and emoji need them inside words;
 *  - not blank: at least one character that is neither Unicode white space
 *    nor invisible (U+200B ZERO WIDTH SPACE, U+FEFF, U+2060 WORD JOINER,
 *    the Hangul and Braille fillers, variation selectors, tags…);
 *  - (unless padding_allowed) no such space or invisible character first or
 *    last, so "alice" and "alice\u00A0" cannot be two customers that look
 *    the same;
 *  - at most max_characters characters and max_bytes bytes.
 */
typedef struct tix_text_rule {
  const char *what; /* names the field in messages: "event name", "customer" */
  long max_characters;
  size_t max_bytes;
  bool blank_allowed;     /* a search query: blank means no filter */
  bool padding_allowed;   /* a search query: spaces around words are fine */
  const char *blank_hint; /* said when blank text is refused; NULL: nothing */
} tix_text_rule;

/* TIX_OK when text keeps the rule; else TIX_EINVAL with a message naming
 * rule->what and, in its detail, the first character that breaks it. NULL
 * text is TIX_EINVAL ("… is required"). */
int tix_text_check(const char *text, const tix_text_rule *rule);

/* True when text (NULL included) has no character but white space and
 * invisible ones. */
bool tix_text_is_blank(const char *text);

#endif /* TIX_TEXT_H */
