/*
 * http_stream.c - GET /v1/challenges/{id}/stream: live standings as
 * Server-Sent Events.
 *
 * The handler checks the request like the leaderboard route does
 * (challenge, period, limit; http_server.c has checked the token, from the
 * Authorization header or, for EventSource which cannot set headers, the
 * `token` query parameter), then starts a chunked 200 text/event-stream
 * answer and hands the connection's bufferevent to the hub (sse.c), which
 * writes every event. A stream is one struct stream, alive from the start
 * of the answer until its connection closes.
 *
 * Ending. The client going away closes the connection (on_close). The hub
 * ends a stream cleanly (the challenge left the rules, SIGTERM: the last
 * chunk is sent and, the answer carrying "Connection: close", evhttp then
 * closes the connection) or cuts it off (evhttp_connection_free at once).
 * A stream ending cleanly counts as busy (http_server_hold) until its
 * connection has closed, so that shutdown waits for its last bytes.
 *
 * The connection's read timeout is lifted (a stream reads nothing after
 * its request; reading stays on to see the client leave) and what a client
 * sends after its request is bounded; the write timeout cuts off a client
 * that takes nothing for a long time.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http_server.h"
#include "ingest.h"
#include "sse.h"
#include "util.h"

#define WRITE_TIMEOUT_MIN_S 60
#define STREAM_INPUT_MAX    4096 /* bytes a client may send after its request */

struct stream {
    app *a;
    struct evhttp_request *r; /* NULL once evhttp freed it */
    struct evhttp_connection *evcon;
    sse_sub *sub; /* NULL once the hub let go of it */
    bool ending;  /* held as busy until the connection closes */
};

/* The request was answered in full (after a clean end): evhttp frees it. */
static void on_complete(struct evhttp_request *r, void *arg)
{
    struct stream *st = arg;
    st->r = NULL;
}

/* The connection closed: the client left, or an end below finished. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct stream *st = arg;
    http_server_conn_closed(st->a->http, evcon);
    sse_unsubscribe(st->sub);
    /* When the client left, evhttp has let go of the unfinished request. */
    if (st->r && evhttp_request_get_connection(st->r) == NULL)
        evhttp_request_free(st->r);
    if (st->ending)
        http_server_hold(st->a->http, -1);
    free(st);
}

/* The hub ends the stream: the last chunk, or a cut at once. */
static void on_end(void *arg, bool clean)
{
    struct stream *st = arg;
    st->sub = NULL;
    if (clean && st->r) {
        st->ending = true;
        http_server_hold(st->a->http, 1);
        evhttp_send_reply_end(st->r); /* on_close follows once it is sent */
        return;
    }
    evhttp_connection_free(st->evcon); /* calls on_close, which frees st */
}

/* Answers 400 for a bad query parameter. */
static void bad_query(http_req *q, const char *pointer, const char *msg)
{
    errlist errs = {0};
    errlist_add(&errs, pointer, "%s", msg);
    http_problem(q, 400, "invalid-query", "A query parameter is not valid.", &errs);
    errlist_clear(&errs);
}

/* Fills p from the request; answers and returns false when it is bad. */
static bool read_params(http_req *q, sse_params *p)
{
    const rules *r = http_read_rules(q);
    if (r == NULL) {
        http_unavailable(q);
        return false;
    }
    int c = rules_challenge_index(r, q->param[0]);
    if (c < 0) {
        http_problem(q, 404, "not-found",
                     "No challenge has this id; GET /v1/challenges lists them.", NULL);
        return false;
    }
    const rules_challenge *ch = &r->challenges[c];
    snprintf(p->org, sizeof(p->org), "%s", q->who.org);
    snprintf(p->challenge, sizeof(p->challenge), "%s", ch->id);
    char buf[32] = "current";
    if (http_query(q, "period", buf, sizeof(buf)) == NULL)
        snprintf(buf, sizeof(buf), "current");
    period per;
    if (strcmp(buf, "current") == 0) {
        p->period[0] = '\0'; /* followed into each next period */
    } else if (strcmp(buf, "all") == 0 || ch->period.kind == PERIOD_ALL) {
        if (strcmp(buf, "all") != 0) {
            bad_query(q, "/period",
                      "this challenge has only an all-time board: use all or current");
            return false;
        }
        snprintf(p->period, sizeof(p->period), "all");
    } else if (period_resolve(&ch->period, buf, util_now_ms() / 1000, &per)) {
        snprintf(p->period, sizeof(p->period), "%s", per.id);
    } else {
        bad_query(q, "/period",
                  "not a period of this challenge: use current, previous, all or a period id "
                  "such as those in GET /v1/challenges");
        return false;
    }
    p->limit = 10;
    if (http_query(q, "limit", buf, sizeof(buf)) && !util_parse_i64(buf, 1, 100, &p->limit)) {
        bad_query(q, "/limit", "must be a whole number from 1 to 100");
        return false;
    }
    const char *last = http_header(q, "Last-Event-ID");
    char qlast[SSE_ID_MAX];
    if (last == NULL)
        last = http_query(q, "last_event_id", qlast, sizeof(qlast));
    snprintf(p->last_id, sizeof(p->last_id), "%s", last && strlen(last) < SSE_ID_MAX ? last : "");
    return true;
}

void http_stream_get(http_req *q)
{
    app *a = q->a;
    sse_params p = {0};
    if (a->stopping) {
        http_unavailable(q);
        return;
    }
    if (!read_params(q, &p))
        return;
    struct evhttp_request *r = http_detach(q);
    struct evhttp_connection *evcon = evhttp_request_get_connection(r);
    if (evcon == NULL) { /* the client left while its token was checked */
        evhttp_request_free(r);
        return;
    }
    struct stream *st = calloc(1, sizeof(*st));
    if (st == NULL)
        abort();
    *st = (struct stream){.a = a, .r = r, .evcon = evcon};
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "Connection", "close");
    evhttp_add_header(h, "X-Accel-Buffering", "no"); /* nginx: do not hold events back */
    evhttp_connection_set_closecb(evcon, on_close, st);
    evhttp_request_set_on_complete_cb(r, on_complete, st);
    evhttp_send_reply_start(r, 200, "OK");
    bool chunked = evhttp_find_header(h, "Transfer-Encoding") != NULL;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    int64_t wt = 4 * a->cfg->sse_heartbeat;
    struct timeval wtv = {(time_t)(wt < WRITE_TIMEOUT_MIN_S ? WRITE_TIMEOUT_MIN_S : wt), 0};
    bufferevent_set_timeouts(bev, NULL, &wtv);
    /* An SSE client sends nothing after its request: what it sends anyway is
     * buffered by evhttp without a reader, so bound it; the hub cuts such a
     * stream off at its next heartbeat. */
    bufferevent_setwatermark(bev, EV_READ, 0, STREAM_INPUT_MAX);
    st->sub = sse_subscribe(a->sse, &p, bev, chunked, on_end, st);
    if (st->sub == NULL) /* shutting down */
        on_end(st, true);
}
