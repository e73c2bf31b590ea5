/*
 * scoring.c - plans events and builds score.lua calls (see scoring.h).
 *
 * A call's argument A (layout in score.lua) is built in two MessagePack
 * buffers: the groups, packed as requests are added, and the leading parts
 * (leaders, ids, URLs, counters, boards with their members), packed at the
 * end because adding groups is what discovers them. Every part is
 * deduplicated here through `keytab`s, tables that give each distinct
 * string its 1-based number, so that score.lua reads each thing once.
 */
#include "scoring.h"

#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys.h"
#include "url.h"
#include "util.h"

#define DAY_SECONDS   86400
#define CAP_TTL       (2 * DAY_SECONDS)  /* a cap counter outlives its local day */
#define GOAL_TTL_MORE (40 * DAY_SECONDS) /* a goal counter outlives its period's grace */

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

/* Adds key to t; returns its number and sets *added when it is new. */
static size_t keytab_add(struct keytab *t, const char *key, size_t len, bool *added)
{
    size_t before = t->a.n, i = keytab_index(t, key, len);
    *added = i > before;
    return i;
}

/* A flat MessagePack array being packed. */
struct mp {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint32_t count; /* values packed */
};

/* One board of a call. */
struct board {
    size_t key;          /* KEYS index */
    size_t name;         /* index in scorecall.names */
    size_t tkey, tcount; /* KEYS indices of its team board and team counts */
    size_t hkey;         /* KEYS index of its hidden twin (hidden leaders) */
    int challenge;       /* in rules `r` of the group that added it */
    const rules *r;
    uint32_t m; /* members so far */
};

/* One board member of a call: a leader on a board. */
struct member {
    uint32_t board, leader, slot; /* board and leader number, slot on the board (1-based) */
    bool rank;                    /* some request wants its rank */
};

/* One hash of counters of a call: its KEYS index, TTL and fields so far. */
struct chash {
    size_t key;
    int64_t ttl; /* 0 = none */
    uint32_t n;
};

/* One counter: a field of a counter hash. Its number is its index + 1. */
struct counter {
    uint32_t hash; /* 1-based */
    size_t field;  /* the key in scorecall.counters, after its 4-byte hash number */
};

struct scorecall {
    char org[EVENT_NAME_MAX + 1];
    char aside[48];        /* a replay's key prefix, "" for live scoring */
    char week[16];         /* score.lua's usage argument */
    bool replay;           /* no idempotency, no log, no badges (score.lua) */
    bool period_only;      /* no all-time boards */
    int64_t now, ttl;      /* Unix ms; idempotency ttl (s) */
    struct keytab keys;    /* KEYS */
    struct keytab leaders; /* leader ids */
    struct keytab ids;     /* ids of idempotent events */
    struct keytab urls;    /* "leader|url key" */
    struct keytab members; /* board number + leader id -> member number */
    struct args head;      /* ARGV before A */
    struct args names;     /* board names */
    struct mp parts, groups;
    struct keytab hashes;   /* counter hash keys -> hash number */
    struct keytab counters; /* hash number + field -> counter number */
    struct chash *ch;       /* by hash number - 1 */
    size_t cap_ch;
    struct counter *ct; /* by counter number - 1 */
    size_t cap_ct;
    struct board *boards;
    size_t n_boards, cap_boards;
    struct member *mem; /* by member number - 1 */
    size_t cap_mem;
    uint32_t n_groups;
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

/* Packs one integer. */
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

/* Packs a NUL-terminated string. */
static void mp_cstr(struct mp *m, const char *s)
{
    mp_str(m, s, strlen(s));
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

scorecall *scorecall_new(void)
{
    scorecall *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    msgpack_sbuffer_init(&c->parts.sb);
    msgpack_sbuffer_init(&c->groups.sb);
    return c;
}

void scorecall_free(scorecall *c)
{
    if (c == NULL)
        return;
    keytab_free(&c->keys);
    keytab_free(&c->leaders);
    keytab_free(&c->ids);
    keytab_free(&c->urls);
    keytab_free(&c->members);
    args_free(&c->head);
    args_free(&c->names);
    msgpack_sbuffer_destroy(&c->parts.sb);
    msgpack_sbuffer_destroy(&c->groups.sb);
    keytab_free(&c->hashes);
    keytab_free(&c->counters);
    free(c->ch);
    free(c->ct);
    free(c->boards);
    free(c->mem);
    free(c->argv);
    free(c->lens);
    free(c);
}

/* The KEYS index of key (n bytes), adding it if new. A replay's keys are
 * moved aside: "podium:{org}:rest" becomes "podium:{org}:<aside>:rest", so
 * that it builds its boards and state beside the live ones. */
static size_t key_index(scorecall *c, const char *key, int n)
{
    char moved[KEYS_MAX + 64];
    const char *tag = c->aside[0] ? strstr(key, "}:") : NULL;
    if (tag) {
        size_t head = (size_t)(tag - key) + 2;
        int m = snprintf(moved, sizeof(moved), "%.*s%s:%s", (int)head, key, c->aside, key + head);
        return keytab_index(&c->keys, moved, (size_t)m);
    }
    return keytab_index(&c->keys, key, (size_t)n);
}

/* Adds an org-wide key; returns its KEYS index. */
static size_t org_key(scorecall *c, const char *what)
{
    char key[KEYS_MAX];
    int n = keys_org(key, c->org, what);
    return key_index(c, key, n);
}

void scorecall_begin(scorecall *c, const char *org, int64_t now_ms, const scorecall_opts *o)
{
    keytab_reset(&c->keys);
    keytab_reset(&c->leaders);
    keytab_reset(&c->ids);
    keytab_reset(&c->urls);
    keytab_reset(&c->members);
    args_reset(&c->head);
    args_reset(&c->names);
    mp_reset(&c->parts);
    mp_reset(&c->groups);
    keytab_reset(&c->hashes);
    keytab_reset(&c->counters);
    c->n_boards = 0;
    c->n_groups = 0;
    snprintf(c->org, sizeof(c->org), "%s", org);
    c->now = now_ms;
    c->ttl = o->idempotency_ttl;
    c->replay = o->aside && o->aside[0];
    c->period_only = o->period_only;
    snprintf(c->aside, sizeof(c->aside), "%s", c->replay ? o->aside : "");
    /* Fixed KEYS, in score.lua's order; a replay reads the real leaders. */
    char lk[KEYS_MAX];
    int ln = keys_org(lk, org, "leaders");
    keytab_index(&c->keys, lk, (size_t)ln);
    org_key(c, "events");
    org_key(c, "bver");
    org_key(c, "urls");
    org_key(c, "lastev");
    /* Idempotency buckets: windows of ttl seconds; a record written in
     * window w lives until w's end plus ttl, so the current and the previous
     * window hold every record younger than ttl. */
    char key[KEYS_MAX];
    int64_t window = now_ms / 1000 / c->ttl;
    for (int64_t w = window; w > window - 2; w--) {
        int n = keys_idem(key, org, w);
        key_index(c, key, n);
    }
    org_key(c, "usage");
}

/* The number of counter `field` of hash `key` (whose TTL is ttl seconds,
 * 0 = none), registering both. score.lua reads each hash with one HMGET
 * and writes it with one HSET. */
static size_t counter(scorecall *c, const char *key, int n, int64_t ttl, const char *field)
{
    bool added;
    uint32_t h = (uint32_t)keytab_add(&c->hashes, key, (size_t)n, &added);
    if (added) {
        c->ch = grow(c->ch, &c->cap_ch, h - 1, sizeof(*c->ch));
        c->ch[h - 1] = (struct chash){key_index(c, key, n), ttl, 0};
    }
    char k[4 + KEYS_MAX];
    size_t len = strlen(field);
    memcpy(k, &h, 4);
    memcpy(k + 4, field, len);
    size_t ci = keytab_add(&c->counters, k, 4 + len, &added);
    if (added) {
        c->ct = grow(c->ct, &c->cap_ct, ci - 1, sizeof(*c->ct));
        c->ct[ci - 1] = (struct counter){h, ci - 1};
        c->ch[h - 1].n++;
    }
    return ci;
}

/* The 1-based number of a leader in this call. */
static uint32_t leader_number(scorecall *c, const char *id)
{
    return (uint32_t)keytab_index(&c->leaders, id, strlen(id));
}

/* The 1-based board number of a challenge period in this call, adding the
 * board (with its team board) when it is new. */
static uint32_t board_number(scorecall *c, const rules *r, int challenge, const period *per)
{
    const rules_challenge *ch = &r->challenges[challenge];
    char key[KEYS_MAX];
    int n = keys_board(key, c->org, ch->id, per->id);
    size_t ki = key_index(c, key, n), b;
    for (b = 0; b < c->n_boards && c->boards[b].key != ki; b++)
        ;
    if (b == c->n_boards) {
        c->boards = grow(c->boards, &c->cap_boards, c->n_boards, sizeof(*c->boards));
        struct board *bd = &c->boards[c->n_boards++];
        n = keys_board_name(key, ch->id, per->id);
        args_add(&c->names, key, (size_t)n);
        *bd = (struct board){.key = ki, .name = c->names.n - 1, .challenge = challenge, .r = r};
        n = keys_team_board(key, c->org, "tboard", ch->id, per->id);
        bd->tkey = key_index(c, key, n);
        n = keys_team_board(key, c->org, "tcount", ch->id, per->id);
        bd->tcount = key_index(c, key, n);
        n = keys_team_board(key, c->org, "hboard", ch->id, per->id);
        bd->hkey = key_index(c, key, n);
    }
    return (uint32_t)b + 1;
}

/* The slot (1-based) of a leader among a board's members in this call,
 * adding the member when it is new. */
static uint32_t member_slot(scorecall *c, uint32_t board, uint32_t leader, const char *id,
                            bool rank)
{
    char key[4 + EVENT_NAME_MAX + 1];
    size_t len = strlen(id);
    bool added;
    memcpy(key, &board, 4);
    memcpy(key + 4, id, len);
    size_t mi = keytab_add(&c->members, key, 4 + len, &added);
    if (added) {
        c->mem = grow(c->mem, &c->cap_mem, mi - 1, sizeof(*c->mem));
        c->mem[mi - 1] = (struct member){board, leader, ++c->boards[board - 1].m, false};
    }
    c->mem[mi - 1].rank |= rank;
    return c->mem[mi - 1].slot;
}

/* Appends s to a JSON text being built in buf, escaped, without quotes.
 * '|' is escaped too, so that the text can sit in a result string. Stops
 * early when buf is full; explain_factor makes sure the whole name fits. */
static size_t json_escape(char *buf, size_t at, size_t cap, const char *s)
{
    for (; *s && at + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf[at++] = '\\';
            buf[at++] = (char)ch;
        } else if (ch < 0x20 || ch == '|') {
            at += (size_t)snprintf(buf + at, cap - at, "\\u%04x", ch);
        } else {
            buf[at++] = (char)ch;
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

/* Unix seconds of an event's `at` (ms), rounded down. */
static int64_t at_seconds(const event *ev)
{
    return ev->at >= 0 ? ev->at / 1000 : -((-ev->at + 999) / 1000);
}

/* v clamped to 0 .. 2^32 - 1, the range of `reached` in a composite score. */
static int64_t clamp_u32(int64_t v)
{
    return v < 0 ? 0 : v > (int64_t)UINT32_MAX ? (int64_t)UINT32_MAX : v;
}

/* A bounded text being built; `full` once something did not fit. */
struct text {
    char *buf;
    size_t n, cap;
    bool full;
};

/* Appends s[0..len) to t, unless it does not fit (keeping room for "]}"). */
static void text_add(struct text *t, const char *s, size_t len)
{
    if (t->full || t->n + len + 3 > t->cap) {
        t->full = true;
        return;
    }
    memcpy(t->buf + t->n, s, len);
    t->n += len;
}

#define TEXT_ADD(t, lit) text_add((t), "" lit, sizeof(lit) - 1)

/* Appends one multiplier, whole or not at all. The numbers were written by
 * rules.c once, so no floating-point formatting happens per event. */
static void explain_factor(struct text *t, const char *kind, const char *name, const char *factor)
{
    char tmp[6 * 4 * 100 + 128]; /* a name of 100 four-byte characters, each escaped */
    struct text m = {tmp, 0, sizeof(tmp), false};
    if (t->n > 0 && t->buf[t->n - 1] != '[')
        TEXT_ADD(&m, ",");
    TEXT_ADD(&m, "{\"kind\":\"");
    text_add(&m, kind, strlen(kind));
    TEXT_ADD(&m, "\",\"name\":\"");
    size_t worst = 6 * strlen(name); /* every byte escaped as \u00XX */
    if (m.n + worst + 40 > sizeof(tmp))
        return; /* cannot happen with the rules' name limits: left out whole */
    m.n = json_escape(tmp, m.n, sizeof(tmp) - 40, name);
    TEXT_ADD(&m, "\",\"factor\":");
    text_add(&m, factor, strlen(factor));
    TEXT_ADD(&m, "}");
    if (!m.full)
        text_add(t, tmp, m.n);
}

/* The entry for `name` in a multiplier table, or NULL. */
static const rules_factor *find_factor(const rules_factor *f, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return &f[i];
    return NULL;
}

/* Points of an event and their explanation:
 * {"base":10,"multipliers":[{"kind":"channel","name":"linkedin","factor":1.5},...]}. */
static int64_t explain_points(const rules *r, size_t a, const event *ev, int64_t at, char *buf,
                              size_t cap)
{
    struct text t = {buf, 0, cap, false};
    const rules_activity *act = &r->activities[a];
    double v = act->points;
    TEXT_ADD(&t, "{\"base\":");
    text_add(&t, act->points_text, strlen(act->points_text));
    TEXT_ADD(&t, ",\"multipliers\":[");
    const rules_factor *f = find_factor(r->channel, r->n_channel, ev->channel);
    if (f) {
        explain_factor(&t, "channel", f->name, f->text);
        v *= f->factor;
    }
    f = find_factor(r->stakeholder, r->n_stakeholder, ev->stakeholder);
    if (f) {
        explain_factor(&t, "stakeholder", f->name, f->text);
        v *= f->factor;
    }
    for (size_t i = 0; i < r->n_campaigns; i++) {
        const rules_campaign *k = &r->campaigns[i];
        if (at >= k->starts && at < k->ends) {
            explain_factor(&t, "campaign", k->name, k->text);
            v *= k->multiplier;
        }
    }
    memcpy(buf + t.n, "]}", 3); /* text_add kept room for it */
    return rules_round_points(v);
}

/* True if the challenge lets this leader take part by name (teams are
 * checked by score.lua, which knows the leader's team). */
static bool leader_eligible(const rules_challenge *ch, const char *leader)
{
    if (ch->n_leaders == 0)
        return true;
    for (size_t i = 0; i < ch->n_leaders; i++)
        if (strcmp(ch->leaders[i], leader) == 0)
            return true;
    return false;
}

/* Fills the parts of a plan that depend on the event alone: activity a,
 * points and their explanation, the URL's key. */
static void plan_points(const rules *r, int a, const event *ev, score_plan *p)
{
    p->activity = a;
    p->points = explain_points(r, (size_t)a, ev, at_seconds(ev), p->explain, sizeof(p->explain));
    p->url[0] = '\0';
    p->closed[0] = '\0';
    if (ev->url && ev->url[0]) {
        char k[65];
        if (url_key(ev->url, k)) {
            memcpy(p->url, k, 32);
            p->url[32] = '\0';
        }
    }
}

bool score_plan_replay(const rules *r, const event *ev, int challenge, const char *period_id,
                       score_plan *p, score_std *std)
{
    int a = rules_activity_index(r, ev->type);
    const rules_challenge *ch = &r->challenges[challenge];
    if (a < 0 || !ch->counts[a] || !leader_eligible(ch, ev->leader) ||
        !period_at(&ch->period, at_seconds(ev), &std->per) || strcmp(std->per.id, period_id) != 0)
        return false;
    plan_points(r, a, ev, p);
    p->generated = true; /* a replay checks no ids: the log holds each event once */
    p->first = 0;
    p->n_std = 1;
    std->challenge = challenge;
    return true;
}

bool score_plan_event(const rules *r, const event *ev, const char *ptr, int64_t now_ms,
                      score_plan *p, score_std *stds, size_t *n_stds, errlist *errs)
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
    int64_t at = at_seconds(ev);
    plan_points(r, a, ev, p);
    p->first = *n_stds;
    p->n_std = 0;
    bool ok = true;
    for (size_t c = 0; c < r->n_challenges; c++) {
        const rules_challenge *ch = &r->challenges[c];
        score_std *s = &stds[*n_stds];
        if (!ch->counts[a] || !leader_eligible(ch, ev->leader) ||
            !period_at(&ch->period, at, &s->per))
            continue;
        if (s->per.end + ch->grace <= now_ms / 1000) {
            char when[32];
            util_format_rfc3339((s->per.end + ch->grace) * 1000, when);
            snprintf(where, sizeof(where), "%s/at", ptr);
            if (ev->id[0]) { /* maybe a retry: score.lua decides (scoring.h) */
                snprintf(p->closed, sizeof(p->closed),
                         "falls in period %s of challenge '%s', closed since %s", s->per.id, ch->id,
                         when);
                continue;
            }
            errlist_add(errs, where, "falls in period %s of challenge '%s', closed since %s",
                        s->per.id, ch->id, when);
            ok = false;
            continue;
        }
        s->challenge = (int)c;
        (*n_stds)++;
        p->n_std++;
    }
    return ok;
}

/* The 1-based number of goal g of challenge c among all the rules' goals. */
static size_t goal_number(const rules *r, int c, size_t g)
{
    size_t n = 0;
    for (int i = 0; i < c; i++)
        n += r->challenges[i].n_goals;
    return n + g + 1;
}

/* Packs "name|points", the start of a standing in a result string. */
static void prefix(scorecall *c, struct mp *m, uint32_t board, int64_t pts)
{
    const struct board *bd = &c->boards[board - 1];
    char buf[2 * EVENT_NAME_MAX + PERIOD_ID_MAX + 32];
    size_t n = c->names.lens[bd->name];
    memcpy(buf, c->names.buf + c->names.off[bd->name], n);
    buf[n++] = '|';
    n += util_i64toa(pts, buf + n);
    mp_str(m, buf, n);
}

/* Packs one challenge standing of an event (see score.lua for the fields). */
static void add_standing(scorecall *c, const rules *r, const event *ev, const score_plan *p,
                         const score_std *s, uint32_t leader, bool ranks)
{
    const rules_challenge *ch = &r->challenges[s->challenge];
    const rules_activity *act = &r->activities[p->activity];
    struct mp *m = &c->groups;
    char key[KEYS_MAX];
    int64_t at = at_seconds(ev);
    bool count = ch->scoring == RULES_SCORE_COUNT;
    int64_t pts = count ? 1 : p->points;
    period all = {PERIOD_ALL_START, PERIOD_ALL_END, "all"};
    uint32_t b1 = board_number(c, r, s->challenge, &s->per), b2 = 0;
    mp_int(m, b1);
    mp_int(m, member_slot(c, b1, leader, ev->leader, ranks));
    if (ch->period.kind != PERIOD_ALL && !c->period_only) { /* an all-time board too */
        b2 = board_number(c, r, s->challenge, &all);
        mp_int(m, b2);
        mp_int(m, member_slot(c, b2, leader, ev->leader, ranks));
    } else {
        mp_int(m, 0);
        mp_int(m, 0);
    }
    mp_int(m, pts);
    prefix(c, m, b1, pts);
    if (b2)
        prefix(c, m, b2, pts);
    else
        mp_str(m, "", 0);
    /* the second in the period at which the score was reached; on all-time
     * boards it is `at` itself, which score.lua has */
    mp_int(m, clamp_u32(at - s->per.start));
    if (act->daily_cap > 0) {
        char date[11];
        period_local_date(ch->zone, at, date);
        int n = keys_cap(key, c->org, ch->id, date);
        char field[2 * EVENT_NAME_MAX + 2];
        snprintf(field, sizeof(field), "%s|%s", ev->leader, ev->type);
        mp_int(m, (int64_t)counter(c, key, n, CAP_TTL, field));
        mp_int(m, act->daily_cap);
    } else {
        mp_int(m, 0);
        mp_int(m, 0);
    }
    if (!count && (r->first_of_day > 0 || r->streak_days > 0)) {
        int n = keys_days(key, c->org, ch->id);
        mp_int(m, (int64_t)counter(c, key, n, 0, ev->leader));
        mp_int(m, period_local_day(ch->zone, at));
    } else {
        mp_int(m, 0);
        mp_int(m, 0);
    }
    size_t n_goals = 0;
    for (size_t g = 0; g < ch->n_goals; g++)
        n_goals += ch->goals[g].activity == (size_t)p->activity;
    mp_int(m, (int64_t)n_goals);
    for (size_t g = 0; g < ch->n_goals; g++) {
        const rules_goal *goal = &ch->goals[g];
        if (goal->activity != (size_t)p->activity)
            continue;
        int n = keys_goal(key, c->org, ch->id, s->per.id);
        int64_t ttl = 0; /* an all-time goal is reached once, ever */
        if (s->per.end < PERIOD_ALL_END) {
            ttl = s->per.end - at + ch->grace + GOAL_TTL_MORE;
            ttl = ttl < DAY_SECONDS ? DAY_SECONDS : ttl;
        }
        char field[2 * EVENT_NAME_MAX + 2];
        snprintf(field, sizeof(field), "%s|%s", ev->leader, goal->id);
        mp_int(m, (int64_t)counter(c, key, n, ttl, field));
        mp_int(m, (int64_t)goal_number(r, s->challenge, g));
    }
}

void scorecall_add(scorecall *c, const rules *r, const event *evs, const score_plan *plans,
                   const score_std *stds, size_t n, bool ranks)
{
    struct mp *m = &c->groups;
    char key[KEYS_MAX];
    c->n_groups++;
    mp_int(m, (int64_t)n);
    mp_int(m, r->first_of_day);
    mp_int(m, r->streak_days);
    mp_int(m, r->streak_points);
    /* the rules' goals, numbered in challenge order (goal_number) */
    size_t nd = 0;
    for (size_t ci = 0; ci < r->n_challenges; ci++)
        nd += r->challenges[ci].n_goals;
    mp_int(m, (int64_t)nd);
    for (size_t ci = 0; ci < r->n_challenges; ci++) {
        const rules_challenge *ch = &r->challenges[ci];
        for (size_t g = 0; g < ch->n_goals; g++) {
            mp_int(m, ch->goals[g].count);
            mp_int(m, ch->scoring == RULES_SCORE_COUNT ? 0 : ch->goals[g].bonus);
            mp_cstr(m, ch->goals[g].id);
            mp_cstr(m, ch->goals[g].badge ? ch->goals[g].badge : "");
        }
    }
    for (size_t i = 0; i < n; i++) {
        const event *ev = &evs[i];
        const score_plan *p = &plans[i];
        const rules_activity *act = &r->activities[p->activity];
        uint32_t leader = leader_number(c, ev->leader);
        size_t idlen = strlen(ev->id);
        bool added;
        mp_str(m, ev->id, idlen);
        mp_bool(m, !p->generated);
        if (!p->generated)
            keytab_add(&c->ids, ev->id, idlen, &added);
        mp_int(m, leader);
        mp_int_text(m, p->points);
        event_json(m, ev);
        mp_cstr(m, p->explain);
        if (p->url[0]) {
            int kn = snprintf(key, sizeof(key), "%s|%s", ev->leader, p->url);
            keytab_add(&c->urls, key, (size_t)kn, &added);
            mp_str(m, key, (size_t)kn);
        } else {
            mp_str(m, "", 0);
        }
        if (act->cooldown > 0) {
            int kn = keys_last(key, c->org, ev->type);
            mp_int(m, (int64_t)counter(c, key, kn, 0, ev->leader));
            mp_int(m, act->cooldown);
        } else {
            mp_int(m, 0);
            mp_int(m, 0);
        }
        mp_int(m, clamp_u32(at_seconds(ev)));
        bool goals = false;
        for (size_t s = 0; s < p->n_std; s++)
            goals |= r->challenges[stds[p->first + s].challenge].n_goals > 0;
        if (goals) {
            int kn = keys_leader(key, c->org, "badges", ev->leader);
            mp_int(m, (int64_t)key_index(c, key, kn));
        } else {
            mp_int(m, 0);
        }
        if (p->closed[0]) { /* -1: a retry of an event in a closed period, or refused */
            mp_int(m, -1);
            continue;
        }
        mp_int(m, (int64_t)p->n_std);
        for (size_t s = 0; s < p->n_std; s++)
            add_standing(c, r, ev, p, &stds[p->first + s], leader, ranks);
    }
}

/* Packs every string of a keytab into A, after its count. */
static void pack_list(struct mp *m, const struct keytab *t)
{
    mp_int(m, (int64_t)t->a.n);
    for (size_t i = 0; i < t->a.n; i++)
        mp_str(m, t->a.buf + t->a.off[i], t->a.lens[i]);
}

/* The team filter of a board: ",a,b," for a challenge limited to teams. */
static void pack_filter(struct mp *m, const struct board *bd)
{
    const rules_challenge *ch = &bd->r->challenges[bd->challenge];
    char buf[RULES_MAX_TEAMS * (EVENT_NAME_MAX + 1) + 2];
    size_t n = 0;
    if (ch->n_teams > 0) {
        buf[n++] = ',';
        for (size_t i = 0; i < ch->n_teams && n + strlen(ch->teams[i]) + 2 < sizeof(buf); i++) {
            size_t k = strlen(ch->teams[i]);
            memcpy(buf + n, ch->teams[i], k);
            n += k;
            buf[n++] = ',';
        }
    }
    mp_str(m, buf, n);
}

/* Packs A's leading parts (see score.lua). */
static void pack_parts(scorecall *c)
{
    struct mp *m = &c->parts;
    pack_list(m, &c->leaders);
    pack_list(m, &c->ids);
    pack_list(m, &c->urls);
    /* counters: per hash its key, TTL, n, then its counters' numbers, then their fields */
    mp_int(m, (int64_t)c->hashes.a.n);
    for (uint32_t h = 1; h <= c->hashes.a.n; h++) {
        mp_int(m, (int64_t)c->ch[h - 1].key);
        mp_int(m, c->ch[h - 1].ttl);
        mp_int(m, c->ch[h - 1].n);
        for (size_t i = 0; i < c->counters.a.n; i++)
            if (c->ct[i].hash == h)
                mp_int(m, (int64_t)i + 1);
        for (size_t i = 0; i < c->counters.a.n; i++)
            if (c->ct[i].hash == h)
                mp_str(m, c->counters.a.buf + c->counters.a.off[i] + 4, c->counters.a.lens[i] - 4);
    }
    mp_int(m, (int64_t)c->n_boards);
    const struct args *l = &c->leaders.a;
    for (uint32_t b = 1; b <= c->n_boards; b++) {
        const struct board *bd = &c->boards[b - 1];
        mp_int(m, (int64_t)bd->key);
        mp_str(m, c->names.buf + c->names.off[bd->name], c->names.lens[bd->name]);
        mp_int(m, (int64_t)bd->tkey);
        mp_int(m, (int64_t)bd->tcount);
        mp_int(m, (int64_t)bd->hkey);
        pack_filter(m, bd);
        mp_int(m, bd->m);
        for (size_t i = 0; i < c->members.a.n; i++)
            if (c->mem[i].board == b)
                mp_str(m, l->buf + l->off[c->mem[i].leader - 1], l->lens[c->mem[i].leader - 1]);
        for (size_t i = 0; i < c->members.a.n; i++)
            if (c->mem[i].board == b)
                mp_bool(m, c->mem[i].rank);
    }
}

/* Points argv/lens at every string of an args list, from position *n on. */
static void collect(scorecall *c, const struct args *a, size_t *n)
{
    for (size_t i = 0; i < a->n; i++, (*n)++) {
        c->argv[*n] = a->buf + a->off[i];
        c->lens[*n] = a->lens[i];
    }
}

int scorecall_finish(scorecall *c, int *nkeys, const char ***argv, const size_t **lens)
{
    int64_t window = c->now / 1000 / c->ttl;
    args_int(&c->head, (window + 1) * c->ttl + c->ttl); /* expiry of the current bucket */
    args_int(&c->head, 2);                              /* buckets */
    args_add(&c->head, c->replay ? "1" : "0", 1);       /* a replay */
    /* A: an array32 header, the leading parts, the groups. */
    struct mp *m = &c->parts;
    msgpack_sbuffer_write(&m->sb, "\xdd\0\0\0\0", 5);
    pack_parts(c);
    mp_int(m, c->n_groups);
    msgpack_sbuffer_write(&m->sb, c->groups.sb.data, c->groups.sb.size);
    uint32_t count = m->count + c->groups.count;
    unsigned char *hdr = (unsigned char *)m->sb.data;
    hdr[1] = (unsigned char)(count >> 24);
    hdr[2] = (unsigned char)(count >> 16);
    hdr[3] = (unsigned char)(count >> 8);
    hdr[4] = (unsigned char)count;
    /* after A: the usage hash's field of this UTC week */
    time_t t = (time_t)(c->now / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(c->week, sizeof(c->week), "w:%G-W%V", &tm);
    size_t argc = c->keys.a.n + c->head.n + 2, n = 0;
    if (argc > c->cap_argv) {
        c->cap_argv = argc * 2;
        c->argv = realloc(c->argv, c->cap_argv * sizeof(char *));
        c->lens = realloc(c->lens, c->cap_argv * sizeof(size_t));
        if (c->argv == NULL || c->lens == NULL)
            abort();
    }
    collect(c, &c->keys.a, &n);
    collect(c, &c->head, &n);
    c->argv[n] = m->sb.data;
    c->lens[n++] = m->sb.size;
    c->argv[n] = c->week;
    c->lens[n] = strlen(c->week);
    *nkeys = (int)c->keys.a.n;
    *argv = c->argv;
    *lens = c->lens;
    return (int)argc;
}

/* The next '|'-separated field of s[*at..len); advances *at past it. */
static const char *field(const char *s, size_t len, size_t *at, size_t *flen)
{
    if (*at >= len) { /* past the last field: a missing field reads as empty */
        *flen = 0;
        *at = len + 1;
        return s + len;
    }
    const char *f = s + *at;
    const char *bar = memchr(f, '|', len - *at);
    *flen = bar ? (size_t)(bar - f) : len - *at;
    *at += *flen + 1;
    return f;
}

/* Copies a field into a NUL-terminated buffer, truncating. */
static void copy_field(char *dst, size_t cap, const char *f, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, f, n);
    dst[n] = '\0';
}

/* Parses a field as an integer (0 when empty or invalid). */
static int64_t int_field(const char *f, size_t n)
{
    char buf[24];
    int64_t v;
    copy_field(buf, sizeof(buf), f, n);
    return util_parse_i64(buf, INT64_MIN, INT64_MAX, &v) ? v : 0;
}

size_t score_result_count(const char *s, size_t len)
{
    size_t bars = 0;
    for (size_t i = 0; i < len; i++)
        bars += s[i] == '|';
    return bars >= 4 ? (bars - 3) / 5 : 0; /* 4 fields, then 5 per standing */
}

void score_result_parse(const char *s, size_t len, score_result *res, size_t max_std)
{
    size_t at = 0, n;
    const char *f = field(s, len, &at, &n);
    res->duplicate = n > 0 && f[0] == '1';
    f = field(s, len, &at, &n);
    res->points = int_field(f, n);
    f = field(s, len, &at, &n);
    copy_field(res->reasons, sizeof(res->reasons), f, n);
    f = field(s, len, &at, &n);
    res->explain = n ? f : "{}";
    res->explain_len = n ? n : 2;
    res->n_std = 0;
    while (at < len && res->n_std < max_std) {
        score_standing *st = &res->std[res->n_std++];
        f = field(s, len, &at, &n);
        const char *colon = memchr(f, ':', n);
        size_t cn = colon ? (size_t)(colon - f) : n;
        copy_field(st->challenge, sizeof(st->challenge), f, cn);
        copy_field(st->period, sizeof(st->period), colon ? colon + 1 : "", colon ? n - cn - 1 : 0);
        f = field(s, len, &at, &n);
        st->points = int_field(f, n);
        f = field(s, len, &at, &n);
        st->score = int_field(f, n);
        f = field(s, len, &at, &n);
        st->rank = int_field(f, n);
        if (st->rank < 0)
            st->rank = 0;
        f = field(s, len, &at, &n);
        st->notes = f;
        st->notes_len = n;
    }
}

size_t scorecall_keys(const scorecall *c, const char ***keys, const size_t **lens)
{
    *keys = c->argv;
    *lens = c->lens;
    return c->keys.a.n;
}
