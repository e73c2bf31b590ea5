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
#include "results.h"
#include "jsonw.h"
#include "keys.h"
#include "leaders.h"
#include "store.h"
#include "util.h"

void http_challenges_list(http_req *q)
{
    const rules *r = http_read_rules(q);
    if (r == NULL) {
        http_unavailable(q);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    boards_challenges_json(b, r, util_now_ms() / 1000);
    evbuffer_add(b, "\n", 1);
    http_reply(q, 200, b);
}

/* Finds the challenge named by the first path parameter, or answers 404. */
static const rules_challenge *find_challenge(http_req *q)
{
    const rules *r = http_read_rules(q);
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
    char why[256];
    if (boards_resolve_period(ch, id, util_now_ms() / 1000, per, prev, has_prev, why, sizeof(why)))
        return true;
    errlist errs = {0};
    errlist_add(&errs, "/period", "%s", why);
    http_problem(q, 400, "invalid-query", "The period is not valid.", &errs);
    errlist_clear(&errs);
    return false;
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

/* A leader page read (leaders.c) is done. */
static void on_leader(void *arg, int status, const char *json, size_t len)
{
    http_req *q = arg;
    if (status == 503) {
        http_unavailable(q);
        return;
    }
    if (status == 404) {
        http_problem(q, 404, "not-found", "No leader has this id.", NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, json, len);
    evbuffer_add(b, "\n", 1);
    http_reply(q, 200, b);
}

void http_leader_get(http_req *q)
{
    leaders_read(q->a, q->who.org, http_read_rules(q), q->param[0], q->who.role == ROLE_ADMIN,
                 on_leader, q);
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
