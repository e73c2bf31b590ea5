/*
 * ingest.c - gathers requests into batched, atomic score.lua calls.
 *
 * Submit (synchronous): each event is checked against the rules of its org
 * and its work is planned (scoring.h): points and the challenges it counts
 * in. The request becomes a `group` on the queue, holding the rules it was
 * checked against (rules_hold), so a new version never changes a request
 * halfway.
 *
 * Flush (timer): groups of one org are taken off the queue up to
 * max_events and turned into one score.lua call by a scorecall (scoring.c);
 * a call's keys all carry its org's hash tag. At most MAX_INFLIGHT_ORG calls
 * of one org are in flight, so that under load an org's requests gather
 * into bigger calls, and MAX_INFLIGHT in all, so that many orgs' calls go
 * out side by side; a reply re-arms the flush when requests are waiting.
 *
 * Ownership: a group owns its event_batch and frees it after `done`.
 */
#include "ingest.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "scoring.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define MAX_INFLIGHT_ORG 4
#define MAX_INFLIGHT     64

struct group {
    struct group *next;
    char org[EVENT_NAME_MAX + 1];
    event_batch b;
    rules *r; /* a hold on the rules it was checked against */
    score_plan *plans;
    score_std *stds;
    bool ranks; /* the caller wants ranks in the standings */
    ingest_done_fn *done;
    void *arg;
};

/* A call in flight: the groups it carries, in order. */
struct call {
    ingest *in;
    struct call *prev, *next; /* in the list of calls in flight */
    char org[EVENT_NAME_MAX + 1];
    struct group *groups;
    size_t n_groups;
};

struct ingest {
    struct event_base *base;
    store *st;
    ingest_options o;
    struct group *head, *tail;
    size_t queued, busy;
    int inflight;
    struct call *calls; /* in flight */
    struct event *timer;
    bool armed;
    uint64_t seq;
    char prefix[24];
    scorecall *call; /* buffers of the call being built */
};

/* Frees a group and what it owns. */
static void group_free(struct group *g)
{
    event_batch_free(&g->b);
    rules_free(g->r);
    free(g->plans);
    free(g->stds);
    free(g);
}

static void flush(ingest *in);

/* Timer callback: the gathering window is over. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    ingest *in = arg;
    in->armed = false;
    flush(in);
}

/* Arms the gathering timer unless it already runs. */
static void arm(ingest *in)
{
    if (in->armed || in->head == NULL)
        return;
    struct timeval tv = {0, (suseconds_t)in->o.window_us};
    evtimer_add(in->timer, &tv);
    in->armed = true;
}

ingest *ingest_new(struct event_base *base, store *st, const ingest_options *o)
{
    ingest *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return NULL;
    in->base = base;
    in->st = st;
    in->o = *o;
    in->timer = evtimer_new(base, on_timer, in);
    in->call = scorecall_new();
    /* Generated event ids: a random prefix per process, then a counter. */
    unsigned char rnd[6] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd))
            log_warn("ingest: short read from /dev/urandom");
        fclose(f);
    }
    snprintf(in->prefix, sizeof(in->prefix), "g%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5]);
    return in;
}

/* Answers a group with a failure and frees it. */
static void group_fail(struct group *g, ingest_status st)
{
    g->done(g->arg, st, &g->b, NULL, NULL);
    group_free(g);
}

void ingest_free(ingest *in)
{
    if (in == NULL)
        return;
    while (in->head) {
        struct group *g = in->head;
        in->head = g->next;
        group_fail(g, INGEST_UNAVAILABLE);
    }
    event_free(in->timer);
    scorecall_free(in->call);
    free(in);
}

size_t ingest_busy(const ingest *in)
{
    return in->busy;
}

int ingest_submit(ingest *in, const char *org, const rules *r, event_batch *b, int64_t now_ms,
                  bool ranks, errlist *errs, ingest_done_fn *done, void *arg)
{
    if (r == NULL || !store_ready(in->st))
        return -2;
    struct group *g = calloc(1, sizeof(*g));
    score_plan *plans = calloc(b->n, sizeof(*plans));
    score_std *stds = calloc(b->n * r->n_challenges + 1, sizeof(*stds));
    if (g == NULL || plans == NULL || stds == NULL)
        abort();
    size_t n_stds = 0;
    bool ok = true;
    for (size_t i = 0; i < b->n; i++) {
        char ptr[32] = "";
        if (b->is_batch)
            snprintf(ptr, sizeof(ptr), "/events/%zu", i);
        ok &= score_plan_event(r, &b->v[i], ptr, now_ms, &plans[i], stds, &n_stds, errs);
    }
    if (!ok) {
        free(g);
        free(plans);
        free(stds);
        return -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->v[i].id[0] == '\0') {
            snprintf(b->v[i].id, sizeof(b->v[i].id), "%s-%" PRIu64, in->prefix, ++in->seq);
            plans[i].generated = true;
        }
    }
    snprintf(g->org, sizeof(g->org), "%s", org);
    g->b = *b;
    memset(b, 0, sizeof(*b));
    g->r = rules_hold(r);
    g->plans = plans;
    g->stds = stds;
    g->ranks = ranks;
    g->done = done;
    g->arg = arg;
    if (in->tail)
        in->tail->next = g;
    else
        in->head = g;
    in->tail = g;
    in->queued += g->b.n;
    in->busy++;
    arm(in);
    return 0;
}

/* Answers a group score.lua refused whole: part is {"E" or "C", event
 * numbers}: events of unknown leaders, or new events in closed periods. */
static void refuse_group(struct group *g, const store_reply *part, bool unknown_leader)
{
    errlist errs = {0};
    for (size_t i = 1; i < store_reply_len(part); i++) {
        int64_t e = store_reply_int(store_reply_at(part, i));
        if (e < 1 || (size_t)e > g->b.n)
            continue;
        const char *member = unknown_leader ? "leader" : "at";
        char ptr[48];
        if (g->b.is_batch)
            snprintf(ptr, sizeof(ptr), "/events/%" PRId64 "/%s", e - 1, member);
        else
            snprintf(ptr, sizeof(ptr), "/%s", member);
        if (unknown_leader)
            errlist_add(&errs, ptr,
                        "unknown leader '%s': an admin creates leaders with PUT "
                        "/v1/admin/leaders/{id}",
                        g->b.v[e - 1].leader);
        else
            errlist_add(&errs, ptr, "%s", g->plans[e - 1].closed);
    }
    g->done(g->arg, unknown_leader ? INGEST_UNKNOWN_LEADER : INGEST_CLOSED, &g->b, NULL, &errs);
    errlist_clear(&errs);
}

/* Answers one group from its part of the reply. */
static void answer_group(struct group *g, const store_reply *part)
{
    size_t n = store_reply_len(part);
    const char *first = store_reply_str(store_reply_at(part, 0), NULL);
    if (first && (strcmp(first, "E") == 0 || strcmp(first, "C") == 0)) {
        refuse_group(g, part, first[0] == 'E');
        return;
    }
    if (n != g->b.n) {
        g->done(g->arg, INGEST_UNAVAILABLE, &g->b, NULL, NULL);
        return;
    }
    /* Size the standings first, then parse every result into them. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = store_reply_str(store_reply_at(part, i), &len);
        total += s ? score_result_count(s, len) : 0;
    }
    ingest_result *res = malloc(n * sizeof(*res));
    ingest_standing *stds = malloc((total + 1) * sizeof(*stds));
    if (res == NULL || stds == NULL)
        abort();
    for (size_t i = 0, used = 0; i < n; i++) {
        size_t len;
        const char *s = store_reply_str(store_reply_at(part, i), &len);
        size_t max_std = s ? score_result_count(s, len) : 0;
        res[i] = (ingest_result){
            .id = g->b.v[i].id, .std = stds + used, .explain = "{}", .explain_len = 2};
        if (s)
            score_result_parse(s, len, &res[i], max_std);
        used += max_std;
    }
    g->done(g->arg, INGEST_OK, &g->b, res, NULL);
    free(stds);
    free(res);
}

/* Reply to a score.lua call: versions first, then one part per group. */
static void on_reply(void *arg, const store_reply *r)
{
    struct call *c = arg;
    ingest *in = c->in;
    in->inflight--;
    if (c->prev)
        c->prev->next = c->next;
    else
        in->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bool ok = r && !store_reply_is_error(r) && store_reply_len(r) == c->n_groups + 1;
    if (r && store_reply_is_error(r))
        log_err("score.lua failed: %s", store_reply_str(r, NULL));
    if (ok && in->o.on_version) {
        const store_reply *v = store_reply_at(r, 0);
        for (size_t i = 0; i + 1 < store_reply_len(v); i += 2)
            in->o.on_version(in->o.on_version_arg, c->org,
                             store_reply_str(store_reply_at(v, i), NULL),
                             store_reply_int(store_reply_at(v, i + 1)));
    }
    size_t i = 1;
    for (struct group *g = c->groups, *next; g; g = next, i++) {
        next = g->next;
        if (ok)
            answer_group(g, store_reply_at(r, i));
        else
            g->done(g->arg, INGEST_UNAVAILABLE, &g->b, NULL, NULL);
        in->busy--;
        group_free(g);
    }
    free(c);
    if (in->head)
        arm(in);
}

/* Calls of org in flight. */
static int org_inflight(const ingest *in, const char *org)
{
    int n = 0;
    for (const struct call *c = in->calls; c; c = c->next)
        n += strcmp(c->org, org) == 0;
    return n;
}

/* Sends the queued requests of org as one call, in queue order. */
static void send_org(ingest *in, const char *org_)
{
    struct call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->in = in;
    snprintf(c->org, sizeof(c->org), "%s", org_);
    const char *org = c->org;
    size_t events = 0;
    scorecall_opts o = {.idempotency_ttl = in->o.idempotency_ttl};
    scorecall_begin(in->call, org, util_now_ms(), &o);
    struct group **tailp = &c->groups, *g, **prev = &in->head;
    while ((g = *prev) != NULL) {
        if (strcmp(g->org, org) != 0) {
            prev = &g->next;
            continue;
        }
        if (events > 0 && events + g->b.n > (size_t)in->o.max_events)
            break;
        *prev = g->next;
        g->next = NULL;
        scorecall_add(in->call, g->r, g->b.v, g->plans, g->stds, g->b.n, g->ranks);
        events += g->b.n;
        *tailp = g;
        tailp = &g->next;
        c->n_groups++;
    }
    in->tail = NULL; /* the queue lost members anywhere: find its tail again */
    for (g = in->head; g; g = g->next)
        in->tail = g;
    in->queued -= events;

    int nkeys;
    const char **argv;
    const size_t *lens;
    int argc = scorecall_finish(in->call, &nkeys, &argv, &lens);
    in->inflight++;
    c->next = in->calls;
    if (in->calls)
        in->calls->prev = c;
    in->calls = c;
    if (store_script(in->st, STORE_SCRIPT_SCORE, nkeys, argc, argv, lens, on_reply, c) < 0)
        on_reply(c, NULL);
}

/* Sends a call for each org with requests waiting and room in flight. */
static void flush(ingest *in)
{
    while (in->head && in->inflight < MAX_INFLIGHT) {
        struct group *g = in->head;
        while (g && org_inflight(in, g->org) >= MAX_INFLIGHT_ORG)
            g = g->next;
        if (g == NULL)
            return; /* every waiting org is busy: a reply flushes again */
        send_org(in, g->org);
    }
}
