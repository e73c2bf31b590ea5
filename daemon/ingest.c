/*
 * ingest.c - gathers requests into batched, atomic score.lua calls.
 *
 * Submit (synchronous): each event is checked against the rules in force
 * and its work is planned (struct plan): base points and, per challenge that
 * counts its type, the period and the second in it. The request becomes a
 * `group` on the queue, holding a reference to the rules it was checked
 * against (struct rulesref), so a SIGHUP reload never changes a request
 * halfway.
 *
 * Flush (timer): groups of one org are taken off the queue up to
 * max_events and turned into one EVALSHA: KEYS are deduplicated (a board or a
 * cap counter shared by many events is passed once), ARGV follows the layout
 * documented in scripts/score.lua. At most MAX_INFLIGHT calls are in flight;
 * a reply re-arms the flush when requests are waiting.
 *
 * Ownership: a group owns its event_batch and frees it after `done`.
 */
#include "ingest.h"

#include <event2/event.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define MAX_INFLIGHT 4

typedef struct rulesref {
    rules *r;
    unsigned refs;
} rulesref;

/* One event's planned standing on one challenge board. */
struct pstd {
    int challenge;
    period per;
};

/* One event's planned work. */
struct plan {
    int activity;
    bool generated; /* the id was made here: no idempotency key */
    int64_t points;
    size_t n_std, first; /* standings are stds[first .. first + n_std) */
};

struct group {
    struct group *next;
    char org[EVENT_NAME_MAX + 1];
    event_batch b;
    rulesref *rr;
    struct plan *plans;
    struct pstd *stds;
    bool ranks; /* the caller wants ranks in the standings */
    ingest_done_fn *done;
    void *arg;
};

struct ingest {
    struct event_base *base;
    store *st;
    ingest_options o;
    rulesref *cur;
    struct group *head, *tail;
    size_t queued, busy;
    int inflight;
    struct event *timer;
    bool armed;
    uint64_t seq;
    char prefix[24];
    struct scratch *x; /* buffers of the call being built */
};

/* A call in flight: the groups it carries, in order. */
struct call {
    ingest *in;
    struct group *groups;
    size_t n_groups;
};

/* Growable list of byte strings, addressed by offset so it can realloc. */
struct args {
    char *buf;
    size_t len, cap;
    size_t *off, *lens;
    size_t n, ncap;
};

/* Appends one string to an args list. */
static void args_add(struct args *a, const char *s, size_t len)
{
    if (a->len + len > a->cap) {
        a->cap = (a->len + len) * 2 + 4096;
        a->buf = realloc(a->buf, a->cap);
    }
    if (a->n == a->ncap) {
        a->ncap = a->ncap * 2 + 256;
        a->off = realloc(a->off, a->ncap * sizeof(size_t));
        a->lens = realloc(a->lens, a->ncap * sizeof(size_t));
    }
    if (a->buf == NULL || a->off == NULL || a->lens == NULL)
        abort();
    memcpy(a->buf + a->len, s, len);
    a->off[a->n] = a->len;
    a->lens[a->n++] = len;
    a->len += len;
}

/* Appends a number. */
static void args_int(struct args *a, int64_t v)
{
    char num[24];
    args_add(a, num, util_i64toa(v, num));
}

/* Frees an args list. */
static void args_free(struct args *a)
{
    free(a->buf);
    free(a->off);
    free(a->lens);
}

/* The KEYS of a call: an args list plus a hash index for deduplication. */
struct keytab {
    struct args a;
    uint32_t *slots; /* key number + 1, 0 = empty */
    size_t nslots;
};

/* FNV-1a. */
static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Returns the 1-based KEYS index of key, adding it if new. */
static size_t keytab_index(struct keytab *t, const char *key, size_t len)
{
    if ((t->a.n + 1) * 2 > t->nslots) {
        size_t ns = t->nslots ? t->nslots * 2 : 1024;
        uint32_t *slots = calloc(ns, sizeof(uint32_t));
        if (slots == NULL)
            abort();
        for (size_t i = 0; i < t->a.n; i++) {
            size_t h = hash(t->a.buf + t->a.off[i], t->a.lens[i]) & (ns - 1);
            while (slots[h])
                h = (h + 1) & (ns - 1);
            slots[h] = (uint32_t)(i + 1);
        }
        free(t->slots);
        t->slots = slots;
        t->nslots = ns;
    }
    size_t h = hash(key, len) & (t->nslots - 1);
    while (t->slots[h]) {
        size_t i = t->slots[h] - 1;
        if (t->a.lens[i] == len && memcmp(t->a.buf + t->a.off[i], key, len) == 0)
            return i + 1;
        h = (h + 1) & (t->nslots - 1);
    }
    args_add(&t->a, key, len);
    t->slots[h] = (uint32_t)t->a.n;
    return t->a.n;
}

/* Empties an args list, keeping its memory. */
static void args_reset(struct args *a)
{
    a->len = a->n = 0;
}

/* Empties a keytab, keeping its memory. */
static void keytab_reset(struct keytab *t)
{
    args_reset(&t->a);
    if (t->slots)
        memset(t->slots, 0, t->nslots * sizeof(uint32_t));
}

/* Frees a keytab. */
static void keytab_free(struct keytab *t)
{
    args_free(&t->a);
    free(t->slots);
}

/* The argument A of a call (see score.lua), a flat MessagePack array. */
struct mp {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint32_t count; /* values packed */
};

/* One board of a call. */
struct board {
    size_t key;  /* KEYS index */
    size_t name; /* index in scratch.names */
    uint32_t m;  /* members so far */
};

/* One board member of a call: a leader on a board. */
struct member {
    uint32_t board, leader, slot; /* board and leader number, slot on the board (1-based) */
    bool rank;                    /* some request wants its rank */
};

/* Buffers of one call, kept between calls so that flushing allocates
 * nothing in the steady state. A call's parts are deduplicated here, in
 * tables that give each distinct string its 1-based number. */
struct scratch {
    struct keytab keys;             /* KEYS */
    struct keytab leaders;          /* leader ids */
    struct keytab ids;              /* ids of idempotent events */
    struct keytab members;          /* board number + leader id -> member number */
    struct args head;               /* ARGV before A */
    struct args names;              /* board names */
    struct mp parts, groups;        /* A's leading parts; its groups, packed as they come */
    size_t *caps, n_caps, cap_caps; /* cap counter KEYS indices */
    struct board *boards;
    size_t n_boards, cap_boards;
    struct member *mem; /* by member number - 1 */
    size_t cap_mem;
    const char **argv;
    size_t *lens, cap_argv;
};

/* Empties a MessagePack buffer. */
static void mp_reset(struct mp *m)
{
    msgpack_sbuffer_clear(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
    m->count = 0;
}

/* Empties the scratch buffers for the next call. */
static void scratch_reset(struct scratch *x)
{
    keytab_reset(&x->keys);
    keytab_reset(&x->leaders);
    keytab_reset(&x->ids);
    keytab_reset(&x->members);
    args_reset(&x->head);
    args_reset(&x->names);
    mp_reset(&x->parts);
    mp_reset(&x->groups);
    x->n_caps = x->n_boards = 0;
}

/* Frees the scratch buffers. */
static void scratch_free(struct scratch *x)
{
    keytab_free(&x->keys);
    keytab_free(&x->leaders);
    keytab_free(&x->ids);
    keytab_free(&x->members);
    args_free(&x->head);
    args_free(&x->names);
    msgpack_sbuffer_destroy(&x->parts.sb);
    msgpack_sbuffer_destroy(&x->groups.sb);
    free(x->caps);
    free(x->boards);
    free(x->mem);
    free(x->argv);
    free(x->lens);
}

/* Grows an array of n_have used elements to hold one more. */
static void *grow(void *p, size_t *cap, size_t n_have, size_t size)
{
    if (n_have < *cap)
        return p;
    *cap = *cap * 2 + 16;
    p = realloc(p, *cap * size);
    if (p == NULL)
        abort();
    return p;
}

/* Packs one integer into A. */
static void mp_int(struct mp *m, int64_t v)
{
    msgpack_pack_int64(&m->pk, v);
    m->count++;
}

/* Packs one string. */
static void mp_str(struct mp *m, const char *s, size_t len)
{
    msgpack_pack_str(&m->pk, len);
    msgpack_pack_str_body(&m->pk, s, len);
    m->count++;
}

/* Packs one integer as text, for the result strings score.lua builds. */
static void mp_int_text(struct mp *m, int64_t v)
{
    char num[24];
    mp_str(m, num, util_i64toa(v, num));
}

/* Packs one boolean. */
static void mp_bool(struct mp *m, bool v)
{
    if (v)
        msgpack_pack_true(&m->pk);
    else
        msgpack_pack_false(&m->pk);
    m->count++;
}

/* Drops a reference to a rule set, freeing it with the last one. */
static void rulesref_put(rulesref *rr)
{
    if (rr && --rr->refs == 0) {
        rules_free(rr->r);
        free(rr);
    }
}

/* Frees a group and what it owns. */
static void group_free(struct group *g)
{
    event_batch_free(&g->b);
    rulesref_put(g->rr);
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
    in->x = calloc(1, sizeof(*in->x));
    if (in->x == NULL)
        abort();
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
    rulesref_put(in->cur);
    scratch_free(in->x);
    free(in->x);
    free(in);
}

void ingest_set_rules(ingest *in, rules *r)
{
    rulesref *rr = calloc(1, sizeof(*rr));
    if (rr == NULL)
        abort();
    rr->r = r;
    rr->refs = 1;
    rulesref_put(in->cur);
    in->cur = rr;
}

const rules *ingest_rules(const ingest *in)
{
    return in->cur ? in->cur->r : NULL;
}

size_t ingest_busy(const ingest *in)
{
    return in->busy;
}

/* Plans one event: its activity, points and standings; false with errors. */
static bool plan_event(const rules *r, event *ev, const char *ptr, int64_t now_ms, struct plan *p,
                       struct pstd *stds, size_t *n_stds, errlist *errs)
{
    char where[64];
    int a = rules_activity_index(r, ev->type);
    if (a < 0) {
        snprintf(where, sizeof(where), "%s/type", ptr);
        errlist_add(errs, where,
                    "unknown activity type '%s': the rules define %zu types, see "
                    "GET /v1/challenges",
                    ev->type, r->n_activities);
        return false;
    }
    p->activity = a;
    p->points = rules_points(r, (size_t)a, ev->channel[0] ? ev->channel : NULL,
                             ev->stakeholder[0] ? ev->stakeholder : NULL);
    p->first = *n_stds;
    p->n_std = 0;
    int64_t at = ev->at >= 0 ? ev->at / 1000 : -((-ev->at + 999) / 1000);
    bool ok = true;
    for (size_t c = 0; c < r->n_challenges; c++) {
        const rules_challenge *ch = &r->challenges[c];
        struct pstd *s = &stds[*n_stds];
        if (!ch->counts[a] || !period_at(&ch->period, at, &s->per))
            continue;
        if (s->per.end + ch->grace <= now_ms / 1000) {
            char when[32];
            util_format_rfc3339((s->per.end + ch->grace) * 1000, when);
            snprintf(where, sizeof(where), "%s/at", ptr);
            errlist_add(errs, where, "falls in period %s of challenge '%s', closed since %s",
                        s->per.id, ch->id, when);
            ok = false;
            continue;
        }
        s->challenge = (int)c;
        (*n_stds)++;
        p->n_std++;
        if (ch->period.kind != PERIOD_ALL) { /* every challenge keeps an all-time board too */
            struct pstd *all = &stds[(*n_stds)++];
            all->challenge = (int)c;
            all->per = (period){PERIOD_ALL_START, PERIOD_ALL_END, "all"};
            p->n_std++;
        }
    }
    return ok;
}

int ingest_submit(ingest *in, const char *org, event_batch *b, int64_t now_ms, bool ranks,
                  errlist *errs, ingest_done_fn *done, void *arg)
{
    if (in->cur == NULL || !store_ready(in->st))
        return -2;
    const rules *r = in->cur->r;
    struct group *g = calloc(1, sizeof(*g));
    struct plan *plans = calloc(b->n, sizeof(*plans));
    struct pstd *stds = calloc(b->n * (2 * r->n_challenges + 1), sizeof(*stds));
    if (g == NULL || plans == NULL || stds == NULL)
        abort();
    size_t n_stds = 0;
    bool ok = true;
    for (size_t i = 0; i < b->n; i++) {
        char ptr[32] = "";
        if (b->is_batch)
            snprintf(ptr, sizeof(ptr), "/events/%zu", i);
        ok &= plan_event(r, &b->v[i], ptr, now_ms, &plans[i], stds, &n_stds, errs);
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
    g->rr = in->cur;
    g->rr->refs++;
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
    if (in->inflight < MAX_INFLIGHT)
        arm(in);
    return 0;
}

/* Parses one result string of score.lua ("dup|points|reasons|board|points|score|rank|...")
 * into res. */
static void parse_result(const char *s, size_t len, ingest_result *res, size_t max_std)
{
    char buf[4096];
    char *f[3 + 8 * RULES_MAX_CHALLENGES];
    size_t nf = 0;
    if (len >= sizeof(buf))
        len = sizeof(buf) - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (char *p = buf; nf < sizeof(f) / sizeof(f[0]);) { /* strtok would skip empty fields */
        f[nf++] = p;
        char *bar = strchr(p, '|');
        if (bar == NULL)
            break;
        *bar = '\0';
        p = bar + 1;
    }
    if (nf < 3)
        return;
    res->duplicate = f[0][0] == '1';
    if (!util_parse_i64(f[1], INT64_MIN, INT64_MAX, &res->points))
        res->points = 0;
    snprintf(res->reasons, sizeof(res->reasons), "%s", f[2]);
    for (size_t i = 3; i + 3 < nf && res->n_std < max_std; i += 4) {
        ingest_standing *st = &res->std[res->n_std++];
        char *colon = strchr(f[i], ':');
        if (colon)
            *colon = '\0';
        snprintf(st->challenge, sizeof(st->challenge), "%s", f[i]);
        snprintf(st->period, sizeof(st->period), "%s", colon ? colon + 1 : "");
        if (!util_parse_i64(f[i + 1], INT64_MIN, INT64_MAX, &st->points))
            st->points = 0;
        if (!util_parse_i64(f[i + 2], INT64_MIN, INT64_MAX, &st->score))
            st->score = 0;
        if (!util_parse_i64(f[i + 3], 0, INT64_MAX, &st->rank))
            st->rank = 0;
    }
}

/* Answers one group from its part of the reply. */
static void answer_group(struct group *g, const store_reply *part)
{
    size_t n = store_reply_len(part);
    const char *first = store_reply_str(store_reply_at(part, 0), NULL);
    if (first && strcmp(first, "E") == 0) {
        errlist errs = {0};
        for (size_t i = 1; i < n; i++) {
            int64_t e = store_reply_int(store_reply_at(part, i));
            if (e < 1 || (size_t)e > g->b.n)
                continue;
            char ptr[48];
            if (g->b.is_batch)
                snprintf(ptr, sizeof(ptr), "/events/%" PRId64 "/leader", e - 1);
            else
                snprintf(ptr, sizeof(ptr), "/leader");
            errlist_add(&errs, ptr,
                        "unknown leader '%s': an admin creates leaders with PUT "
                        "/v1/admin/leaders/{id}",
                        g->b.v[e - 1].leader);
        }
        g->done(g->arg, INGEST_UNKNOWN_LEADER, &g->b, NULL, &errs);
        errlist_clear(&errs);
        return;
    }
    if (n != g->b.n) {
        g->done(g->arg, INGEST_UNAVAILABLE, &g->b, NULL, NULL);
        return;
    }
    /* Count the standings first: each takes four '|'-separated fields. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = store_reply_str(store_reply_at(part, i), &len);
        for (size_t k = 0; k < len; k++)
            total += s[k] == '|';
    }
    ingest_result *res = malloc(n * sizeof(*res));
    ingest_standing *stds = malloc((total / 4 + 1) * sizeof(*stds));
    if (res == NULL || stds == NULL)
        abort();
    for (size_t i = 0, used = 0; i < n; i++) {
        size_t len, bars = 0;
        const char *s = store_reply_str(store_reply_at(part, i), &len);
        for (size_t k = 0; k < len; k++)
            bars += s[k] == '|';
        size_t max_std = bars >= 2 ? (bars - 2) / 4 : 0;
        res[i] = (ingest_result){.id = g->b.v[i].id, .std = stds + used};
        if (s)
            parse_result(s, len, &res[i], max_std);
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
    bool ok = r && !store_reply_is_error(r) && store_reply_len(r) == c->n_groups + 1;
    if (ok && in->o.on_version) {
        const store_reply *v = store_reply_at(r, 0);
        for (size_t i = 0; i + 1 < store_reply_len(v); i += 2)
            in->o.on_version(in->o.on_version_arg, store_reply_str(store_reply_at(v, i), NULL),
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

/* Appends s to a JSON text being built in buf, escaped, without quotes. */
static size_t json_escape(char *buf, size_t at, size_t cap, const char *s)
{
    for (; *s && at + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[at++] = '\\';
            buf[at++] = (char)c;
        } else if (c < 0x20) {
            at += (size_t)snprintf(buf + at, cap - at, "\\u%04x", c);
        } else {
            buf[at++] = (char)c;
        }
    }
    return at;
}

/* Packs the event as one JSON object (its entry in the event log). */
static void event_json(struct mp *m, const event *ev)
{
    static const char *const names[] = {"id",          "leader", "type", "channel",
                                        "stakeholder", "url",    "note"};
    const char *values[] = {ev->id,          ev->leader, ev->type, ev->channel,
                            ev->stakeholder, ev->url,    ev->note};
    char buf[2 * (EVENT_URL_MAX + EVENT_NOTE_MAX * 4) + 1024];
    char at[32];
    util_format_rfc3339(ev->at, at);
    size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"at\":\"%s\"", at);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (values[i] == NULL || values[i][0] == '\0')
            continue;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"%s\":\"", names[i]);
        n = json_escape(buf, n, sizeof(buf) - 3, values[i]);
        buf[n++] = '"';
    }
    buf[n++] = '}';
    mp_str(m, buf, n);
}

/* The 1-based board number of a challenge period in this call, adding the
 * board when it is new. */
static uint32_t board_number(struct scratch *x, const char *org, const rules_challenge *ch,
                             const period *per)
{
    char key[KEYS_MAX];
    int n = keys_board(key, org, ch->id, per->id);
    size_t ki = keytab_index(&x->keys, key, (size_t)n), b;
    for (b = 0; b < x->n_boards && x->boards[b].key != ki; b++)
        ;
    if (b == x->n_boards) {
        x->boards = grow(x->boards, &x->cap_boards, x->n_boards, sizeof(*x->boards));
        n = keys_board_name(key, ch->id, per->id);
        args_add(&x->names, key, (size_t)n);
        x->boards[x->n_boards++] = (struct board){ki, x->names.n - 1, 0};
    }
    return (uint32_t)b + 1;
}

/* The slot (1-based) of a leader among a board's members in this call,
 * adding the member when it is new. */
static uint32_t member_slot(struct scratch *x, uint32_t board, uint32_t leader, const char *id,
                            bool rank)
{
    char key[4 + EVENT_NAME_MAX + 1];
    size_t len = strlen(id);
    memcpy(key, &board, 4);
    memcpy(key + 4, id, len);
    size_t before = x->members.a.n, mi = keytab_index(&x->members, key, 4 + len);
    if (mi > before) {
        x->mem = grow(x->mem, &x->cap_mem, before, sizeof(*x->mem));
        x->mem[mi - 1] = (struct member){board, leader, ++x->boards[board - 1].m, false};
    }
    x->mem[mi - 1].rank |= rank;
    return x->mem[mi - 1].slot;
}

/* Packs one group's events into A's groups part, registering the leaders,
 * ids, boards, members and cap counters they use (see score.lua). */
static void build_group(struct scratch *x, const char *org, struct group *g)
{
    const rules *r = g->rr->r;
    struct mp *av = &x->groups;
    char key[KEYS_MAX];
    mp_int(av, (int64_t)g->b.n);
    for (size_t i = 0; i < g->b.n; i++) {
        const event *ev = &g->b.v[i];
        const struct plan *p = &g->plans[i];
        const rules_activity *act = &r->activities[p->activity];
        int64_t at = ev->at >= 0 ? ev->at / 1000 : -((-ev->at + 999) / 1000);
        size_t idlen = strlen(ev->id), llen = strlen(ev->leader);
        uint32_t leader = (uint32_t)keytab_index(&x->leaders, ev->leader, llen);
        mp_str(av, ev->id, idlen);
        mp_bool(av, !p->generated);
        if (!p->generated)
            keytab_index(&x->ids, ev->id, idlen);
        mp_int(av, leader);
        mp_int_text(av, p->points);
        event_json(av, ev);
        mp_int(av, (int64_t)p->n_std);
        for (size_t s = 0; s < p->n_std; s++) {
            const struct pstd *ps = &g->stds[p->first + s];
            const rules_challenge *ch = &r->challenges[ps->challenge];
            uint32_t b = board_number(x, org, ch, &ps->per);
            int64_t pts = ch->scoring == RULES_SCORE_COUNT ? 1 : p->points;
            int64_t reached = at - ps->per.start; /* see score.lua for the composite */
            if (reached < 0)
                reached = 0;
            else if (reached > (int64_t)UINT32_MAX)
                reached = UINT32_MAX;
            mp_int(av, b);
            mp_int(av, member_slot(x, b, leader, ev->leader, g->ranks));
            mp_int(av, pts);
            char pfx[EVENT_NAME_MAX + PERIOD_ID_MAX + 32];
            size_t n = (size_t)keys_board_name(pfx, ch->id, ps->per.id);
            pfx[n++] = '|';
            n += util_i64toa(pts, pfx + n);
            mp_str(av, pfx, n);
            mp_int(av, reached);
            if (act->daily_cap > 0) {
                char date[11];
                period_local_date(ch->zone, at, date);
                int kn = keys_cap(key, org, ev->leader, ev->type, ch->id, date);
                size_t before = x->keys.a.n, ki = keytab_index(&x->keys, key, (size_t)kn);
                if (ki > before) {
                    x->caps = grow(x->caps, &x->cap_caps, x->n_caps, sizeof(*x->caps));
                    x->caps[x->n_caps++] = ki;
                }
                mp_int(av, (int64_t)ki);
                mp_int(av, act->daily_cap);
            } else {
                mp_int(av, 0);
                mp_int(av, 0);
            }
        }
    }
}

/* Packs every string of a keytab into A, after its count. */
static void pack_list(struct mp *m, const struct keytab *t)
{
    mp_int(m, (int64_t)t->a.n);
    for (size_t i = 0; i < t->a.n; i++)
        mp_str(m, t->a.buf + t->a.off[i], t->a.lens[i]);
}

/* Packs A's leading parts: leaders, ids, cap counters, boards with their
 * members (see score.lua). */
static void pack_parts(struct scratch *x)
{
    struct mp *m = &x->parts;
    pack_list(m, &x->leaders);
    pack_list(m, &x->ids);
    mp_int(m, (int64_t)x->n_caps);
    for (size_t i = 0; i < x->n_caps; i++)
        mp_int(m, (int64_t)x->caps[i]);
    mp_int(m, (int64_t)x->n_boards);
    const struct args *l = &x->leaders.a;
    for (uint32_t b = 1; b <= x->n_boards; b++) {
        const struct board *bd = &x->boards[b - 1];
        mp_int(m, (int64_t)bd->key);
        mp_str(m, x->names.buf + x->names.off[bd->name], x->names.lens[bd->name]);
        mp_int(m, bd->m);
        for (size_t i = 0; i < x->members.a.n; i++)
            if (x->mem[i].board == b)
                mp_str(m, l->buf + l->off[x->mem[i].leader - 1], l->lens[x->mem[i].leader - 1]);
        for (size_t i = 0; i < x->members.a.n; i++)
            if (x->mem[i].board == b)
                mp_bool(m, x->mem[i].rank);
    }
}

/* Points argv/lens at every string of an args list, from position *n on. */
static void collect(struct scratch *x, const struct args *a, size_t *n)
{
    for (size_t i = 0; i < a->n; i++, (*n)++) {
        x->argv[*n] = a->buf + a->off[i];
        x->lens[*n] = a->lens[i];
    }
}

/* Sends the queued requests of the first org as one call. */
static void flush(ingest *in)
{
    if (in->head == NULL || in->inflight >= MAX_INFLIGHT)
        return;
    struct scratch *x = in->x;
    struct call *c = calloc(1, sizeof(*c));
    size_t events = 0;
    char key[KEYS_MAX];
    const char *org = in->head->org;
    if (c == NULL)
        abort();
    c->in = in;
    scratch_reset(x);
    for (const char *k[] = {"leaders", "events", "bver"}, **p = k; p < k + 3; p++) {
        int n = keys_org(key, org, *p);
        keytab_index(&x->keys, key, (size_t)n);
    }
    /* Idempotency buckets: windows of ttl seconds; a record written in
     * window w lives until w's end plus ttl, so the current and the previous
     * window hold every record younger than ttl. */
    int64_t now = util_now_ms(), ttl = in->o.idempotency_ttl, window = now / 1000 / ttl;
    const int64_t buckets = 2;
    for (int64_t w = window; w > window - buckets; w--) {
        int n = keys_idem(key, org, w);
        keytab_index(&x->keys, key, (size_t)n);
    }
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
        build_group(x, org, g);
        events += g->b.n;
        *tailp = g;
        tailp = &g->next;
        c->n_groups++;
    }
    in->tail = NULL; /* the queue lost members anywhere: find its tail again */
    for (g = in->head; g; g = g->next)
        in->tail = g;
    in->queued -= events;

    /* KEYS, two header strings, then A: an array32 header, the leading
     * parts, the number of groups and the groups (see score.lua). */
    args_int(&x->head, (window + 1) * ttl + ttl);
    args_int(&x->head, buckets);
    struct mp *m = &x->parts;
    msgpack_sbuffer_write(&m->sb, "\xdd\0\0\0\0", 5);
    pack_parts(x);
    mp_int(m, (int64_t)c->n_groups);
    msgpack_sbuffer_write(&m->sb, x->groups.sb.data, x->groups.sb.size);
    uint32_t count = m->count + x->groups.count;
    unsigned char *hdr = (unsigned char *)m->sb.data;
    hdr[1] = (unsigned char)(count >> 24);
    hdr[2] = (unsigned char)(count >> 16);
    hdr[3] = (unsigned char)(count >> 8);
    hdr[4] = (unsigned char)count;
    size_t argc = x->keys.a.n + x->head.n + 1, n = 0;
    if (argc > x->cap_argv) {
        x->cap_argv = argc * 2;
        x->argv = realloc(x->argv, x->cap_argv * sizeof(char *));
        x->lens = realloc(x->lens, x->cap_argv * sizeof(size_t));
        if (x->argv == NULL || x->lens == NULL)
            abort();
    }
    collect(x, &x->keys.a, &n);
    collect(x, &x->head, &n);
    x->argv[n] = m->sb.data;
    x->lens[n] = m->sb.size;
    in->inflight++;
    if (store_script(in->st, STORE_SCRIPT_SCORE, (int)x->keys.a.n, (int)argc, x->argv, x->lens,
                     on_reply, c) < 0) {
        on_reply(c, NULL);
    }
    if (in->head && in->inflight < MAX_INFLIGHT)
        arm(in);
}
