/*
 * postgres_programs.h — internal: finding PostgreSQL's own programs, for
 * the embedded cluster (initdb, pg_ctl) and the schema dump (pg_dump)
 * alike: the directory pg_config --bindir names, and a program's major
 * version. It runs them through process.h and knows nothing else of tix.
 */
#ifndef TIX_POSTGRES_PROGRAMS_H
#define TIX_POSTGRES_PROGRAMS_H

#include <stddef.h>

#define TIX_POSTGRES_VERSION_BYTES 64
#define TIX_POSTGRES_QUICK_MS      10000 /* pg_config, --version */

/* What pg_config (from PATH) --bindir says. A failure is failure_status
 * with the reason in the message. */
int tix_postgres_bindir(int failure_status, char *out, size_t size);

/* The major version of a program from its --version ("pg_ctl (PostgreSQL)
 * 15.4"), in PG_VERSION's spelling: "15", or "9.6" before 10. */
int tix_postgres_major_version(const char *program, int failure_status, char *out, size_t size);

#endif /* TIX_POSTGRES_PROGRAMS_H */
