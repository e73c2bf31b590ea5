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
#include "util.h"

/* True if the client asked for text/plain rather than JSON. */
static bool wants_text(const http_req *q)
{
    const char *accept = http_header(q, "Accept");
    return accept && strstr(accept, "text/plain") && !strstr(accept, "application/json");
}

/* Appends a number. */
static void add_int(struct evbuffer *b, int64_t v)
{
    char num[24];
    evbuffer_add(b, num, util_i64toa(v, num));
}

/* Appends a string constant. */
#define ADD(b, s) evbuffer_add((b), (s), sizeof(s) - 1)

/* Appends one event's result as JSON. */
static void render_result(struct evbuffer *b, const ingest_result *r)
{
    ADD(b, "{\"id\":");
    http_json_str(b, r->id);
    ADD(b, ",\"points\":");
    add_int(b, r->points);
    if (r->duplicate)
        ADD(b, ",\"duplicate\":true,\"reasons\":[");
    else
        ADD(b, ",\"duplicate\":false,\"reasons\":[");
    for (const char *p = r->reasons; *p;) {
        size_t n = strcspn(p, ",");
        if (p != r->reasons)
            ADD(b, ",");
        ADD(b, "\"");
        evbuffer_add(b, p, n);
        ADD(b, "\"");
        p += n + (p[n] == ',');
    }
    ADD(b, "],\"standings\":[");
    for (size_t i = 0; i < r->n_std; i++) {
        const ingest_standing *s = &r->std[i];
        ADD(b, "{\"challenge\":\"");
        evbuffer_add(b, s->challenge, strlen(s->challenge));
        ADD(b, "\",\"period\":\"");
        evbuffer_add(b, s->period, strlen(s->period));
        ADD(b, "\",\"points\":");
        add_int(b, s->points);
        ADD(b, ",\"score\":");
        add_int(b, s->score);
        ADD(b, ",\"rank\":");
        if (s->rank > 0)
            add_int(b, s->rank);
        else
            ADD(b, "null");
        if (i + 1 < r->n_std)
            ADD(b, "},");
        else
            ADD(b, "}");
    }
    ADD(b, "]}");
}

/* How a standing's period reads in a sentence ("this week"). */
static const char *period_words(const rules *r, const char *challenge, char *buf, size_t len)
{
    int c = r ? rules_challenge_index(r, challenge) : -1;
    if (c < 0)
        return "";
    switch (r->challenges[c].period.kind) {
    case PERIOD_WEEK:
        return "this week";
    case PERIOD_MONTH:
        return "this month";
    case PERIOD_ALL:
        return "overall";
    default:
        snprintf(buf, len, "in %s", r->challenges[c].name);
        return buf;
    }
}

/* One sentence for a phone notification. */
static void render_text(struct evbuffer *b, const rules *rl, const ingest_result *res, size_t n)
{
    if (n != 1) {
        int64_t total = 0;
        size_t dups = 0;
        for (size_t i = 0; i < n; i++) {
            total += res[i].duplicate ? 0 : res[i].points;
            dups += res[i].duplicate;
        }
        evbuffer_add_printf(b, "Logged %zu event%s: %+" PRId64 " points", n - dups,
                            n - dups == 1 ? "" : "s", total);
        if (dups)
            evbuffer_add_printf(b, " (%zu already logged)", dups);
        evbuffer_add(b, ".\n", 2);
        return;
    }
    const ingest_result *r = &res[0];
    if (r->duplicate)
        evbuffer_add_printf(b, "Already logged: ");
    else if (r->reasons[0])
        evbuffer_add_printf(b, "Daily cap reached: ");
    evbuffer_add_printf(b, "%+" PRId64 " points", r->points);
    if (r->n_std > 0) {
        char buf[160];
        const ingest_standing *s = &r->std[0];
        const char *words = period_words(rl, s->challenge, buf, sizeof(buf));
        if (s->rank > 0)
            evbuffer_add_printf(b, ", #%" PRId64 " %s (%" PRId64 " points)", s->rank, words,
                                s->score);
    }
    evbuffer_add(b, ".\n", 2);
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
    struct evbuffer *out = evbuffer_new();
    if (wants_text(q)) {
        render_text(out, ingest_rules(q->a->in), res, b->n);
        http_reply_type(q, 200, "text/plain; charset=utf-8", out);
        return;
    }
    if (b->is_batch) {
        evbuffer_add(out, "{\"results\":[", 12);
        for (size_t i = 0; i < b->n; i++) {
            if (i)
                evbuffer_add(out, ",", 1);
            render_result(out, &res[i]);
        }
        evbuffer_add(out, "]}\n", 3);
    } else {
        render_result(out, &res[0]);
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
    if (ingest_rules(q->a->in) == NULL) {
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
    rc = ingest_submit(q->a->in, q->who.org, &b, now, !minimal, &errs, on_done, q);
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
