/*
 * orgs.c - this daemon's contexts of the orgs it serves (see orgs.h).
 *
 * The table is a chained hash of contexts by id, doubled when it fills.
 * A context goes ORG_LOADING -> (registry entry read) -> its state; an org
 * that exists also gets a rulesync and a push on the first read, and its
 * waiters are answered once the rulesync's first fetch is over too. A
 * failed read answers the waiters NULL (unavailable) and leaves the context
 * loading, so the next use tries again.
 *
 * The registry entry is HGETALL podium:{#}:org:{id}: state, creation time, quota
 * overrides (q_leaders, q_tokens, q_webhooks, q_eps). No entry means no
 * such org, except for "default", which is active until an operator
 * suspends it.
 *
 * A sweep every ORGS_SWEEP_MS drops contexts that are idle, held by
 * nobody and have no Redis call in flight. The events-per-second limiter is
 * a token bucket per context, so a limit holds per daemon.
 */
#include "orgs.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "push.h"
#include "rulesync.h"
#include "store.h"
#include "util.h"

#define ORGS_SWEEP_MS  30000
#define BUCKET_SECONDS 2 /* an org may burst this many seconds of its allowance */

struct waiter {
    struct waiter *next;
    orgs_cb *cb;
    void *arg;
};

struct org {
    orgs *os;
    struct org *next; /* hash chain */
    uint32_t hash;
    char id[ORG_ID_MAX + 1];
    unsigned refs;
    org_state state;
    bool known;   /* the registry entry was read at least once */
    bool reading; /* a registry read is in flight */
    int64_t meta_ms, used_ms;
    int64_t created_ms;   /* of this incarnation of the id, from the registry */
    org_quotas overrides; /* -1: none, the config's default holds */
    org_quotas quotas;
    rulesync *rs;
    push *push;
    int watchers;  /* live streams of the org here (org_watch) */
    double bucket; /* events the org may still post now */
    int64_t bucket_ms;
    struct waiter *waiters;
};

struct orgs {
    app *a;
    orgs_hooks h;
    struct org **buckets;
    size_t nbuckets, n;
    struct event *sweep, *tick;
    struct org *dflt;
};

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

org_state orgs_state_parse(const char *s)
{
    if (s && strcmp(s, "active") == 0)
        return ORG_ACTIVE;
    if (s && strcmp(s, "suspended") == 0)
        return ORG_SUSPENDED;
    return ORG_GONE;
}

const char *orgs_state_name(org_state s)
{
    static const char *names[] = {"loading", "active", "suspended", "gone"};
    return names[s];
}

/* The quotas in force: overrides, else the config's defaults. */
static void compute_quotas(struct org *o)
{
    const config *cfg = o->os->a->cfg;
    o->quotas.leaders = o->overrides.leaders >= 0 ? o->overrides.leaders : cfg->quota_leaders;
    o->quotas.tokens = o->overrides.tokens >= 0 ? o->overrides.tokens : cfg->quota_tokens;
    o->quotas.webhooks = o->overrides.webhooks >= 0 ? o->overrides.webhooks : cfg->quota_webhooks;
    o->quotas.events_per_second = o->overrides.events_per_second >= 0
                                      ? o->overrides.events_per_second
                                      : cfg->quota_events_per_second;
}

static void on_rules_event(void *arg, rulesync_event ev);
static void on_push_closed(void *arg, const char *org, const char *ch, const char *per);
static void on_push_resync(void *arg);

/* Gives an org that exists its rule set keeper and push channel. */
static void attach(struct org *o)
{
    if (o->rs)
        return;
    orgs *os = o->os;
    const char *file = o == os->dflt ? os->a->cfg->rules_file : NULL;
    o->rs = rulesync_new(os->a->st, o->id, file, on_rules_event, o);
    push_handlers ph = {.closed = on_push_closed, .resync = on_push_resync, .arg = o};
    o->push = push_new(os->a->base, os->a->st, os->a->bc, o->id, &ph);
    if (o->rs == NULL || o->push == NULL)
        abort(); /* out of memory */
    push_listen(o->push, o->watchers > 0);
}

/* Answers every waiter of o (with o held, or NULL). */
static void answer(struct org *o, bool ok)
{
    struct waiter *w = o->waiters;
    o->waiters = NULL;
    while (w) {
        struct waiter *next = w->next;
        if (ok)
            o->refs++;
        w->cb(w->arg, ok ? o : NULL);
        free(w);
        w = next;
    }
}

/* Answers the waiters once the state is known and, for an org that
 * exists, its rules were fetched. */
static void maybe_ready(struct org *o)
{
    if (!o->known || o->reading || o->waiters == NULL)
        return;
    if (o->rs && !rulesync_loaded(o->rs))
        return;
    answer(o, true);
}

/* Reads one registry field list (HGETALL) into o. */
static void parse_entry(struct org *o, const store_reply *r)
{
    org_state was = o->state;
    int64_t incarnation = o->created_ms;
    const char *state = NULL;
    o->created_ms = 0;
    o->overrides = (org_quotas){-1, -1, -1, -1};
    for (size_t i = 0; i + 1 < store_reply_len(r); i += 2) {
        const char *f = store_reply_str(store_reply_at(r, i), NULL);
        const store_reply *v = store_reply_at(r, i + 1);
        if (f == NULL)
            continue;
        if (strcmp(f, "state") == 0)
            state = store_reply_str(v, NULL);
        else if (strcmp(f, "created") == 0)
            o->created_ms = store_reply_int(v);
        else if (strcmp(f, "q_leaders") == 0)
            o->overrides.leaders = store_reply_int(v);
        else if (strcmp(f, "q_tokens") == 0)
            o->overrides.tokens = store_reply_int(v);
        else if (strcmp(f, "q_webhooks") == 0)
            o->overrides.webhooks = store_reply_int(v);
        else if (strcmp(f, "q_eps") == 0)
            o->overrides.events_per_second = store_reply_int(v);
    }
    if (state == NULL && o == o->os->dflt)
        o->state = ORG_ACTIVE; /* default exists without an entry */
    else
        o->state = orgs_state_parse(state);
    compute_quotas(o);
    o->known = true;
    o->meta_ms = util_now_ms();
    if (o->rs && o->created_ms && incarnation && o->created_ms != incarnation) {
        log_info("org %s: made again since it was deleted; its rules are read anew", o->id);
        rulesync_reset(o->rs); /* the old org's rules are not the new one's */
    }
    if (o->state == ORG_ACTIVE || o->state == ORG_SUSPENDED)
        attach(o);
    if (was != ORG_LOADING && was != o->state) {
        log_info("org %s: now %s", o->id, orgs_state_name(o->state));
        if (o->os->h.state)
            o->os->h.state(o->os->h.arg, o);
    }
}

/* HGETALL reply of the registry entry. */
static void on_entry(void *arg, const store_reply *r)
{
    struct org *o = arg;
    o->reading = false;
    if (r == NULL || store_reply_is_error(r)) {
        answer(o, false);
        return;
    }
    parse_entry(o, r);
    maybe_ready(o);
}

/* Reads the registry entry (one read at a time). */
static void read_entry(struct org *o)
{
    if (o->reading)
        return;
    char key[KEYS_MAX];
    keys_registry(key, o->id);
    const char *argv[] = {"HGETALL", key};
    if (store_command(o->os->a->st, on_entry, o, 2, argv, NULL) == 0)
        o->reading = true;
    else
        answer(o, false); /* those who wait for the read (none when refreshing) */
}

/* What the rulesync of o says. */
static void on_rules_event(void *arg, rulesync_event ev)
{
    struct org *o = arg;
    if (ev == RULESYNC_INSTALLED && o->os->h.rules)
        o->os->h.rules(o->os->h.arg, o);
    else if (ev == RULESYNC_FAILED && o->waiters && o->known)
        answer(o, false);
    else if (ev == RULESYNC_FETCHED)
        maybe_ready(o);
}

static void on_push_closed(void *arg, const char *org_id_, const char *ch, const char *per)
{
    struct org *o = arg;
    if (o->os->h.closed)
        o->os->h.closed(o->os->h.arg, org_id_, ch, per);
}

static void on_push_resync(void *arg)
{
    struct org *o = arg;
    if (o->os->h.resync)
        o->os->h.resync(o->os->h.arg, o->id);
}

/* Frees a context (dropped from the table by the caller). */
static void org_free(struct org *o)
{
    rulesync_free(o->rs);
    push_free(o->push);
    free(o);
}

/* Doubles the table. */
static void grow(orgs *os)
{
    size_t nb = os->nbuckets * 2;
    struct org **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        abort();
    for (size_t i = 0; i < os->nbuckets; i++) {
        for (struct org *o = os->buckets[i], *next; o; o = next) {
            next = o->next;
            o->next = b[o->hash & (nb - 1)];
            b[o->hash & (nb - 1)] = o;
        }
    }
    free(os->buckets);
    os->buckets = b;
    os->nbuckets = nb;
}

struct org *orgs_find(orgs *os, const char *id)
{
    uint32_t h = hash_id(id);
    for (struct org *o = os->buckets[h & (os->nbuckets - 1)]; o; o = o->next)
        if (o->hash == h && strcmp(o->id, id) == 0)
            return o;
    return NULL;
}

/* Makes a context, loading. */
static struct org *org_new(orgs *os, const char *id)
{
    if (os->n + 1 > os->nbuckets)
        grow(os);
    struct org *o = calloc(1, sizeof(*o));
    if (o == NULL)
        abort();
    o->os = os;
    o->hash = hash_id(id);
    snprintf(o->id, sizeof(o->id), "%s", id);
    o->overrides = (org_quotas){-1, -1, -1, -1};
    compute_quotas(o);
    /* bucket_ms 0: the first take finds the bucket full */
    size_t i = o->hash & (os->nbuckets - 1);
    o->next = os->buckets[i];
    os->buckets[i] = o;
    os->n++;
    return o;
}

/* Sweep timer: drops idle contexts nobody holds. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    orgs *os = arg;
    int64_t now = util_now_ms();
    size_t dropped = 0;
    for (size_t i = 0; i < os->nbuckets; i++) {
        struct org **pp = &os->buckets[i];
        while (*pp) {
            struct org *o = *pp;
            if (o != os->dflt && o->refs == 0 && o->waiters == NULL && !o->reading &&
                !rulesync_busy(o->rs) && now - o->used_ms > ORGS_IDLE_MS) {
                *pp = o->next;
                os->n--;
                org_free(o);
                dropped++;
            } else {
                pp = &o->next;
            }
        }
    }
    if (dropped)
        log_debug("orgs: dropped %zu idle contexts, %zu held", dropped, os->n);
}

/* Once a second: org default's rules are checked even while nobody uses
 * them, as a single-company install always had them; other orgs' on use. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    orgs *os = arg;
    rulesync_touch(os->dflt->rs);
}

orgs *orgs_new(app *a, const orgs_hooks *h)
{
    orgs *os = calloc(1, sizeof(*os));
    if (os == NULL)
        return NULL;
    os->a = a;
    if (h)
        os->h = *h;
    os->nbuckets = 64;
    os->buckets = calloc(os->nbuckets, sizeof(*os->buckets));
    os->sweep = event_new(a->base, -1, EV_PERSIST, on_sweep, os);
    os->tick = event_new(a->base, -1, EV_PERSIST, on_tick, os);
    if (os->buckets == NULL || os->sweep == NULL || os->tick == NULL) {
        orgs_free(os);
        return NULL;
    }
    struct timeval tv = {ORGS_SWEEP_MS / 1000, 0}, one = {1, 0};
    event_add(os->sweep, &tv);
    event_add(os->tick, &one);
    os->dflt = org_new(os, ORG_DEFAULT);
    os->dflt->refs = 1; /* the table's own hold: never dropped */
    attach(os->dflt);   /* default exists: its rules load with the store */
    return os;
}

void orgs_free(orgs *os)
{
    if (os == NULL)
        return;
    for (size_t i = 0; i < os->nbuckets; i++) {
        for (struct org *o = os->buckets[i], *next; o; o = next) {
            next = o->next;
            answer(o, false);
            org_free(o);
        }
    }
    if (os->sweep)
        event_free(os->sweep);
    if (os->tick)
        event_free(os->tick);
    free(os->buckets);
    free(os);
}

/* Reply of a write nobody waits for. */
static void on_ignored(void *arg, const store_reply *r)
{
    (void)arg;
    if (r && store_reply_is_error(r))
        log_warn("orgs: %s", store_reply_str(r, NULL));
}

/* Gives org default its registry entry, so that lists show it. */
static void ensure_default(orgs *os)
{
    char entry[KEYS_MAX], now[24];
    keys_registry(entry, ORG_DEFAULT);
    util_i64toa(util_now_ms(), now);
    const char *argv[] = {entry, keys_orgids, "ensure", ORG_DEFAULT, "Default", now};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(os->a->st, STORE_SCRIPT_ORGS, 2, 6, argv, lens, on_ignored, NULL) < 0)
        log_debug("orgs: Redis not ready for default's registry entry");
}

void orgs_store_ready(orgs *os, bool ready)
{
    if (!ready)
        return;
    ensure_default(os);
    for (size_t i = 0; i < os->nbuckets; i++) {
        for (struct org *o = os->buckets[i]; o; o = o->next) {
            rulesync_store_ready(o->rs, true);
            if (o->known || o->waiters || o == os->dflt)
                read_entry(o);
            /* work made due while Redis was away (or lost with it) is due again */
            if (o->rs && rulesync_rules(o->rs) && os->h.rules)
                os->h.rules(os->h.arg, o);
        }
    }
}

bool orgs_load_rules_file(orgs *os)
{
    return rulesync_load_file(os->dflt->rs);
}

void orgs_acquire(orgs *os, const char *id, orgs_cb *cb, void *arg)
{
    struct org *o = orgs_find(os, id);
    if (o == NULL)
        o = org_new(os, id);
    int64_t now = util_now_ms();
    o->used_ms = now;
    bool rules_ok = o->rs == NULL || rulesync_loaded(o->rs);
    /* An entry read within ORGS_META_MS serves; one up to twice as old
     * serves while it is read again; an older one waits for the read, so
     * that a suspension or deletion made elsewhere long ago holds at once. */
    bool fresh = o->known && now - o->meta_ms < 2 * ORGS_META_MS;
    if (o->known && rules_ok && (fresh || !store_ready(os->a->st))) {
        if (now - o->meta_ms >= ORGS_META_MS)
            read_entry(o);
        rulesync_touch(o->rs);
        o->refs++;
        cb(arg, o);
        return;
    }
    if (!store_ready(os->a->st)) {
        cb(arg, NULL);
        return;
    }
    struct waiter *w = malloc(sizeof(*w));
    if (w == NULL)
        abort();
    *w = (struct waiter){o->waiters, cb, arg};
    o->waiters = w;
    if (!fresh)
        read_entry(o);
    else
        rulesync_touch(o->rs); /* its first fetch failed: try again */
}

void orgs_apply_entry(orgs *os, const char *id, const store_reply *fields)
{
    struct org *o = orgs_find(os, id);
    if (o == NULL)
        return;
    parse_entry(o, fields);
    maybe_ready(o);
}

struct org *org_hold(struct org *o)
{
    o->refs++;
    return o;
}

void org_release(struct org *o)
{
    if (o == NULL)
        return;
    o->refs--;
    o->used_ms = util_now_ms();
}

const char *org_id(const struct org *o)
{
    return o->id;
}

org_state org_get_state(const struct org *o)
{
    return o->known ? o->state : ORG_LOADING;
}

const rules *org_rules(const struct org *o)
{
    return rulesync_rules(o->rs);
}

const rules *org_rules_or_empty(const struct org *o)
{
    const rules *r = org_rules(o);
    return r ? r : rules_empty();
}

rulesync *org_rulesync(struct org *o)
{
    return o->rs;
}

const org_quotas *org_quotas_of(const struct org *o)
{
    return &o->quotas;
}

bool org_take_events(struct org *o, size_t n, int64_t now_ms, int64_t *retry_s, char *why,
                     size_t whylen)
{
    int64_t rate = o->quotas.events_per_second;
    if (rate <= 0)
        return true;
    double cap = (double)rate * BUCKET_SECONDS;
    if (cap < 1000)
        cap = 1000; /* a full batch always fits an idle bucket */
    o->bucket += (double)(now_ms - o->bucket_ms) * (double)rate / 1000.0;
    o->bucket_ms = now_ms;
    if (o->bucket > cap)
        o->bucket = cap;
    if ((double)n <= o->bucket) {
        o->bucket -= (double)n;
        return true;
    }
    double missing = (double)n - o->bucket;
    *retry_s = (int64_t)(missing / (double)rate) + 1;
    snprintf(why, whylen,
             "This organisation may post %" PRId64 " events a second (its quota); nothing was "
             "stored. Retry after %" PRId64 " s.",
             rate, *retry_s);
    return false;
}

void org_note_board(struct org *o, const char *board, int64_t version)
{
    push_note(o->push, board, version);
}

void org_watch(struct org *o, int delta)
{
    o->watchers += delta;
    if (o->push)
        push_listen(o->push, o->watchers > 0);
}

int64_t org_incarnation(const struct org *o)
{
    return o == o->os->dflt ? 0 : o->created_ms;
}

const char *org_refusal(const struct org *o, int64_t incarnation, int *status, const char **slug)
{
    if (incarnation != org_incarnation(o)) {
        *status = 401;
        *slug = "unauthorized";
        return "A valid token is needed: this token belonged to an organisation of this id "
               "that was deleted.";
    }
    switch (org_get_state(o)) {
    case ORG_SUSPENDED:
        *status = 403;
        *slug = "org-suspended";
        return "This token's organisation is suspended: its data is kept, but no request is "
               "served until an operator resumes it.";
    case ORG_GONE:
    case ORG_LOADING:
        *status = 401;
        *slug = "unauthorized";
        return "A valid token is needed: this token's organisation does not exist (any more).";
    default:
        return NULL;
    }
}
