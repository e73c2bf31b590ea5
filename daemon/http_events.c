/*
 * http_events.c - POST /v1/events: parse, check, hand to ingest, answer.
 *
 * The body is JSON (one event or {"events": [...]}) or form-encoded (one
 * event, what a phone shortcut sends most easily). An Idempotency-Key
 * header gives the id of an event that has none ("KEY" for a single event,
 * "KEY/N" for event N of a batch). Leader tokens post only for their own
 * leader, and may leave `leader` out. The answer is JSON per event, or one
 * sentence when the client prefers text/plain (a phone notification).
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_server.h"
#include "ingest.h"
#include "orgs.h"
#include "results.h"
#include "util.h"

/* True if the client asked for text/plain rather than JSON. */
static bool wants_text(const http_req *q)
{
    const char *accept = http_header(q, "Accept");
    return accept && strstr(accept, "text/plain") && !strstr(accept, "application/json");
}

/* Ingest's answer for this request. */
static void on_done(void *arg, ingest_status st, const event_batch *b, const ingest_result *res,
                    const errlist *errs)
{
    http_req *q = arg;
    if (st == INGEST_UNAVAILABLE) {
        http_unavailable(q);
        return;
    }
    if (st == INGEST_UNKNOWN_LEADER) {
        http_problem(q, 422, "invalid-event",
                     "Some events name leaders that do not exist; "
                     "nothing was stored.",
                     errs);
        return;
    }
    if (st == INGEST_CLOSED) {
        http_problem(q, 422, "invalid-event",
                     "Some events fall in periods already closed and are not retries of "
                     "events logged before; nothing was stored.",
                     errs);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (wants_text(q)) {
        results_text(out, http_rules(q), res, b->n);
        http_reply_type(q, 200, "text/plain; charset=utf-8", out);
        return;
    }
    if (b->is_batch) {
        evbuffer_add(out, "{\"results\":[", 12);
        for (size_t i = 0; i < b->n; i++) {
            if (i)
                evbuffer_add(out, ",", 1);
            results_json(out, http_rules(q), &res[i]);
        }
        evbuffer_add(out, "]}\n", 3);
    } else {
        results_json(out, http_rules(q), &res[0]);
        evbuffer_add(out, "\n", 1);
    }
    http_reply(q, 200, out);
}

/* Applies the Idempotency-Key header and the leader token's rules. */
static bool apply_identity(http_req *q, event_batch *b, errlist *errs)
{
    const char *key = http_header(q, "Idempotency-Key");
    if (key) {
        size_t n = strlen(key);
        bool ok = n > 0 && n <= EVENT_ID_MAX - 6;
        for (size_t i = 0; ok && i < n; i++)
            ok = key[i] > 0x20 && key[i] < 0x7f;
        if (!ok) {
            errlist_add(errs, "",
                        "the Idempotency-Key header must be 1 to %d printable "
                        "characters without spaces",
                        EVENT_ID_MAX - 6);
            return false;
        }
        for (size_t i = 0; i < b->n; i++) {
            if (b->v[i].id[0])
                continue;
            if (b->is_batch)
                snprintf(b->v[i].id, sizeof(b->v[i].id), "%s/%zu", key, i);
            else
                snprintf(b->v[i].id, sizeof(b->v[i].id), "%s", key);
        }
    }
    if (q->who.role != ROLE_LEADER)
        return true;
    bool ok = true;
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->v[i].leader, q->who.leader) == 0)
            continue;
        char ptr[40] = "/leader";
        if (b->is_batch)
            snprintf(ptr, sizeof(ptr), "/events/%zu/leader", i);
        errlist_add(errs, ptr, "a leader token may only post for its own leader '%s'",
                    q->who.leader);
        ok = false;
    }
    return ok;
}

void http_events_post(http_req *q)
{
    size_t len;
    const char *body = http_body(q, &len);
    const char *type = http_header(q, "Content-Type");
    int64_t now = util_now_ms();
    event_batch b = {0};
    errlist errs = {0};
    int rc;
    if (http_rules(q) == NULL) {
        evhttp_add_header(evhttp_request_get_output_headers(q->r), "Retry-After", "5");
        http_problem(q, 503, "no-rules",
                     "No rules are loaded yet, so no event can be scored; nothing was stored.",
                     NULL);
        return;
    }
    const char *own = q->who.role == ROLE_LEADER ? q->who.leader : NULL;
    /* curl -d sends JSON labelled as a form: a body that opens with '{' is JSON. */
    bool looks_json = len > 0 && body[strspn(body, " \t\r\n")] == '{';
    if (type && strncasecmp(type, "application/x-www-form-urlencoded", 33) == 0 && !looks_json) {
        rc = event_parse_form_as(body, len, now, own, &b, &errs);
    } else if (type == NULL || looks_json || strncasecmp(type, "application/json", 16) == 0) {
        rc = event_parse_json_as(body, len, now, own, &b, &errs);
    } else {
        http_problem(q, 415, "unsupported-media-type",
                     "Send events as application/json or application/x-www-form-urlencoded.", NULL);
        return;
    }
    if (rc < 0) {
        bool syntax = errs.n == 1 && errs.items[0].pointer[0] == '\0';
        http_problem(q, syntax ? 400 : 422, syntax ? "invalid-body" : "invalid-event",
                     syntax ? "The body could not be read; nothing was stored."
                            : "Some events are not valid; nothing was stored.",
                     &errs);
        errlist_clear(&errs);
        return;
    }
    if (!apply_identity(q, &b, &errs)) {
        bool forbidden = errs.n && strstr(errs.items[0].message, "own leader");
        http_problem(q, forbidden ? 403 : 400, forbidden ? "forbidden" : "invalid-body",
                     "The request was refused; nothing was stored.", &errs);
        errlist_clear(&errs);
        event_batch_free(&b);
        return;
    }
    const char *prefer = http_header(q, "Prefer");
    bool minimal = prefer && strstr(prefer, "return=minimal");
    int64_t retry;
    char ra[24], why[240];
    if (!org_take_events(q->org, b.n, now, &retry, why, sizeof(why))) {
        util_i64toa(retry, ra);
        evhttp_add_header(evhttp_request_get_output_headers(q->r), "Retry-After", ra);
        http_problem(q, 429, "rate-limited", why, NULL);
        event_batch_free(&b);
        return;
    }
    rc = ingest_submit(q->a->in, q->who.org, http_rules(q), &b, now, !minimal, &errs, on_done, q);
    if (rc == -2) {
        event_batch_free(&b);
        http_unavailable(q);
    } else if (rc == -1) {
        event_batch_free(&b);
        http_problem(q, 422, "invalid-event", "Some events are not valid; nothing was stored.",
                     &errs);
    }
    errlist_clear(&errs);
}
