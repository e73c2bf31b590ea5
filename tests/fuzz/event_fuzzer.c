/*
 * event_fuzzer.c - libFuzzer target for event.c: POST /v1/events bodies.
 *
 * Each input is fed to both parsers (JSON and form) and to the percent
 * decoder. Beyond crashes, leaks and sanitizer reports, it checks the
 * module's contract and aborts when it breaks: a good parse yields 1 to
 * EVENT_BATCH_MAX valid events and no errors; a failed one yields an empty
 * batch and at least one error. The input buffer is not NUL-terminated, so
 * any read past `size` is caught by ASan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "event.h"
#include "util.h"

#define FUZZ_NOW 1795773600000LL /* 2026-11-27T10:00:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless s is "" or an id. */
static void check_opt_id(const char *s)
{
    if (s[0] != '\0' && !util_valid_id(s))
        abort();
}

/* Aborts unless a parse result honours event.h's contract. */
static void check_result(int rc, const event_batch *b, const errlist *e)
{
    if (rc != 0) {
        if (rc != -1 || b->v != NULL || b->n != 0 || b->is_batch || e->n == 0)
            abort();
        return;
    }
    if (e->n != 0 || b->n == 0 || b->n > EVENT_BATCH_MAX || b->v == NULL)
        abort();
    for (size_t i = 0; i < b->n; i++) {
        const event *ev = &b->v[i];
        if (!util_valid_id(ev->leader) || !util_valid_id(ev->type))
            abort();
        check_opt_id(ev->channel);
        check_opt_id(ev->stakeholder);
        for (const char *p = ev->id; *p; p++)
            if (*p < 0x21 || *p > 0x7e)
                abort();
        if (ev->at > FUZZ_NOW + EVENT_FUTURE_SKEW)
            abort();
        if (ev->url != NULL &&
            (strlen(ev->url) > EVENT_URL_MAX ||
             (strncasecmp(ev->url, "http://", 7) != 0 && strncasecmp(ev->url, "https://", 8) != 0)))
            abort();
        if (ev->note != NULL && (ev->note[0] == '\0' || strlen(ev->note) > 4 * EVENT_NOTE_MAX))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    event_batch b;
    errlist e = {0};

    int rc = event_parse_json(body, size, FUZZ_NOW, &b, &e);
    check_result(rc, &b, &e);
    event_batch_free(&b);
    errlist_clear(&e);

    rc = event_parse_form(body, size, FUZZ_NOW, &b, &e);
    check_result(rc, &b, &e);
    if (rc == 0 && b.is_batch)
        abort();
    event_batch_free(&b);
    errlist_clear(&e);

    char out[256];
    int n = event_form_decode(body, size, out, sizeof(out));
    if (n < -1 || n >= (int)sizeof(out) || (size_t)(n < 0 ? 0 : n) > size)
        abort();
    return 0;
}
