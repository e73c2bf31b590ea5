/*
 * boards.c - rendered leaderboard pages, kept per board version.
 *
 * One chained hash table holds two kinds of entries, told apart by their
 * key's first character: 'v' entries hold the newest known version of a
 * board ("v|org|challenge:period"), 'p' entries a rendered page
 * ("p|org|challenge:period|offset|limit|around"). A page is fresh while its
 * version is at least the board's known version and it is younger than
 * BOARDS_TTL_MS. A page being fetched collects waiters, answered together.
 * When the table passes BOARDS_MAX_ENTRIES, idle pages are dropped (a
 * crude but bounded eviction: pages are cheap to rebuild).
 */
#include "boards.h"
#include "event.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "keys.h"
#include "log.h"
#include "store.h"
#include "tz.h"
#include "util.h"

#define NBUCKETS 8192

struct waiter {
    struct waiter *next;
    boards_cb *cb;
    void *arg;
};

struct entry {
    struct entry *next;
    uint32_t hash;
    char *key;
    int64_t version;
    int64_t fetched; /* ms; 0 while the first fetch runs */
    char *body;
    size_t len;
    char etag[48];
    bool found;
    bool fetching;
    struct waiter *waiters;
};

struct boards {
    store *st;
    boards_change_fn *on_change;
    void *on_change_arg;
    struct entry *buckets[NBUCKETS];
    size_t n;
};

/* A fetch in flight: what is needed to render its reply. */
struct fetch {
    boards *bc;
    struct entry *e;
    char board[KEYS_MAX]; /* "challenge:period" */
    char org[EVENT_NAME_MAX + 1];
    char challenge[EVENT_NAME_MAX + 1];
    period per;
    int64_t offset, limit;
};

/* FNV-1a. */
static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Finds the entry for key, creating it when `create` is set. */
static struct entry *lookup(boards *bc, const char *key, bool create)
{
    uint32_t h = hash(key);
    for (struct entry *e = bc->buckets[h % NBUCKETS]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    if (!create)
        return NULL;
    struct entry *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->key = strdup(key)) == NULL)
        abort();
    e->hash = h;
    e->next = bc->buckets[h % NBUCKETS];
    bc->buckets[h % NBUCKETS] = e;
    bc->n++;
    return e;
}

/* Drops every page that nobody waits for (versions are kept). */
static void evict(boards *bc)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct entry **pp = &bc->buckets[i];
        while (*pp) {
            struct entry *e = *pp;
            if (e->key[0] == 'p' && !e->fetching) {
                *pp = e->next;
                free(e->key);
                free(e->body);
                free(e);
                bc->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

boards *boards_new(store *st)
{
    boards *bc = calloc(1, sizeof(*bc));
    if (bc)
        bc->st = st;
    return bc;
}

void boards_free(boards *bc)
{
    if (bc == NULL)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        for (struct entry *e = bc->buckets[i], *next; e; e = next) {
            next = e->next;
            for (struct waiter *w = e->waiters, *wn; w; w = wn) {
                wn = w->next;
                w->cb(w->arg, NULL);
                free(w);
            }
            if (e->fetching) {
                /* The fetch still points at e: let it find nothing to answer. */
                e->waiters = NULL;
                continue;
            }
            free(e->key);
            free(e->body);
            free(e);
        }
    }
    free(bc);
}

/* The newest known version of a board of org. */
static int64_t known_version(boards *bc, const char *org, const char *board)
{
    char key[KEYS_MAX + 80];
    snprintf(key, sizeof(key), "v|%s|%s", org, board);
    struct entry *e = lookup(bc, key, false);
    return e ? e->version : 0;
}

/* Raises the known version of a board of org; true if it was raised. */
static bool raise_version(boards *bc, const char *org, const char *board, int64_t version)
{
    char key[KEYS_MAX + 80];
    snprintf(key, sizeof(key), "v|%s|%s", org, board);
    struct entry *e = lookup(bc, key, true);
    if (version <= e->version)
        return false;
    e->version = version;
    return true;
}

void boards_note_version(void *arg, const char *org, const char *board, int64_t version)
{
    boards *bc = arg;
    if (board && raise_version(bc, org, board, version) && bc->on_change)
        bc->on_change(bc->on_change_arg, org, board, version, true);
}

void boards_learn_version(boards *bc, const char *org, const char *board, int64_t version)
{
    if (board && raise_version(bc, org, board, version) && bc->on_change)
        bc->on_change(bc->on_change_arg, org, board, version, false);
}

int64_t boards_known_version(boards *bc, const char *org, const char *board)
{
    return known_version(bc, org, board);
}

void boards_set_on_change(boards *bc, boards_change_fn *fn, void *arg)
{
    bc->on_change = fn;
    bc->on_change_arg = arg;
}

/* Renders page.lua's reply into JSON (see page.lua for its layout). */
static void render(struct fetch *f, const store_reply *r, struct evbuffer *b, bool *found)
{
    int64_t size = store_reply_int(store_reply_at(r, 1));
    int64_t off = store_reply_int(store_reply_at(r, 2));
    int64_t rank = store_reply_int(store_reply_at(r, 3)), prev_score = 0;
    char starts[32], ends[32];
    util_format_rfc3339(f->per.start * 1000, starts);
    util_format_rfc3339(f->per.end * 1000, ends);
    *found = off >= 0;
    evbuffer_add(b, "{\"challenge\":", 13);
    jsonw_str(b, f->challenge);
    if (strcmp(f->per.id, "all") == 0) /* all time has no bounds worth showing */
        evbuffer_add_printf(b, ",\"period\":\"all\",\"starts\":null,\"ends\":null");
    else
        evbuffer_add_printf(b, ",\"period\":\"%s\",\"starts\":\"%s\",\"ends\":\"%s\"", f->per.id,
                            starts, ends);
    evbuffer_add_printf(b, ",\"version\":%" PRId64 ",\"total\":%" PRId64 ",\"entries\":[",
                        store_reply_int(store_reply_at(r, 0)), size);
    size_t n = (store_reply_len(r) - 4) / 4;
    for (size_t i = 0; i < n; i++) {
        const char *id = store_reply_str(store_reply_at(r, 4 + 4 * i), NULL);
        int64_t score = store_reply_int(store_reply_at(r, 5 + 4 * i));
        const char *profile = store_reply_str(store_reply_at(r, 6 + 4 * i), NULL);
        int64_t prev = store_reply_int(store_reply_at(r, 7 + 4 * i));
        if (id == NULL)
            continue;
        if (i > 0 && score != prev_score)
            rank = off + (int64_t)i + 1;
        prev_score = score;
        json_t *p = profile && *profile ? json_loads(profile, 0, NULL) : NULL;
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *team = json_string_value(json_object_get(p, "team"));
        const char *avatar = json_string_value(json_object_get(p, "avatar"));
        evbuffer_add_printf(b, "%s{\"rank\":%" PRId64 ",\"leader\":", i ? "," : "", rank);
        jsonw_str(b, id);
        evbuffer_add(b, ",\"name\":", 8);
        jsonw_str(b, name ? name : id);
        evbuffer_add(b, ",\"team\":", 8);
        jsonw_str_or_null(b, team);
        evbuffer_add(b, ",\"avatar\":", 10);
        jsonw_str_or_null(b, avatar);
        evbuffer_add_printf(b, ",\"score\":%" PRId64 ",\"movement\":", score);
        if (prev > 0)
            evbuffer_add_printf(b, "%" PRId64 "}", prev - rank);
        else
            evbuffer_add(b, "null}", 5);
        json_decref(p);
    }
    evbuffer_add(b, "],\"next_cursor\":", 16);
    if (off >= 0 && off + (int64_t)n < size && n > 0)
        evbuffer_add_printf(b, "\"%" PRId64 "\"}\n", off + (int64_t)n);
    else
        evbuffer_add(b, "null}\n", 6);
}

/* Answers every waiter of an entry with its page (or NULL). */
static void answer(struct entry *e, bool ok)
{
    boards_page page = {e->body, e->len, e->etag, e->found};
    struct waiter *w = e->waiters;
    e->waiters = NULL;
    while (w) {
        struct waiter *next = w->next;
        w->cb(w->arg, ok ? &page : NULL);
        free(w);
        w = next;
    }
}

/* page.lua reply. */
static void on_page(void *arg, const store_reply *r)
{
    struct fetch *f = arg;
    struct entry *e = f->e;
    e->fetching = false;
    if (r == NULL || store_reply_is_error(r) || store_reply_len(r) < 4) {
        answer(e, false);
        free(f);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    render(f, r, b, &e->found);
    free(e->body);
    e->len = evbuffer_get_length(b);
    e->body = malloc(e->len + 1);
    if (e->body == NULL)
        abort();
    evbuffer_remove(b, e->body, e->len);
    e->body[e->len] = '\0';
    evbuffer_free(b);
    e->version = store_reply_int(store_reply_at(r, 0));
    e->fetched = util_now_ms();
    /* The tag follows the body, not only the scores: a renamed leader or a
     * change on the previous board (movement) changes it too. */
    uint32_t h = hash(e->body);
    snprintf(e->etag, sizeof(e->etag), "\"%s-%" PRId64 "-%08x\"", f->per.id, e->version, h);
    raise_version(f->bc, f->org, f->board, e->version);
    answer(e, true);
    free(f);
}

void boards_get(boards *bc, const char *org, const rules_challenge *ch, const period *per,
                const period *prev, int64_t offset, int64_t limit, const char *around,
                boards_cb *cb, void *arg)
{
    char board[KEYS_MAX], key[2 * KEYS_MAX];
    keys_board_name(board, ch->id, per->id);
    snprintf(key, sizeof(key), "p|%s|%s|%" PRId64 "|%" PRId64 "|%s", org, board, offset, limit,
             around ? around : "");
    struct entry *e = lookup(bc, key, false);
    int64_t now = util_now_ms();
    if (e && !e->fetching && e->version >= known_version(bc, org, board) &&
        now - e->fetched < BOARDS_TTL_MS) {
        boards_page page = {e->body, e->len, e->etag, e->found};
        cb(arg, &page);
        return;
    }
    if (e == NULL) {
        if (bc->n >= BOARDS_MAX_ENTRIES)
            evict(bc);
        e = lookup(bc, key, true);
    }
    struct waiter *w = malloc(sizeof(*w));
    if (w == NULL)
        abort();
    *w = (struct waiter){e->waiters, cb, arg};
    e->waiters = w;
    if (e->fetching)
        return;

    struct fetch *f = calloc(1, sizeof(*f));
    if (f == NULL)
        abort();
    f->bc = bc;
    f->e = e;
    snprintf(f->board, sizeof(f->board), "%s", board);
    snprintf(f->org, sizeof(f->org), "%s", org);
    snprintf(f->challenge, sizeof(f->challenge), "%s", ch->id);
    f->per = *per;
    f->offset = offset;
    f->limit = limit;
    char k_board[KEYS_MAX], k_leaders[KEYS_MAX], k_bver[KEYS_MAX], k_prev[KEYS_MAX];
    char s_off[24], s_lim[24];
    keys_board(k_board, org, ch->id, per->id);
    keys_org(k_leaders, org, "leaders");
    keys_org(k_bver, org, "bver");
    if (prev)
        keys_board(k_prev, org, ch->id, prev->id);
    else
        snprintf(k_prev, sizeof(k_prev), "%s", k_board);
    snprintf(s_off, sizeof(s_off), "%" PRId64, offset);
    snprintf(s_lim, sizeof(s_lim), "%" PRId64, limit);
    const char *argv[] = {k_board,         k_leaders, k_bver, k_prev,
                          board,           s_off,     s_lim,  around ? around : "",
                          prev ? "1" : "0"};
    size_t lens[9];
    for (int i = 0; i < 9; i++)
        lens[i] = strlen(argv[i]);
    e->fetching = true;
    if (store_script(bc->st, STORE_SCRIPT_PAGE, 4, 9, argv, lens, on_page, f) < 0)
        on_page(f, NULL);
}

bool boards_resolve_period(const rules_challenge *ch, const char *id, int64_t now, period *per,
                           period *prev, bool *has_prev, char *why, size_t whylen)
{
    static const period all = {PERIOD_ALL_START, PERIOD_ALL_END, "all"};
    *has_prev = false;
    if (strcmp(id, "all") == 0 || ch->period.kind == PERIOD_ALL) {
        if (strcmp(id, "all") != 0 && strcmp(id, "current") != 0) {
            snprintf(why, whylen, "this challenge has only an all-time board: use all or current");
            return false;
        }
        *per = all;
        return true;
    }
    if (!period_resolve(&ch->period, id, now, per)) {
        snprintf(why, whylen,
                 "'%.32s' is not a period of this challenge: use current, previous, all or a "
                 "period id such as those the list of challenges gives",
                 id);
        return false;
    }
    *has_prev = period_previous(&ch->period, per, prev);
    return true;
}

/* The period kind's name in the rules language. */
static const char *kind_name(period_kind k)
{
    static const char *names[] = {"week", "month", "fixed", "all", "interval"};
    return names[k];
}

void boards_challenges_json(struct evbuffer *b, const rules *r, int64_t now)
{
    evbuffer_add(b, "{\"challenges\":[", 15);
    for (size_t i = 0; i < r->n_challenges; i++) {
        const rules_challenge *ch = &r->challenges[i];
        evbuffer_add_printf(b, "%s{\"id\":", i ? "," : "");
        jsonw_str(b, ch->id);
        evbuffer_add(b, ",\"name\":", 8);
        jsonw_str(b, ch->name);
        evbuffer_add_printf(b, ",\"period\":\"%s\",\"timezone\":", kind_name(ch->period.kind));
        jsonw_str(b, tz_name(ch->zone));
        evbuffer_add_printf(b, ",\"scoring\":\"%s\",\"activities\":[",
                            ch->scoring == RULES_SCORE_COUNT ? "count" : "points");
        for (size_t a = 0, n = 0; a < r->n_activities; a++) {
            if (!ch->counts[a])
                continue;
            evbuffer_add_printf(b, "%s", n++ ? "," : "");
            jsonw_str(b, r->activities[a].id);
        }
        evbuffer_add(b, "],\"current\":", 12);
        period cur;
        if (ch->period.kind == PERIOD_ALL) {
            evbuffer_add(
                b, "{\"id\":\"all\",\"starts\":null,\"ends\":null},\"next_reset\":null}",
                strlen("{\"id\":\"all\",\"starts\":null,\"ends\":null},\"next_reset\":null}"));
        } else if (period_at(&ch->period, now, &cur)) {
            char s[32], e[32];
            util_format_rfc3339(cur.start * 1000, s);
            util_format_rfc3339(cur.end * 1000, e);
            evbuffer_add_printf(b, "{\"id\":\"%s\",\"starts\":\"%s\",\"ends\":\"%s\"}", cur.id, s,
                                e);
            if (ch->period.kind == PERIOD_FIXED) /* a fixed span ends, it never resets */
                evbuffer_add(b, ",\"next_reset\":null}", 19);
            else
                evbuffer_add_printf(b, ",\"next_reset\":\"%s\"}", e);
        } else {
            evbuffer_add(b, "null,\"next_reset\":null}", 23);
        }
    }
    evbuffer_add(b, "]}", 2);
}
