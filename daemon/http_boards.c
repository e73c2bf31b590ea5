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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "http_server.h"
#include "ingest.h"
#include "jsonw.h"
#include "keys.h"
#include "store.h"
#include "util.h"

static const period all_period = {PERIOD_ALL_START, PERIOD_ALL_END, "all"};

/* The period kind's name in the rules language. */
static const char *kind_name(period_kind k)
{
    static const char *names[] = {"week", "month", "fixed", "all"};
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

/* leader.lua reply: profile, then score and rank per board. */
static void on_leader(void *arg, const store_reply *r)
{
    struct leader_read *lr = arg;
    http_req *q = lr->q;
    if (r == NULL || store_reply_is_error(r)) {
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
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "{\"id\":", 6);
    jsonw_str(b, q->param[0]);
    evbuffer_add(b, ",\"profile\":", 11);
    evbuffer_add(b, profile, strlen(profile));
    evbuffer_add(b, ",\"standings\":[", 14);
    for (size_t i = 0; i < lr->n; i++) {
        const char *score = store_reply_str(store_reply_at(r, 1 + 2 * i), NULL);
        int64_t rank = store_reply_int(store_reply_at(r, 2 + 2 * i));
        evbuffer_add_printf(
            b, "%s{\"challenge\":\"%s\",\"period\":\"%s\",\"score\":%s,\"rank\":", i ? "," : "",
            lr->boards[i].challenge, lr->boards[i].per.id, score && *score ? score : "0");
        if (rank > 0)
            evbuffer_add_printf(b, "%" PRId64 "}", rank);
        else
            evbuffer_add(b, "null}", 5);
    }
    evbuffer_add(b, "]}\n", 3);
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
    char keys[1 + 2 * RULES_MAX_CHALLENGES][KEYS_MAX];
    const char *argv[2 + 2 * RULES_MAX_CHALLENGES];
    size_t lens[2 + 2 * RULES_MAX_CHALLENGES];
    keys_org(keys[0], q->who.org, "leaders");
    argv[0] = keys[0];
    for (size_t i = 0; i < lr->n; i++) {
        keys_board(keys[1 + i], q->who.org, lr->boards[i].challenge, lr->boards[i].per.id);
        argv[1 + i] = keys[1 + i];
    }
    argv[1 + lr->n] = q->param[0];
    for (size_t i = 0; i < lr->n + 2; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(q->a->st, STORE_SCRIPT_LEADER, (int)lr->n + 1, (int)lr->n + 2, argv, lens,
                     on_leader, lr) < 0) {
        free(lr);
        http_unavailable(q);
    }
}
