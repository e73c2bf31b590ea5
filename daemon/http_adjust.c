/*
 * http_adjust.c - admin score adjustments: POST /v1/admin/adjustments adds
 * or takes points by hand, with a reason; GET /v1/admin/adjustments reads
 * the audit log.
 *
 * An adjustment names a leader, a challenge of the rules in force, a
 * non-zero whole number of points and a reason, and optionally a period:
 * the current one by default; past periods are allowed (correcting them is
 * what adjustments are for), future ones are not. The handler checks all it
 * can without Redis and lists every problem at once; adjust.lua checks the
 * rest (the leader exists and is in a team of the challenge, the scores stay
 * exact, no rescore of the board runs) before its first write, so a refused
 * request changes nothing. The adjustment's time is taken here, once: the
 * audit entry, the log entry and the boards' tie-breaks all use it.
 *
 * The listing reads the audit stream newest first, ADJUST_SCAN entries per
 * XREVRANGE with one command in flight, filters by leader and challenge
 * here, and stops at `limit` adjustments or at the start of the stream.
 *
 * body_object and only_members are those of http_admin.c (static there).
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
#include "jsonw.h"
#include "keys.h"
#include "store.h"
#include "util.h"

#define ADJUST_POINTS_MAX   100000
#define ADJUST_REASON_MAX   500 /* characters (Unicode code points) */
#define ADJUST_LIST_DEFAULT 50
#define ADJUST_LIST_MAX     500
#define ADJUST_SCAN         500 /* audit entries per XREVRANGE */
#define ADJUST_FIXED_KEYS   6   /* adjust.lua's KEYS before the boards */

static const period all_period = {PERIOD_ALL_START, PERIOD_ALL_END, "all"};

/* The required id member `name` ("leader", "challenge") of obj, or NULL. */
static const char *id_member(json_t *obj, const char *name, errlist *errs)
{
    const char *s = http_string_member(obj, name, true, 0, errs);
    if (s && !util_valid_id(s)) {
        char ptr[32];
        snprintf(ptr, sizeof(ptr), "/%s", name);
        errlist_add(errs, ptr, "is not a valid %s id", name);
        return NULL;
    }
    return s;
}

/* The points member into *out; false (with a problem in errs) if bad. */
static bool points_member(json_t *obj, int64_t *out, errlist *errs)
{
    json_t *v = json_object_get(obj, "points");
    if (v == NULL || json_is_null(v)) {
        errlist_add(errs, "/points", "is required");
        return false;
    }
    json_int_t p = json_is_integer(v) ? json_integer_value(v) : 0;
    if (p == 0 || p < -ADJUST_POINTS_MAX || p > ADJUST_POINTS_MAX) {
        errlist_add(errs, "/points", "must be a whole number from %d to %d other than 0",
                    -ADJUST_POINTS_MAX, ADJUST_POINTS_MAX);
        return false;
    }
    *out = p;
    return true;
}

/* The reason member: 1 to ADJUST_REASON_MAX characters, not all blank. */
static const char *reason_member(json_t *obj, errlist *errs)
{
    const char *s = http_string_member(obj, "reason", true, 0, errs);
    if (s == NULL)
        return NULL;
    size_t chars = 0;
    bool blank = true;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        chars += (*c & 0xC0) != 0x80; /* jansson holds valid UTF-8: count lead bytes */
        blank = blank && (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n');
    }
    if (chars == 0 || chars > ADJUST_REASON_MAX) {
        errlist_add(errs, "/reason", "must be 1 to %d characters", ADJUST_REASON_MAX);
        return NULL;
    }
    if (blank) {
        errlist_add(errs, "/reason", "must say why; it holds only spaces");
        return NULL;
    }
    return s;
}

/* Resolves the adjustment's period `id` ("current" when NULL) of challenge
 * ch at `now` into per; false (with a problem in errs) when it names no
 * period of ch or one that has not begun. */
static bool adjust_period(const rules_challenge *ch, const char *id, int64_t now, period *per,
                          errlist *errs)
{
    if (id == NULL)
        id = "current";
    if (ch->period.kind == PERIOD_ALL || strcmp(id, "all") == 0) {
        if (strcmp(id, "all") != 0 && strcmp(id, "current") != 0) {
            errlist_add(errs, "/period",
                        "challenge %s has only an all-time board: use all or current", ch->id);
            return false;
        }
        *per = all_period;
        return true;
    }
    if (!period_resolve(&ch->period, id, now, per)) {
        if (strcmp(id, "current") == 0)
            errlist_add(errs, "/period",
                        "challenge %s has no current period (its span is not running): name "
                        "the period, or use all",
                        ch->id);
        else
            errlist_add(errs, "/period",
                        "'%s' is not a period of challenge %s: use current, previous, all or a "
                        "period id such as those in GET /v1/challenges",
                        id, ch->id);
        return false;
    }
    if (per->start > now) {
        errlist_add(errs, "/period",
                    "'%s' has not begun: adjustments go to the current period or past ones", id);
        return false;
    }
    return true;
}

/* True if leader l may take part in ch by its leader list (anybody when it has none). */
static bool on_leader_list(const rules_challenge *ch, const char *l)
{
    for (size_t i = 0; i < ch->n_leaders; i++)
        if (strcmp(ch->leaders[i], l) == 0)
            return true;
    return ch->n_leaders == 0;
}

/* An adjustment on its way through adjust.lua; owns reason and json. */
struct adjust {
    http_req *q;
    char leader[EVENT_NAME_MAX + 1];
    char challenge[EVENT_NAME_MAX + 1];
    char period[PERIOD_ID_MAX];
    char at[32];
    int64_t points;
    char *reason;
};

/* Frees an adjustment; NULL is allowed. */
static void adjust_free(struct adjust *a)
{
    if (a == NULL)
        return;
    free(a->reason);
    free(a);
}

/* Answers 422 with one problem at `pointer`. */
static void refuse(http_req *q, const char *pointer, const char *message)
{
    errlist errs = {0};
    errlist_add(&errs, pointer, "%s", message);
    http_problem(q, 422, "invalid-input", "The input is not valid; nothing was changed.", &errs);
    errlist_clear(&errs);
}

/* adjust.lua reply: {"E", what}, or {"ok", score, rank, audit id, (board,
 * version)...}. */
static void on_adjusted(void *arg, const store_reply *r)
{
    struct adjust *a = arg;
    http_req *q = a->q;
    const char *kind = store_reply_str(store_reply_at(r, 0), NULL);
    const char *what = store_reply_str(store_reply_at(r, 1), NULL);
    if (r == NULL || store_reply_is_error(r) || kind == NULL) {
        http_unavailable(q);
    } else if (strcmp(kind, "ok") != 0 && what && strcmp(what, "leader") == 0) {
        refuse(q, "/leader",
               "no leader has this id: create it first with PUT /v1/admin/leaders/{id}");
    } else if (strcmp(kind, "ok") != 0 && what && strcmp(what, "team") == 0) {
        refuse(q, "/leader", "is not in a team that takes part in this challenge");
    } else if (strcmp(kind, "ok") != 0 && what && strcmp(what, "range") == 0) {
        refuse(q, "/points", "would take a score of the leader beyond 2097151 points either way");
    } else if (strcmp(kind, "ok") != 0 && what && strcmp(what, "rescore") == 0) {
        http_problem(q, 409, "rescore-running",
                     "A rescore of this board is running and would undo the adjustment; "
                     "nothing was changed. Retry when it has finished.",
                     NULL);
    } else if (strcmp(kind, "ok") != 0) {
        http_unavailable(q);
    } else {
        for (size_t i = 4; i + 1 < store_reply_len(r); i += 2)
            boards_note_version(q->a->bc, q->who.org, store_reply_str(store_reply_at(r, i), NULL),
                                store_reply_int(store_reply_at(r, i + 1)));
        const char *id = store_reply_str(store_reply_at(r, 3), NULL);
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, "{\"id\":", 6);
        jsonw_str(b, id ? id : "");
        evbuffer_add_printf(b, ",\"at\":\"%s\",\"by\":", a->at);
        jsonw_str(b, q->who.id);
        evbuffer_add_printf(b,
                            ",\"leader\":\"%s\",\"challenge\":\"%s\",\"period\":\"%s\","
                            "\"points\":%" PRId64 ",\"reason\":",
                            a->leader, a->challenge, a->period, a->points);
        jsonw_str(b, a->reason);
        evbuffer_add_printf(b, ",\"score\":%" PRId64 ",\"rank\":%" PRId64 "}\n",
                            store_reply_int(store_reply_at(r, 1)),
                            store_reply_int(store_reply_at(r, 2)));
        http_reply(q, 201, b);
    }
    adjust_free(a);
}

/* Adds board `per` of challenge ch to adjust.lua's KEYS (the board, its
 * team board and team counts) and ARGV (its name, and the second the
 * leader reaches the new score: `now` from the period's start, clamped). */
static void add_board(const char *org, const char *ch, const period *per, int64_t now,
                      char (*keys)[KEYS_MAX], size_t *nk, char (*args)[KEYS_MAX], size_t *na)
{
    int64_t reached = now - per->start;
    if (reached < 0)
        reached = 0;
    if (reached > INT64_C(4294967295))
        reached = INT64_C(4294967295);
    keys_board(keys[(*nk)++], org, ch, per->id);
    keys_team_board(keys[(*nk)++], org, "tboard", ch, per->id);
    keys_team_board(keys[(*nk)++], org, "tcount", ch, per->id);
    keys_team_board(keys[(*nk)++], org, "badj", ch, per->id);
    keys_board_name(args[(*na)++], ch, per->id);
    util_i64toa(reached, args[(*na)++]);
}

void http_adjust_post(http_req *q)
{
    static const char *const allowed[] = {"leader", "challenge", "points",
                                          "reason", "period",    NULL};
    const rules *r = http_rules(q);
    if (r == NULL) {
        evhttp_add_header(evhttp_request_get_output_headers(q->r), "Retry-After", "5");
        http_problem(q, 503, "no-rules",
                     "No rules are loaded yet, so no challenge can be adjusted; nothing was "
                     "changed.",
                     NULL);
        return;
    }
    json_t *j = http_body_object(q);
    if (j == NULL)
        return;
    errlist errs = {0};
    http_only_members(j, allowed, &errs);
    const char *leader = id_member(j, "leader", &errs);
    const char *chid = id_member(j, "challenge", &errs);
    int64_t points = 0;
    bool have_points = points_member(j, &points, &errs);
    const char *reason = reason_member(j, &errs);
    const char *perid = http_string_member(j, "period", false, 0, &errs);
    const rules_challenge *ch = NULL;
    if (chid) {
        int c = rules_challenge_index(r, chid);
        if (c < 0)
            errlist_add(&errs, "/challenge",
                        "no challenge has this id in the rules in force; GET /v1/challenges "
                        "lists them");
        else
            ch = &r->challenges[c];
    }
    int64_t now_ms = util_now_ms(), now = now_ms / 1000;
    period per;
    bool have_period = ch && adjust_period(ch, perid, now, &per, &errs);
    if (ch && leader && !on_leader_list(ch, leader))
        errlist_add(&errs, "/leader", "does not take part in challenge %s (see its leaders)",
                    ch->id);
    if (errs.n || !have_points || !have_period || !leader || !reason) {
        http_problem(q, 422, "invalid-input", "The input is not valid; nothing was changed.",
                     &errs);
        errlist_clear(&errs);
        json_decref(j);
        return;
    }
    struct adjust *a = calloc(1, sizeof(*a));
    if (a == NULL || (a->reason = strdup(reason)) == NULL)
        abort();
    a->q = q;
    a->points = points;
    snprintf(a->leader, sizeof(a->leader), "%s", leader);
    snprintf(a->challenge, sizeof(a->challenge), "%s", ch->id);
    snprintf(a->period, sizeof(a->period), "%s", per.id);
    util_format_rfc3339(now_ms, a->at);
    json_decref(j);

    /* The adjustment as the log and the leader's list keep it. */
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "at", a->at, "by", q->who.id, "leader",
                            a->leader, "challenge", a->challenge, "period", a->period, "points",
                            (json_int_t)a->points, "reason", a->reason);
    char *json = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (json == NULL)
        abort();

    /* KEYS (see adjust.lua), then ARGV. */
    enum { MAXK = ADJUST_FIXED_KEYS + 4 * 2, MAXA = 9 + 2 * 2 };
    char keys[MAXK][KEYS_MAX], args[4][KEYS_MAX], points_s[24], filter[RULES_MAX_TEAMS * 66 + 2];
    size_t nk = 0, na = 0;
    const char *org = q->who.org;
    char board_name[EVENT_NAME_MAX + PERIOD_ID_MAX + 2]; /* "challenge:period" */
    keys_org(keys[nk++], org, "leaders");
    keys_org(keys[nk++], org, "bver");
    keys_org(keys[nk++], org, "audit");
    keys_org(keys[nk++], org, "events");
    keys_leader(keys[nk++], org, "adj", a->leader);
    snprintf(board_name, sizeof(board_name), "%s:%s", ch->id, per.id);
    keys_lock(keys[nk++], org, "rescore", board_name);
    add_board(org, ch->id, &per, now, keys, &nk, args, &na);
    if (per.end < PERIOD_ALL_END) /* a period board: the all-time board too */
        add_board(org, ch->id, &all_period, now, keys, &nk, args, &na);
    util_i64toa(a->points, points_s);
    size_t fl = 0;
    filter[0] = '\0';
    for (size_t i = 0; i < ch->n_teams; i++)
        fl +=
            (size_t)snprintf(filter + fl, sizeof(filter) - fl, "%s%s,", i ? "" : ",", ch->teams[i]);
    const char *argv[MAXK + MAXA];
    size_t lens[MAXK + MAXA], n = 0;
    for (size_t i = 0; i < nk; i++)
        argv[n++] = keys[i];
    const char *fixed[] = {a->leader, points_s,  a->at, q->who.id, a->challenge,
                           a->period, a->reason, json,  filter};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[n++] = fixed[i];
    for (size_t i = 0; i < na; i++)
        argv[n++] = args[i];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    int rc =
        store_script(q->a->st, STORE_SCRIPT_ADJUST, (int)nk, (int)n, argv, lens, on_adjusted, a);
    free(json);
    if (rc < 0) {
        adjust_free(a);
        http_unavailable(q);
    }
}

/* A listing in flight: the filters, what was found, where to read on. */
struct listing {
    http_req *q;
    char leader[EVENT_NAME_MAX + 1];    /* "" = any */
    char challenge[EVENT_NAME_MAX + 1]; /* "" = any */
    int64_t limit, found;
    char key[KEYS_MAX];
    char end[48]; /* XREVRANGE's end: "+", then "(" and the last id read */
    struct evbuffer *b;
};

static void read_audit(struct listing *l);

/* The value of field `name` in a stream entry's field list, or NULL. */
static const char *field(const store_reply *f, const char *name)
{
    for (size_t i = 0; i + 1 < store_reply_len(f); i += 2) {
        const char *k = store_reply_str(store_reply_at(f, i), NULL);
        if (k && strcmp(k, name) == 0)
            return store_reply_str(store_reply_at(f, i + 1), NULL);
    }
    return NULL;
}

/* Appends a whole number held as text, or null. */
static void number_or_null(struct evbuffer *b, const char *s)
{
    int64_t v;
    if (s && util_parse_i64(s, INT64_MIN, INT64_MAX, &v))
        evbuffer_add_printf(b, "%" PRId64, v);
    else
        evbuffer_add(b, "null", 4);
}

/* XREVRANGE reply: keep the matching entries, then read on or answer. */
static void on_audit(void *arg, const store_reply *r)
{
    struct listing *l = arg;
    http_req *q = l->q;
    if (r == NULL || store_reply_is_error(r)) {
        evbuffer_free(l->b);
        free(l);
        http_unavailable(q);
        return;
    }
    size_t n = store_reply_len(r);
    for (size_t i = 0; i < n && l->found < l->limit; i++) {
        const store_reply *e = store_reply_at(r, i);
        const char *id = store_reply_str(store_reply_at(e, 0), NULL);
        const store_reply *f = store_reply_at(e, 1);
        if (id == NULL)
            continue;
        snprintf(l->end, sizeof(l->end), "(%s", id);
        const char *leader = field(f, "leader"), *ch = field(f, "challenge");
        if ((l->leader[0] && (leader == NULL || strcmp(leader, l->leader) != 0)) ||
            (l->challenge[0] && (ch == NULL || strcmp(ch, l->challenge) != 0)))
            continue;
        static const char *const texts[] = {"at", "by", "leader", "challenge", "period", "reason"};
        evbuffer_add_printf(l->b, "%s{\"id\":", l->found++ ? "," : "");
        jsonw_str(l->b, id);
        for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
            evbuffer_add_printf(l->b, ",\"%s\":", texts[k]);
            jsonw_str_or_null(l->b, field(f, texts[k]));
        }
        evbuffer_add(l->b, ",\"points\":", 10);
        number_or_null(l->b, field(f, "points"));
        evbuffer_add(l->b, ",\"score_after\":", 15);
        number_or_null(l->b, field(f, "score_after"));
        evbuffer_add(l->b, "}", 1);
    }
    if (l->found < l->limit && n == ADJUST_SCAN) {
        read_audit(l);
        return;
    }
    evbuffer_add(l->b, "]}\n", 3);
    struct evbuffer *b = l->b;
    free(l);
    http_reply(q, 200, b);
}

/* Reads the next ADJUST_SCAN entries of the audit stream, newest first. */
static void read_audit(struct listing *l)
{
    char count[16];
    snprintf(count, sizeof(count), "%d", ADJUST_SCAN);
    const char *argv[] = {"XREVRANGE", l->key, l->end, "-", "COUNT", count};
    size_t lens[6];
    for (size_t i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    if (store_command(l->q->a->st, on_audit, l, 6, argv, lens) < 0) {
        http_req *q = l->q;
        evbuffer_free(l->b);
        free(l);
        http_unavailable(q);
    }
}

void http_adjust_list(http_req *q)
{
    errlist errs = {0};
    char leader[EVENT_NAME_MAX + 1] = "", ch[EVENT_NAME_MAX + 1] = "", limit_s[32];
    int64_t limit = ADJUST_LIST_DEFAULT;
    if (http_query(q, "leader", leader, sizeof(leader)) && !util_valid_id(leader))
        errlist_add(&errs, "/leader", "is not a valid leader id");
    if (http_query(q, "challenge", ch, sizeof(ch)) && !util_valid_id(ch))
        errlist_add(&errs, "/challenge", "is not a valid challenge id");
    if (http_query(q, "limit", limit_s, sizeof(limit_s)) &&
        !util_parse_i64(limit_s, 1, ADJUST_LIST_MAX, &limit))
        errlist_add(&errs, "/limit", "must be a whole number from 1 to %d", ADJUST_LIST_MAX);
    if (errs.n) {
        http_problem(q, 400, "invalid-query", "A query parameter is not valid.", &errs);
        errlist_clear(&errs);
        return;
    }
    struct listing *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->b = evbuffer_new()) == NULL)
        abort();
    l->q = q;
    l->limit = limit;
    snprintf(l->leader, sizeof(l->leader), "%s", leader);
    snprintf(l->challenge, sizeof(l->challenge), "%s", ch);
    keys_org(l->key, q->who.org, "audit");
    snprintf(l->end, sizeof(l->end), "+");
    evbuffer_add(l->b, "{\"adjustments\":[", 16);
    read_audit(l);
}
