/*
 * sse.c - feeds, subscribers, coalescing, fan-out, heartbeats.
 *
 * Structure. The hub holds a list of feeds; a feed (org, challenge, fixed
 * period or "current", limit) holds its subscribers in a doubly linked
 * list. A feed lives while it has subscribers or a callback in flight
 * (`pending`); feed_release frees it when both are gone.
 *
 * Coalescing. A change to the watched board makes the feed dirty and arms
 * its timer: at once when the last standings event went out at least
 * sse_interval ago, else at that point. One fetch runs at a time (a change
 * meanwhile runs one more after it). The fetched page's top N (the JSON
 * without version, total and next_cursor) is compared with the last one
 * sent; an event goes out only when it differs, or to subscribers that
 * have had none yet.
 *
 * Events are formatted once (struct msg, reference counted) and handed to
 * every subscriber: a direct writev when the subscriber's output buffer is
 * empty (the usual case, one syscall), else an evbuffer reference whose
 * cleanup drops the count. A subscriber over sse_max_buffer, or whose
 * socket failed, is marked doomed and reaped by an event of its own: the
 * hub never frees a subscriber in the middle of a fan-out, nor inside a
 * callback of its connection.
 *
 * Closed periods. Each subscriber carries `mark`, the newest closed period
 * passed on to it, and each feed the mark its standings ids carry. On a
 * closed message (or a resubscription) a feed asks close.lua "after" for the
 * periods after its mark and sends each to the subscribers whose mark it
 * is not. A resuming subscriber first gets its own missed periods, read
 * with close.lua "after" from its Last-Event-ID's mark. Both go over the store's
 * one command connection, so replies come in the order Redis ran them.
 *
 * Callback subscribers (sse_subscribe_fn, the msgpack-RPC `subscribe`)
 * share the feeds with HTTP streams: sub_send hands them the event's name,
 * id and raw JSON data, which each message keeps beside its SSE text, and
 * they get no heartbeats. A sink that answers false (its connection is
 * full) is doomed and reaped like a slow stream.
 *
 * Ownership. The hub owns feeds, subscribers and messages; the owner of a
 * stream owns its connection and bufferevent, which outlive the subscriber
 * (sse_unsubscribe, or sse_end_fn from the hub).
 */
#include "sse.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "boards.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "orgs.h"
#include "rules.h"
#include "store.h"
#include "util.h"

#define BOARD_MAX KEYS_MAX

/* One formatted event: the chunk header, then the text and "\r\n"; for
 * callback subscribers also its name, id and raw data (after the text). */
struct msg {
    unsigned refs;
    size_t len;       /* of the event text, without the trailing "\r\n" */
    size_t headlen;   /* of head */
    const char *name; /* "standings", "period_closed"; NULL for a heartbeat */
    const char *data; /* the event's JSON, inside text's allocation */
    size_t dlen;
    char id[SSE_ID_MAX + 32];
    char head[24]; /* "{len in hex}\r\n" */
    char text[];
};

struct sse_sub {
    struct sse_sub *next, *prev; /* in the feed's list */
    struct sse_sub *doom_next;   /* in the hub's doomed list */
    struct feed *f;              /* NULL once detached */
    struct bufferevent *bev;     /* NULL for a callback subscriber */
    sse_sink_fn *sink;           /* a callback subscriber's output */
    sse_end_fn *end;
    void *arg;
    char mark[PERIOD_ID_MAX]; /* newest closed period passed on ("": none) */
    bool marked;              /* mark is set */
    bool chunked;
    bool fresh;    /* no standings sent yet */
    bool attached; /* gets the feed's events (false while catching up) */
    bool catching; /* its missed periods are being read */
    bool gone;     /* detached while catching up: the read's callback frees it */
    bool doomed;
};

struct feed {
    struct feed *next;
    sse *h;
    struct org *o; /* held: its rules name the feed's challenge */
    char org[EVENT_NAME_MAX + 1];
    char challenge[EVENT_NAME_MAX + 1];
    char fixed[PERIOD_ID_MAX]; /* "" follows the current period */
    int64_t limit;
    char board[BOARD_MAX]; /* "challenge:period" watched now, "" before the first fetch */
    int64_t period_end;    /* end of the watched period (Unix s) */
    struct sse_sub *subs;
    size_t nsubs;
    struct msg *last; /* last standings event */
    char *key;        /* its top N, to compare */
    size_t keylen;
    char mark[PERIOD_ID_MAX]; /* carried by the standings ids */
    bool mark_known;
    bool dirty;     /* a fetch is wanted */
    bool force;     /* send the next standings even if unchanged */
    bool fetching;  /* a page fetch or the first mark read is in flight */
    bool closing;   /* a close.lua "after" read is in flight */
    bool reclose;   /* another one is wanted after it */
    int pending;    /* callbacks in flight */
    unsigned stamp; /* the version check round that took it */
    int64_t last_sent_ms;
    struct event *timer;
};

struct sse {
    app *a;
    struct feed *feeds;
    size_t nsubs;
    struct event *tick, *hb;
    struct event *reaper; /* cuts doomed subscribers off, outside any of their callbacks */
    struct msg *hbmsg;
    struct sse_sub *doomed;
    int checking;   /* version checks in flight */
    unsigned round; /* of version checks */
    bool stopping;
};

static const period all_period = {PERIOD_ALL_START, PERIOD_ALL_END, "all"};

/* A new message holding `text` and `data` (copied); one reference, the
 * caller's. */
static struct msg *msg_new(const char *text, size_t len, const char *data, size_t dlen)
{
    struct msg *m = malloc(sizeof(*m) + len + 3 + dlen);
    if (m == NULL)
        abort();
    m->refs = 1;
    m->len = len;
    m->name = NULL;
    m->id[0] = '\0';
    m->headlen = (size_t)snprintf(m->head, sizeof(m->head), "%zx\r\n", len);
    memcpy(m->text, text, len);
    memcpy(m->text + len, "\r\n", 3);
    if (dlen)
        memcpy(m->text + len + 3, data, dlen);
    m->data = m->text + len + 3;
    m->dlen = dlen;
    return m;
}

/* Drops a reference; NULL is allowed. */
static void msg_unref(struct msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

/* evbuffer reference cleanup: the output buffer is done with the text. */
static void on_ref_done(const void *data, size_t len, void *extra)
{
    msg_unref(extra);
}

/* Formats an event: id, event name, then `data` as data: lines. `name` is
 * a string constant. */
static struct msg *msg_event(const char *id, const char *name, const char *data, size_t dlen)
{
    while (dlen > 0 && (data[dlen - 1] == '\n' || data[dlen - 1] == '\r'))
        dlen--;
    struct evbuffer *b = evbuffer_new();
    if (b == NULL)
        abort();
    evbuffer_add_printf(b, "id: %s\nevent: %s\n", id, name);
    for (const char *c = data, *end = data + dlen; c <= end;) {
        const char *nl = memchr(c, '\n', (size_t)(end - c));
        size_t n = nl ? (size_t)(nl - c) : (size_t)(end - c);
        if (n > 0 && c[n - 1] == '\r')
            n--;
        evbuffer_add(b, "data: ", 6);
        evbuffer_add(b, c, n);
        evbuffer_add(b, "\n", 1);
        if (nl == NULL)
            break;
        c = nl + 1;
    }
    evbuffer_add(b, "\n", 1);
    size_t len = evbuffer_get_length(b);
    struct msg *m = msg_new((const char *)evbuffer_pullup(b, -1), len, data, dlen);
    evbuffer_free(b);
    m->name = name;
    snprintf(m->id, sizeof(m->id), "%s", id);
    return m;
}

/* Queues s to be cut off after the current loop. */
static void doom(sse *h, struct sse_sub *s)
{
    if (s->doomed)
        return;
    s->doomed = true;
    s->doom_next = h->doomed;
    h->doomed = s;
    event_active(h->reaper, EV_TIMEOUT, 0);
}

/* Takes s off the doomed list (it is going for another reason). */
static void undoom(sse *h, struct sse_sub *s)
{
    if (!s->doomed)
        return;
    for (struct sse_sub **pp = &h->doomed; *pp; pp = &(*pp)->doom_next) {
        if (*pp == s) {
            *pp = s->doom_next;
            break;
        }
    }
    s->doomed = false;
}

/* Sends m to s: straight to the socket when nothing is queued, the rest by
 * reference into its output buffer; dooms s past sse_max_buffer. */
static void sub_send(sse *h, struct sse_sub *s, struct msg *m)
{
    if (s->doomed)
        return;
    if (s->sink) {
        if (m->name && !s->sink(s->arg, m->name, m->id, m->data, m->dlen)) {
            log_info("sse: cut off a callback subscriber of %s: its output is full",
                     s->f ? s->f->board : "?");
            doom(h, s);
        }
        return;
    }
    struct evbuffer *out = bufferevent_get_output(s->bev);
    /* The parts: chunk header (copied when queued), then the text (and
     * "\r\n" when chunked), queued by reference. */
    const char *part[2] = {m->head, m->text};
    size_t plen[2] = {m->headlen, m->len + 2};
    int first = 0;
    if (!s->chunked) {
        first = 1;
        plen[1] = m->len;
    }
    size_t done = 0;
    if (evbuffer_get_length(out) == 0) {
        struct iovec iov[2];
        int n = 0;
        for (int i = first; i < 2; i++)
            iov[n++] = (struct iovec){(void *)part[i], plen[i]};
        ssize_t w = writev(bufferevent_getfd(s->bev), iov, n);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            doom(h, s);
            return;
        }
        done = w > 0 ? (size_t)w : 0;
    }
    for (int i = first; i < 2; i++) {
        if (done >= plen[i]) {
            done -= plen[i];
            continue;
        }
        if (i == 0) {
            evbuffer_add(out, part[0] + done, plen[0] - done);
        } else {
            m->refs++;
            if (evbuffer_add_reference(out, part[1] + done, plen[1] - done, on_ref_done, m) < 0)
                m->refs--;
        }
        done = 0;
    }
    if (evbuffer_get_length(out) > 0)
        bufferevent_enable(s->bev, EV_WRITE);
    if (evbuffer_get_length(out) > (size_t)h->a->cfg->sse_max_buffer) {
        log_info("sse: cut off a subscriber of %s: %zu bytes unsent", s->f ? s->f->board : "?",
                 evbuffer_get_length(out));
        doom(h, s);
    }
}

/* Takes s out of its feed's list. */
static void detach(struct sse_sub *s)
{
    struct feed *f = s->f;
    if (f == NULL)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        f->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    f->nsubs--;
    f->h->nsubs--;
    s->f = NULL;
}

/* Frees a feed that has neither subscribers nor callbacks in flight. */
static void feed_release(struct feed *f)
{
    if (f->nsubs > 0 || f->pending > 0)
        return;
    sse *h = f->h;
    for (struct feed **pp = &h->feeds; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    event_free(f->timer);
    msg_unref(f->last);
    free(f->key);
    org_watch(f->o, -1);
    org_release(f->o);
    free(f);
}

/* Cuts off every doomed subscriber: an event of its own, so never inside
 * a fan-out loop nor inside a callback of the subscriber's connection. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    sse *h = arg;
    while (h->doomed) {
        struct sse_sub *s = h->doomed;
        h->doomed = s->doom_next;
        s->doomed = false;
        struct feed *f = s->f;
        detach(s);
        if (f) /* first: the owner may drop other subscribers of f */
            feed_release(f);
        s->end(s->arg, false);
        if (s->catching)
            s->gone = true;
        else
            free(s);
    }
}

/* Arms the feed's fetch: at once, or sse_interval after the last event. */
static void feed_schedule(struct feed *f)
{
    f->dirty = true;
    if (f->fetching || evtimer_pending(f->timer, NULL))
        return;
    int64_t wait = f->last_sent_ms + f->h->a->cfg->sse_interval - util_now_ms();
    if (wait < 0)
        wait = 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000 * 1000)};
    evtimer_add(f->timer, &tv);
}

/* Starts reading the closed periods after the feed's mark. */
static void feed_closures(struct feed *f);

/* Gives s the feed's events from now on; sends the standings if known. */
static void attach(sse *h, struct sse_sub *s)
{
    struct feed *f = s->f;
    s->attached = true;
    s->fresh = true;
    if (!s->marked && f->mark_known) {
        memcpy(s->mark, f->mark, sizeof(s->mark));
        s->marked = true;
    }
    if (f->last && !f->dirty && !f->fetching && !f->force && f->mark_known) {
        sub_send(h, s, f->last);
        s->fresh = false;
    } else {
        feed_schedule(f);
    }
}

/* The standings id of a page: "{period}.{version}.{mark}". */
static void standings_id(const struct feed *f, const char *per, int64_t version, char *out,
                         size_t outlen)
{
    snprintf(out, outlen, "%s.%" PRId64 ".%s", per, version, f->mark[0] ? f->mark : "-");
}

/* The part of a page that says who is in the top N: the JSON without
 * version and total (before "entries") and without next_cursor. */
static void page_key(const char *body, size_t len, const char **a, size_t *alen, const char **b,
                     size_t *blen)
{
    const char *v = strstr(body, ",\"version\":");
    const char *e = strstr(body, ",\"entries\":");
    const char *c = e ? strstr(e, ",\"next_cursor\":") : NULL;
    if (v == NULL || e == NULL || c == NULL || v > e) {
        *a = body;
        *alen = len;
        *b = "";
        *blen = 0;
        return;
    }
    *a = body;
    *alen = (size_t)(v - body);
    *b = e;
    *blen = (size_t)(c - e);
}

/* A page of the feed's board, from the read cache (NULL: Redis failed). */
static void on_page(void *arg, const boards_page *page)
{
    struct feed *f = arg;
    sse *h = f->h;
    f->pending--;
    f->fetching = false;
    if (page == NULL) {
        f->dirty = true; /* the next tick tries again */
        feed_release(f);
        return;
    }
    if (f->nsubs == 0) {
        feed_release(f);
        return;
    }
    const char *a, *b;
    size_t alen, blen;
    page_key(page->body, page->len, &a, &alen, &b, &blen);
    bool changed = f->force || f->last == NULL || f->keylen != alen + blen ||
                   memcmp(f->key, a, alen) != 0 || memcmp(f->key + alen, b, blen) != 0;
    if (changed) {
        const char *v = strstr(page->body, ",\"version\":");
        int64_t version = v ? strtoll(v + 11, NULL, 10) : 0;
        char id[SSE_ID_MAX + 32];
        standings_id(f, strchr(f->board, ':') + 1, version, id, sizeof(id));
        struct msg *m = msg_event(id, "standings", page->body, page->len);
        msg_unref(f->last);
        f->last = m;
        free(f->key);
        f->key = malloc(alen + blen + 1);
        if (f->key == NULL)
            abort();
        memcpy(f->key, a, alen);
        memcpy(f->key + alen, b, blen);
        f->keylen = alen + blen;
        f->force = false;
        f->last_sent_ms = util_now_ms();
    }
    struct timespec t0, t1;
    size_t sent = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (struct sse_sub *s = f->subs; s; s = s->next) {
        if (s->attached && (changed || s->fresh)) {
            sub_send(h, s, f->last);
            s->fresh = false;
            sent++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (changed)
        log_debug("sse: standings of %s to %zu of %zu streams in %.1f ms", f->board, sent, f->nsubs,
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    if (f->dirty)
        feed_schedule(f);
    feed_release(f);
}

/* Ends every subscriber of a feed cleanly (its challenge is gone). */
static void feed_end_all(struct feed *f)
{
    while (f->subs) {
        struct sse_sub *s = f->subs;
        undoom(f->h, s);
        detach(s);
        s->end(s->arg, true);
        if (s->catching)
            s->gone = true;
        else
            free(s);
    }
}

/* close.lua "after" "?" reply: the feed's first mark. */
static void on_first_mark(void *arg, const store_reply *r)
{
    struct feed *f = arg;
    f->pending--;
    f->fetching = false;
    if (r && !store_reply_is_error(r)) {
        const char *newest = store_reply_str(store_reply_at(r, 0), NULL);
        snprintf(f->mark, sizeof(f->mark), "%s", newest ? newest : "");
        f->mark_known = true;
        for (struct sse_sub *s = f->subs; s; s = s->next) {
            if (!s->marked) {
                memcpy(s->mark, f->mark, sizeof(s->mark));
                s->marked = true;
            }
        }
    }
    f->dirty = true;
    if (f->nsubs > 0 && f->mark_known)
        feed_schedule(f);
    feed_release(f);
}

/* Runs close.lua's "after" for challenge ch of org after `mark` (or "?"). */
static int run_closed(sse *h, const char *org, const char *ch, const char *mark, store_cb *cb,
                      void *arg)
{
    char k1[KEYS_MAX], k2[KEYS_MAX], max[8];
    keys_closedp(k1, org, ch);
    keys_periods(k2, org, ch);
    snprintf(max, sizeof(max), "%d", SSE_MAX_MISSED);
    const char *argv[] = {k1, k2, "after", mark, max};
    size_t lens[] = {strlen(k1), strlen(k2), 5, strlen(mark), strlen(max)};
    return store_script(h->a->st, STORE_SCRIPT_CLOSE, 2, 5, argv, lens, cb, arg);
}

/* Timer: fetch the feed's page (after its first mark). */
static void on_feed_timer(evutil_socket_t fd, short what, void *arg)
{
    struct feed *f = arg;
    sse *h = f->h;
    if (f->fetching || f->nsubs == 0)
        return;
    if (!f->mark_known) {
        f->fetching = true;
        f->pending++;
        if (run_closed(h, f->org, f->challenge, "?", on_first_mark, f) < 0) {
            f->pending--;
            f->fetching = false; /* the next tick tries again */
        }
        return;
    }
    const rules *r = org_rules(f->o);
    int c = r ? rules_challenge_index(r, f->challenge) : -1;
    if (r && c < 0) {
        log_info("sse: challenge %s is gone from the rules; ending its streams", f->challenge);
        feed_end_all(f);
        feed_release(f);
        return;
    }
    if (r == NULL)
        return;
    const rules_challenge *ch = &r->challenges[c];
    int64_t now = util_now_ms() / 1000;
    period per, prev;
    bool ok, has_prev = false;
    if (strcmp(f->fixed, "all") == 0 || ch->period.kind == PERIOD_ALL) {
        per = all_period;
        ok = true;
    } else {
        ok = period_resolve(&ch->period, f->fixed[0] ? f->fixed : "current", now, &per);
        has_prev = ok && period_previous(&ch->period, &per, &prev);
    }
    if (!ok)
        return; /* no current period (a fixed span is over): heartbeats only */
    char board[KEYS_MAX];
    keys_board_name(board, ch->id, per.id);
    if (strcmp(board, f->board) != 0)
        f->force = true; /* a new period: its standings go out whatever they hold */
    snprintf(f->board, sizeof(f->board), "%s", board);
    f->period_end = per.end;
    f->dirty = false;
    f->fetching = true;
    f->pending++;
    boards_get(h->a->bc, f->org, ch, &per, has_prev ? &prev : NULL, 0, f->limit, NULL, on_page, f);
}

/* The feed for p, created when missing; NULL when this daemon holds no
 * context of p's org (its caller holds one: it cannot happen). */
static struct feed *feed_get(sse *h, const sse_params *p)
{
    for (struct feed *f = h->feeds; f; f = f->next)
        if (f->limit == p->limit && strcmp(f->challenge, p->challenge) == 0 &&
            strcmp(f->fixed, p->period) == 0 && strcmp(f->org, p->org) == 0)
            return f;
    struct org *o = orgs_find(h->a->orgs, p->org);
    if (o == NULL)
        return NULL;
    struct feed *f = calloc(1, sizeof(*f));
    if (f == NULL)
        abort();
    f->h = h;
    f->o = org_hold(o);
    org_watch(o, +1); /* its push channel brings other daemons' changes */
    snprintf(f->org, sizeof(f->org), "%s", p->org);
    snprintf(f->challenge, sizeof(f->challenge), "%s", p->challenge);
    snprintf(f->fixed, sizeof(f->fixed), "%s", p->period);
    f->limit = p->limit;
    f->timer = evtimer_new(h->a->base, on_feed_timer, f);
    if (f->timer == NULL)
        abort();
    f->next = h->feeds;
    h->feeds = f;
    return f;
}

/* The period_closed event of entry i (id, archive) of a close.lua "after"
 * reply, with the period's id in *id; NULL when the entry is unusable. */
static struct msg *closed_event(const store_reply *r, size_t i, const char **id)
{
    size_t len;
    const char *json = store_reply_str(store_reply_at(r, i + 1), &len);
    *id = store_reply_str(store_reply_at(r, i), NULL);
    if (*id == NULL || json == NULL || strlen(*id) >= PERIOD_ID_MAX)
        return NULL;
    char eid[SSE_ID_MAX];
    snprintf(eid, sizeof(eid), "%s.closed", *id);
    return msg_event(eid, "period_closed", json, len);
}

/* A catching-up subscriber's close.lua "after" reply: send what it missed, then
 * the feed's events. */
static void on_missed(void *arg, const store_reply *r)
{
    struct sse_sub *s = arg;
    sse *h = NULL;
    s->catching = false;
    if (s->gone) {
        free(s);
        return;
    }
    struct feed *f = s->f;
    h = f->h;
    if (r && !store_reply_is_error(r)) {
        for (size_t i = 1; i + 1 < store_reply_len(r); i += 2) {
            const char *id;
            struct msg *m = closed_event(r, i, &id);
            if (m == NULL)
                continue;
            sub_send(h, s, m);
            msg_unref(m);
            snprintf(s->mark, sizeof(s->mark), "%s", id);
        }
    }
    attach(h, s);
}

/* Adds a subscriber with either output (bev or sink). */
static sse_sub *subscribe(sse *h, const sse_params *p, struct bufferevent *bev, bool chunked,
                          sse_sink_fn *sink, sse_end_fn *end, void *arg)
{
    if (h->stopping)
        return NULL;
    struct feed *f = feed_get(h, p);
    struct sse_sub *s = f ? calloc(1, sizeof(*s)) : NULL;
    if (s == NULL)
        return NULL;
    *s = (struct sse_sub){
        .f = f, .bev = bev, .sink = sink, .end = end, .arg = arg, .chunked = chunked};
    s->next = f->subs;
    if (f->subs)
        f->subs->prev = s;
    f->subs = s;
    f->nsubs++;
    h->nsubs++;
    char mark[PERIOD_ID_MAX];
    if (p->last_id[0] && sse_id_mark(p->last_id, mark, sizeof(mark))) {
        memcpy(s->mark, mark, sizeof(s->mark));
        s->marked = true;
        s->catching = true; /* s holds the feed meanwhile: it is on its list */
        if (run_closed(h, f->org, f->challenge, mark, on_missed, s) == 0)
            return s;
        s->catching = false; /* Redis away: no missed periods can be read */
    }
    attach(h, s);
    return s;
}

sse_sub *sse_subscribe(sse *h, const sse_params *p, struct bufferevent *bev, bool chunked,
                       sse_end_fn *end, void *arg)
{
    return subscribe(h, p, bev, chunked, NULL, end, arg);
}

sse_sub *sse_subscribe_fn(sse *h, const sse_params *p, sse_sink_fn *sink, sse_end_fn *end,
                          void *arg)
{
    return subscribe(h, p, NULL, false, sink, end, arg);
}

void sse_unsubscribe(sse_sub *s)
{
    if (s == NULL)
        return;
    struct feed *f = s->f;
    if (f)
        undoom(f->h, s); /* gone before the reaper ran */
    detach(s);
    if (s->catching)
        s->gone = true;
    else
        free(s);
    if (f)
        feed_release(f);
}

/* close.lua "after" reply for a feed: pass each closed period on, once each. */
static void on_feed_closed(void *arg, const store_reply *r)
{
    struct feed *f = arg;
    sse *h = f->h;
    f->pending--;
    f->closing = false;
    if (r && !store_reply_is_error(r)) {
        for (size_t i = 1; i + 1 < store_reply_len(r); i += 2) {
            const char *id;
            struct msg *m = closed_event(r, i, &id);
            if (m == NULL)
                continue;
            for (struct sse_sub *s = f->subs; s; s = s->next) {
                if (!s->attached || strcmp(s->mark, id) == 0)
                    continue;
                sub_send(h, s, m);
                snprintf(s->mark, sizeof(s->mark), "%s", id);
                s->marked = true;
            }
            msg_unref(m);
            snprintf(f->mark, sizeof(f->mark), "%s", id);
            f->force = true; /* the standings ids carry the new mark */
        }
        if (f->force && f->nsubs > 0)
            feed_schedule(f);
    }
    if (f->reclose) {
        f->reclose = false;
        feed_closures(f);
    }
    feed_release(f);
}

static void feed_closures(struct feed *f)
{
    if (!f->mark_known || f->nsubs == 0)
        return; /* its first mark is read later and includes this */
    if (f->closing) {
        f->reclose = true;
        return;
    }
    f->closing = true;
    f->pending++;
    if (run_closed(f->h, f->org, f->challenge, f->mark, on_feed_closed, f) < 0) {
        f->pending--;
        f->closing = false;
    }
}

void sse_period_closed(sse *h, const char *org, const char *ch, const char *per)
{
    log_debug("sse: period %s of %s closed", per, ch);
    for (struct feed *f = h->feeds; f; f = f->next)
        if (strcmp(f->challenge, ch) == 0 && strcmp(f->org, org) == 0)
            feed_closures(f);
}

void sse_resync(sse *h, const char *org)
{
    for (struct feed *f = h->feeds; f; f = f->next) {
        if (strcmp(f->org, org) != 0)
            continue;
        feed_closures(f);
        if (f->nsubs > 0)
            feed_schedule(f);
    }
}

void sse_org_state(sse *h, const char *org, bool serving)
{
    if (serving)
        return;
    size_t n = 0;
    for (struct feed *f = h->feeds, *next; f; f = next) {
        next = f->next;
        if (strcmp(f->org, org) != 0 || f->nsubs == 0)
            continue;
        n += f->nsubs;
        f->pending++; /* keeps f while its subscribers' owners are told */
        feed_end_all(f);
        f->pending--;
        feed_release(f);
    }
    if (n)
        log_info("sse: org %s is not served any more; ended %zu streams", org, n);
}

void sse_board_changed(sse *h, const char *org, const char *board, int64_t version)
{
    for (struct feed *f = h->feeds; f; f = f->next)
        if (f->nsubs > 0 && strcmp(f->board, board) == 0 && strcmp(f->org, org) == 0)
            feed_schedule(f);
}

/* The boards asked for by a version check, in reply order. */
struct check {
    sse *h;
    size_t n;
    char org[EVENT_NAME_MAX + 1];
    char boards[][BOARD_MAX];
};

/* HMGET bver reply: learn the versions this daemon had not heard of. */
static void on_checked(void *arg, const store_reply *r)
{
    struct check *c = arg;
    c->h->checking--;
    for (size_t i = 0; r && i < c->n && i < store_reply_len(r); i++) {
        int64_t v = store_reply_int(store_reply_at(r, i));
        if (v > boards_known_version(c->h->a->bc, c->org, c->boards[i]))
            boards_learn_version(c->h->a->bc, c->org, c->boards[i], v);
    }
    free(c);
}

/* Asks for the versions of the boards watched in f's org (one HMGET for
 * the feeds from f on), stamping those feeds with this round. */
static void check_org(sse *h, struct feed *first)
{
    size_t n = 0;
    for (struct feed *f = first; f; f = f->next)
        if (f->nsubs > 0 && f->board[0] && strcmp(f->org, first->org) == 0)
            n++;
    struct check *c = calloc(1, sizeof(*c) + n * BOARD_MAX);
    const char **argv = calloc(n + 2, sizeof(*argv));
    size_t *lens = calloc(n + 2, sizeof(*lens));
    char key[KEYS_MAX];
    if (c == NULL || argv == NULL || lens == NULL)
        abort();
    c->h = h;
    snprintf(c->org, sizeof(c->org), "%s", first->org);
    keys_org(key, first->org, "bver");
    argv[0] = "HMGET";
    argv[1] = key;
    for (struct feed *f = first; f && c->n < n; f = f->next) {
        if (f->nsubs == 0 || !f->board[0] || strcmp(f->org, first->org) != 0)
            continue;
        f->stamp = h->round;
        memcpy(c->boards[c->n], f->board, BOARD_MAX);
        argv[2 + c->n] = c->boards[c->n];
        c->n++;
    }
    for (size_t i = 0; i < c->n + 2; i++)
        lens[i] = strlen(argv[i]);
    if (store_command(h->a->st, on_checked, c, (int)c->n + 2, argv, lens) == 0)
        h->checking++;
    else
        free(c);
    free(argv);
    free(lens);
}

/* Every sse_interval: move "current" feeds on at their period's end, retry
 * failed fetches, and check the versions of watched boards, one HMGET per
 * org with streams. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    sse *h = arg;
    int64_t now = util_now_ms() / 1000;
    for (struct feed *f = h->feeds; f; f = f->next) {
        if (f->nsubs == 0)
            continue;
        if ((f->fixed[0] == '\0' && f->board[0] && now >= f->period_end) ||
            (f->dirty && !f->fetching && !evtimer_pending(f->timer, NULL)))
            feed_schedule(f);
    }
    if (h->checking > 0 || !store_ready(h->a->st))
        return;
    h->round++;
    for (struct feed *f = h->feeds; f; f = f->next)
        if (f->nsubs > 0 && f->board[0] && f->stamp != h->round)
            check_org(h, f);
}

/* Every sse_heartbeat: a comment line to every stream; a client that sent
 * anything after its request (an SSE client never does) is cut off. */
static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    sse *h = arg;
    for (struct feed *f = h->feeds; f; f = f->next) {
        for (struct sse_sub *s = f->subs; s; s = s->next) {
            if (s->sink)
                continue; /* its owner's connection has its own liveness */
            if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
                log_info("sse: cut off a subscriber of %s that sent data after its request",
                         f->board);
                doom(h, s);
                continue;
            }
            sub_send(h, s, h->hbmsg);
        }
    }
}

sse *sse_new(app *a)
{
    sse *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->a = a;
    h->hbmsg = msg_new(": hb\n\n", 6, NULL, 0);
    h->tick = event_new(a->base, -1, EV_PERSIST, on_tick, h);
    h->hb = event_new(a->base, -1, EV_PERSIST, on_heartbeat, h);
    h->reaper = event_new(a->base, -1, 0, on_reap, h);
    if (h->tick == NULL || h->hb == NULL || h->reaper == NULL) {
        sse_free(h);
        return NULL;
    }
    int64_t ms = a->cfg->sse_interval;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};
    event_add(h->tick, &tv);
    struct timeval hb = {(time_t)a->cfg->sse_heartbeat, 0};
    event_add(h->hb, &hb);
    return h;
}

void sse_shutdown(sse *h)
{
    if (h == NULL || h->stopping)
        return;
    h->stopping = true;
    size_t clean = 0, cut = 0;
    for (struct feed *f = h->feeds; f; f = f->next) {
        while (f->subs) {
            struct sse_sub *s = f->subs;
            bool flushed = s->sink || evbuffer_get_length(bufferevent_get_output(s->bev)) == 0;
            undoom(h, s);
            detach(s);
            s->end(s->arg, flushed);
            if (flushed)
                clean++;
            else
                cut++;
            if (s->catching)
                s->gone = true;
            else
                free(s);
        }
    }
    if (clean + cut)
        log_info("shutdown: ended %zu streams (%zu cut off with unsent output)", clean + cut, cut);
}

size_t sse_subscribers(const sse *h)
{
    return h ? h->nsubs : 0;
}

void sse_free(sse *h)
{
    if (h == NULL)
        return;
    while (h->feeds) {
        struct feed *f = h->feeds;
        while (f->subs) {
            struct sse_sub *s = f->subs;
            undoom(h, s);
            detach(s);
            if (!s->catching)
                free(s);
            else
                s->gone = true;
        }
        f->pending = 0;
        feed_release(f);
    }
    if (h->tick)
        event_free(h->tick);
    if (h->hb)
        event_free(h->hb);
    if (h->reaper)
        event_free(h->reaper);
    msg_unref(h->hbmsg);
    free(h);
}

/* True if s is a period id or mark as found in event ids. */
static bool id_word(const char *s, size_t n)
{
    if (n == 0 || n >= PERIOD_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
            return false;
    return true;
}

bool sse_id_mark(const char *id, char *mark, size_t marklen)
{
    const char *d1 = strchr(id, '.');
    if (d1 == NULL || !id_word(id, (size_t)(d1 - id)) || marklen < PERIOD_ID_MAX)
        return false;
    if (strcmp(d1 + 1, "closed") == 0) { /* "{period}.closed" */
        snprintf(mark, marklen, "%.*s", (int)(d1 - id), id);
        return true;
    }
    const char *d2 = strchr(d1 + 1, '.'); /* "{period}.{version}.{mark}" */
    int64_t v;
    char num[24];
    if (d2 == NULL || (size_t)(d2 - d1 - 1) >= sizeof(num))
        return false;
    snprintf(num, sizeof(num), "%.*s", (int)(d2 - d1 - 1), d1 + 1);
    if (!util_parse_i64(num, 0, INT64_MAX, &v) || !id_word(d2 + 1, strlen(d2 + 1)))
        return false;
    snprintf(mark, marklen, "%s", strcmp(d2 + 1, "-") == 0 ? "" : d2 + 1);
    return true;
}
