/*
 * query_fuzzer.c - fuzz target for query string parameters (query_get).
 *
 * The input is split at its first NUL into the query and a parameter name;
 * every lookup must stay inside the output buffer and NUL-terminate it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 2);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    buf[size + 1] = '\0';
    const char *name = buf + strlen(buf) + 1;
    static const char *const names[] = {"limit", "period", "cursor", "n", ""};
    char out[64];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int n = query_get(buf, names[i], out, sizeof(out));
        if (n >= 0 && (size_t)n >= sizeof(out))
            abort();
    }
    if ((size_t)(name - buf) <= size) {
        int n = query_get(buf, name, out, sizeof(out));
        if (n >= 0 && strlen(out) != (size_t)n)
            abort();
    }
    free(buf);
    return 0;
}
