/*
 * http_webhooks.c - admin resources of webhooks: register, list, read,
 * delete, re-enable an endpoint, send it a test event, read its deliveries.
 *
 *   POST   /v1/admin/webhooks                   {"url", "format", "events"} -> 201
 *                                               {"id", "secret", ...}
 *   GET    /v1/admin/webhooks                   {"webhooks": [...]}
 *   GET    /v1/admin/webhooks/{id}              one endpoint
 *   DELETE /v1/admin/webhooks/{id}              204; its pending deliveries go too
 *   POST   /v1/admin/webhooks/{id}/enable       200; a disabled endpoint takes
 *                                               deliveries again
 *   POST   /v1/admin/webhooks/{id}/test         202 {"delivery"}: queues a test event
 *   GET    /v1/admin/webhooks/{id}/deliveries   {"pending": [...], "deliveries": [...]}
 *
 * An endpoint is stored as JSON in the org's webhooks hash (keys.h) with its
 * signing key, which is shown once, at creation, as the Standard Webhooks
 * secret "whsec_" + base64. The URL is a secret too (Slack and Teams URLs
 * carry their credentials in the path): answers show only its scheme, host
 * and port, and no message or log line holds it. Input is checked whole
 * before the first write, so a refused request stores nothing. An org has
 * at most its webhooks quota of endpoints (quota_webhooks, 50 by default),
 * which bounds a listing and the work of each enqueue.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "due.h"
#include "http_server.h"
#include "keys.h"
#include "orgs.h"
#include "store.h"
#include "util.h"
#include "webhook.h"
#include "webhook_body.h"

#define URL_MAX_BYTES 2048
#define EVENTS_MAX    8

/* Answers 422 with errs if there are any; true if the input was fine. */
static bool input_ok(http_req *q, errlist *errs)
{
    if (errs->n == 0)
        return true;
    http_problem(q, 422, "invalid-input", "The input is not valid; nothing was changed.", errs);
    errlist_clear(errs);
    return false;
}

/* Answers 404 for an endpoint id that is not one of the org's. */
static void not_found(http_req *q)
{
    http_problem(q, 404, "not-found", "No webhook has this id.", NULL);
}

/* True if the first path parameter can be an endpoint id (12 hex digits). */
static bool check_id(http_req *q)
{
    const char *id = q->param[0];
    if (strlen(id) == 12 && strspn(id, "0123456789abcdef") == 12)
        return true;
    not_found(q);
    return false;
}

/* Checks a webhook URL; adds a message (which never quotes it) to errs. */
static void check_url(const char *url, bool allow_http, errlist *errs)
{
    size_t n = strlen(url);
    const char *rest = NULL;
    if (strncasecmp(url, "https://", 8) == 0)
        rest = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0 && allow_http)
        rest = url + 7;
    if (rest == NULL) {
        errlist_add(errs, "/url", "must be an https:// URL%s",
                    allow_http ? " or an http:// URL"
                               : " (http:// is refused: webhook_allow_http)");
        return;
    }
    if (n > URL_MAX_BYTES) {
        errlist_add(errs, "/url", "must be at most %d bytes", URL_MAX_BYTES);
        return;
    }
    for (const char *c = url; *c; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            errlist_add(errs, "/url", "must not hold spaces or control characters");
            return;
        }
    }
    size_t alen = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', alen);
    const char *host = at ? at + 1 : rest;
    size_t hl = alen - (size_t)(host - rest);
    if (hl == 0 || host[0] == ':' ||
        strspn(host, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:[]") < hl)
        errlist_add(errs, "/url", "must name a host");
}

/* Writes the scheme, host and port of url (no userinfo, path or query). */
static void url_shown(const char *url, char *out, size_t outlen)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL) {
        snprintf(out, outlen, "?");
        return;
    }
    const char *rest = sep + 3;
    size_t alen = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', alen);
    const char *host = at ? at + 1 : rest;
    snprintf(out, outlen, "%.*s://%.*s", (int)(sep - url), url, (int)(alen - (size_t)(host - rest)),
             host);
    for (char *c = out; *c && *c != ':'; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
}

/* An endpoint as the API shows it, from its stored JSON; NULL if unreadable. */
static json_t *endpoint_view(const char *id, const char *stored)
{
    json_t *e = json_loads(stored, 0, NULL);
    if (e == NULL)
        return NULL;
    char shown[URL_MAX_BYTES + 16], created[32], disabled_at[32];
    const char *url = json_string_value(json_object_get(e, "url"));
    url_shown(url ? url : "", shown, sizeof(shown));
    util_format_rfc3339(json_integer_value(json_object_get(e, "created")), created);
    json_t *dat = json_object_get(e, "disabled_at");
    bool disabled = json_is_true(json_object_get(e, "disabled"));
    if (json_is_number(dat))
        util_format_rfc3339((int64_t)json_number_value(dat), disabled_at);
    json_t *events = json_object_get(e, "events");
    json_t *v = json_pack("{s:s, s:s, s:s, s:o, s:s, s:b, s:o}", "id", id, "url", shown, "format",
                          json_string_value(json_object_get(e, "format")) ?: "json", "events",
                          events ? json_incref(events) : json_array(), "created", created,
                          "disabled", disabled, "disabled_at",
                          disabled && json_is_number(dat) ? json_string(disabled_at) : json_null());
    json_decref(e);
    return v;
}

/* Answers with a jansson value (stolen), as JSON. */
static void reply_json(http_req *q, int status, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (s == NULL) {
        http_problem(q, 500, "internal", "The answer could not be written.", NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, s, strlen(s));
    evbuffer_add(b, "\n", 1);
    free(s);
    http_reply(q, status, b);
}

/* A registration in flight. */
struct reg {
    http_req *q;
    char id[13];
    char secret[WEBHOOK_SECRET_MAX];
    char *stored;
};

/* Frees a registration. */
static void reg_free(struct reg *g)
{
    free(g->stored);
    free(g);
}

/* outbox.lua register's answer: 1 stored, -1 the org has as many endpoints
 * as its quota, 0 the id is taken (as good as impossible: retry). */
static void on_registered(void *arg, const store_reply *r)
{
    struct reg *g = arg;
    http_req *q = g->q;
    int64_t rc = store_reply_int(r);
    if (r == NULL || store_reply_is_error(r) || rc == 0) {
        http_unavailable(q);
    } else if (rc < 0) {
        char detail[200];
        snprintf(detail, sizeof(detail),
                 "This organisation has %" PRId64 " webhooks, the most its quota allows; "
                 "nothing was stored. Delete one first, or ask the operator for more.",
                 org_quotas_of(q->org)->webhooks);
        http_problem(q, 409, "quota-exceeded", detail, NULL);
    } else {
        json_t *v = endpoint_view(g->id, g->stored);
        json_object_set_new(v, "secret", json_string(g->secret));
        reply_json(q, 201, v);
    }
    reg_free(g);
}

/* The org's entry in the due index of outboxes, made before the endpoint
 * exists so that no outbox is ever forgotten: now store it. */
static void on_org_noted(void *arg, const store_reply *r)
{
    struct reg *g = arg;
    http_req *q = g->q;
    if (r == NULL || store_reply_is_error(r)) {
        http_unavailable(q);
        reg_free(g);
        return;
    }
    char k1[KEYS_MAX], k2[KEYS_MAX], k3[KEYS_MAX], max[24];
    keys_org(k1, q->who.org, "webhooks");
    keys_org(k2, q->who.org, "wh:due");
    keys_org(k3, q->who.org, "wh:out");
    int64_t quota = org_quotas_of(q->org)->webhooks;
    snprintf(max, sizeof(max), "%" PRId64, quota > 0 ? quota : INT64_MAX);
    const char *argv[] = {k1, k2, k3, "register", g->id, g->stored, max};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(q->a->st, STORE_SCRIPT_OUTBOX, 3, 7, argv, lens, on_registered, g) < 0) {
        http_unavailable(q);
        reg_free(g);
    }
}

void http_webhooks_post(http_req *q)
{
    static const char *const allowed[] = {"url", "format", "events", NULL};
    json_t *j = http_body_object(q);
    if (j == NULL)
        return;
    errlist errs = {0};
    http_only_members(j, allowed, &errs);
    json_t *url = json_object_get(j, "url"), *fmt = json_object_get(j, "format");
    json_t *events = json_object_get(j, "events");
    webhook_format f = WEBHOOK_FORMAT_JSON;
    if (url == NULL || json_is_null(url))
        errlist_add(&errs, "/url", "is required");
    else if (!json_is_string(url) || strlen(json_string_value(url)) != json_string_length(url))
        errlist_add(&errs, "/url", "must be a string");
    else
        check_url(json_string_value(url), q->a->cfg->webhook_allow_http, &errs);
    if (fmt && !json_is_null(fmt) &&
        (!json_is_string(fmt) || !webhook_body_format_parse(json_string_value(fmt), &f)))
        errlist_add(&errs, "/format", "must be one of json, slack, teams");
    if (events == NULL || json_is_null(events)) {
        errlist_add(&errs, "/events", "is required: a list of period_closed, digest");
    } else if (!json_is_array(events) || json_array_size(events) == 0 ||
               json_array_size(events) > EVENTS_MAX) {
        errlist_add(&errs, "/events", "must be a list of 1 to 2 of period_closed, digest");
    } else {
        for (size_t i = 0; i < json_array_size(events); i++) {
            const char *e = json_string_value(json_array_get(events, i));
            char ptr[32];
            snprintf(ptr, sizeof(ptr), "/events/%zu", i);
            if (e == NULL || (strcmp(e, "period_closed") != 0 && strcmp(e, "digest") != 0)) {
                errlist_add(&errs, ptr, "must be period_closed or digest");
                continue;
            }
            for (size_t k = 0; k < i; k++)
                if (json_equal(json_array_get(events, k), json_array_get(events, i)))
                    errlist_add(&errs, ptr, "is listed twice");
        }
    }
    if (!input_ok(q, &errs)) {
        json_decref(j);
        return;
    }
    unsigned char rid[6], key[WEBHOOK_KEY_LEN];
    if (RAND_bytes(rid, sizeof(rid)) != 1 || RAND_bytes(key, sizeof(key)) != 1) {
        json_decref(j);
        http_problem(q, 500, "internal", "No randomness available to make a secret.", NULL);
        return;
    }
    struct reg *g = calloc(1, sizeof(*g));
    if (g == NULL)
        abort();
    g->q = q;
    for (size_t i = 0; i < sizeof(rid); i++)
        snprintf(g->id + 2 * i, 3, "%02x", rid[i]);
    webhook_body_secret_encode(key, sizeof(key), g->secret);
    json_t *stored = json_pack("{s:O, s:s, s:O, s:s, s:I, s:b}", "url", url, "format",
                               webhook_body_format_name(f), "events", events, "key", g->secret + 6,
                               "created", (json_int_t)util_now_ms(), "disabled", 0);
    g->stored = json_dumps(stored, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(stored);
    json_decref(j);
    OPENSSL_cleanse(key, sizeof(key));
    if (due_schedule_cb(q->a->due, DUE_WEBHOOK, q->who.org, util_now_ms() + DUE_HEARTBEAT_MS,
                        on_org_noted, g) < 0) {
        http_unavailable(q);
        reg_free(g);
    }
}

/* Orders endpoint views by creation time, then id. */
static int by_created(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(json_string_value(json_object_get(x, "created")),
                   json_string_value(json_object_get(y, "created")));
    return c ? c
             : strcmp(json_string_value(json_object_get(x, "id")),
                      json_string_value(json_object_get(y, "id")));
}

/* HGETALL of the org's endpoints. */
static void on_listed(void *arg, const store_reply *r)
{
    http_req *q = arg;
    if (r == NULL || store_reply_is_error(r)) {
        http_unavailable(q);
        return;
    }
    size_t n = store_reply_len(r) / 2, k = 0;
    json_t **views = calloc(n + 1, sizeof(*views));
    if (views == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *id = store_reply_str(store_reply_at(r, 2 * i), NULL);
        const char *js = store_reply_str(store_reply_at(r, 2 * i + 1), NULL);
        json_t *v = id && js ? endpoint_view(id, js) : NULL;
        if (v)
            views[k++] = v;
    }
    qsort(views, k, sizeof(*views), by_created);
    json_t *list = json_array();
    for (size_t i = 0; i < k; i++)
        json_array_append_new(list, views[i]);
    free(views);
    reply_json(q, 200, json_pack("{s:o}", "webhooks", list));
}

void http_webhooks_list(http_req *q)
{
    char hash[KEYS_MAX];
    keys_org(hash, q->who.org, "webhooks");
    const char *argv[] = {"HGETALL", hash};
    size_t lens[] = {7, strlen(hash)};
    if (store_command(q->a->st, on_listed, q, 2, argv, lens) < 0)
        http_unavailable(q);
}

/* HGET of one endpoint, or outbox.lua enable's answer: the stored JSON. */
static void on_endpoint(void *arg, const store_reply *r)
{
    http_req *q = arg;
    const char *js = store_reply_str(r, NULL);
    json_t *v = js ? endpoint_view(q->param[0], js) : NULL;
    if (r == NULL || store_reply_is_error(r))
        http_unavailable(q);
    else if (v == NULL)
        not_found(q);
    else
        reply_json(q, 200, v);
}

void http_webhooks_get(http_req *q)
{
    if (!check_id(q))
        return;
    char hash[KEYS_MAX];
    keys_org(hash, q->who.org, "webhooks");
    const char *argv[] = {"HGET", hash, q->param[0]};
    size_t lens[] = {4, strlen(hash), strlen(q->param[0])};
    if (store_command(q->a->st, on_endpoint, q, 3, argv, lens) < 0)
        http_unavailable(q);
}

/* Runs outbox.lua operation op on endpoint param[0] (with its history key). */
static void endpoint_script(http_req *q, const char *op, const char *extra, store_cb *cb)
{
    char k1[KEYS_MAX], k2[KEYS_MAX], k3[KEYS_MAX], k4[KEYS_MAX];
    keys_org(k1, q->who.org, "webhooks");
    keys_org(k2, q->who.org, "wh:due");
    keys_org(k3, q->who.org, "wh:out");
    keys_leader(k4, q->who.org, "wh:hist", q->param[0]);
    const char *argv[] = {k1, k2, k3, k4, op, q->param[0], extra};
    size_t lens[7];
    int argc = extra ? 7 : 6;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(q->a->st, STORE_SCRIPT_OUTBOX, 4, argc, argv, lens, cb, q) < 0)
        http_unavailable(q);
}

/* outbox.lua delete's answer: 1 deleted, 0 none. */
static void on_deleted(void *arg, const store_reply *r)
{
    http_req *q = arg;
    if (r == NULL || store_reply_is_error(r))
        http_unavailable(q);
    else if (store_reply_int(r) != 1)
        not_found(q);
    else
        http_reply(q, 204, NULL);
}

void http_webhooks_delete(http_req *q)
{
    if (check_id(q))
        endpoint_script(q, "delete", NULL, on_deleted);
}

void http_webhooks_enable(http_req *q)
{
    if (check_id(q))
        endpoint_script(q, "enable", NULL, on_endpoint);
}

/* The test event was queued, or why not. */
static void on_test_queued(void *arg, webhook_test_status status, const char *delivery)
{
    http_req *q = arg;
    if (status == WEBHOOK_TEST_QUEUED) {
        reply_json(q, 202, json_pack("{s:s, s:s}", "delivery", delivery, "type", "test"));
    } else if (status == WEBHOOK_TEST_NONE) {
        not_found(q);
    } else if (status == WEBHOOK_TEST_DISABLED) {
        http_problem(q, 409, "webhook-disabled",
                     "This webhook is disabled (its receiver answered 410 Gone); enable it "
                     "with POST /v1/admin/webhooks/{id}/enable first.",
                     NULL);
    } else {
        http_unavailable(q);
    }
}

void http_webhooks_test(http_req *q)
{
    if (check_id(q) &&
        webhook_enqueue_test(q->a->wh, q->who.org, q->param[0], on_test_queued, q) < 0)
        http_unavailable(q);
}

/* A delivery entry of outbox.lua with its Unix-ms members as RFC 3339. */
static json_t *delivery_view(const char *js)
{
    static const char *const times[] = {"created", "finished", "next_attempt"};
    json_t *d = json_loads(js, 0, NULL);
    for (size_t i = 0; d && i < sizeof(times) / sizeof(times[0]); i++) {
        json_t *v = json_object_get(d, times[i]);
        if (json_is_number(v)) {
            char ts[32];
            util_format_rfc3339((int64_t)json_number_value(v), ts);
            json_object_set_new(d, times[i], json_string(ts));
        }
    }
    return d;
}

/* outbox.lua list's answer: {endpoint or nil, {history}, {pending}}. */
static void on_deliveries(void *arg, const store_reply *r)
{
    http_req *q = arg;
    if (r == NULL || store_reply_is_error(r)) {
        http_unavailable(q);
        return;
    }
    if (store_reply_is_nil(store_reply_at(r, 0)) || store_reply_len(r) < 3) {
        not_found(q);
        return;
    }
    json_t *hist = json_array(), *pend = json_array();
    const store_reply *h = store_reply_at(r, 1), *p = store_reply_at(r, 2);
    for (size_t i = 0; i < store_reply_len(h); i++) {
        json_t *d = delivery_view(store_reply_str(store_reply_at(h, i), NULL) ?: "");
        if (d)
            json_array_append_new(hist, d);
    }
    for (size_t i = 0; i < store_reply_len(p); i++) {
        json_t *d = delivery_view(store_reply_str(store_reply_at(p, i), NULL) ?: "");
        if (d)
            json_array_append_new(pend, d);
    }
    reply_json(
        q, 200,
        json_pack("{s:s, s:o, s:o}", "webhook", q->param[0], "pending", pend, "deliveries", hist));
}

void http_webhooks_deliveries(http_req *q)
{
    if (check_id(q))
        endpoint_script(q, "list", "100", on_deliveries);
}
