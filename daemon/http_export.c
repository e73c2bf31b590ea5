/*
 * http_export.c - GET /v1/admin/events: the org's event log as NDJSON.
 *
 * One line per logged event, oldest first:
 *   {"log":"<entry id>/<n>","event":{...as logged...},"result":{...}}
 * and one per admin adjustment:
 *   {"log":"<entry id>","adjustment":{...as in the audit log...}}
 * `since` and `until` (RFC 3339 or a UTC date) select by the time the log
 * took the entry (its stream id), which is when the events arrived; each
 * event keeps its own `at`. `leader` and `challenge` filter lines (an event
 * counts for a challenge when its result has a standing there). Events of
 * an erased leader are gone from the log (erase.c) and never listed.
 *
 * The answer is streamed: the handler takes the request over
 * (http_detach), sends the headers, then reads the log a few entries at a
 * time (XRANGE, about EXPORT_EVENTS events per read) and sends each read
 * as one chunk, reading the next only once that chunk left for the
 * socket, so that an export of millions of events holds a few hundred
 * kilobytes. A client that leaves ends the export; SIGTERM cuts it (the
 * client sees the connection drop, not a short file that looks whole).
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "http_server.h"
#include "jsonw.h"
#include "keys.h"
#include "orgs.h"
#include "results.h"
#include "scoring.h"
#include "store.h"
#include "util.h"

#define EXPORT_EVENTS  500 /* events per read, about */
#define EXPORT_ENTRIES 200 /* log entries per read, at most */

struct export
{
    app *a;
    struct org *o;            /* held: its rules render the results */
    struct evhttp_request *r; /* NULL once evhttp freed it */
    struct evhttp_connection *evcon;
    char org[EVENT_NAME_MAX + 1];
    char leader[EVENT_NAME_MAX + 1];    /* "" = every leader */
    char challenge[EVENT_NAME_MAX + 1]; /* "" = every challenge */
    char cursor[64];                    /* next XRANGE start */
    char end[72];                       /* XRANGE end */
    int count;                          /* entries to ask for */
    int64_t limit, lines;               /* lines at most (0 = no limit), sent */
    bool reading;                       /* an XRANGE is in flight */
    bool gone;                          /* the connection closed */
};

static void fetch(struct export *x);

/* Frees the export once its connection closed and no read is in flight. */
static void export_release(struct export *x)
{
    if (x->gone && !x->reading) {
        org_release(x->o);
        free(x);
    }
}

/* The connection closed: the client left, or the answer ended. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct export *x = arg;
    http_server_conn_closed(x->a->http, evcon);
    if (x->r && evhttp_request_get_connection(x->r) == NULL)
        evhttp_request_free(x->r); /* the client left mid-answer */
    x->r = NULL;
    x->gone = true;
    export_release(x);
}

/* The request was answered in full: evhttp frees it. */
static void on_complete(struct evhttp_request *r, void *arg)
{
    (void)r;
    struct export *x = arg;
    x->r = NULL;
}

/* A chunk left for the socket: read on. */
static void on_sent(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    fetch(arg);
}

/* Ends the answer: cleanly when `whole`, else by cutting the connection. */
static void finish(struct export *x, bool whole)
{
    if (x->gone || x->r == NULL)
        return;
    if (whole)
        evhttp_send_reply_end(x->r); /* "Connection: close": on_close follows */
    else
        evhttp_connection_free(x->evcon); /* calls on_close */
}

/* True when the line of `leader` with these standings passes the filters. */
static bool wanted(const struct export *x, const char *leader, const score_result *res)
{
    if (x->leader[0] && (leader == NULL || strcmp(leader, x->leader) != 0))
        return false;
    if (!x->challenge[0])
        return true;
    for (size_t i = 0; res && i < res->n_std; i++)
        if (strcmp(res->std[i].challenge, x->challenge) == 0)
            return true;
    return false;
}

/* Appends the line of one logged event (event JSON e, result string rs). */
static void event_line(struct export *x, struct evbuffer *b, const rules *rl, const char *id,
                       size_t nth, const char *e, size_t elen, const char *rs, size_t rlen)
{
    json_t *ev = json_loadb(e, elen, 0, NULL);
    const char *leader = json_string_value(json_object_get(ev, "leader"));
    if (ev == NULL || json_is_true(json_object_get(ev, "erased"))) {
        json_decref(ev);
        return;
    }
    size_t k = score_result_count(rs, rlen);
    score_standing std[2 * RULES_MAX_CHALLENGES];
    const char *eid = json_string_value(json_object_get(ev, "id"));
    score_result res = {.id = eid ? eid : "", .std = std, .explain = "{}", .explain_len = 2};
    score_result_parse(rs, rlen, &res, k < 2 * RULES_MAX_CHALLENGES ? k : 2 * RULES_MAX_CHALLENGES);
    if (wanted(x, leader, &res)) {
        evbuffer_add_printf(b, "{\"log\":\"%s/%zu\",\"event\":", id, nth);
        evbuffer_add(b, e, elen);
        evbuffer_add(b, ",\"result\":", 10);
        results_json(b, rl, &res);
        evbuffer_add(b, "}\n", 2);
        x->lines++;
    }
    json_decref(ev);
}

/* Appends the line of an adjustment (JSON a). */
static void adjustment_line(struct export *x, struct evbuffer *b, const char *id, const char *a,
                            size_t alen)
{
    json_t *adj = json_loadb(a, alen, 0, NULL);
    const char *leader = json_string_value(json_object_get(adj, "leader"));
    const char *ch = json_string_value(json_object_get(adj, "challenge"));
    bool ok = adj != NULL && (!x->leader[0] || (leader && strcmp(leader, x->leader) == 0)) &&
              (!x->challenge[0] || (ch && strcmp(ch, x->challenge) == 0));
    json_decref(adj);
    if (!ok)
        return;
    evbuffer_add_printf(b, "{\"log\":\"%s\",\"adjustment\":", id);
    evbuffer_add(b, a, alen);
    evbuffer_add(b, "}\n", 2);
    x->lines++;
}

/* XRANGE reply: one chunk of lines, then the next read or the end. */
static void on_range(void *arg, const store_reply *r)
{
    struct export *x = arg;
    x->reading = false;
    const rules *rl = org_rules_or_empty(x->o);
    if (x->gone) {
        export_release(x);
        return;
    }
    if (r == NULL || store_reply_is_error(r) || rl == NULL || x->a->stopping) {
        finish(x, false); /* on_close frees x */
        return;
    }
    size_t n = store_reply_len(r), events = 0;
    struct evbuffer *b = evbuffer_new();
    const char *last = NULL;
    for (size_t i = 0; i < n && !(x->limit && x->lines >= x->limit); i++) {
        const store_reply *entry = store_reply_at(r, i), *f = store_reply_at(entry, 1);
        const char *id = store_reply_str(store_reply_at(entry, 0), NULL);
        if (id == NULL)
            continue;
        last = id;
        size_t nf = store_reply_len(f), nth = 0;
        for (size_t k = 0; k + 1 < nf && !(x->limit && x->lines >= x->limit); k += 2) {
            const char *name = store_reply_str(store_reply_at(f, k), NULL);
            size_t vlen;
            const char *v = store_reply_str(store_reply_at(f, k + 1), &vlen);
            if (name == NULL || v == NULL)
                continue;
            if (strcmp(name, "a") == 0) {
                adjustment_line(x, b, id, v, vlen);
            } else if (strcmp(name, "e") == 0 && k + 3 < nf) {
                size_t rlen;
                const char *rs = store_reply_str(store_reply_at(f, k + 3), &rlen);
                event_line(x, b, rl, id, ++nth, v, vlen, rs ? rs : "", rs ? rlen : 0);
                events++;
            }
        }
    }
    bool done = (int)n < x->count || last == NULL || (x->limit && x->lines >= x->limit);
    if (last)
        snprintf(x->cursor, sizeof(x->cursor), "(%s", last);
    /* next time, about EXPORT_EVENTS events: entries hold one call each */
    if (n > 0 && events > 0) {
        size_t want = EXPORT_EVENTS * n / events;
        x->count = want < 1 ? 1 : want > EXPORT_ENTRIES ? EXPORT_ENTRIES : (int)want;
    }
    if (evbuffer_get_length(b) > 0 && !done) {
        evhttp_send_reply_chunk_with_cb(x->r, b, on_sent, x);
    } else if (evbuffer_get_length(b) > 0) {
        evhttp_send_reply_chunk(x->r, b);
        finish(x, true);
    } else if (done) {
        finish(x, true);
    } else {
        fetch(x); /* nothing passed the filters: read on at once */
    }
    evbuffer_free(b);
}

/* Reads the next entries of the log. */
static void fetch(struct export *x)
{
    if (x->gone || x->reading)
        return;
    char key[KEYS_MAX], count[16];
    keys_org(key, x->org, "events");
    snprintf(count, sizeof(count), "%d", x->count);
    const char *argv[] = {"XRANGE", key, x->cursor, x->end, "COUNT", count};
    if (store_command(x->a->st, on_range, x, 6, argv, NULL) < 0) {
        finish(x, false);
        return;
    }
    x->reading = true;
}

/* Parses a since/until value (RFC 3339, or a date at UTC midnight) into a
 * stream id bound: "<ms>-0". False when it is neither. */
static bool bound(const char *s, char *out, size_t len)
{
    int64_t ms;
    char buf[40];
    if (strlen(s) == 10) { /* "2026-11-01" */
        snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
        s = buf;
    }
    if (!util_parse_rfc3339(s, &ms) || ms < 0)
        return false;
    snprintf(out, len, "%" PRId64 "-0", ms);
    return true;
}

/* Answers 400 naming the query parameter that is wrong. */
static void bad(http_req *q, const char *pointer, const char *msg)
{
    errlist errs = {0};
    errlist_add(&errs, pointer, "%s", msg);
    http_problem(q, 400, "invalid-query", "A query parameter is not valid.", &errs);
    errlist_clear(&errs);
}

void http_export_get(http_req *q)
{
    app *a = q->a;
    char buf[64];
    if (a->stopping || !store_ready(a->st)) {
        http_unavailable(q);
        return;
    }
    struct export *x = calloc(1, sizeof(*x));
    if (x == NULL)
        abort();
    x->a = a;
    x->count = 10;
    snprintf(x->org, sizeof(x->org), "%s", q->who.org);
    snprintf(x->cursor, sizeof(x->cursor), "-");
    snprintf(x->end, sizeof(x->end), "+");
    const char *v;
    if ((v = http_query(q, "since", buf, sizeof(buf))) && !bound(v, x->cursor, sizeof(x->cursor))) {
        free(x);
        bad(q, "/since", "expected an RFC 3339 time or a date such as 2026-11-01");
        return;
    }
    char until[64];
    if ((v = http_query(q, "until", buf, sizeof(buf)))) {
        if (!bound(v, until, sizeof(until))) {
            free(x);
            bad(q, "/until", "expected an RFC 3339 time or a date such as 2026-12-01");
            return;
        }
        snprintf(x->end, sizeof(x->end), "(%s", until); /* until is excluded */
    }
    if ((v = http_query(q, "leader", buf, sizeof(buf)))) {
        if (!util_valid_id(v)) {
            free(x);
            bad(q, "/leader", "not a leader id");
            return;
        }
        snprintf(x->leader, sizeof(x->leader), "%s", v);
    }
    if ((v = http_query(q, "challenge", buf, sizeof(buf)))) {
        if (!util_valid_id(v)) {
            free(x);
            bad(q, "/challenge", "not a challenge id");
            return;
        }
        snprintf(x->challenge, sizeof(x->challenge), "%s", v);
    }
    if ((v = http_query(q, "limit", buf, sizeof(buf))) &&
        !util_parse_i64(v, 1, INT64_C(1000000000), &x->limit)) {
        free(x);
        bad(q, "/limit", "must be a whole number from 1 to 1000000000");
        return;
    }
    x->o = org_hold(q->org);
    struct evhttp_request *r = http_detach(q);
    struct evhttp_connection *evcon = evhttp_request_get_connection(r);
    if (evcon == NULL) { /* the client left while its token was checked */
        evhttp_request_free(r);
        org_release(x->o);
        free(x);
        return;
    }
    x->r = r;
    x->evcon = evcon;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    evhttp_add_header(h, "Content-Type", "application/x-ndjson");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "Connection", "close");
    evhttp_connection_set_closecb(evcon, on_close, x);
    evhttp_request_set_on_complete_cb(r, on_complete, x);
    evhttp_send_reply_start(r, 200, "OK");
    fetch(x);
}
