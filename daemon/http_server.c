/*
 * http_server.c - evhttp listener, limits, routing, bearer auth, problem+json.
 *
 * A request goes: on_request (health checks answered inline) -> route
 * lookup in `routes` -> an http_req is allocated -> auth_check (often from
 * the cache, else one Redis HGET) -> role check -> the handler. Handlers
 * answer with http_reply/http_problem, which free the http_req. `busy`
 * counts requests between arrival and answer, so that shutdown can wait
 * for them.
 *
 * Limits: evhttp's body, header and timeout limits are set from the config
 * (evhttp's defaults are unlimited). Responses carry nosniff and deny
 * framing; the embed page (http_widget.c) is the one route allowed in a
 * frame: it sets its own Content-Security-Policy, which common_headers then
 * leaves alone. Routes of ACCESS_NONE (the widget's script, the embed page)
 * skip the token check: they hold no data, the widget reads with its token.
 */
#include "http_server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <strings.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ingest.h"
#include "jsonw.h"
#include "orgs.h"
#include "rulesync.h"
#include "query.h"
#include "log.h"
#include "store.h"

struct http_server {
    app *a;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    size_t busy;
    size_t held; /* streams ending: their last bytes are still on the way */
    /* Connections that sent a request and are open: an open-addressing set
     * of evhttp_connection pointers (0 = empty), for max_connections. */
    struct evhttp_connection **conns;
    size_t nconns, capconns;
};

/* Slot of evcon in the connection set, or of the empty slot it would take. */
static size_t conn_slot(const http_server *h, const struct evhttp_connection *evcon)
{
    size_t i = ((uintptr_t)evcon >> 4) & (h->capconns - 1);
    while (h->conns[i] && h->conns[i] != evcon)
        i = (i + 1) & (h->capconns - 1);
    return i;
}

/* Adds evcon to the set; false if it was there already. */
static bool conn_add(http_server *h, struct evhttp_connection *evcon)
{
    if ((h->nconns + 1) * 2 > h->capconns) {
        struct evhttp_connection **old = h->conns;
        size_t oldcap = h->capconns;
        h->capconns = oldcap ? oldcap * 2 : 256;
        h->conns = calloc(h->capconns, sizeof(*h->conns));
        if (h->conns == NULL)
            abort();
        for (size_t i = 0; i < oldcap; i++)
            if (old[i])
                h->conns[conn_slot(h, old[i])] = old[i];
        free(old);
    }
    size_t i = conn_slot(h, evcon);
    if (h->conns[i])
        return false;
    h->conns[i] = evcon;
    h->nconns++;
    return true;
}

/* Removes evcon from the set, shifting later members of its run back. */
static void conn_remove(http_server *h, struct evhttp_connection *evcon)
{
    if (h->capconns == 0)
        return;
    size_t i = conn_slot(h, evcon), mask = h->capconns - 1;
    if (h->conns[i] == NULL)
        return;
    h->conns[i] = NULL;
    h->nconns--;
    for (size_t j = (i + 1) & mask; h->conns[j]; j = (j + 1) & mask) {
        struct evhttp_connection *c = h->conns[j];
        h->conns[j] = NULL;
        h->conns[conn_slot(h, c)] = c;
    }
}

/* A counted connection closed. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    conn_remove(arg, evcon);
}

/* Who may use a route: any token of an org (READ), reader and above
 * (STREAM, which also takes the token from a `token` query parameter:
 * EventSource cannot send headers), posters of events (EVENTS), admins,
 * or the operator, who may use the OPERATOR routes and no other. */
typedef enum {
    ACCESS_NONE,
    ACCESS_READ,
    ACCESS_STREAM,
    ACCESS_EVENTS,
    ACCESS_ADMIN,
    ACCESS_OPERATOR
} access_kind;

static const struct route {
    enum evhttp_cmd_type method;
    const char *pattern; /* "*" matches one segment, which becomes a param */
    access_kind access;
    http_handler *handler;
} routes[] = {
    {EVHTTP_REQ_POST, "/v1/events", ACCESS_EVENTS, http_events_post},
    {EVHTTP_REQ_GET, "/v1/challenges", ACCESS_READ, http_challenges_list},
    {EVHTTP_REQ_GET, "/v1/challenges/*/leaderboard", ACCESS_READ, http_board_get},
    {EVHTTP_REQ_GET, "/v1/challenges/*/leaderboard/around/*", ACCESS_READ, http_board_around},
    {EVHTTP_REQ_GET, "/v1/challenges/*/teams", ACCESS_READ, http_teams_get},
    {EVHTTP_REQ_GET, "/v1/challenges/*/periods", ACCESS_READ, http_periods_get},
    {EVHTTP_REQ_GET, "/v1/challenges/*/stream", ACCESS_STREAM, http_stream_get},
    {EVHTTP_REQ_GET, "/v1/leaders/*", ACCESS_READ, http_leader_get},
    {EVHTTP_REQ_PUT, "/v1/admin/leaders/*", ACCESS_ADMIN, http_admin_leader_put},
    {EVHTTP_REQ_GET, "/v1/admin/leaders/*", ACCESS_ADMIN, http_admin_leader_get},
    {EVHTTP_REQ_DELETE, "/v1/admin/leaders/*", ACCESS_ADMIN, http_admin_leader_delete},
    {EVHTTP_REQ_PUT, "/v1/admin/teams/*", ACCESS_ADMIN, http_admin_team_put},
    {EVHTTP_REQ_GET, "/v1/admin/teams/*", ACCESS_ADMIN, http_admin_team_get},
    {EVHTTP_REQ_POST, "/v1/admin/tokens", ACCESS_ADMIN, http_admin_token_post},
    {EVHTTP_REQ_DELETE, "/v1/admin/tokens/*", ACCESS_ADMIN, http_admin_token_delete},
    {EVHTTP_REQ_POST, "/v1/admin/challenges/*/rescore", ACCESS_ADMIN, http_rescore_post},
    {EVHTTP_REQ_POST, "/v1/admin/adjustments", ACCESS_ADMIN, http_adjust_post},
    {EVHTTP_REQ_GET, "/v1/admin/adjustments", ACCESS_ADMIN, http_adjust_list},
    {EVHTTP_REQ_GET, "/v1/admin/events", ACCESS_ADMIN, http_export_get},
    {EVHTTP_REQ_POST, "/v1/admin/webhooks", ACCESS_ADMIN, http_webhooks_post},
    {EVHTTP_REQ_GET, "/v1/admin/webhooks", ACCESS_ADMIN, http_webhooks_list},
    {EVHTTP_REQ_GET, "/v1/admin/webhooks/*", ACCESS_ADMIN, http_webhooks_get},
    {EVHTTP_REQ_DELETE, "/v1/admin/webhooks/*", ACCESS_ADMIN, http_webhooks_delete},
    {EVHTTP_REQ_POST, "/v1/admin/webhooks/*/enable", ACCESS_ADMIN, http_webhooks_enable},
    {EVHTTP_REQ_POST, "/v1/admin/webhooks/*/test", ACCESS_ADMIN, http_webhooks_test},
    {EVHTTP_REQ_GET, "/v1/admin/webhooks/*/deliveries", ACCESS_ADMIN, http_webhooks_deliveries},
    {EVHTTP_REQ_GET, "/v1/rules", ACCESS_READ, http_rules_get},
    {EVHTTP_REQ_PUT, "/v1/rules", ACCESS_ADMIN, http_rules_put},
    {EVHTTP_REQ_GET, "/widget/podium-leaderboard.js", ACCESS_NONE, http_widget_js},
    {EVHTTP_REQ_GET, "/embed/*", ACCESS_NONE, http_embed_get},
    {EVHTTP_REQ_POST, "/v1/orgs", ACCESS_OPERATOR, http_orgs_post},
    {EVHTTP_REQ_GET, "/v1/orgs", ACCESS_OPERATOR, http_orgs_list},
    {EVHTTP_REQ_GET, "/v1/orgs/*", ACCESS_OPERATOR, http_orgs_get},
    {EVHTTP_REQ_PATCH, "/v1/orgs/*", ACCESS_OPERATOR, http_orgs_patch},
    {EVHTTP_REQ_DELETE, "/v1/orgs/*", ACCESS_OPERATOR, http_orgs_delete},
};

/* The name of a method of the route table. */
static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "?";
    }
}

/* The reason phrase of a status, used as the problem title too. */
static const char *phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 431:
        return "Request Header Fields Too Large";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

/* True if origin is in the comma-separated allowlist (or it holds "*"). */
static bool origin_allowed(const char *list, const char *origin)
{
    size_t olen = strlen(origin);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if ((m == 1 && p[0] == '*') || (m == olen && strncasecmp(p, origin, m) == 0))
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

/* Headers every answer carries: no sniffing, no framing (unless the
 * handler set its own policy), and CORS for an Origin on the cors_origins
 * list (unless the handler allowed every origin itself). */
static void common_headers(const app *a, struct evhttp_request *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (evhttp_find_header(h, "Content-Security-Policy") == NULL)
        evhttp_add_header(h, "Content-Security-Policy", "frame-ancestors 'none'");
    const char *origin = evhttp_find_header(evhttp_request_get_input_headers(r), "Origin");
    if (a->cfg->cors_origins[0] && origin && origin_allowed(a->cfg->cors_origins, origin) &&
        evhttp_find_header(h, "Access-Control-Allow-Origin") == NULL) {
        evhttp_add_header(h, "Access-Control-Allow-Origin", origin);
        evhttp_add_header(h, "Vary", "Origin");
        evhttp_add_header(h, "Access-Control-Expose-Headers", "ETag, Retry-After");
    }
}

/* Sends and forgets an answer to a request that has no http_req yet. */
static void send_raw(const app *a, struct evhttp_request *r, int status, const char *type,
                     struct evbuffer *b)
{
    common_headers(a, r);
    if (type)
        evhttp_add_header(evhttp_request_get_output_headers(r), "Content-Type", type);
    evhttp_send_reply(r, status, phrase(status), b);
}

void http_reply_type(http_req *q, int status, const char *type, struct evbuffer *body)
{
    send_raw(q->a, q->r, status, body ? type : NULL, body);
    if (body)
        evbuffer_free(body);
    q->a->http->busy--;
    org_release(q->org);
    free(q);
}

void http_reply(http_req *q, int status, struct evbuffer *body)
{
    http_reply_type(q, status, "application/json", body);
}

json_t *http_body_object(http_req *q)
{
    size_t len;
    const char *body = http_body(q, &len);
    json_error_t e;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (j == NULL || !json_is_object(j)) {
        errlist errs = {0};
        if (j == NULL)
            errlist_add(&errs, "", "line %d, column %d: %s", e.line, e.column, e.text);
        else
            errlist_add(&errs, "", "must be a JSON object");
        http_problem(q, 400, "invalid-body", "The body could not be read; nothing was changed.",
                     &errs);
        errlist_clear(&errs);
        json_decref(j);
        return NULL;
    }
    return j;
}

const char *http_string_member(json_t *obj, const char *name, bool required, size_t max,
                               errlist *errs)
{
    char ptr[64];
    snprintf(ptr, sizeof(ptr), "/%s", name);
    json_t *v = json_object_get(obj, name);
    if (v == NULL || json_is_null(v)) {
        if (required)
            errlist_add(errs, ptr, "is required");
        return NULL;
    }
    if (!json_is_string(v) || (max == 0 && strlen(json_string_value(v)) != json_string_length(v))) {
        errlist_add(errs, ptr, "must be a string");
        return NULL;
    }
    size_t n = json_string_length(v);
    if (max > 0 && (n == 0 || n > max || strlen(json_string_value(v)) != n)) {
        errlist_add(errs, ptr, "must be 1 to %zu characters", max);
        return NULL;
    }
    return json_string_value(v);
}

void http_only_members(json_t *obj, const char *const *allowed, errlist *errs)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, k) == 0;
        if (!ok) { /* the member as a JSON Pointer: '~' is "~0", '/' is "~1" */
            char ptr[80] = "/";
            size_t n = 1;
            for (const char *c = k; *c && n + 3 < sizeof(ptr); c++) {
                if (*c == '~' || *c == '/') {
                    ptr[n++] = '~';
                    ptr[n++] = *c == '~' ? '0' : '1';
                } else {
                    ptr[n++] = *c;
                }
            }
            ptr[n] = '\0';
            errlist_add(errs, ptr, "unknown member");
        }
    }
}

void http_json_str(struct evbuffer *b, const char *s)
{
    jsonw_str(b, s);
}

/* Builds a problem+json body. */
static struct evbuffer *problem_body(int status, const char *slug, const char *detail,
                                     const errlist *errs)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"type\":\"/problems/%s\",\"title\":", slug);
    http_json_str(b, phrase(status));
    evbuffer_add_printf(b, ",\"status\":%d,\"detail\":", status);
    http_json_str(b, detail);
    if (errs && errs->n) {
        evbuffer_add_printf(b, ",\"errors\":[");
        for (size_t i = 0; i < errs->n; i++) {
            evbuffer_add_printf(b, "%s{\"pointer\":", i ? "," : "");
            http_json_str(b, errs->items[i].pointer);
            evbuffer_add_printf(b, ",\"message\":");
            http_json_str(b, errs->items[i].message);
            evbuffer_add(b, "}", 1);
        }
        evbuffer_add(b, "]", 1);
    }
    evbuffer_add(b, "}\n", 2);
    return b;
}

void http_problem(http_req *q, int status, const char *slug, const char *detail,
                  const errlist *errs)
{
    http_reply_type(q, status, "application/problem+json",
                    problem_body(status, slug, detail, errs));
}

void http_unavailable(http_req *q)
{
    evhttp_add_header(evhttp_request_get_output_headers(q->r), "Retry-After", "1");
    http_problem(q, 503, "unavailable",
                 "Redis cannot be reached right now; nothing was changed. Retry in a moment.",
                 NULL);
}

/*
 * Answers libevent gives by itself. Before any callback of ours runs,
 * evhttp refuses a request it cannot parse (400), with a method it does
 * not know (501), whose headers pass max_headers (400 or 413) or whose body
 * passes max_body (413), and does so
 * through evhttp_send_error, which writes an HTML page. podiumd defines
 * evhttp_send_error here instead: libevent calls it through its PLT, so the
 * dynamic linker binds those calls to this definition and every error a
 * client sees is problem+json. test_bad_input checks these bodies, so a
 * libevent built to bind its own calls (-Bsymbolic) would be noticed.
 * podiumd itself never calls evhttp_send_error.
 */
static size_t limit_body, limit_headers; /* set by http_server_new */

void evhttp_send_error(struct evhttp_request *r, int status, const char *reason)
{
    char detail[256];
    const char *slug = "bad-request";
    const char *len = evhttp_find_header(evhttp_request_get_input_headers(r), "Content-Length");
    (void)reason;
    if (status == 413 && len && strtoull(len, NULL, 10) > limit_body) {
        slug = "body-too-large";
        snprintf(detail, sizeof(detail),
                 "The request body is larger than this server accepts (max_body, %zu bytes); "
                 "send fewer events per request.",
                 limit_body);
    } else if (status == 413) {
        status = 431;
        slug = "headers-too-large";
        snprintf(detail, sizeof(detail),
                 "The request line and headers are larger than this server accepts "
                 "(max_headers, %zu bytes).",
                 limit_headers);
    } else if (status == 400) {
        snprintf(detail, sizeof(detail),
                 "The request is not valid HTTP/1.1: its request line, method or headers cannot "
                 "be read, or the headers are larger than max_headers (%zu bytes).",
                 limit_headers);
    } else if (status == 501) {
        slug = "method-not-implemented";
        snprintf(detail, sizeof(detail),
                 "The request method is not one HTTP/1.1 defines; podiumd serves GET, POST, "
                 "PUT, PATCH, DELETE and OPTIONS.");
    } else {
        snprintf(detail, sizeof(detail), "The HTTP server refused this request.");
    }
    struct evbuffer *b = problem_body(status, slug, detail, NULL);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    evhttp_add_header(h, "Connection", "close");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Content-Type", "application/problem+json");
    evhttp_send_reply(r, status, phrase(status), b);
    evbuffer_free(b);
}

/* Problem answer for a request without an http_req. */
static void raw_problem(const app *a, struct evhttp_request *r, int status, const char *slug,
                        const char *detail)
{
    struct evbuffer *b = problem_body(status, slug, detail, NULL);
    send_raw(a, r, status, "application/problem+json", b);
    evbuffer_free(b);
}

const char *http_query(const http_req *q, const char *name, char *buf, size_t buflen)
{
    int n = query_get(q->query, name, buf, buflen);
    if (n == -2 && buflen > 0) /* present but unreadable: a value no check accepts */
        buf[0] = '\0';
    return n == -1 ? NULL : buf;
}

const char *http_body(http_req *q, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(q->r);
    *len = evbuffer_get_length(in);
    evbuffer_add(in, "", 1);
    return (const char *)evbuffer_pullup(in, -1);
}

const char *http_header(const http_req *q, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(q->r), name);
}

size_t http_server_busy(const http_server *h)
{
    return h ? h->busy + h->held : 0;
}

struct evhttp_request *http_detach(http_req *q)
{
    struct evhttp_request *r = q->r;
    common_headers(q->a, r);
    q->a->http->busy--;
    org_release(q->org);
    free(q);
    return r;
}

const rules *http_rules(const http_req *q)
{
    return q->org ? org_rules(q->org) : NULL;
}

const rules *http_read_rules(const http_req *q)
{
    return q->org ? org_rules_or_empty(q->org) : NULL;
}

void http_server_conn_closed(http_server *h, struct evhttp_connection *evcon)
{
    conn_remove(h, evcon);
}

void http_server_hold(http_server *h, int delta)
{
    h->held = (size_t)((ptrdiff_t)h->held + delta);
}

/* Matches path against a pattern, filling q's params; true on a match. */
static bool match(const char *pattern, const char *path, http_req *q)
{
    size_t np = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '*') {
            const char *end = strchr(s, '/');
            size_t n = end ? (size_t)(end - s) : strlen(s);
            if (n == 0 || np == HTTP_MAX_PARAMS)
                return false;
            if (q)
                q->param[np] = s;
            np++;
            s += n;
            p++;
            continue;
        }
        if (*p++ != *s++)
            return false;
    }
    return *p == '\0' && *s == '\0';
}

/* The route chosen for a request, kept until auth answers. */
struct pending {
    http_req q;
    const struct route *rt;
};

/* Whether a role may use a route of this access kind. */
static bool role_allowed(access_kind k, auth_role role)
{
    if (k == ACCESS_OPERATOR || role == ROLE_OPERATOR)
        return k == ACCESS_OPERATOR && role == ROLE_OPERATOR;
    return k == ACCESS_READ || (k == ACCESS_STREAM && role >= ROLE_READER) ||
           (k == ACCESS_EVENTS && role != ROLE_READER) || role == ROLE_ADMIN;
}

/* Answers 403: the token's role may not use the route. */
static void forbid(http_req *q, access_kind k, auth_role role)
{
    char detail[200];
    if (role == ROLE_OPERATOR)
        snprintf(detail, sizeof(detail),
                 "The operator token manages orgs (/v1/orgs) and reads no org's leaders, "
                 "events or boards; use a token of the org.");
    else
        snprintf(detail, sizeof(detail), "%s %s token cannot do this; it needs %s.",
                 role == ROLE_INGEST || role == ROLE_ADMIN ? "An" : "A", auth_role_name(role),
                 k == ACCESS_ADMIN      ? "an admin token"
                 : k == ACCESS_OPERATOR ? "the operator token"
                 : k == ACCESS_STREAM   ? "a reader, ingest or admin token"
                                        : "a leader, ingest or admin token");
    http_problem(q, 403, "forbidden", detail, NULL);
}

/* The org of a pending request is known: a token of an org that is not
 * served is refused first (401, 403 suspended), then one whose role may
 * not use the route (403); else the handler runs. */
static void on_org_pending(void *arg, struct org *o)
{
    struct pending *p = arg;
    http_req *q = &p->q;
    q->org = o;
    if (o == NULL) {
        http_unavailable(q);
        return;
    }
    int status;
    const char *slug, *why = org_refusal(o, q->who.incarnation, &status, &slug);
    if (why) {
        if (status == 401)
            evhttp_add_header(evhttp_request_get_output_headers(q->r), "WWW-Authenticate",
                              "Bearer realm=\"podium\"");
        http_problem(q, status, slug, why, NULL);
        return;
    }
    if (!role_allowed(p->rt->access, q->who.role)) {
        forbid(q, p->rt->access, q->who.role);
        return;
    }
    p->rt->handler(q);
}

/* Auth answer for a pending request. */
static void on_auth_pending(void *arg, const auth_identity *who, bool unavailable)
{
    struct pending *p = arg;
    http_req *q = &p->q;
    if (unavailable) {
        http_unavailable(q);
        return;
    }
    if (who == NULL) {
        evhttp_add_header(evhttp_request_get_output_headers(q->r), "WWW-Authenticate",
                          "Bearer realm=\"podium\"");
        http_problem(q, 401, "unauthorized",
                     "A valid token is needed: send the header 'Authorization: Bearer TOKEN'.",
                     NULL);
        return;
    }
    q->who = *who;
    if (who->role == ROLE_OPERATOR || p->rt->access == ACCESS_OPERATOR) {
        if (role_allowed(p->rt->access, who->role))
            p->rt->handler(q);
        else
            forbid(q, p->rt->access, who->role);
        return;
    }
    orgs_acquire(q->a->orgs, who->org, on_org_pending, p); /* may answer before returning */
}

/* /livez and /readyz. */
static bool health(app *a, struct evhttp_request *r, const char *path)
{
    if (strcmp(path, "/livez") == 0 || strcmp(path, "/healthz") == 0) {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b, "{\"status\":\"ok\"}\n");
        send_raw(a, r, 200, "application/json", b);
        evbuffer_free(b);
        return true;
    }
    if (strcmp(path, "/readyz") == 0) {
        struct org *dflt = orgs_find(a->orgs, ORG_DEFAULT);
        bool redis = store_ready(a->st), have_rules = dflt && org_rules(dflt) != NULL;
        if (dflt)
            rulesync_touch(org_rulesync(dflt)); /* readiness follows the stored rules */
        bool ready = redis && have_rules && !a->stopping;
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b, "{\"ready\":%s,\"redis\":%s,\"rules\":%s,\"stopping\":%s}\n",
                            ready ? "true" : "false", redis ? "true" : "false",
                            have_rules ? "true" : "false", a->stopping ? "true" : "false");
        send_raw(a, r, ready ? 200 : 503, "application/json", b);
        evbuffer_free(b);
        return true;
    }
    return false;
}

/* Every request starts here. */
static void on_request(struct evhttp_request *r, void *arg)
{
    http_server *h = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(r);
    if (evcon && conn_add(h, evcon)) {
        evhttp_connection_set_closecb(evcon, on_conn_close, h);
        if (h->nconns > (size_t)h->a->cfg->max_connections) {
            evhttp_add_header(evhttp_request_get_output_headers(r), "Connection", "close");
            evhttp_add_header(evhttp_request_get_output_headers(r), "Retry-After", "1");
            raw_problem(h->a, r, 503, "too-many-connections",
                        "The server holds as many connections as it may (max_connections); "
                        "retry in a moment or reuse an open connection.");
            return;
        }
    }
    const char *uri = evhttp_request_get_uri(r);
    const char *qmark = strchr(uri, '?');
    size_t plen = qmark ? (size_t)(qmark - uri) : strlen(uri);
    char path[512];
    if (plen >= sizeof(path)) {
        raw_problem(h->a, r, 404, "not-found", "No such resource.");
        return;
    }
    memcpy(path, uri, plen);
    path[plen] = '\0';
    if (health(h->a, r, path))
        return;

    const struct route *rt = NULL;
    bool path_known = false;
    enum evhttp_cmd_type m = evhttp_request_get_command(r);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!match(routes[i].pattern, path, NULL))
            continue;
        path_known = true;
        if (routes[i].method == m) {
            rt = &routes[i];
            break;
        }
    }
    if (rt == NULL) {
        if (path_known) {
            char allow[64] = "";
            for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
                if (match(routes[i].pattern, path, NULL))
                    snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
                             allow[0] ? ", " : "", method_name(routes[i].method));
            struct evkeyvalq *out = evhttp_request_get_output_headers(r);
            evhttp_add_header(out, "Allow", allow);
            if (m == EVHTTP_REQ_OPTIONS) { /* a CORS preflight, answered without a token */
                evhttp_add_header(out, "Access-Control-Allow-Methods", allow);
                evhttp_add_header(out, "Access-Control-Allow-Headers",
                                  "Authorization, Content-Type, Accept, Idempotency-Key, Prefer, "
                                  "If-None-Match, If-Match, Last-Event-ID");
                evhttp_add_header(out, "Access-Control-Max-Age", "600");
                send_raw(h->a, r, 204, NULL, NULL);
                return;
            }
            raw_problem(h->a, r, 405, "method-not-allowed",
                        "This resource does not support this method; the Allow header lists "
                        "those it does.");
        } else {
            raw_problem(h->a, r, 404, "not-found", "No such resource; the API lives under /v1/.");
        }
        return;
    }
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        raw_problem(h->a, r, 503, "unavailable", "Out of memory.");
        return;
    }
    http_req *q = &p->q; /* first member: http_reply frees p through q */
    q->r = r;
    q->a = h->a;
    memcpy(q->path, path, plen + 1);
    q->query = qmark ? qmark + 1 : "";
    match(rt->pattern, q->path, q);
    /* Cut the params out of the path copy: each ends at the next '/'. */
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        if (q->param[i])
            ((char *)q->param[i])[strcspn(q->param[i], "/")] = '\0';
    p->rt = rt;
    h->busy++;
    if (rt->access == ACCESS_NONE) {
        rt->handler(q);
        return;
    }

    const char *authz = evhttp_find_header(evhttp_request_get_input_headers(r), "Authorization");
    const char *token = NULL;
    char qtoken[AUTH_TOKEN_MAX + 2]; /* never logged: it is a credential */
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
        token = authz + 7;
    else if (authz == NULL && rt->access == ACCESS_STREAM &&
             query_get(q->query, "token", qtoken, sizeof(qtoken)) >= 0)
        token = qtoken;
    auth_check(h->a->au, token, on_auth_pending, p);
}

http_server *http_server_new(app *a, char *err, size_t errlen)
{
    const config *cfg = a->cfg;
    char host[256];
    int port;
    if (config_parse_hostport(cfg->http_listen, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen, "http_listen: cannot parse '%s'", cfg->http_listen);
        return NULL;
    }
    http_server *h = calloc(1, sizeof(*h));
    h->a = a;
    h->http = evhttp_new(a->base);
    if (h->http == NULL) {
        snprintf(err, errlen, "cannot create the HTTP server");
        free(h);
        return NULL;
    }
    limit_body = (size_t)cfg->max_body;
    limit_headers = (size_t)cfg->max_headers;
    evhttp_set_max_body_size(h->http, (ev_ssize_t)cfg->max_body);
    evhttp_set_max_headers_size(h->http, (ev_ssize_t)cfg->max_headers);
    evhttp_set_timeout(h->http, (int)cfg->read_timeout);
    /* Every method evhttp knows reaches the router, which answers 405 with Allow. */
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
    evhttp_set_gencb(h->http, on_request, h);
    h->sock = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
    if (h->sock == NULL) {
        snprintf(err, errlen, "http_listen: cannot listen on %s", cfg->http_listen);
        evhttp_free(h->http);
        free(h);
        return NULL;
    }
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux. Without
     * it, the tail of a large answer waits for the client's delayed ACK
     * (40 ms) under Nagle's algorithm. */
    int one = 1;
    if (setsockopt(evhttp_bound_socket_get_fd(h->sock), IPPROTO_TCP, TCP_NODELAY, &one,
                   sizeof(one)) < 0)
        log_warn("http: cannot set TCP_NODELAY: %s", strerror(errno));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char shown[300] = "?";
    if (getsockname(evhttp_bound_socket_get_fd(h->sock), (struct sockaddr *)&ss, &sl) == 0) {
        char ip[INET6_ADDRSTRLEN] = "";
        int p = 0;
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
            p = ntohs(s6->sin6_port);
            snprintf(shown, sizeof(shown), "[%s]:%d", ip, p);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
            p = ntohs(s4->sin_port);
            snprintf(shown, sizeof(shown), "%s:%d", ip, p);
        }
    }
    log_info("http: listening on http://%s", shown);
    return h;
}

void http_server_close(http_server *h)
{
    if (h && h->sock) {
        evhttp_del_accept_socket(h->http, h->sock);
        h->sock = NULL;
    }
}

void http_server_free(http_server *h)
{
    if (h == NULL)
        return;
    evhttp_free(h->http); /* closes every connection: on_conn_close empties the set */
    free(h->conns);
    free(h);
}
