/*
 * leaders.c - a leader's page: standings, streaks, badges, history, recent
 * events and adjustments, read with one leader.lua call.
 *
 * Rendered as the JSON of GET /v1/leaders/{id}; shared by the HTTP and
 * msgpack-RPC front ends (which packs the same JSON). The read owns copies
 * of the org and leader id, so the caller's request may go meanwhile; the
 * callback fires exactly once.
 */
#include "leaders.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "ingest.h"
#include "jsonw.h"
#include "keys.h"
#include "period.h"
#include "results.h"
#include "rules.h"
#include "store.h"
#include "util.h"

#define LEADER_HISTORY "8" /* closed periods in a leader's history */

static const period all_period = {PERIOD_ALL_START, PERIOD_ALL_END, "all"};

/* A leader read in flight: the boards asked for, in reply order. */
struct leader_read {
    app *a;
    rules *r; /* a hold on the org's rules, which name the boards read */
    char org[EVENT_NAME_MAX + 1];
    char id[EVENT_NAME_MAX + 1];
    bool admin;
    leaders_cb *cb;
    void *arg;
    size_t n;
    struct {
        char challenge[EVENT_NAME_MAX + 1];
        period per;
    } boards[2 * RULES_MAX_CHALLENGES];
};

/* Frees a read and its hold on the rules. */
static void leader_read_free(struct leader_read *lr)
{
    rules_free(lr->r);
    free(lr);
}

/* The current streak of a day state "day:mask:streak" (score.lua): the
 * streak while its last active day is today or yesterday, else 0. */
static int64_t current_streak(const char *state, int64_t today)
{
    long long day, mask, streak;
    if (state == NULL || sscanf(state, "%lld:%lld:%lld", &day, &mask, &streak) != 3)
        return 0;
    return day >= today - 1 ? streak : 0;
}

/* Appends the badges of challenge ch from the badges hash reply
 * ("{ch}:{per}:{goal}" -> "badge|at"). */
static void badges_json(struct evbuffer *b, const store_reply *badges, const char *ch)
{
    size_t chlen = strlen(ch), n = 0;
    evbuffer_add(b, ",\"badges\":[", 11);
    for (size_t i = 0; i + 1 < store_reply_len(badges); i += 2) {
        const char *f = store_reply_str(store_reply_at(badges, i), NULL);
        const char *v = store_reply_str(store_reply_at(badges, i + 1), NULL);
        if (f == NULL || v == NULL || strncmp(f, ch, chlen) != 0 || f[chlen] != ':')
            continue;
        const char *per = f + chlen + 1, *goal = strrchr(per, ':');
        const char *bar = strrchr(v, '|');
        if (goal == NULL || bar == NULL)
            continue;
        char badge[256], per_id[PERIOD_ID_MAX + 1], when[32];
        snprintf(badge, sizeof(badge), "%.*s", (int)(bar - v), v);
        snprintf(per_id, sizeof(per_id), "%.*s", (int)(goal - per), per);
        int64_t at;
        if (!util_parse_i64(bar + 1, 0, INT64_MAX / 1000, &at))
            at = 0;
        util_format_rfc3339(at * 1000, when);
        evbuffer_add_printf(b, "%s{\"goal\":", n++ ? "," : "");
        if (goal[1] == '@') /* a place at a period's close (closer.c) */
            evbuffer_add_printf(b, "null,\"place\":%d", atoi(goal + 2));
        else
            jsonw_str(b, goal + 1);
        evbuffer_add(b, ",\"badge\":", 9);
        jsonw_str(b, badge);
        evbuffer_add(b, ",\"period\":", 10);
        jsonw_str(b, per_id);
        evbuffer_add_printf(b, ",\"at\":\"%s\"}", when);
    }
    evbuffer_add(b, "]", 1);
}

/* Appends "history": a challenge's closed periods, newest first, with the
 * leader's score and rank on each (null when not on that board). */
static void history_json(struct evbuffer *b, const store_reply *h)
{
    evbuffer_add(b, ",\"history\":[", 12);
    for (size_t i = 0; i + 2 < store_reply_len(h); i += 3) {
        const char *per = store_reply_str(store_reply_at(h, i), NULL);
        const char *score = store_reply_str(store_reply_at(h, i + 1), NULL);
        int64_t rank = store_reply_int(store_reply_at(h, i + 2));
        evbuffer_add_printf(b, "%s{\"period\":", i ? "," : "");
        jsonw_str(b, per ? per : "");
        if (score && *score && rank > 0)
            evbuffer_add_printf(b, ",\"score\":%s,\"rank\":%" PRId64 "}", score, rank);
        else
            evbuffer_add_printf(b, ",\"score\":null,\"rank\":null}");
    }
    evbuffer_add(b, "]", 1);
}

/* Appends "digest": the latest digest of challenge ch (closer.c), or null. */
static void digest_json(struct evbuffer *b, const store_reply *all, const char *ch)
{
    evbuffer_add(b, ",\"digest\":", 10);
    for (size_t i = 0; i + 1 < store_reply_len(all); i += 2) {
        size_t len;
        const char *f = store_reply_str(store_reply_at(all, i), NULL);
        const char *v = store_reply_str(store_reply_at(all, i + 1), &len);
        if (f && v && strcmp(f, ch) == 0) {
            evbuffer_add(b, v, len);
            return;
        }
    }
    evbuffer_add(b, "null", 4);
}

/* Appends the recent events ("event JSON\nresult string", newest first). */
static void recent_json(struct evbuffer *b, const rules *r, const store_reply *list)
{
    evbuffer_add(b, ",\"recent\":[", 11);
    for (size_t i = 0, n = 0; i < store_reply_len(list); i++) {
        size_t len;
        const char *s = store_reply_str(store_reply_at(list, i), &len);
        const char *nl = s ? memchr(s, '\n', len) : NULL;
        if (nl == NULL)
            continue;
        const char *res = nl + 1;
        size_t rlen = len - (size_t)(res - s), k = score_result_count(res, rlen);
        score_standing std[2 * RULES_MAX_CHALLENGES];
        score_result x = {.id = "", .std = std, .explain = "{}", .explain_len = 2};
        score_result_parse(res, rlen, &x,
                           k < 2 * RULES_MAX_CHALLENGES ? k : 2 * RULES_MAX_CHALLENGES);
        /* The event's id is in its JSON; the result is rendered without it. */
        evbuffer_add_printf(b, "%s{\"event\":", n++ ? "," : "");
        evbuffer_add(b, s, (size_t)(nl - s));
        evbuffer_add(b, ",\"result\":", 10);
        results_json(b, r, &x);
        evbuffer_add(b, "}", 1);
    }
    evbuffer_add(b, "]", 1);
}

/* Appends the leader's adjustments (JSON written by adjust.lua, newest
 * first). Who made one (`by`, an admin token id) is for admins only: the
 * page is readable by every role. */
static void adjustments_json(struct evbuffer *b, const store_reply *list, bool admin)
{
    evbuffer_add(b, ",\"adjustments\":[", 16);
    for (size_t i = 0, n = 0; i < store_reply_len(list); i++) {
        size_t len;
        const char *s = store_reply_str(store_reply_at(list, i), &len);
        if (s == NULL || len < 2 || s[0] != '{' || s[len - 1] != '}')
            continue;
        if (n++)
            evbuffer_add(b, ",", 1);
        json_t *o = admin ? NULL : json_loadb(s, len, 0, NULL);
        char *text = o && json_object_del(o, "by") == 0
                         ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)
                         : NULL;
        if (text)
            evbuffer_add(b, text, strlen(text));
        else if (admin || o)
            evbuffer_add(b, s, len); /* no `by` to hide */
        else
            evbuffer_add(b, "{}", 2);
        free(text);
        json_decref(o);
    }
    evbuffer_add(b, "]", 1);
}

/* leader.lua reply: profile, standings per board, recent events, badges,
 * day states, adjustments. */
static void on_leader(void *arg, const store_reply *r)
{
    struct leader_read *lr = arg;
    const rules *rl = lr->r;
    if (r == NULL || store_reply_is_error(r) || rl == NULL) {
        lr->cb(lr->arg, 503, NULL, 0);
        leader_read_free(lr);
        return;
    }
    const char *profile = store_reply_str(store_reply_at(r, 0), NULL);
    if (profile == NULL) {
        lr->cb(lr->arg, 404, NULL, 0);
        leader_read_free(lr);
        return;
    }
    const store_reply *scores = store_reply_at(r, 1), *days = store_reply_at(r, 4);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "{\"id\":", 6);
    jsonw_str(b, lr->id);
    evbuffer_add(b, ",\"profile\":", 11);
    evbuffer_add(b, profile, strlen(profile));
    evbuffer_add(b, ",\"standings\":[", 14);
    for (size_t i = 0; i < lr->n; i++) {
        const char *score = store_reply_str(store_reply_at(scores, 2 * i), NULL);
        int64_t rank = store_reply_int(store_reply_at(scores, 2 * i + 1));
        evbuffer_add_printf(
            b, "%s{\"challenge\":\"%s\",\"period\":\"%s\",\"score\":%s,\"rank\":", i ? "," : "",
            lr->boards[i].challenge, lr->boards[i].per.id, score && *score ? score : "0");
        if (rank > 0)
            evbuffer_add_printf(b, "%" PRId64 "}", rank);
        else
            evbuffer_add(b, "null}", 5);
    }
    evbuffer_add(b, "],\"challenges\":[", 16);
    int64_t now = util_now_ms() / 1000;
    for (size_t i = 0; i < rl->n_challenges; i++) {
        const rules_challenge *ch = &rl->challenges[i];
        const char *state = store_reply_str(store_reply_at(days, i), NULL);
        evbuffer_add_printf(b, "%s{\"challenge\":", i ? "," : "");
        jsonw_str(b, ch->id);
        evbuffer_add_printf(b, ",\"streak\":%" PRId64,
                            current_streak(state, period_local_day(ch->zone, now)));
        badges_json(b, store_reply_at(r, 3), ch->id);
        history_json(b, store_reply_at(store_reply_at(r, 7), i));
        digest_json(b, store_reply_at(r, 6), ch->id);
        evbuffer_add(b, "}", 1);
    }
    evbuffer_add(b, "]", 1);
    recent_json(b, rl, store_reply_at(r, 2));
    adjustments_json(b, store_reply_at(r, 5), lr->admin);
    evbuffer_add(b, "}", 1);
    size_t len = evbuffer_get_length(b);
    lr->cb(lr->arg, 200, (const char *)evbuffer_pullup(b, -1), len);
    evbuffer_free(b);
    leader_read_free(lr);
}

void leaders_read(app *a, const char *org, const rules *r, const char *id, bool admin,
                  leaders_cb *cb, void *arg)
{
    if (r == NULL) {
        cb(arg, 503, NULL, 0);
        return;
    }
    if (!util_valid_id(id) || strlen(org) > EVENT_NAME_MAX) {
        cb(arg, 404, NULL, 0);
        return;
    }
    struct leader_read *lr = calloc(1, sizeof(*lr));
    if (lr == NULL)
        abort();
    lr->a = a;
    lr->r = rules_hold(r);
    snprintf(lr->org, sizeof(lr->org), "%s", org);
    snprintf(lr->id, sizeof(lr->id), "%s", id);
    lr->admin = admin;
    lr->cb = cb;
    lr->arg = arg;
    int64_t now = util_now_ms() / 1000;
    for (size_t i = 0; i < r->n_challenges; i++) {
        const rules_challenge *ch = &r->challenges[i];
        if (ch->period.kind != PERIOD_ALL && period_at(&ch->period, now, &lr->boards[lr->n].per))
            snprintf(lr->boards[lr->n++].challenge, EVENT_NAME_MAX + 1, "%s", ch->id);
        lr->boards[lr->n].per = all_period;
        snprintf(lr->boards[lr->n++].challenge, EVENT_NAME_MAX + 1, "%s", ch->id);
    }
    /* KEYS: leaders, latest links, badges, adjustments, one day state per
     * challenge, boards, digests, the log. */
    enum { FIXED = 6, ARGS = 6 };
    char keys[FIXED + 3 * RULES_MAX_CHALLENGES][KEYS_MAX];
    const char *argv[FIXED + 4 * RULES_MAX_CHALLENGES + ARGS];
    size_t lens[FIXED + 4 * RULES_MAX_CHALLENGES + ARGS], n = 0;
    char nd[24], prefix[KEYS_MAX];
    keys_org(keys[n++], lr->org, "leaders");
    keys_org(keys[n++], lr->org, "lastev");
    keys_leader(keys[n++], lr->org, "badges", lr->id);
    keys_leader(keys[n++], lr->org, "adj", lr->id);
    for (size_t i = 0; i < r->n_challenges; i++)
        keys_days(keys[n++], lr->org, r->challenges[i].id);
    for (size_t i = 0; i < lr->n; i++)
        keys_board(keys[n++], lr->org, lr->boards[i].challenge, lr->boards[i].per.id);
    keys_leader(keys[n++], lr->org, "digest", lr->id);
    keys_org(keys[n++], lr->org, "events");
    for (size_t i = 0; i < n; i++)
        argv[i] = keys[i];
    size_t argc = n;
    argv[argc++] = lr->id;
    util_i64toa((int64_t)r->n_challenges, nd);
    argv[argc++] = nd;
    argv[argc++] = "20"; /* recent events shown */
    argv[argc++] = "20"; /* adjustments shown */
    snprintf(prefix, sizeof(prefix), "podium:{%s}:", lr->org);
    argv[argc++] = prefix;
    argv[argc++] = LEADER_HISTORY;
    for (size_t i = 0; i < r->n_challenges; i++)
        argv[argc++] = r->challenges[i].id;
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(a->st, STORE_SCRIPT_LEADER, (int)n, (int)argc, argv, lens, on_leader, lr) <
        0) {
        leader_read_free(lr);
        cb(arg, 503, NULL, 0);
    }
}
