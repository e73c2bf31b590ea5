/*
 * rpc_methods.c - the msgpack-RPC methods that mirror the HTTP API.
 *
 * Each method checks its params the way the HTTP handler checks the query
 * or body (same bounds, same messages, pointers named after the member),
 * calls the same core (event.c and ingest_submit for events, boards.c for
 * pages) and answers with the JSON body HTTP would send, packed as
 * msgpack, so both front ends give the same results by construction.
 * Error codes and statuses are HTTP's problem slugs and statuses.
 * `subscribe` checks its params as GET .../stream does and hands them to
 * rpc_server.c, which holds the connection's subscriptions.
 */
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "ingest.h"
#include "leaders.h"
#include "orgadmin.h"
#include "orgs.h"
#include "pcodec.h"
#include "results.h"
#include "rpc_json.h"
#include "rpc_server.h"
#include "sse.h"
#include "util.h"

/* Answers the standard "Redis cannot be reached" error. */
static void unavailable(rpc_call *call)
{
    rpc_reply_error(call, 503, "unavailable",
                    "The store (Redis) cannot be reached or failed; retry in a moment.", NULL);
}

/* Adds an error for each member of params not in `allowed` (NULL-ended). */
static void only_members(const msgpack_object *p, const char *const *allowed, errlist *errs)
{
    if (p->type != MSGPACK_OBJECT_MAP)
        return;
    for (uint32_t i = 0; i < p->via.map.size; i++) {
        const msgpack_object *k = &p->via.map.ptr[i].key;
        bool ok = false;
        for (size_t j = 0; allowed[j] && !ok; j++)
            ok = pcodec_str_eq(k, allowed[j]);
        if (ok)
            continue;
        if (k->type == MSGPACK_OBJECT_STR)
            errlist_add(errs, "", "unknown member '%.*s'",
                        (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr);
        else
            errlist_add(errs, "", "member names must be strings");
    }
}

/* Copies string member `name` into out (cap bytes); false (with an error)
 * when it is missing but required, not a string or too long. */
static bool get_str(const msgpack_object *p, const char *name, bool required, char *out, size_t cap,
                    errlist *errs)
{
    char ptr[40];
    snprintf(ptr, sizeof(ptr), "/%s", name);
    const msgpack_object *v = pcodec_map_get(p, name);
    if (v == NULL) {
        if (required)
            errlist_add(errs, ptr, "is required");
        return !required;
    }
    if (v->type != MSGPACK_OBJECT_STR || v->via.str.size >= cap ||
        memchr(v->via.str.ptr, 0, v->via.str.size)) {
        errlist_add(errs, ptr, "must be a string of at most %zu bytes", cap - 1);
        return false;
    }
    memcpy(out, v->via.str.ptr, v->via.str.size);
    out[v->via.str.size] = '\0';
    return true;
}

/* Reads integer member `name` (an integer, or its decimal string, as a
 * cursor is in JSON) into *out when present; false with an error if bad. */
static bool get_int(const msgpack_object *p, const char *name, int64_t min, int64_t max,
                    int64_t *out, errlist *errs)
{
    const msgpack_object *v = pcodec_map_get(p, name);
    if (v == NULL)
        return true;
    int64_t x = 0;
    bool ok = false;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= (uint64_t)INT64_MAX) {
        x = (int64_t)v->via.u64;
        ok = true;
    } else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        x = v->via.i64;
        ok = true;
    } else if (v->type == MSGPACK_OBJECT_STR && v->via.str.size < 24) {
        char buf[24];
        memcpy(buf, v->via.str.ptr, v->via.str.size);
        buf[v->via.str.size] = '\0';
        ok = util_parse_i64(buf, min, max, &x);
    }
    if (!ok || x < min || x > max) {
        char ptr[40];
        snprintf(ptr, sizeof(ptr), "/%s", name);
        errlist_add(errs, ptr, "must be a whole number from %" PRId64 " to %" PRId64, min, max);
        return false;
    }
    *out = x;
    return true;
}

/* Answers invalid-params with errs and clears them. */
static void invalid(rpc_call *call, errlist *errs)
{
    rpc_reply_error(call, 400, "invalid-params", "The params are not valid.", errs);
    errlist_clear(errs);
}

/* ------------------------------------------------------------ post_events */

/* Ingest's answer: the HTTP body of POST /v1/events, or its problem. */
static void on_events_done(void *arg, ingest_status st, const event_batch *b,
                           const ingest_result *res, const errlist *errs)
{
    rpc_call *call = arg;
    if (st == INGEST_UNAVAILABLE) {
        unavailable(call);
        return;
    }
    if (st == INGEST_UNKNOWN_LEADER) {
        rpc_reply_error(call, 422, "invalid-event",
                        "Some events name leaders that do not exist; nothing was stored.", errs);
        return;
    }
    if (st == INGEST_CLOSED) {
        rpc_reply_error(call, 422, "invalid-event",
                        "Some events fall in periods already closed and are not retries of "
                        "events logged before; nothing was stored.",
                        errs);
        return;
    }
    const rules *r = org_rules(call->org);
    struct evbuffer *out = evbuffer_new();
    if (b->is_batch) {
        evbuffer_add(out, "{\"results\":[", 12);
        for (size_t i = 0; i < b->n; i++) {
            if (i)
                evbuffer_add(out, ",", 1);
            results_json(out, r, &res[i]);
        }
        evbuffer_add(out, "]}", 2);
    } else {
        results_json(out, r, &res[0]);
    }
    size_t len = evbuffer_get_length(out);
    rpc_reply_json(call, (const char *)evbuffer_pullup(out, -1), len);
    evbuffer_free(out);
}

/* post_events: one event or {"events": [...]}, plus "minimal". */
static void m_post_events(rpc_call *call, const msgpack_object *params)
{
    errlist errs = {0};
    int64_t now = util_now_ms();
    event_batch b = {0};
    if (org_rules(call->org) == NULL) {
        rpc_reply_error(call, 503, "no-rules",
                        "No rules are loaded yet, so no event can be scored; nothing was stored.",
                        NULL);
        return;
    }
    if (call->who.role == ROLE_READER) {
        rpc_reply_error(call, 403, "forbidden",
                        "A reader token cannot do this; it needs a leader, ingest or admin token.",
                        NULL);
        return;
    }
    json_t *root =
        params->type == MSGPACK_OBJECT_NIL ? json_object() : rpc_json_from(params, "", &errs);
    if (root == NULL) {
        rpc_reply_error(call, 400, "invalid-body",
                        "The params could not be read as events; nothing was stored.", &errs);
        errlist_clear(&errs);
        return;
    }
    bool minimal = false;
    json_t *mv = json_object_get(root, "minimal");
    if (mv) {
        if (!json_is_boolean(mv)) {
            json_decref(root);
            errlist_add(&errs, "/minimal", "must be true or false");
            invalid(call, &errs);
            return;
        }
        minimal = json_is_true(mv);
        json_object_del(root, "minimal");
    }
    const char *own = call->who.role == ROLE_LEADER ? call->who.leader : NULL;
    int rc = event_parse_value_as(root, now, own, &b, &errs);
    json_decref(root);
    if (rc < 0) {
        rpc_reply_error(call, 422, "invalid-event",
                        "Some events are not valid; nothing was stored.", &errs);
        errlist_clear(&errs);
        return;
    }
    bool ok = true;
    for (size_t i = 0; own && i < b.n; i++) {
        if (strcmp(b.v[i].leader, own) == 0)
            continue;
        char ptr[40] = "/leader";
        if (b.is_batch)
            snprintf(ptr, sizeof(ptr), "/events/%zu/leader", i);
        errlist_add(&errs, ptr, "a leader token may only post for its own leader '%s'", own);
        ok = false;
    }
    if (!ok) {
        rpc_reply_error(call, 403, "forbidden", "The request was refused; nothing was stored.",
                        &errs);
        errlist_clear(&errs);
        event_batch_free(&b);
        return;
    }
    int64_t retry;
    char why[240];
    if (!org_take_events(call->org, b.n, now, &retry, why, sizeof(why))) {
        rpc_reply_error(call, 429, "rate-limited", why, NULL);
        event_batch_free(&b);
        return;
    }
    rc = ingest_submit(call->a->in, call->who.org, org_rules(call->org), &b, now, !minimal, &errs,
                       on_events_done, call);
    if (rc == -2) {
        event_batch_free(&b);
        unavailable(call);
    } else if (rc == -1) {
        event_batch_free(&b);
        rpc_reply_error(call, 422, "invalid-event",
                        "Some events are not valid; nothing was stored.", &errs);
    }
    errlist_clear(&errs);
}

/* ------------------------------------------------------------ reads */

/* challenges: GET /v1/challenges. */
static void m_challenges(rpc_call *call, const msgpack_object *params)
{
    const rules *r = org_rules_or_empty(call->org);
    if (r == NULL) {
        unavailable(call);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    boards_challenges_json(b, r, util_now_ms() / 1000);
    size_t len = evbuffer_get_length(b);
    rpc_reply_json(call, (const char *)evbuffer_pullup(b, -1), len);
    evbuffer_free(b);
}

/* A board page from the read cache. */
static void on_page(void *arg, const boards_page *page)
{
    rpc_call *call = arg;
    if (page == NULL) {
        unavailable(call);
        return;
    }
    if (!page->found) {
        rpc_reply_error(call, 404, "not-found", "This leader has no score on this board yet.",
                        NULL);
        return;
    }
    rpc_reply_json(call, page->body, page->len);
}

/* Finds the challenge and period of a board read, as GET .../leaderboard
 * does; answers the call and returns false when they are not valid. */
static bool board_of(rpc_call *call, const msgpack_object *params, const rules_challenge **chp,
                     period *per, period *prev, bool *has_prev)
{
    const rules *r = org_rules_or_empty(call->org);
    if (r == NULL) {
        unavailable(call);
        return false;
    }
    errlist errs = {0};
    char chid[EVENT_NAME_MAX + 1], id[32] = "current";
    if (!get_str(params, "challenge", true, chid, sizeof(chid), &errs) ||
        !get_str(params, "period", false, id, sizeof(id), &errs)) {
        invalid(call, &errs);
        return false;
    }
    int c = rules_challenge_index(r, chid);
    if (c < 0) {
        rpc_reply_error(call, 404, "not-found",
                        "No challenge has this id; the method challenges lists them.", NULL);
        return false;
    }
    const rules_challenge *ch = *chp = &r->challenges[c];
    char why[256];
    if (boards_resolve_period(ch, id, util_now_ms() / 1000, per, prev, has_prev, why, sizeof(why)))
        return true;
    errlist_add(&errs, "/period", "%s", why);
    invalid(call, &errs);
    return false;
}

/* leaderboard: GET /v1/challenges/{challenge}/leaderboard. */
static void m_leaderboard(rpc_call *call, const msgpack_object *params)
{
    static const char *const allowed[] = {"challenge", "period", "limit", "cursor", NULL};
    errlist errs = {0};
    int64_t limit = 10, offset = 0;
    only_members(params, allowed, &errs);
    if (errs.n || !get_int(params, "limit", 1, 100, &limit, &errs) ||
        !get_int(params, "cursor", 0, 100000000, &offset, &errs)) {
        invalid(call, &errs);
        return;
    }
    const rules_challenge *ch;
    period per, prev;
    bool has_prev;
    if (!board_of(call, params, &ch, &per, &prev, &has_prev))
        return;
    boards_get(call->a->bc, call->who.org, ch, &per, has_prev ? &prev : NULL, offset, limit, NULL,
               on_page, call);
}

/* around: GET /v1/challenges/{challenge}/leaderboard/around/{leader}. */
static void m_around(rpc_call *call, const msgpack_object *params)
{
    static const char *const allowed[] = {"challenge", "period", "leader", "n", NULL};
    errlist errs = {0};
    int64_t n = 5;
    char leader[EVENT_NAME_MAX + 1];
    only_members(params, allowed, &errs);
    if (errs.n || !get_int(params, "n", 0, 50, &n, &errs) ||
        !get_str(params, "leader", true, leader, sizeof(leader), &errs)) {
        invalid(call, &errs);
        return;
    }
    const rules_challenge *ch;
    period per, prev;
    bool has_prev;
    if (!board_of(call, params, &ch, &per, &prev, &has_prev))
        return;
    if (!util_valid_id(leader)) {
        rpc_reply_error(call, 404, "not-found", "No leader has this id.", NULL);
        return;
    }
    boards_get(call->a->bc, call->who.org, ch, &per, has_prev ? &prev : NULL, 0, n, leader, on_page,
               call);
}

/* A leader page is read. */
static void on_leader(void *arg, int status, const char *json, size_t len)
{
    rpc_call *call = arg;
    if (status == 503)
        unavailable(call);
    else if (status == 404)
        rpc_reply_error(call, 404, "not-found", "No leader has this id.", NULL);
    else
        rpc_reply_json(call, json, len);
}

/* leader: GET /v1/leaders/{leader}. */
static void m_leader(rpc_call *call, const msgpack_object *params)
{
    static const char *const allowed[] = {"leader", NULL};
    errlist errs = {0};
    char leader[EVENT_NAME_MAX + 1];
    only_members(params, allowed, &errs);
    if (errs.n || !get_str(params, "leader", true, leader, sizeof(leader), &errs)) {
        invalid(call, &errs);
        return;
    }
    leaders_read(call->a, call->who.org, org_rules_or_empty(call->org), leader,
                 call->who.role == ROLE_ADMIN, on_leader, call);
}

/* ------------------------------------------------------------ subscriptions */

/* subscribe: the events of GET /v1/challenges/{challenge}/stream as
 * notifications; reader role and above, as the stream route. */
static void m_subscribe(rpc_call *call, const msgpack_object *params)
{
    static const char *const allowed[] = {"challenge", "period", "limit", "last_event_id", NULL};
    errlist errs = {0};
    sse_params p = {.limit = 10};
    char id[32] = "current", mark[PERIOD_ID_MAX];
    if (call->who.role < ROLE_READER) {
        rpc_reply_error(call, 403, "forbidden",
                        "A leader token cannot do this; it needs a reader, ingest or admin token.",
                        NULL);
        return;
    }
    only_members(params, allowed, &errs);
    if (errs.n || !get_int(params, "limit", 1, 100, &p.limit, &errs) ||
        !get_str(params, "challenge", true, p.challenge, sizeof(p.challenge), &errs) ||
        !get_str(params, "period", false, id, sizeof(id), &errs) ||
        !get_str(params, "last_event_id", false, p.last_id, sizeof(p.last_id), &errs)) {
        invalid(call, &errs);
        return;
    }
    if (p.last_id[0] && !sse_id_mark(p.last_id, mark, sizeof(mark))) {
        errlist_add(&errs, "/last_event_id", "is not the id of an event of a subscription");
        invalid(call, &errs);
        return;
    }
    const rules *r = org_rules_or_empty(call->org);
    if (r == NULL || call->a->stopping) {
        unavailable(call);
        return;
    }
    int c = rules_challenge_index(r, p.challenge);
    if (c < 0) {
        rpc_reply_error(call, 404, "not-found",
                        "No challenge has this id; the method challenges lists them.", NULL);
        return;
    }
    const rules_challenge *ch = &r->challenges[c];
    period per;
    if (strcmp(id, "current") == 0) {
        p.period[0] = '\0'; /* followed into each next period */
    } else if (strcmp(id, "all") == 0 || ch->period.kind == PERIOD_ALL) {
        if (strcmp(id, "all") != 0) {
            errlist_add(&errs, "/period",
                        "this challenge has only an all-time board: use all or current");
            invalid(call, &errs);
            return;
        }
        snprintf(p.period, sizeof(p.period), "all");
    } else if (period_resolve(&ch->period, id, util_now_ms() / 1000, &per)) {
        snprintf(p.period, sizeof(p.period), "%s", per.id);
    } else {
        errlist_add(&errs, "/period",
                    "'%s' is not a period of this challenge: use current, previous, all or a "
                    "period id such as those the method challenges lists",
                    id);
        invalid(call, &errs);
        return;
    }
    snprintf(p.org, sizeof(p.org), "%s", call->who.org);
    rpc_subscribe(call, &p);
}

/* unsubscribe: {"subscription": id} of this connection. */
static void m_unsubscribe(rpc_call *call, const msgpack_object *params)
{
    static const char *const allowed[] = {"subscription", NULL};
    errlist errs = {0};
    int64_t id = 0;
    only_members(params, allowed, &errs);
    if (errs.n == 0 && pcodec_map_get(params, "subscription") == NULL)
        errlist_add(&errs, "/subscription", "is required");
    if (errs.n || !get_int(params, "subscription", 1, UINT32_MAX, &id, &errs)) {
        invalid(call, &errs);
        return;
    }
    rpc_unsubscribe(call, id);
}

/* ------------------------------------------------------------ orgs (operator) */

/* An org operation's answer, as msgpack-RPC. */
static void on_org_result(void *arg, const orgadmin_result *res)
{
    rpc_call *call = arg;
    if (res->status >= 400)
        rpc_reply_error(call, res->status, res->slug, res->detail, res->errs);
    else
        rpc_reply_json(call, res->json, res->len);
}

/* The params as a JSON object without `id` (copied into id, when wanted),
 * or NULL after answering invalid-params. */
static json_t *org_params(rpc_call *call, const msgpack_object *params, char *id, size_t idlen)
{
    errlist errs = {0};
    json_t *j =
        params->type == MSGPACK_OBJECT_NIL ? json_object() : rpc_json_from(params, "", &errs);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        if (errs.n == 0)
            errlist_add(&errs, "", "must be a map");
        invalid(call, &errs);
        return NULL;
    }
    if (id) {
        json_t *v = json_object_get(j, "id");
        const char *s = json_string_value(v);
        if (s == NULL || strlen(s) >= idlen) {
            json_decref(j);
            errlist_add(&errs, "/id", "is required: an org id");
            invalid(call, &errs);
            return NULL;
        }
        snprintf(id, idlen, "%s", s);
        json_object_del(j, "id");
    }
    return j;
}

/* create_org: POST /v1/orgs. */
static void m_create_org(rpc_call *call, const msgpack_object *params)
{
    json_t *j = org_params(call, params, NULL, 0);
    if (j == NULL)
        return;
    orgadmin_create(call->a, j, on_org_result, call);
    json_decref(j);
}

/* list_orgs: GET /v1/orgs. */
static void m_list_orgs(rpc_call *call, const msgpack_object *params)
{
    static const char *const allowed[] = {"cursor", "limit", NULL};
    errlist errs = {0};
    int64_t limit = 50;
    char cursor[ORG_ID_MAX + 1] = "";
    only_members(params, allowed, &errs);
    if (errs.n || !get_int(params, "limit", 1, ORGADMIN_LIST_MAX, &limit, &errs) ||
        !get_str(params, "cursor", false, cursor, sizeof(cursor), &errs)) {
        invalid(call, &errs);
        return;
    }
    orgadmin_list(call->a, cursor, limit, on_org_result, call);
}

/* The params {"id"} of get_org and delete_org into id; false after
 * answering invalid-params. */
static bool org_id_only(rpc_call *call, const msgpack_object *params, char *id, size_t idlen)
{
    static const char *const allowed[] = {"id", NULL};
    errlist errs = {0};
    only_members(params, allowed, &errs);
    if (errs.n || !get_str(params, "id", true, id, idlen, &errs)) {
        invalid(call, &errs);
        return false;
    }
    return true;
}

/* get_org: GET /v1/orgs/{id}. */
static void m_get_org(rpc_call *call, const msgpack_object *params)
{
    char id[ORG_ID_MAX + 1];
    if (org_id_only(call, params, id, sizeof(id)))
        orgadmin_get(call->a, id, on_org_result, call);
}

/* update_org: PATCH /v1/orgs/{id}, the id among the params. */
static void m_update_org(rpc_call *call, const msgpack_object *params)
{
    char id[ORG_ID_MAX + 1];
    json_t *j = org_params(call, params, id, sizeof(id));
    if (j == NULL)
        return;
    orgadmin_update(call->a, id, j, on_org_result, call);
    json_decref(j);
}

/* delete_org: DELETE /v1/orgs/{id}. */
static void m_delete_org(rpc_call *call, const msgpack_object *params)
{
    char id[ORG_ID_MAX + 1];
    if (org_id_only(call, params, id, sizeof(id)))
        orgadmin_delete(call->a, id, on_org_result, call);
}

static const struct method {
    const char *name;
    void (*fn)(rpc_call *call, const msgpack_object *params);
    bool operator_; /* the operator's methods; no other token may call them, nor it others */
} methods[] = {
    {"post_events", m_post_events, false}, {"challenges", m_challenges, false},
    {"leaderboard", m_leaderboard, false}, {"around", m_around, false},
    {"leader", m_leader, false},           {"subscribe", m_subscribe, false},
    {"unsubscribe", m_unsubscribe, false}, {"create_org", m_create_org, true},
    {"list_orgs", m_list_orgs, true},      {"get_org", m_get_org, true},
    {"update_org", m_update_org, true},    {"delete_org", m_delete_org, true},
};

bool rpc_methods_call(rpc_call *call, const char *name, size_t len, const msgpack_object *params)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        const struct method *m = &methods[i];
        if (strlen(m->name) != len || memcmp(m->name, name, len) != 0)
            continue;
        bool op = call->who.role == ROLE_OPERATOR;
        if (op != m->operator_)
            rpc_reply_error(call, 403, "forbidden",
                            op ? "The operator token manages orgs and reads no org's leaders, "
                                 "events or boards; use a token of the org."
                               : "Only the operator token manages orgs.",
                            NULL);
        else
            m->fn(call, params);
        return true;
    }
    return false;
}
