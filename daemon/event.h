/*
 * event.h - activity events as they arrive from outside, parsed and checked.
 *
 * Front ends turn a request body (JSON or form-encoded) into an array of
 * event structs; this module checks syntax and ranges only (ids, lengths,
 * RFC 3339 times). Checks that need the rules (known activity type, period
 * still open) belong to ingest; checks that need Redis (known leader) to the
 * scoring script. Each event owns its strings.
 */
#ifndef PODIUM_EVENT_H
#define PODIUM_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errlist.h"

struct json_t;

#define EVENT_ID_MAX      128 /* idempotency key: printable ASCII, no spaces */
#define EVENT_NAME_MAX    64  /* leader, type, channel, stakeholder */
#define EVENT_URL_MAX     2048
#define EVENT_NOTE_MAX    1000
#define EVENT_BATCH_MAX   1000
#define EVENT_FUTURE_SKEW 300000 /* ms: `at` may be at most 5 minutes ahead */

typedef struct event {
    char id[EVENT_ID_MAX + 1]; /* "" when the client gave none */
    char leader[EVENT_NAME_MAX + 1];
    char type[EVENT_NAME_MAX + 1];
    char channel[EVENT_NAME_MAX + 1];     /* "" when absent */
    char stakeholder[EVENT_NAME_MAX + 1]; /* "" when absent */
    int64_t at;                           /* Unix ms; filled with `now` when absent */
    char *url;                            /* NULL when absent; owned */
    char *note;                           /* NULL when absent; owned */
} event;

typedef struct event_batch {
    event *v;
    size_t n;
    bool is_batch; /* true for {"events": [...]}, false for one object */
} event_batch;

/* Parses a JSON body: one event object, or {"events": [...]} with 1 to
 * EVENT_BATCH_MAX events. `now` (Unix ms) fills absent `at` values and bounds
 * future ones. Returns 0, or -1 with every problem in errs by JSON Pointer
 * ("/events/3/leader", or "/type" for a single object). On -1 the batch is
 * empty. The caller frees the batch with event_batch_free. */
int event_parse_json(const char *body, size_t len, int64_t now, event_batch *out, errlist *errs)
    __attribute__((warn_unused_result));
/* Same for an application/x-www-form-urlencoded body holding one event
 * (id, leader, type, at, channel, stakeholder, url, note). */
int event_parse_form(const char *body, size_t len, int64_t now, event_batch *out, errlist *errs)
    __attribute__((warn_unused_result));
/* The same two parsers for a caller that knows the leader (a leader token):
 * events without `leader` get default_leader; NULL makes `leader` required. */
int event_parse_json_as(const char *body, size_t len, int64_t now, const char *default_leader,
                        event_batch *out, errlist *errs) __attribute__((warn_unused_result));
int event_parse_form_as(const char *body, size_t len, int64_t now, const char *default_leader,
                        event_batch *out, errlist *errs) __attribute__((warn_unused_result));
/* The JSON parser's checks on a value already parsed (the RPC front end's
 * params): the same results and error pointers. root is borrowed. */
int event_parse_value_as(struct json_t *root, int64_t now, const char *default_leader,
                         event_batch *out, errlist *errs) __attribute__((warn_unused_result));
/* Frees the events' strings and array; the struct itself may be reused. */
void event_batch_free(event_batch *b);
/* Percent-decodes a form component ('+' is a space) into out (outlen bytes
 * with NUL). Returns the decoded length, or -1 if malformed or too long. */
int event_form_decode(const char *in, size_t inlen, char *out, size_t outlen);

#endif
