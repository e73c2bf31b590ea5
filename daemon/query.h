/*
 * query.h - reading parameters from a URL query string.
 *
 * A pure function over the raw query ("limit=10&period=2026-W48"), so that
 * it can be unit-tested and fuzzed without a socket. Values are
 * percent-decoded like form fields ('+' is a space).
 */
#ifndef PODIUM_QUERY_H
#define PODIUM_QUERY_H

#include <stddef.h>

/* Finds parameter `name` in query and writes its decoded value into out
 * (outlen bytes with NUL). Returns the value's length, -1 if the parameter
 * is absent, or -2 if it is present but malformed, too long or holds a NUL
 * byte. A parameter given without '=' has the empty value. The first
 * occurrence wins. */
int query_get(const char *query, const char *name, char *out, size_t outlen);

#endif
