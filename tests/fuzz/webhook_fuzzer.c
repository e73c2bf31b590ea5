/*
 * webhook_fuzzer.c - libFuzzer target for what webhooks read from outside:
 * Retry-After values (from receivers) and the payloads bodies are rendered
 * from (from the outbox), plus secrets.
 *
 * The input is tried as a Retry-After value (NUL-terminated; a refusal is
 * -1, an accepted delay is never before `now`), as a payload for every
 * format and event type (the body is NULL or valid JSON of the format's
 * shape), and as a secret (refused, or at most WEBHOOK_KEY_MAX bytes).
 * Beyond crashes and sanitizer reports, it aborts when a contract breaks.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"
#include "webhook_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless body is JSON with the top-level member the format needs. */
static void check_body(webhook_format f, const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    static const char *const need[] = {"data", "blocks", "attachments"};
    if (j == NULL || json_object_get(j, need[f]) == NULL || strlen(body) != len)
        abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';

    const int64_t now = 1795997700000;
    int64_t at = webhook_retry_after_ms(in, now);
    if (at < -1 ||
        (at >= 0 && in[strspn(in, " \t")] >= '0' && in[strspn(in, " \t")] <= '9' && at < now))
        abort();

    static const char *const types[] = {"period_closed", "digest", "test"};
    for (int f = WEBHOOK_FORMAT_JSON; f <= WEBHOOK_FORMAT_TEAMS; f++) {
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
            size_t len = 0;
            char *body = webhook_body_render((webhook_format)f, types[t], now, (const char *)data,
                                             size, &len);
            if (body)
                check_body((webhook_format)f, body, len);
            free(body);
        }
    }

    unsigned char key[WEBHOOK_KEY_MAX];
    int n = webhook_body_secret_decode(in, key);
    if (n < -1 || n > WEBHOOK_KEY_MAX)
        abort();
    free(in);
    return 0;
}
