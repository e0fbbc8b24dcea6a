/*
 * config.h — internal helpers of the configuration subsystem.
 */
#ifndef TIX_CONFIG_H
#define TIX_CONFIG_H

#include <stddef.h>

/* host, port, database and user of a conninfo, never its password. */
void tix_conninfo_describe(const char *conninfo, char *buffer, size_t size);

#endif /* TIX_CONFIG_H */
