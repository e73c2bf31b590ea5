/*
 * orgadmin.c - create, list, show, change and delete orgs (see orgadmin.h).
 *
 * Each operation is a small state machine over Redis calls: orgs.lua on the
 * registry (the deployment's slot), token.lua and orgs.lua "usage" on the
 * org's own keys (its slot). No call mixes the two, so every one of them is
 * valid in a Redis Cluster.
 *
 * Creating is three calls, so that a create that dies half-way harms
 * nothing: the entry is made "creating" (so no token of the org works yet),
 * the first admin token is stored, then the entry becomes "active". A
 * "creating" entry older than ORGS_CREATING_S is taken over by the next
 * create of the same id.
 *
 * An org's view: id, name, state, suspended, created, updated, quotas (in
 * force: the org's overrides, else the config's defaults; 0 = no limit),
 * usage (leaders, tokens, webhooks, events this UTC week and in all, the
 * rule set's version, the last event's time) and, while it is erased, how
 * many keys went.
 *
 * Ownership: an `op` lives from the operation's call to its answer; every
 * store callback is its last reference until it sends the next call.
 */
#include "orgadmin.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "config.h"
#include "due.h"
#include "keys.h"
#include "log.h"
#include "orgs.h"
#include "store.h"
#include "util.h"

/* One operation in flight. */
struct op {
    app *a;
    orgadmin_cb *cb;
    void *arg;
    int status; /* of a success: 200, 201 or 202 */
    char id[ORG_ID_MAX + 1];
    char name[ORG_NAME_MAX + 1];
    char token[AUTH_TOKEN_MAX + 1], token_id[16];
    char created[24]; /* the registry's creation time: the org's incarnation (auth.h) */
    json_t *view;     /* the org being answered, while its usage is read */
    json_t *list;     /* a list's page, while the usages are read */
    size_t waiting;   /* usages still to come */
    char next[ORG_ID_MAX + 1];
};

/* A usage read of one org of a list. */
struct usage_read {
    struct op *o;
    json_t *view; /* borrowed from the page */
};

/* Answers a problem and frees the op. */
static void fail(struct op *o, int status, const char *slug, const char *detail,
                 const errlist *errs)
{
    orgadmin_result res = {.status = status, .slug = slug, .detail = detail, .errs = errs};
    o->cb(o->arg, &res);
    json_decref(o->view);
    json_decref(o->list);
    free(o);
}

/* Answers 503. */
static void unavailable(struct op *o)
{
    fail(o, 503, "unavailable",
         "Redis cannot be reached right now; nothing was changed. Retry in a moment.", NULL);
}

/* Answers a JSON body (taking it) and frees the op. */
static void answer(struct op *o, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    if (s == NULL)
        abort();
    orgadmin_result res = {.status = o->status, .json = s, .len = strlen(s), .id = o->id};
    o->cb(o->arg, &res);
    free(s);
    json_decref(o->view);
    json_decref(o->list);
    free(o);
}

/* A new op. */
static struct op *op_new(app *a, orgadmin_cb *cb, void *arg)
{
    struct op *o = calloc(1, sizeof(*o));
    if (o == NULL)
        abort();
    o->a = a;
    o->cb = cb;
    o->arg = arg;
    o->status = 200;
    return o;
}

/* Unix ms as RFC 3339, or null for 0. */
static json_t *time_or_null(int64_t ms)
{
    char buf[32];
    if (ms <= 0)
        return json_null();
    util_format_rfc3339(ms, buf);
    return json_string(buf);
}

/* The view of an org from its registry entry (HGETALL fields; NULL or
 * empty: default without an entry). */
static json_t *view_of(const app *a, const char *id, const store_reply *fields)
{
    const char *name = NULL, *state = NULL;
    int64_t created = 0, updated = 0, erased = -1;
    int64_t q[4] = {-1, -1, -1, -1};
    static const char *const qf[] = {"q_leaders", "q_tokens", "q_webhooks", "q_eps"};
    for (size_t i = 0; i + 1 < store_reply_len(fields); i += 2) {
        const char *f = store_reply_str(store_reply_at(fields, i), NULL);
        const store_reply *v = store_reply_at(fields, i + 1);
        if (f == NULL)
            continue;
        if (strcmp(f, "name") == 0)
            name = store_reply_str(v, NULL);
        else if (strcmp(f, "state") == 0)
            state = store_reply_str(v, NULL);
        else if (strcmp(f, "created") == 0)
            created = store_reply_int(v);
        else if (strcmp(f, "updated") == 0)
            updated = store_reply_int(v);
        else if (strcmp(f, "erased") == 0)
            erased = store_reply_int(v);
        for (int k = 0; k < 4; k++)
            if (strcmp(f, qf[k]) == 0)
                q[k] = store_reply_int(v);
    }
    const config *cfg = a->cfg;
    int64_t def[4] = {cfg->quota_leaders, cfg->quota_tokens, cfg->quota_webhooks,
                      cfg->quota_events_per_second};
    for (int k = 0; k < 4; k++)
        if (q[k] < 0)
            q[k] = def[k];
    if (state == NULL)
        state = "active"; /* default, which needs no entry */
    json_t *v = json_pack("{s:s, s:s, s:s, s:b}", "id", id, "name", name ? name : id, "state",
                          state, "suspended", strcmp(state, "suspended") == 0);
    if (v == NULL)
        abort();
    json_object_set_new(v, "created", time_or_null(created));
    json_object_set_new(v, "updated", time_or_null(updated));
    json_object_set_new(v, "quotas",
                        json_pack("{s:I, s:I, s:I, s:I}", "leaders", (json_int_t)q[0], "tokens",
                                  (json_int_t)q[1], "webhooks", (json_int_t)q[2],
                                  "events_per_second", (json_int_t)q[3]));
    if (strcmp(state, "deleting") == 0)
        json_object_set_new(v, "erased_keys", json_integer(erased < 0 ? 0 : erased));
    return v;
}

/* Sends orgs.lua `op` on the registry entry of id (and the id list when
 * with_ids), with extra args. */
static int registry_call(struct op *o, const char *op, bool with_ids, int nextra,
                         const char *const *extra, store_cb *cb, void *arg)
{
    char entry[KEYS_MAX], due_d[KEYS_MAX];
    const char *argv[16];
    size_t n = 0, nkeys = 1;
    keys_registry(entry, o->id);
    argv[n++] = entry;
    if (with_ids) {
        argv[n++] = keys_orgids;
        nkeys++;
    }
    if (strcmp(op, "delete") == 0) {
        keys_due(due_d, due_kind_letter(DUE_DELETE));
        argv[n++] = due_d;
        nkeys++;
    }
    argv[n++] = op;
    for (int i = 0; i < nextra && n < 16; i++)
        argv[n++] = extra[i];
    size_t lens[16];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    return store_script(o->a->st, STORE_SCRIPT_ORGS, (int)nkeys, (int)n, argv, lens, cb, arg);
}

/* Sends orgs.lua "usage" for org id. */
static int usage_call(app *a, const char *id, store_cb *cb, void *arg)
{
    char k[6][KEYS_MAX], week[16];
    keys_org(k[0], id, "leaders");
    keys_org(k[1], id, "tokens");
    keys_org(k[2], id, "webhooks");
    keys_org(k[3], id, "usage");
    keys_ruleset(k[4], id);
    keys_org(k[5], id, "events");
    time_t t = (time_t)(util_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(week, sizeof(week), "w:%G-W%V", &tm);
    const char *argv[] = {k[0], k[1], k[2], k[3], k[4], k[5], "usage", week};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    return store_script(a->st, STORE_SCRIPT_ORGS, 6, 8, argv, lens, cb, arg);
}

/* Sets the usage of a view from orgs.lua "usage"'s reply (NULL: unknown). */
static void set_usage(json_t *view, const store_reply *r)
{
    if (r == NULL || store_reply_is_error(r) || store_reply_len(r) < 7) {
        json_object_set_new(view, "usage", json_null());
        return;
    }
    int64_t u[7];
    for (size_t i = 0; i < 7; i++)
        u[i] = store_reply_int(store_reply_at(r, i));
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "leaders", (json_int_t)u[0], "tokens",
                          (json_int_t)u[1], "webhooks", (json_int_t)u[2], "events_this_week",
                          (json_int_t)u[4], "events_total", (json_int_t)u[3], "rule_version",
                          (json_int_t)u[6]);
    json_object_set_new(j, "last_activity", time_or_null(u[5]));
    json_object_set_new(view, "usage", j);
}

/* ------------------------------------------------------------ one struct org */

/* Usage of the org of o->view: answer it. */
static void on_view_usage(void *arg, const store_reply *r)
{
    struct op *o = arg;
    if (r == NULL) {
        unavailable(o);
        return;
    }
    set_usage(o->view, r);
    json_t *v = o->view;
    o->view = NULL;
    answer(o, v);
}

/* Answers the view of o->id from its registry fields, with its usage. */
static void answer_view(struct op *o, const store_reply *fields)
{
    o->view = view_of(o->a, o->id, fields);
    if (usage_call(o->a, o->id, on_view_usage, o) < 0)
        unavailable(o);
}

/* orgs.lua "get". */
static void on_get(void *arg, const store_reply *r)
{
    struct op *o = arg;
    const char *word = store_reply_str(store_reply_at(r, 0), NULL);
    if (r == NULL || store_reply_is_error(r) || word == NULL) {
        unavailable(o);
    } else if (strcmp(word, "missing") == 0 && strcmp(o->id, ORG_DEFAULT) != 0) {
        fail(o, 404, "not-found", "No org has this id; GET /v1/orgs lists them.", NULL);
    } else {
        answer_view(o, strcmp(word, "ok") == 0 ? store_reply_at(r, 1) : NULL);
    }
}

/* Answers 400 unless id is an org id; true when it is. */
static bool check_id(struct op *o, const char *id)
{
    if (id && util_valid_id(id)) {
        snprintf(o->id, sizeof(o->id), "%s", id);
        return true;
    }
    fail(o, 400, "invalid-id",
         "An org id is 1 to 64 characters: lower-case letters, digits, '.', '_' and '-', "
         "starting with a letter or digit.",
         NULL);
    return false;
}

void orgadmin_get(app *a, const char *id, orgadmin_cb *cb, void *arg)
{
    struct op *o = op_new(a, cb, arg);
    if (check_id(o, id) && registry_call(o, "get", false, 0, NULL, on_get, o) < 0)
        unavailable(o);
}

/* ------------------------------------------------------------ create */

/* orgs.lua "activate": the org is served; answer its first admin token. */
static void on_activated(void *arg, const store_reply *r)
{
    struct op *o = arg;
    const char *word = store_reply_str(store_reply_at(r, 0), NULL);
    if (r == NULL || store_reply_is_error(r) || word == NULL || strcmp(word, "ok") != 0) {
        if (word && strcmp(word, "busy") == 0)
            fail(o, 409, "org-exists",
                 "Another create of this org took it over meanwhile; nothing of this one holds.",
                 NULL);
        else
            unavailable(o);
        return;
    }
    orgs_apply_entry(o->a->orgs, o->id, store_reply_at(r, 1));
    log_info("orgs: created org %s", o->id);
    json_t *v = view_of(o->a, o->id, store_reply_at(r, 1));
    json_object_set_new(v, "admin_token", json_string(o->token));
    json_object_set_new(v, "admin_token_id", json_string(o->token_id));
    OPENSSL_cleanse(o->token, sizeof(o->token));
    o->status = 201;
    answer(o, v);
}

/* token.lua "create" of the first admin token. */
static void on_token(void *arg, const store_reply *r)
{
    struct op *o = arg;
    char now[24];
    util_i64toa(util_now_ms(), now);
    const char *extra[] = {now};
    if (r == NULL || store_reply_is_error(r) ||
        registry_call(o, "activate", false, 1, extra, on_activated, o) < 0)
        unavailable(o); /* left "creating": a retry of the create takes it over */
}

/* orgs.lua "create": the entry is "creating"; store the admin token. */
static void on_created(void *arg, const store_reply *r)
{
    struct op *o = arg;
    const char *word = store_reply_str(store_reply_at(r, 0), NULL);
    if (r == NULL || store_reply_is_error(r) || word == NULL) {
        unavailable(o);
        return;
    }
    if (strcmp(word, "exists") == 0) {
        char detail[200];
        snprintf(detail, sizeof(detail), "An org with this id exists already (it is %s).",
                 store_reply_str(store_reply_at(r, 1), NULL));
        fail(o, 409, "org-exists", detail, NULL);
        return;
    }
    char sha[65], value[96], k1[KEYS_MAX], k2[KEYS_MAX];
    if (auth_mint(o->id, o->token, o->token_id) < 0) {
        fail(o, 500, "internal", "No randomness available to make a token.", NULL);
        return;
    }
    auth_hash(o->token, sha);
    snprintf(value, sizeof(value), "%s admin - %s", o->token_id, o->created);
    keys_org(k1, o->id, "tokens");
    keys_org(k2, o->id, "tokenids");
    const char *argv[] = {k1, k2, "create", sha, value, o->token_id};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(o->a->st, STORE_SCRIPT_TOKEN, 2, 6, argv, lens, on_token, o) < 0)
        unavailable(o);
}

/* The string member `name` of body: NULL when absent; "" (with an error
 * at /name) when it is not a string of 1 to max bytes without NUL. */
static const char *string_member(json_t *body, const char *name, size_t max, errlist *errs)
{
    json_t *v = json_object_get(body, name);
    if (v == NULL)
        return NULL;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (s == NULL || n == 0 || n > max || strlen(s) != n) {
        char ptr[40];
        snprintf(ptr, sizeof(ptr), "/%s", name);
        errlist_add(errs, ptr, "must be a string of 1 to %zu bytes", max);
        return "";
    }
    return s;
}

/* Adds an error for each member of body not in allowed (NULL-ended). */
static void only_members(json_t *body, const char *const *allowed, errlist *errs)
{
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(k, allowed[i]) == 0;
        if (!ok)
            errlist_add(errs, "", "unknown member '%.64s'", k);
    }
}

void orgadmin_create(app *a, json_t *body, orgadmin_cb *cb, void *arg)
{
    static const char *const allowed[] = {"id", "name", NULL};
    struct op *o = op_new(a, cb, arg);
    errlist errs = {0};
    only_members(body, allowed, &errs);
    const char *id = string_member(body, "id", ORG_ID_MAX, &errs);
    const char *name = string_member(body, "name", ORG_NAME_MAX, &errs);
    if (id == NULL)
        errlist_add(&errs, "/id", "is required");
    else if (*id && !util_valid_id(id))
        errlist_add(&errs, "/id",
                    "must be 1 to 64 characters: lower-case letters, digits, '.', '_' and '-', "
                    "starting with a letter or digit");
    if (errs.n) {
        fail(o, 422, "invalid-input", "The input is not valid; nothing was changed.", &errs);
        errlist_clear(&errs);
        return;
    }
    snprintf(o->id, sizeof(o->id), "%s", id);
    snprintf(o->name, sizeof(o->name), "%s", name ? name : id);
    if (strcmp(id, ORG_DEFAULT) == 0) {
        fail(o, 409, "org-exists", "The org default always exists.", NULL);
        return;
    }
    char stale[24];
    util_i64toa(util_now_ms(), o->created);
    util_i64toa(ORGS_CREATING_S * 1000, stale);
    const char *extra[] = {o->id, o->name, o->created, stale};
    if (registry_call(o, "create", true, 4, extra, on_created, o) < 0)
        unavailable(o);
}

/* ------------------------------------------------------------ list */

/* Answers a list's page. */
static void answer_list(struct op *o)
{
    json_t *body = json_pack("{s:O}", "orgs", o->list);
    json_object_set_new(body, "next_cursor", o->next[0] ? json_string(o->next) : json_null());
    answer(o, body);
}

/* One org's usage in a list: the page is answered with the last. */
static void on_list_usage(void *arg, const store_reply *r)
{
    struct usage_read *u = arg;
    struct op *o = u->o;
    set_usage(u->view, r);
    free(u);
    if (--o->waiting == 0)
        answer_list(o);
}

/* orgs.lua "list": {next, id, fields, ...}. */
static void on_list(void *arg, const store_reply *r)
{
    struct op *o = arg;
    if (r == NULL || store_reply_is_error(r) || store_reply_len(r) < 1) {
        unavailable(o);
        return;
    }
    snprintf(o->next, sizeof(o->next), "%s", store_reply_str(store_reply_at(r, 0), NULL));
    o->list = json_array();
    for (size_t i = 1; i + 1 < store_reply_len(r); i += 2) {
        const char *id = store_reply_str(store_reply_at(r, i), NULL);
        if (id == NULL || !util_valid_id(id))
            continue;
        json_array_append_new(o->list, view_of(o->a, id, store_reply_at(r, i + 1)));
    }
    size_t n = json_array_size(o->list);
    if (n == 0) {
        answer_list(o);
        return;
    }
    o->waiting = n;
    for (size_t i = 0; i < n; i++) {
        struct usage_read *u = calloc(1, sizeof(*u));
        if (u == NULL)
            abort();
        u->o = o;
        u->view = json_array_get(o->list, i);
        const char *id = json_string_value(json_object_get(u->view, "id"));
        if (usage_call(o->a, id, on_list_usage, u) < 0)
            on_list_usage(u, NULL);
    }
}

void orgadmin_list(app *a, const char *cursor, int64_t limit, orgadmin_cb *cb, void *arg)
{
    struct op *o = op_new(a, cb, arg);
    if (cursor[0] && !util_valid_id(cursor)) {
        errlist errs = {0};
        errlist_add(&errs, "/cursor", "is not a cursor of this list (an org id)");
        fail(o, 400, "invalid-query", "A query parameter is not valid.", &errs);
        errlist_clear(&errs);
        return;
    }
    char most[24], prefix[KEYS_MAX];
    util_i64toa(limit, most);
    keys_registry(prefix, "");
    const char *argv[] = {keys_orgids, "list", cursor, most, prefix};
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(a->st, STORE_SCRIPT_ORGS, 1, 5, argv, lens, on_list, o) < 0)
        unavailable(o);
}

/* ------------------------------------------------------------ update */

/* orgs.lua "update" and "delete": {"ok", fields}, {"missing"}, {"busy", state}. */
static void on_changed(void *arg, const store_reply *r)
{
    struct op *o = arg;
    const char *word = store_reply_str(store_reply_at(r, 0), NULL);
    if (r == NULL || store_reply_is_error(r) || word == NULL) {
        unavailable(o);
    } else if (strcmp(word, "missing") == 0) {
        fail(o, 404, "not-found", "No org has this id; GET /v1/orgs lists them.", NULL);
    } else if (strcmp(word, "busy") == 0) {
        char detail[200];
        snprintf(detail, sizeof(detail), "This org is being %s; nothing was changed.",
                 strcmp(store_reply_str(store_reply_at(r, 1), NULL), "creating") == 0 ? "created"
                                                                                      : "deleted");
        fail(o, 409, "org-busy", detail, NULL);
    } else {
        const store_reply *fields = store_reply_at(r, 1);
        orgs_apply_entry(o->a->orgs, o->id, fields);
        if (o->status == 202) {
            log_info("orgs: org %s is being deleted; its keys go in %d s", o->id,
                     ORGADMIN_ERASE_DELAY_MS / 1000);
            json_t *v = view_of(o->a, o->id, fields);
            json_object_set_new(v, "usage", json_null());
            answer(o, v);
            return;
        }
        answer_view(o, fields);
    }
}

void orgadmin_update(app *a, const char *id, json_t *body, orgadmin_cb *cb, void *arg)
{
    static const char *const allowed[] = {"name", "suspended", "quotas", NULL};
    static const char *const qnames[] = {"leaders", "tokens", "webhooks", "events_per_second"};
    static const char *const qfields[] = {"q_leaders", "q_tokens", "q_webhooks", "q_eps"};
    static const int64_t qmax[] = {10000000, 10000000, 10000, 10000000}; /* as config.c's */
    struct op *o = op_new(a, cb, arg);
    if (!check_id(o, id))
        return;
    errlist errs = {0};
    const char *extra[2 + 2 * 6];
    char qval[4][24];
    int n = 0;
    char now[24];
    util_i64toa(util_now_ms(), now);
    extra[n++] = o->id;
    extra[n++] = now;
    only_members(body, allowed, &errs);
    const char *name = string_member(body, "name", ORG_NAME_MAX, &errs);
    if (name && *name) {
        snprintf(o->name, sizeof(o->name), "%s", name);
        extra[n++] = "name";
        extra[n++] = o->name;
    }
    json_t *susp = json_object_get(body, "suspended");
    if (susp && !json_is_boolean(susp))
        errlist_add(&errs, "/suspended", "must be true or false");
    else if (susp) {
        extra[n++] = "state";
        extra[n++] = json_is_true(susp) ? "suspended" : "active";
    }
    json_t *quotas = json_object_get(body, "quotas");
    if (quotas && !json_is_object(quotas)) {
        errlist_add(&errs, "/quotas",
                    "must be an object of leaders, tokens, webhooks, "
                    "events_per_second");
    } else if (quotas) {
        const char *k;
        json_t *v;
        json_object_foreach(quotas, k, v)
        {
            int i = 0;
            while (i < 4 && strcmp(k, qnames[i]) != 0)
                i++;
            if (i == 4) {
                errlist_add(&errs, "/quotas", "unknown member '%.64s'", k);
                continue;
            }
            char ptr[48];
            snprintf(ptr, sizeof(ptr), "/quotas/%s", qnames[i]);
            if (!json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 0 ||
                                     json_integer_value(v) > qmax[i])) {
                errlist_add(&errs, ptr,
                            "must be a whole number from 0 (no limit) to %" PRId64
                            ", or null for the default",
                            qmax[i]);
                continue;
            }
            if (json_is_null(v))
                qval[i][0] = '\0';
            else
                util_i64toa((int64_t)json_integer_value(v), qval[i]);
            extra[n++] = qfields[i];
            extra[n++] = qval[i];
        }
    }
    if (errs.n) {
        fail(o, 422, "invalid-input", "The input is not valid; nothing was changed.", &errs);
        errlist_clear(&errs);
        return;
    }
    if (registry_call(o, "update", true, n, extra, on_changed, o) < 0)
        unavailable(o);
}

/* ------------------------------------------------------------ delete */

void orgadmin_delete(app *a, const char *id, orgadmin_cb *cb, void *arg)
{
    struct op *o = op_new(a, cb, arg);
    if (!check_id(o, id))
        return;
    if (strcmp(o->id, ORG_DEFAULT) == 0) {
        fail(o, 409, "default-org",
             "The org default cannot be deleted: a single-company install lives in it. Erase "
             "its leaders one by one (DELETE /v1/admin/leaders/{id}) instead.",
             NULL);
        return;
    }
    o->status = 202;
    char now[24], start[24];
    int64_t t = util_now_ms();
    util_i64toa(t, now);
    util_i64toa(t + ORGADMIN_ERASE_DELAY_MS, start);
    const char *extra[] = {o->id, now, start};
    if (registry_call(o, "delete", true, 3, extra, on_changed, o) < 0)
        unavailable(o);
}
