/*
 * url_fuzzer.c - libFuzzer target for url.c: event URLs.
 *
 * The input, NUL-terminated (so it ends at its first NUL byte), is normalised
 * into a buffer that always fits, then again into heap buffers of exactly
 * outlen bytes, tiny ones included, so that ASan catches any write past them.
 * Beyond crashes and sanitizer reports, it aborts when the contract breaks:
 * a result is NUL-terminated, as long as returned, starts with "https://"
 * and holds no '#', space or control byte; a refusal leaves ""; a smaller
 * buffer gives the same result or a refusal, never a truncated one; outlen 0
 * writes nothing; normalising a result gives it back (or, for a result longer
 * than URL_MAX, refuses it, as url.h says); url_key agrees with url_normalize.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless out holds a well-formed result of length n, or "" for n == -1. */
static void check_out(int n, const char *out, size_t outlen)
{
    if (n == -1) {
        if (out[0] != '\0')
            abort();
        return;
    }
    if (n < 0 || (size_t)n >= outlen || strlen(out) != (size_t)n || strncmp(out, "https://", 8))
        abort();
    for (const char *p = out; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';

    static char full[URL_OUT_MAX], again[URL_OUT_MAX];
    int n = url_normalize(in, full, sizeof(full));
    check_out(n, full, sizeof(full));

    /* smaller buffers: the same text when it fits, else a refusal */
    size_t sizes[] = {1, 2, 8, 9, 16, 64, 256, (size_t)n, (size_t)n + 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t outlen = sizes[i];
        if (outlen == 0 || outlen > URL_OUT_MAX)
            continue;
        char *out = malloc(outlen);
        if (out == NULL)
            abort();
        memset(out, 'x', outlen);
        int m = url_normalize(in, out, outlen);
        check_out(m, out, outlen);
        bool fits = n >= 0 && (size_t)n < outlen;
        if (fits ? m != n || memcmp(out, full, (size_t)n + 1) != 0 : m != -1)
            abort();
        free(out);
    }
    char canary = 'x';
    if (url_normalize(in, &canary, 0) != -1 || canary != 'x')
        abort();

    /* idempotence */
    if (n >= 0) {
        int m = url_normalize(full, again, sizeof(again));
        if (n <= URL_MAX ? m != n || strcmp(again, full) != 0 : m != -1)
            abort();
    }

    /* url_key succeeds exactly when url_normalize does, and keys the normal form */
    char k1[65], k2[65];
    bool ok = url_key(in, k1);
    if (ok != (n >= 0) || (ok ? strlen(k1) != 64 : k1[0] != '\0'))
        abort();
    if (ok && n <= URL_MAX && (!url_key(full, k2) || strcmp(k1, k2) != 0))
        abort();

    free(in);
    return 0;
}
