/*
 * http_boards.c - reads: challenges, leaderboard pages, around a leader,
 * a leader's standings.
 *
 * Board pages come from the read cache (boards.c) and carry an ETag that
 * follows the board's version; If-None-Match answers 304. Every challenge
 * has its period boards and an all-time board ("period=all").
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "http_server.h"
#include "ingest.h"
#include "results.h"
#include "jsonw.h"
#include "keys.h"
#include "store.h"
#include "util.h"

#define LEADER_HISTORY "8" /* closed periods in a leader's history */

static const period all_period = {PERIOD_ALL_START, PERIOD_ALL_END, "all"};

/* The period kind's name in the rules language. */
static const char *kind_name(period_kind k)
{
    static const char *names[] = {"week", "month", "fixed", "all", "interval"};
    return names[k];
}

void http_challenges_list(http_req *q)
{
    const rules *r = ingest_rules(q->a->in);
    if (r == NULL) {
        http_unavailable(q);
        return;
    }
    int64_t now = util_now_ms() / 1000;
    struct evbuffer *b = evbuffer_new();
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
    evbuffer_add(b, "]}\n", 3);
    http_reply(q, 200, b);
}

/* Finds the challenge named by the first path parameter, or answers 404. */
static const rules_challenge *find_challenge(http_req *q)
{
    const rules *r = ingest_rules(q->a->in);
    if (r == NULL) {
        http_unavailable(q);
        return NULL;
    }
    int c = rules_challenge_index(r, q->param[0]);
    if (c < 0) {
        http_problem(q, 404, "not-found",
                     "No challenge has this id; GET /v1/challenges lists them.", NULL);
        return NULL;
    }
    return &r->challenges[c];
}

/* Reads a bounded integer query parameter; answers 400 and returns false if bad. */
static bool query_int(http_req *q, const char *name, int64_t min, int64_t max, int64_t *v)
{
    char buf[32];
    if (http_query(q, name, buf, sizeof(buf)) == NULL)
        return true;
    if (util_parse_i64(buf, min, max, v))
        return true;
    char detail[160];
    errlist errs = {0};
    snprintf(detail, sizeof(detail), "/%s", name);
    errlist_add(&errs, detail, "must be a whole number from %" PRId64 " to %" PRId64, min, max);
    http_problem(q, 400, "invalid-query", "A query parameter is not valid.", &errs);
    errlist_clear(&errs);
    return false;
}

/* Resolves ?period= into the board's period and the one before it. */
static bool resolve_period(http_req *q, const rules_challenge *ch, period *per, period *prev,
                           bool *has_prev)
{
    char id[32] = "current";
    if (http_query(q, "period", id, sizeof(id)) == NULL)
        snprintf(id, sizeof(id), "current");
    *has_prev = false;
    if (strcmp(id, "all") == 0 || ch->period.kind == PERIOD_ALL) {
        if (strcmp(id, "all") != 0 && strcmp(id, "current") != 0) {
            http_problem(q, 400, "invalid-query",
                         "This challenge has only an all-time board: use period=all or current.",
                         NULL);
            return false;
        }
        *per = all_period;
        return true;
    }
    int64_t now = util_now_ms() / 1000;
    if (!period_resolve(&ch->period, id, now, per)) {
        errlist errs = {0};
        errlist_add(&errs, "/period",
                    "'%s' is not a period of this challenge: use current, "
                    "previous, all or a period id such as those in GET /v1/challenges",
                    id);
        http_problem(q, 400, "invalid-query", "The period is not valid.", &errs);
        errlist_clear(&errs);
        return false;
    }
    *has_prev = period_previous(&ch->period, per, prev);
    return true;
}

/* Answers a request with a cached page (200, or 304 when the ETag matches). */
static void on_page(void *arg, const boards_page *page)
{
    http_req *q = arg;
    if (page == NULL) {
        http_unavailable(q);
        return;
    }
    if (!page->found) {
        http_problem(q, 404, "not-found", "This leader has no score on this board yet.", NULL);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);
    evhttp_add_header(h, "ETag", page->etag);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    const char *inm = http_header(q, "If-None-Match");
    if (inm && strstr(inm, page->etag)) {
        http_reply(q, 304, NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, page->body, page->len);
    http_reply(q, 200, b);
}

void http_board_get(http_req *q)
{
    const rules_challenge *ch = find_challenge(q);
    period per, prev;
    bool has_prev;
    int64_t limit = 10, offset = 0;
    if (ch == NULL || !resolve_period(q, ch, &per, &prev, &has_prev) ||
        !query_int(q, "limit", 1, 100, &limit) || !query_int(q, "cursor", 0, 100000000, &offset))
        return;
    boards_get(q->a->bc, q->who.org, ch, &per, has_prev ? &prev : NULL, offset, limit, NULL,
               on_page, q);
}

void http_board_around(http_req *q)
{
    const rules_challenge *ch = find_challenge(q);
    period per, prev;
    bool has_prev;
    int64_t n = 5;
    if (ch == NULL || !resolve_period(q, ch, &per, &prev, &has_prev) ||
        !query_int(q, "n", 0, 50, &n))
        return;
    if (!util_valid_id(q->param[1])) {
        http_problem(q, 404, "not-found", "No leader has this id.", NULL);
        return;
    }
    boards_get(q->a->bc, q->who.org, ch, &per, has_prev ? &prev : NULL, 0, n, q->param[1], on_page,
               q);
}

/* A leader read in flight: the boards asked for, in reply order. */
struct leader_read {
    http_req *q;
    size_t n;
    struct {
        char challenge[EVENT_NAME_MAX + 1];
        period per;
    } boards[2 * RULES_MAX_CHALLENGES];
};

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
    http_req *q = lr->q;
    const rules *rl = ingest_rules(q->a->in);
    if (r == NULL || store_reply_is_error(r) || rl == NULL) {
        free(lr);
        http_unavailable(q);
        return;
    }
    const char *profile = store_reply_str(store_reply_at(r, 0), NULL);
    if (profile == NULL) {
        free(lr);
        http_problem(q, 404, "not-found", "No leader has this id.", NULL);
        return;
    }
    const store_reply *scores = store_reply_at(r, 1), *days = store_reply_at(r, 4);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "{\"id\":", 6);
    jsonw_str(b, q->param[0]);
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
    adjustments_json(b, store_reply_at(r, 5), q->who.role == ROLE_ADMIN);
    evbuffer_add(b, "}\n", 2);
    free(lr);
    http_reply(q, 200, b);
}

void http_leader_get(http_req *q)
{
    const rules *r = ingest_rules(q->a->in);
    if (r == NULL) {
        http_unavailable(q);
        return;
    }
    if (!util_valid_id(q->param[0])) {
        http_problem(q, 404, "not-found", "No leader has this id.", NULL);
        return;
    }
    struct leader_read *lr = calloc(1, sizeof(*lr));
    if (lr == NULL)
        abort();
    lr->q = q;
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
    keys_org(keys[n++], q->who.org, "leaders");
    keys_org(keys[n++], q->who.org, "lastev");
    keys_leader(keys[n++], q->who.org, "badges", q->param[0]);
    keys_leader(keys[n++], q->who.org, "adj", q->param[0]);
    for (size_t i = 0; i < r->n_challenges; i++)
        keys_days(keys[n++], q->who.org, r->challenges[i].id);
    for (size_t i = 0; i < lr->n; i++)
        keys_board(keys[n++], q->who.org, lr->boards[i].challenge, lr->boards[i].per.id);
    keys_leader(keys[n++], q->who.org, "digest", q->param[0]);
    keys_org(keys[n++], q->who.org, "events");
    for (size_t i = 0; i < n; i++)
        argv[i] = keys[i];
    size_t argc = n;
    argv[argc++] = q->param[0];
    util_i64toa((int64_t)r->n_challenges, nd);
    argv[argc++] = nd;
    argv[argc++] = "20"; /* recent events shown */
    argv[argc++] = "20"; /* adjustments shown */
    snprintf(prefix, sizeof(prefix), "podium:{%s}:", q->who.org);
    argv[argc++] = prefix;
    argv[argc++] = LEADER_HISTORY;
    for (size_t i = 0; i < r->n_challenges; i++)
        argv[argc++] = r->challenges[i].id;
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(q->a->st, STORE_SCRIPT_LEADER, (int)n, (int)argc, argv, lens, on_leader, lr) <
        0) {
        free(lr);
        http_unavailable(q);
    }
}

/* A read of a challenge's closed periods. */
struct periods_read {
    http_req *q;
    int64_t offset;
    char ch[EVENT_NAME_MAX + 1];
};

/* Reply of close.lua list: {total, record, ...}. */
static void on_periods(void *arg, const store_reply *r)
{
    struct periods_read *pr = arg;
    http_req *q = pr->q;
    if (r == NULL || store_reply_is_error(r)) {
        free(pr);
        http_unavailable(q);
        return;
    }
    int64_t total = store_reply_int(store_reply_at(r, 0));
    size_t n = store_reply_len(r) - 1;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "{\"challenge\":", 13);
    jsonw_str(b, pr->ch);
    evbuffer_add_printf(b, ",\"total\":%" PRId64 ",\"periods\":[", total);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *rec = store_reply_str(store_reply_at(r, 1 + i), &len);
        if (i)
            evbuffer_add(b, ",", 1);
        evbuffer_add(b, rec, len);
    }
    evbuffer_add(b, "],\"next_cursor\":", 16);
    if (pr->offset + (int64_t)n < total && n > 0)
        evbuffer_add_printf(b, "\"%" PRId64 "\"}\n", pr->offset + (int64_t)n);
    else
        evbuffer_add(b, "null}\n", 6);
    free(pr);
    http_reply(q, 200, b);
}

void http_periods_get(http_req *q)
{
    const rules_challenge *ch = find_challenge(q);
    int64_t limit = 20, offset = 0;
    if (ch == NULL || !query_int(q, "limit", 1, 100, &limit) ||
        !query_int(q, "cursor", 0, INT32_MAX, &offset))
        return;
    struct periods_read *pr = calloc(1, sizeof(*pr));
    if (pr == NULL)
        abort();
    pr->q = q;
    pr->offset = offset;
    snprintf(pr->ch, sizeof(pr->ch), "%s", ch->id);
    char k[2][KEYS_MAX], off[24], lim[24];
    keys_periods(k[0], q->who.org, ch->id);
    keys_closedp(k[1], q->who.org, ch->id);
    util_i64toa(offset, off);
    util_i64toa(limit, lim);
    const char *argv[] = {k[0], k[1], "list", off, lim};
    size_t lens[5];
    for (size_t i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(q->a->st, STORE_SCRIPT_CLOSE, 2, 5, argv, lens, on_periods, pr) < 0) {
        free(pr);
        http_unavailable(q);
    }
}

/* One team of a team board, as read. */
struct team_row {
    const char *id, *profile;
    int64_t sum, members;
    double value; /* what it ranks by: the sum, or the sum per member */
};

/* Orders teams by value, highest first, then by id. */
static int team_cmp(const void *a, const void *b)
{
    const struct team_row *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? 1 : -1;
    return strcmp(x->id, y->id);
}

/* A team board read in flight. */
struct team_read {
    http_req *q;
    char challenge[EVENT_NAME_MAX + 1];
    period per;
    bool average;
};

/* teams.lua reply: team, sum, members, profile per team. */
static void on_teams(void *arg, const store_reply *r)
{
    struct team_read *tr = arg;
    http_req *q = tr->q;
    if (r == NULL || store_reply_is_error(r)) {
        free(tr);
        http_unavailable(q);
        return;
    }
    size_t n = store_reply_len(r) / 4;
    struct team_row *rows = calloc(n + 1, sizeof(*rows));
    if (rows == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        struct team_row *t = &rows[i];
        t->id = store_reply_str(store_reply_at(r, 4 * i), NULL);
        t->sum = store_reply_int(store_reply_at(r, 4 * i + 1));
        t->members = store_reply_int(store_reply_at(r, 4 * i + 2));
        t->profile = store_reply_str(store_reply_at(r, 4 * i + 3), NULL);
        t->value = tr->average ? (t->members > 0 ? (double)t->sum / (double)t->members : 0)
                               : (double)t->sum;
        if (t->id == NULL)
            t->id = "";
    }
    qsort(rows, n, sizeof(*rows), team_cmp);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "{\"challenge\":", 13);
    jsonw_str(b, tr->challenge);
    evbuffer_add(b, ",\"period\":", 10);
    jsonw_str(b, tr->per.id);
    evbuffer_add_printf(b, ",\"ranking\":\"%s\",\"entries\":[", tr->average ? "average" : "total");
    for (size_t i = 0, rank = 1; i < n; i++) {
        if (i > 0 && rows[i].value != rows[i - 1].value)
            rank = i + 1; /* competition ranking: equal values share a rank */
        evbuffer_add_printf(b, "%s{\"rank\":%zu,\"team\":", i ? "," : "", rank);
        jsonw_str(b, rows[i].id);
        evbuffer_add(b, ",\"profile\":", 11);
        if (rows[i].profile && rows[i].profile[0])
            evbuffer_add(b, rows[i].profile, strlen(rows[i].profile));
        else
            evbuffer_add(b, "null", 4);
        evbuffer_add_printf(b, ",\"score\":%" PRId64 ",\"members\":%" PRId64 ",\"average\":%.2f}",
                            rows[i].sum, rows[i].members,
                            rows[i].members ? (double)rows[i].sum / (double)rows[i].members : 0.0);
    }
    evbuffer_add(b, "]}\n", 3);
    free(rows);
    free(tr);
    http_reply(q, 200, b);
}

void http_teams_get(http_req *q)
{
    const rules_challenge *ch = find_challenge(q);
    period per, prev;
    bool has_prev;
    if (ch == NULL || !resolve_period(q, ch, &per, &prev, &has_prev))
        return;
    struct team_read *tr = calloc(1, sizeof(*tr));
    if (tr == NULL)
        abort();
    tr->q = q;
    tr->per = per;
    tr->average = ch->team_average;
    snprintf(tr->challenge, sizeof(tr->challenge), "%s", ch->id);
    char keys[3][KEYS_MAX];
    keys_team_board(keys[0], q->who.org, "tboard", ch->id, per.id);
    keys_team_board(keys[1], q->who.org, "tcount", ch->id, per.id);
    keys_org(keys[2], q->who.org, "teams");
    const char *argv[] = {keys[0], keys[1], keys[2], "1000"};
    size_t lens[4];
    for (size_t i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(q->a->st, STORE_SCRIPT_TEAMS, 3, 4, argv, lens, on_teams, tr) < 0) {
        free(tr);
        http_unavailable(q);
    }
}
