/*
 * pg_wire.c — recognises COMMITs and their replies in PostgreSQL's wire
 * protocol as the bytes pass through the fault proxy (see pg_wire.h).
 */
#include "pg_wire.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* PostgreSQL refuses longer start-up packets (MAX_STARTUP_PACKET_LENGTH). */
#define STARTUP_LENGTH_MAX  10000
#define CANCEL_REQUEST_CODE 80877102
#define SSL_REQUEST_CODE    80877103
#define GSSENC_REQUEST_CODE 80877104
/* The longest spelling of COMMIT worth recognising, blanks squeezed. */
#define COMMIT_TEXT_MAX 32

static const char *const commit_spellings[] = {
    "COMMIT", "COMMIT WORK", "COMMIT TRANSACTION", "COMMIT AND NO CHAIN",
    "END",    "END WORK",    "END TRANSACTION",    "END AND NO CHAIN",
};

void pg_wire_session_init(struct pg_wire_session *session) {
  memset(session, 0, sizeof *session);
  session->from_client.phase = PG_WIRE_STARTUP;
  session->from_server.phase = PG_WIRE_TYPED;
}

bool pg_wire_is_commit(const char *text, size_t length) {
  char squeezed[COMMIT_TEXT_MAX];
  size_t used = 0;
  bool blank_pending = false;
  for (size_t i = 0; i < length; i++) {
    unsigned char c = (unsigned char)text[i];
    if (isspace(c) || c == ';') {
      blank_pending = used > 0;
      continue;
    }
    if (used + (blank_pending ? 2 : 1) >= sizeof squeezed) {
      return false;
    }
    if (blank_pending) {
      squeezed[used++] = ' ';
      blank_pending = false;
    }
    squeezed[used++] = (char)c;
  }
  squeezed[used] = '\0';
  for (size_t i = 0; i < sizeof commit_spellings / sizeof commit_spellings[0]; i++) {
    if (strcasecmp(squeezed, commit_spellings[i]) == 0) {
      return true;
    }
  }
  return false;
}

static uint32_t read_big_endian_32(const uint8_t *bytes) {
  return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
         (uint32_t)bytes[3];
}

static size_t smaller(size_t first, size_t second) {
  return first < second ? first : second;
}

/* Consumes the bytes of one message (or as many as there are): returns how
 * many, with *complete when the message ended there. Its type stays in
 * header[0] and the start of its body in prefix. */
static size_t stream_next(struct pg_wire_stream *stream, const uint8_t *data, size_t size,
                          bool *complete) {
  *complete = false;
  if (stream->phase == PG_WIRE_OPAQUE) {
    return size;
  }
  size_t used = 0;
  size_t header_size = stream->phase == PG_WIRE_STARTUP ? 4 : 5;
  if (stream->header_length < header_size) {
    used = smaller(header_size - stream->header_length, size);
    memcpy(stream->header + stream->header_length, data, used);
    stream->header_length += used;
    if (stream->header_length < header_size) {
      return used;
    }
    uint32_t length = read_big_endian_32(stream->header + header_size - 4);
    if (length < 4 || (stream->phase == PG_WIRE_STARTUP && length > STARTUP_LENGTH_MAX)) {
      stream->phase = PG_WIRE_OPAQUE; /* not PostgreSQL as we know it: just forward */
      return size;
    }
    stream->body_length = stream->body_left = length - 4;
    stream->prefix_length = 0;
  }
  size_t taken = smaller(size - used, stream->body_left);
  size_t kept = smaller(taken, PG_WIRE_PREFIX_MAX - stream->prefix_length);
  memcpy(stream->prefix + stream->prefix_length, data + used, kept);
  stream->prefix_length += kept;
  stream->body_left -= (uint32_t)taken;
  if (stream->body_left == 0) {
    *complete = true;
    stream->header_length = 0;
  }
  return used + taken;
}

/* The NUL-terminated string at *offset of the body's prefix, or NULL when it
 * does not end inside the prefix; *offset moves past it. */
static const char *string_at(const struct pg_wire_stream *stream, size_t *offset) {
  if (*offset >= stream->prefix_length) {
    return NULL;
  }
  const char *start = stream->prefix + *offset;
  const char *end = memchr(start, '\0', stream->prefix_length - *offset);
  if (end == NULL) {
    return NULL;
  }
  *offset += (size_t)(end - start) + 1;
  return start;
}

static int names_find(const struct pg_wire_names *set, const char *name) {
  for (int i = 0; i < PG_WIRE_NAMES_MAX; i++) {
    if (set->used[i] && strcmp(set->names[i], name) == 0) {
      return i;
    }
  }
  return -1;
}

/* Adds or removes name. When full, the slot replaced goes round: a client
 * with more than PG_WIRE_NAMES_MAX COMMIT statements loses the oldest. */
static void names_put(struct pg_wire_names *set, const char *name, bool member) {
  int found = names_find(set, name);
  if (!member || found >= 0) {
    if (!member && found >= 0) {
      set->used[found] = false;
    }
    return;
  }
  if (strlen(name) >= PG_WIRE_NAME_BYTES) {
    return;
  }
  int slot = -1;
  for (int i = 0; i < PG_WIRE_NAMES_MAX && slot < 0; i++) {
    slot = set->used[i] ? -1 : i;
  }
  if (slot < 0) {
    slot = set->next_replaced;
    set->next_replaced = (slot + 1) % PG_WIRE_NAMES_MAX;
  }
  strcpy(set->names[slot], name);
  set->used[slot] = true;
}

static bool names_has(const struct pg_wire_names *set, const char *name) {
  return name != NULL && names_find(set, name) >= 0;
}

static void startup_packet(struct pg_wire_session *session) {
  struct pg_wire_stream *stream = &session->from_client;
  if (stream->prefix_length < 4) {
    stream->phase = PG_WIRE_OPAQUE;
    return;
  }
  uint32_t code = read_big_endian_32((const uint8_t *)stream->prefix);
  if (code == SSL_REQUEST_CODE || code == GSSENC_REQUEST_CODE) {
    session->from_server.answers_expected++; /* then another start-up packet */
  } else if (code != CANCEL_REQUEST_CODE) {
    stream->phase = PG_WIRE_TYPED;
    session->groups_asked++; /* the server's first ReadyForQuery ends the start-up */
  }
}

/* A whole client message: returns the reply group of the COMMIT it
 * executes, 0 when it executes none. */
static long client_message(struct pg_wire_session *session) {
  struct pg_wire_stream *stream = &session->from_client;
  if (stream->phase == PG_WIRE_STARTUP) {
    startup_packet(session);
    return 0;
  }
  size_t offset = 0;
  const char *first = NULL, *second = NULL;
  switch (stream->header[0]) {
  case 'Q': /* Query: its own group */
    first = string_at(stream, &offset);
    session->groups_asked++;
    return first != NULL && pg_wire_is_commit(first, strlen(first)) ? session->groups_asked : 0;
  case 'P': /* Parse: statement name, query text */
    first = string_at(stream, &offset);
    second = string_at(stream, &offset);
    if (first != NULL) {
      names_put(&session->commit_statements, first,
                second != NULL && pg_wire_is_commit(second, strlen(second)));
    }
    return 0;
  case 'B': /* Bind: portal name, statement name */
    first = string_at(stream, &offset);
    second = string_at(stream, &offset);
    if (first != NULL) {
      names_put(&session->commit_portals, first, names_has(&session->commit_statements, second));
    }
    return 0;
  case 'E': /* Execute: portal name; answered in the group the next Sync ends */
    first = string_at(stream, &offset);
    return names_has(&session->commit_portals, first) ? session->groups_asked + 1 : 0;
  case 'S': /* Sync */
  case 'F': /* FunctionCall */
    session->groups_asked++;
    return 0;
  case 'C': /* Close: 'S'tatement or 'P'ortal, name */
    offset = 1;
    first = string_at(stream, &offset);
    if (first != NULL && stream->prefix_length > 0) {
      names_put(stream->prefix[0] == 'S' ? &session->commit_statements : &session->commit_portals,
                first, false);
    }
    return 0;
  default:
    return 0;
  }
}

size_t pg_wire_scan_client(struct pg_wire_session *session, const uint8_t *data, size_t size,
                           long *commit_group) {
  *commit_group = 0;
  size_t offset = 0;
  /* Each round consumes at least one byte. */
  for (size_t round = 0; round <= size && offset < size && *commit_group == 0; round++) {
    bool complete = false;
    offset += stream_next(&session->from_client, data + offset, size - offset, &complete);
    if (complete) {
      *commit_group = client_message(session);
    }
  }
  return offset;
}

static bool in_watched_group(const struct pg_wire_session *session) {
  return session->watched_group > 0 && session->groups_answered == session->watched_group - 1;
}

/* A whole server message: true when it answers the watched COMMIT (its
 * CommandComplete, or the ReadyForQuery that ends its group). */
static bool server_message(struct pg_wire_session *session, bool watched) {
  struct pg_wire_stream *stream = &session->from_server;
  size_t offset = 0;
  const char *tag = NULL;
  switch (stream->header[0]) {
  case 'Z': /* ReadyForQuery */
    session->groups_answered++;
    return watched;
  case 'C': /* CommandComplete: COMMIT, or ROLLBACK for a failed transaction */
    tag = string_at(stream, &offset);
    return watched && tag != NULL && (strcmp(tag, "COMMIT") == 0 || strcmp(tag, "ROLLBACK") == 0);
  default:
    return false;
  }
}

/* The one-byte answer to SSLRequest or GSSENCRequest: 'N' goes on in the
 * clear; anything else is encryption, which the proxy cannot read. */
static void encryption_answer(struct pg_wire_session *session, uint8_t answer) {
  session->from_server.answers_expected--;
  if (answer != 'N') {
    session->from_server.phase = PG_WIRE_OPAQUE;
    session->from_client.phase = PG_WIRE_OPAQUE;
  }
}

void pg_wire_scan_server(struct pg_wire_session *session, const uint8_t *data, size_t size,
                         struct pg_wire_reply_scan *scan) {
  struct pg_wire_stream *stream = &session->from_server;
  scan->forward_bytes = in_watched_group(session) ? 0 : size;
  scan->commit_answered = false;
  size_t offset = 0;
  /* Each round consumes at least one byte. */
  for (size_t round = 0; round <= size && offset < size && !scan->commit_answered; round++) {
    if (stream->answers_expected > 0 && stream->header_length == 0 &&
        stream->phase != PG_WIRE_OPAQUE) {
      encryption_answer(session, data[offset++]);
      continue;
    }
    bool watched = in_watched_group(session);
    bool complete = false;
    offset += stream_next(stream, data + offset, size - offset, &complete);
    if (complete) {
      scan->commit_answered = server_message(session, watched);
    }
    if (!watched && in_watched_group(session)) {
      scan->forward_bytes = offset; /* the watched group starts after this ReadyForQuery */
    }
  }
}
