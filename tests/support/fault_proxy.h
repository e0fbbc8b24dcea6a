/*
 * fault_proxy.h — a loopback TCP proxy for fault tests. It listens on
 * 127.0.0.1 and forwards each connection to an upstream server (a
 * PostgreSQL Unix socket or a TCP host:port), and on demand loses a COMMIT's
 * reply, cuts connections, stalls, delays, refuses or swallows them. It runs
 * on a thread of its own; faults can be switched from any thread at any time.
 * The COMMIT faults read PostgreSQL's protocol (pg_wire.h); the others work
 * for any TCP protocol, so HTTP tests can use them too.
 */
#ifndef TIX_FAULT_PROXY_H
#define TIX_FAULT_PROXY_H

#include <stdbool.h>

typedef struct fault_proxy fault_proxy;

typedef enum fault_mode {
  FAULT_NONE,              /* heal: plain forwarding, every fault below cleared */
  FAULT_CUT_AFTER_COMMIT,  /* the next N COMMITs land, their replies are dropped, both sides cut */
  FAULT_CUT_BEFORE_COMMIT, /* the next N COMMITs are not forwarded; both sides cut */
  FAULT_CUT_ALL,           /* cut every open connection now; new ones are forwarded */
  FAULT_STALL,             /* forward nothing either way, keep every socket open */
  FAULT_RESUME,            /* forward again after a stall */
  FAULT_DELAY,             /* hold every chunk N ms before forwarding it (0: no delay) */
  FAULT_REFUSE,            /* accept new connections and close them at once */
  FAULT_BLACKHOLE,         /* accept new connections and never answer them */
  FAULT_ACCEPT,            /* forward new connections again after refuse or blackhole */
} fault_mode;

typedef struct fault_proxy_stats {
  long accepted;     /* connections accepted, whatever became of them */
  long commits_seen; /* COMMITs recognised in the clients' streams */
  long cuts;         /* connections cut by a COMMIT fault or by cut-all */
  int open;          /* connections being forwarded now */
} fault_proxy_stats;

/* Starts a proxy on 127.0.0.1:listen_port (0: an ephemeral port) towards
 * upstream: a directory holding PostgreSQL's socket .s.PGSQL.5432 (the host=
 * of a Unix-socket conninfo), the path of a socket file, or "host:port"
 * ("[::1]:port" for IPv6). Returns 0, or a negative errno. */
int fault_proxy_start(const char *upstream, int listen_port, fault_proxy **out);
int fault_proxy_port(const fault_proxy *proxy);
/* count_or_ms: how many COMMITs for the COMMIT faults, the delay for
 * FAULT_DELAY; ignored by the others. */
void fault_proxy_set(fault_proxy *proxy, fault_mode mode, int count_or_ms);
void fault_proxy_get_stats(fault_proxy *proxy, fault_proxy_stats *out);
/* Stops the thread and closes every socket. */
void fault_proxy_stop(fault_proxy *proxy);

/* The command-line names: "none", "cut-after-commit", "cut-before-commit",
 * "cut-all", "stall", "resume", "delay", "refuse", "blackhole", "accept". */
const char *fault_mode_name(fault_mode mode);
/* False when name is none of them. */
bool fault_mode_from_name(const char *name, fault_mode *out);

#endif /* TIX_FAULT_PROXY_H */
