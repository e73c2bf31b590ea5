/*
 * http_admin.c - admin resources: leaders, teams and tokens.
 *
 * Profiles are stored as compact JSON in one hash per org (keys.h), so a
 * board page gets every name on it with one HMGET. Tokens are minted here
 * and shown once; Redis keeps only their SHA-256. Each handler validates
 * its whole input before the first write, so a refused request changes
 * nothing.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "erase.h"
#include "http_server.h"
#include "jsonw.h"
#include "keys.h"
#include "orgs.h"
#include "store.h"
#include "util.h"
#include "visibility.h"

#define NAME_MAX_CHARS 100
#define AVATAR_MAX     2048

/* Sends a command given as NUL-terminated words; false (and 503 sent) if Redis is down. */
static bool send_cmd(http_req *q, store_cb *cb, void *arg, int argc, ...)
{
    const char *argv[8];
    size_t lens[8];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < 8; i++) {
        argv[i] = va_arg(ap, const char *);
        lens[i] = strlen(argv[i]);
    }
    va_end(ap);
    if (store_command(q->a->st, cb, arg, argc, argv, lens) < 0) {
        http_unavailable(q);
        return false;
    }
    return true;
}

/* Answers 400 unless the first path parameter is a valid id. */
static bool check_id(http_req *q, const char *what)
{
    if (util_valid_id(q->param[0]))
        return true;
    char detail[200];
    snprintf(detail, sizeof(detail),
             "A %s id is 1 to 64 characters: lower-case letters, digits, '.', '_' and '-', "
             "starting with a letter or digit.",
             what);
    http_problem(q, 400, "invalid-id", detail, NULL);
    return false;
}

/* Answers 409 quota-exceeded: the org has `most` of `what` already. */
static void quota_exceeded(http_req *q, const char *what, int64_t most, const char *hint)
{
    char detail[240];
    snprintf(detail, sizeof(detail),
             "This organisation has %" PRId64 " %s, the most its quota allows; nothing was "
             "stored. %s, or ask the operator for more.",
             most, what, hint);
    http_problem(q, 409, "quota-exceeded", detail, NULL);
}

/* Answers 422 with errs if there are any; true if the input was fine. */
static bool input_ok(http_req *q, errlist *errs)
{
    if (errs->n == 0)
        return true;
    http_problem(q, 422, "invalid-input", "The input is not valid; nothing was changed.", errs);
    errlist_clear(errs);
    return false;
}

/* A write in flight: the profile JSON to store and where. */
struct put {
    http_req *q;
    char *json;
    char hash[KEYS_MAX];
    int hide;   /* leaders: 1 hidden, 0 shown; -1 for teams */
    int status; /* 201 when the profile is new, else 200 */
};

static void on_hset(void *arg, const store_reply *r);

/* Stores a leader's profile within the org's leaders quota (on_hset
 * answers); false (503 sent) if Redis is down. */
static bool put_leader(struct put *p)
{
    http_req *q = p->q;
    char most[24];
    util_i64toa(org_quotas_of(q->org)->leaders, most);
    const char *argv[] = {p->hash, "hput", q->param[0], p->json, most};
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(q->a->st, STORE_SCRIPT_ORGS, 1, 5, argv, lens, on_hset, p) < 0) {
        http_unavailable(q);
        return false;
    }
    return true;
}

/* Answers a PUT with the stored profile, and frees it. */
static void put_answer(struct put *p)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"id\":\"%s\",\"profile\":%s}\n", p->q->param[0], p->json);
    http_reply(p->q, p->status, b);
    free(p->json);
    free(p);
}

/* Answers 503 to a PUT that could not finish, and frees it. */
static void put_fail(struct put *p)
{
    http_unavailable(p->q);
    free(p->json);
    free(p);
}

/* The hidden set was put back after a failed move: answer 503. */
static void on_hidden_reverted(void *arg, const store_reply *r)
{
    (void)r; /* if this failed too, the set and the boards disagree until the next change */
    put_fail(arg);
}

/* The leader's standings moved to or from the hidden boards. When the move
 * stopped halfway, the hidden set is put back as it was, so that a retry of
 * the PUT sees a change again and moves the rest (moving is idempotent). */
static void on_visibility(void *arg, const char *error, int boards)
{
    struct put *p = arg;
    http_req *q = p->q;
    (void)boards;
    if (!error) {
        put_answer(p);
        return;
    }
    char set[KEYS_MAX];
    keys_org(set, q->who.org, "hidden");
    const char *argv[] = {p->hide ? "SREM" : "SADD", set, q->param[0]};
    size_t lens[] = {4, strlen(set), strlen(q->param[0])};
    if (store_command(q->a->st, on_hidden_reverted, p, 3, argv, lens) < 0)
        put_fail(p);
}

/* SADD/SREM of the hidden set: 1 when the flag changed, so standings move. */
static void on_hidden_set(void *arg, const store_reply *r)
{
    struct put *p = arg;
    http_req *q = p->q;
    if (r == NULL || store_reply_is_error(r)) {
        put_fail(p);
    } else if (store_reply_int(r) == 1) {
        if (visibility_set(q->a->st, q->a->bc, q->who.org, q->param[0], p->hide == 1, on_visibility,
                           p) < 0)
            on_visibility(p, "Redis went away", 0);
    } else {
        put_answer(p);
    }
}

/* HSET answer (orgs.lua "hput" for leaders): 201 when the field is new,
 * else 200, -1 over the org's quota; a leader's hidden flag is then
 * recorded in the hidden set. */
static void on_hset(void *arg, const store_reply *r)
{
    struct put *p = arg;
    http_req *q = p->q;
    if (r == NULL || store_reply_is_error(r)) {
        put_fail(p);
        return;
    }
    if (store_reply_int(r) < 0) {
        quota_exceeded(q, "leaders", org_quotas_of(q->org)->leaders,
                       "Erase one first (DELETE /v1/admin/leaders/{id})");
        free(p->json);
        free(p);
        return;
    }
    p->status = store_reply_int(r) == 1 ? 201 : 200;
    if (p->hide < 0) {
        put_answer(p);
        return;
    }
    char set[KEYS_MAX];
    keys_org(set, q->who.org, "hidden");
    const char *argv[] = {p->hide ? "SADD" : "SREM", set, q->param[0]};
    size_t lens[] = {4, strlen(set), strlen(q->param[0])};
    if (store_command(q->a->st, on_hidden_set, p, 3, argv, lens) < 0)
        put_fail(p);
}

/* Team existence answer: store the leader, or refuse an unknown team. */
static void on_team_checked(void *arg, const store_reply *r)
{
    struct put *p = arg;
    http_req *q = p->q;
    if (r == NULL || store_reply_is_error(r) || store_reply_int(r) != 1) {
        if (r == NULL || store_reply_is_error(r)) {
            http_unavailable(q);
        } else {
            errlist errs = {0};
            errlist_add(&errs, "/team",
                        "no team has this id: create it first with PUT "
                        "/v1/admin/teams/{id}");
            input_ok(q, &errs);
        }
        free(p->json);
        free(p);
        return;
    }
    if (!put_leader(p)) {
        free(p->json);
        free(p);
    }
}

void http_admin_leader_put(http_req *q)
{
    static const char *const allowed[] = {"name", "team", "avatar", "hidden", NULL};
    if (!check_id(q, "leader"))
        return;
    json_t *j = http_body_object(q);
    if (j == NULL)
        return;
    errlist errs = {0};
    http_only_members(j, allowed, &errs);
    const char *name = http_string_member(j, "name", true, NAME_MAX_CHARS, &errs);
    const char *team = http_string_member(j, "team", false, 64, &errs);
    const char *avatar = http_string_member(j, "avatar", false, AVATAR_MAX, &errs);
    json_t *hidden = json_object_get(j, "hidden");
    if (team && !util_valid_id(team))
        errlist_add(&errs, "/team", "is not a valid team id");
    if (avatar && strncmp(avatar, "https://", 8) != 0 && strncmp(avatar, "http://", 7) != 0)
        errlist_add(&errs, "/avatar", "must be an http:// or https:// URL");
    if (hidden && !json_is_boolean(hidden))
        errlist_add(&errs, "/hidden", "must be true or false");
    if (!input_ok(q, &errs)) {
        json_decref(j);
        return;
    }
    json_t *profile = json_pack("{s:s}", "name", name);
    if (team)
        json_object_set_new(profile, "team", json_string(team));
    if (avatar)
        json_object_set_new(profile, "avatar", json_string(avatar));
    json_object_set_new(profile, "hidden", json_boolean(hidden && json_is_true(hidden)));
    struct put *p = calloc(1, sizeof(*p));
    if (p == NULL)
        abort();
    p->q = q;
    p->hide = hidden && json_is_true(hidden);
    p->json = json_dumps(profile, JSON_COMPACT | JSON_PRESERVE_ORDER);
    keys_org(p->hash, q->who.org, "leaders");
    json_decref(profile);
    bool sent;
    if (team) {
        char teams[KEYS_MAX];
        keys_org(teams, q->who.org, "teams");
        sent = send_cmd(q, on_team_checked, p, 3, "HEXISTS", teams, team);
    } else {
        sent = put_leader(p);
    }
    json_decref(j);
    if (!sent) {
        free(p->json);
        free(p);
    }
}

/* HGET answer of a profile read. */
static void on_profile(void *arg, const store_reply *r)
{
    http_req *q = arg;
    const char *s = store_reply_str(r, NULL);
    if (r == NULL || store_reply_is_error(r)) {
        http_unavailable(q);
    } else if (s == NULL) {
        http_problem(q, 404, "not-found", "Nothing has this id.", NULL);
    } else {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b, "{\"id\":\"%s\",\"profile\":%s}\n", q->param[0], s);
        http_reply(q, 200, b);
    }
}

/* Reads one profile of hash `what` ("leaders" or "teams"). */
static void profile_get(http_req *q, const char *what, const char *kind)
{
    if (!check_id(q, kind))
        return;
    char key[KEYS_MAX];
    keys_org(key, q->who.org, what);
    send_cmd(q, on_profile, q, 3, "HGET", key, q->param[0]);
}

void http_admin_leader_get(http_req *q)
{
    profile_get(q, "leaders", "leader");
}

/* The erase job is over. */
static void on_erased(void *arg, const char *error, const erase_result *res)
{
    http_req *q = arg;
    if (error) {
        http_problem(q, 503, "erase-incomplete",
                     "The erase stopped before the end; the profile is already gone and what "
                     "was done stays done. See podiumd's log, and ask an operator to finish.",
                     NULL);
    } else if (res == NULL) {
        http_problem(q, 404, "not-found", "No leader has this id.", NULL);
    } else {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b,
                            "{\"leader\":\"%s\",\"erased\":true,\"boards\":%" PRId64
                            ",\"events\":%" PRId64 ",\"tokens\":%" PRId64 "}\n",
                            q->param[0], res->boards, res->events, res->tokens);
        http_reply(q, 200, b);
    }
}

void http_admin_leader_delete(http_req *q)
{
    if (!check_id(q, "leader"))
        return;
    if (erase_leader(q->a->st, q->a->bc, q->who.org, q->param[0], on_erased, q) < 0)
        http_unavailable(q);
}

void http_admin_team_put(http_req *q)
{
    static const char *const allowed[] = {"name", NULL};
    if (!check_id(q, "team"))
        return;
    json_t *j = http_body_object(q);
    if (j == NULL)
        return;
    errlist errs = {0};
    http_only_members(j, allowed, &errs);
    const char *name = http_string_member(j, "name", true, NAME_MAX_CHARS, &errs);
    if (!input_ok(q, &errs)) {
        json_decref(j);
        return;
    }
    json_t *profile = json_pack("{s:s}", "name", name);
    struct put *p = calloc(1, sizeof(*p));
    if (p == NULL)
        abort();
    p->q = q;
    p->hide = -1;
    p->json = json_dumps(profile, JSON_COMPACT);
    keys_org(p->hash, q->who.org, "teams");
    json_decref(profile);
    json_decref(j);
    if (!send_cmd(q, on_hset, p, 4, "HSET", p->hash, q->param[0], p->json)) {
        free(p->json);
        free(p);
    }
}

void http_admin_team_get(http_req *q)
{
    profile_get(q, "teams", "team");
}

/* A token being created or deleted. */
struct tok {
    http_req *q;
    auth_role role;
    char leader[EVENT_NAME_MAX + 1];
    char token[AUTH_TOKEN_MAX + 1];
    char id[16];
    char sha[65];
};

/* Runs token.lua with the org's two token hashes; false (503 sent) if Redis is down. */
static bool token_script(struct tok *t, store_cb *cb, int argc, const char **argv)
{
    http_req *q = t->q;
    char tokens[KEYS_MAX], ids[KEYS_MAX];
    keys_org(tokens, q->who.org, "tokens");
    keys_org(ids, q->who.org, "tokenids");
    const char *all[7] = {tokens, ids};
    size_t lens[7];
    for (int i = 0; i < argc && i < 5; i++)
        all[2 + i] = argv[i];
    for (int i = 0; i < argc + 2; i++)
        lens[i] = strlen(all[i]);
    if (store_script(q->a->st, STORE_SCRIPT_TOKEN, 2, argc + 2, all, lens, cb, t) < 0) {
        http_unavailable(q);
        return false;
    }
    return true;
}

/* token.lua answer to a create: show the token, once. */
static void on_token_created(void *arg, const store_reply *r)
{
    struct tok *t = arg;
    http_req *q = t->q;
    if (r == NULL || store_reply_is_error(r)) {
        http_unavailable(q);
    } else if (store_reply_int(r) < 0) {
        quota_exceeded(q, "tokens", org_quotas_of(q->org)->tokens, "Delete one first");
    } else {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b, "{\"id\":\"%s\",\"token\":\"%s\",\"role\":\"%s\",\"leader\":", t->id,
                            t->token, auth_role_name(t->role));
        jsonw_str_or_null(b, t->leader[0] ? t->leader : NULL);
        evbuffer_add(b, "}\n", 2);
        http_reply(q, 201, b);
    }
    free(t);
}

/* Stores a minted token: hash -> identity, id -> hash, in one script. */
static void write_token(struct tok *t)
{
    char value[160], most[24];
    snprintf(value, sizeof(value), "%s %s %s %" PRId64, t->id, auth_role_name(t->role),
             t->leader[0] ? t->leader : "-", org_incarnation(t->q->org));
    util_i64toa(org_quotas_of(t->q->org)->tokens, most);
    const char *argv[] = {"create", t->sha, value, t->id, most};
    if (!token_script(t, on_token_created, 5, argv))
        free(t);
}

/* Leader existence answer for a leader token. */
static void on_leader_checked(void *arg, const store_reply *r)
{
    struct tok *t = arg;
    if (r == NULL || store_reply_is_error(r)) {
        http_unavailable(t->q);
        free(t);
    } else if (store_reply_int(r) != 1) {
        errlist errs = {0};
        errlist_add(&errs, "/leader",
                    "no leader has this id: create it first with PUT "
                    "/v1/admin/leaders/{id}");
        input_ok(t->q, &errs);
        free(t);
    } else {
        write_token(t);
    }
}

void http_admin_token_post(http_req *q)
{
    static const char *const allowed[] = {"role", "leader", NULL};
    json_t *j = http_body_object(q);
    if (j == NULL)
        return;
    errlist errs = {0};
    http_only_members(j, allowed, &errs);
    const char *role = http_string_member(j, "role", true, 16, &errs);
    const char *leader = http_string_member(j, "leader", false, 64, &errs);
    auth_role rl = role ? auth_role_parse(role) : ROLE_NONE;
    if (role && rl == ROLE_NONE)
        errlist_add(&errs, "/role", "must be one of leader, reader, ingest, admin");
    if (rl == ROLE_LEADER && leader == NULL)
        errlist_add(&errs, "/leader", "is required for a leader token");
    if (rl != ROLE_LEADER && leader)
        errlist_add(&errs, "/leader", "is only for leader tokens");
    if (leader && !util_valid_id(leader))
        errlist_add(&errs, "/leader", "is not a valid leader id");
    struct tok *t = calloc(1, sizeof(*t));
    if (t == NULL)
        abort();
    t->q = q;
    t->role = rl;
    if (leader)
        snprintf(t->leader, sizeof(t->leader), "%s", leader);
    json_decref(j);
    if (!input_ok(q, &errs)) {
        free(t);
        return;
    }
    if (auth_mint(q->who.org, t->token, t->id) < 0) {
        free(t);
        http_problem(q, 500, "internal", "No randomness available to make a token.", NULL);
        return;
    }
    auth_hash(t->token, t->sha);
    if (rl == ROLE_LEADER) {
        char key[KEYS_MAX];
        keys_org(key, q->who.org, "leaders");
        if (!send_cmd(q, on_leader_checked, t, 3, "HEXISTS", key, t->leader))
            free(t);
        return;
    }
    write_token(t);
}

/* token.lua answer to a delete: the deleted token's hash, or nil. */
static void on_token_deleted(void *arg, const store_reply *r)
{
    struct tok *t = arg;
    http_req *q = t->q;
    size_t len;
    const char *sha = store_reply_str(r, &len);
    if (r == NULL || store_reply_is_error(r)) {
        http_unavailable(q);
    } else if (sha == NULL || len != 64) {
        http_problem(q, 404, "not-found", "No token has this id.", NULL);
    } else {
        memcpy(t->sha, sha, 64);
        t->sha[64] = '\0';
        auth_forget(q->a->au, t->sha);
        http_reply(q, 204, NULL);
    }
    free(t);
}

void http_admin_token_delete(http_req *q)
{
    if (strlen(q->param[0]) != 12 || strspn(q->param[0], "0123456789abcdef") != 12) {
        http_problem(q, 404, "not-found", "No token has this id.", NULL);
        return;
    }
    struct tok *t = calloc(1, sizeof(*t));
    if (t == NULL)
        abort();
    t->q = q;
    const char *argv[] = {"delete", q->param[0]};
    if (!token_script(t, on_token_deleted, 2, argv))
        free(t);
}
