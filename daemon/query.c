/*
 * query.c - query string parameters, decoded with the form decoder.
 *
 * Walks the query once, comparing each raw parameter name with the one
 * asked for (names are plain ASCII in Podium's API, so they are compared
 * undecoded). Nothing is allocated.
 */
#include "query.h"

#include <string.h>

#include "event.h"

int query_get(const char *query, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t seglen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', seglen);
        size_t keylen = eq ? (size_t)(eq - p) : seglen;
        if (keylen == nlen && memcmp(p, name, nlen) == 0) {
            if (outlen == 0)
                return -2;
            if (eq == NULL) {
                out[0] = '\0';
                return 0;
            }
            size_t vlen = seglen - keylen - 1;
            int n = event_form_decode(eq + 1, vlen, out, outlen);
            if (n < 0 || memchr(out, '\0', (size_t)n) != NULL)
                return -2;
            return n;
        }
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}
