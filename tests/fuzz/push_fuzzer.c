/*
 * push_fuzzer.c - fuzz target for what arrives from outside on the push
 * side: a channel line (push_parse_line) and a Last-Event-ID (sse_id_mark).
 *
 * Every accepted line must yield NUL-terminated words that fit their
 * buffers; every accepted id a mark shorter than a period id.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "push.h"
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char kind[8], a[32], b[32], mark[PERIOD_ID_MAX];
    if (push_parse_line((const char *)data, size, kind, sizeof(kind), a, sizeof(a), b, sizeof(b)) &&
        (strlen(kind) >= sizeof(kind) || strlen(a) >= sizeof(a) || strlen(b) >= sizeof(b) ||
         (strcmp(kind, "board") != 0 && strcmp(kind, "closed") != 0)))
        abort();
    char *id = malloc(size + 1);
    if (id == NULL)
        return 0;
    memcpy(id, data, size);
    id[size] = '\0';
    if (sse_id_mark(id, mark, sizeof(mark)) && strlen(mark) >= PERIOD_ID_MAX)
        abort();
    free(id);
    return 0;
}
