/*
 * pg_wire.h — just enough of PostgreSQL's wire protocol (version 3) for the
 * fault proxy to know where a COMMIT is in the client's stream and where its
 * answer is in the server's. Bytes are scanned as they pass, in whatever
 * pieces the sockets deliver; nothing is buffered but a short prefix of each
 * message, so any message size is fine.
 */
#ifndef TIX_PG_WIRE_H
#define TIX_PG_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Enough of a message's body for its names and a COMMIT's text. */
#define PG_WIRE_PREFIX_MAX 256
/* Prepared statements and portals remembered per connection as COMMITs. */
#define PG_WIRE_NAMES_MAX 16
/* NAMEDATALEN: longer names are not PostgreSQL's. */
#define PG_WIRE_NAME_BYTES 64

enum pg_wire_phase {
  PG_WIRE_STARTUP, /* untyped packets: int32 length, then the body */
  PG_WIRE_TYPED,   /* a type byte, an int32 length counting itself, the body */
  PG_WIRE_OPAQUE   /* TLS, or bytes that made no sense: no longer looked at */
};

/* One direction of one connection. */
struct pg_wire_stream {
  enum pg_wire_phase phase;
  uint8_t header[5];
  size_t header_length;
  uint32_t body_left;
  uint32_t body_length;
  char prefix[PG_WIRE_PREFIX_MAX];
  size_t prefix_length;
  int answers_expected; /* one-byte answers to SSLRequest or GSSENCRequest */
};

struct pg_wire_names {
  char names[PG_WIRE_NAMES_MAX][PG_WIRE_NAME_BYTES];
  bool used[PG_WIRE_NAMES_MAX];
  int next_replaced;
};

/* Both directions of one connection. Replies come in groups, each ended by
 * one ReadyForQuery: the start-up, each simple Query, each Sync. */
struct pg_wire_session {
  struct pg_wire_stream from_client;
  struct pg_wire_stream from_server;
  struct pg_wire_names commit_statements; /* prepared with COMMIT's text */
  struct pg_wire_names commit_portals;    /* bound to one of those */
  long groups_asked;                      /* ReadyForQuery the client will get */
  long groups_answered;                   /* ReadyForQuery the server sent */
  long watched_group;                     /* a COMMIT's group, 0 when none */
};

void pg_wire_session_init(struct pg_wire_session *session);

/* Scans client bytes up to the end of the next message that executes a
 * COMMIT (a simple Query, or Execute of a portal bound to a statement
 * prepared as COMMIT), or to the end of data. Returns how many bytes it
 * scanned; *commit_group is that COMMIT's reply group, 0 when none. */
size_t pg_wire_scan_client(struct pg_wire_session *session, const uint8_t *data, size_t size,
                           long *commit_group);

struct pg_wire_reply_scan {
  size_t forward_bytes; /* what precedes the watched group's replies */
  bool commit_answered; /* the watched COMMIT's reply has come */
};

/* Scans server bytes. With a watched group, the replies of that group are
 * not to be forwarded: scan->forward_bytes stops where they begin. */
void pg_wire_scan_server(struct pg_wire_session *session, const uint8_t *data, size_t size,
                         struct pg_wire_reply_scan *scan);

/* True for COMMIT, END and their WORK/TRANSACTION forms, in any case, with
 * surrounding blanks and semicolons. */
bool pg_wire_is_commit(const char *text, size_t length);

#endif /* TIX_PG_WIRE_H */
