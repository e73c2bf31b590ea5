/*
 * http_server.h - the HTTP front end: listener, limits, routing, auth, errors.
 *
 * http_server.c owns the evhttp object, applies the size and time limits,
 * matches each request against the route table, checks the bearer token
 * against the route's role and hands a `http_req` to the resource's handler
 * (http_events.c, http_boards.c, http_admin.c, http_rules.c,
 * http_webhooks.c, http_widget.c). Handlers answer through http_reply / http_problem
 * exactly once, possibly later from a Redis callback; a client that went
 * away meanwhile is handled by evhttp (the reply is then dropped and the
 * request freed).
 */
#ifndef PODIUM_HTTP_SERVER_H
#define PODIUM_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "auth.h"
#include "errlist.h"

struct evhttp_request;
struct evhttp_connection;
struct evbuffer;
typedef struct http_server http_server;

#define HTTP_MAX_PARAMS 3

struct org;

typedef struct http_req {
    struct evhttp_request *r;
    app *a;
    auth_identity who;
    struct org *org; /* the token's org, held until the answer; NULL for the operator */
    const char *param[HTTP_MAX_PARAMS]; /* path segments matched by {...} */
    char path[512];                     /* decoded path; params point into it */
    const char *query;                  /* raw query string, "" if none */
} http_req;

typedef void http_handler(http_req *q);

/* Binds cfg->http_listen and starts serving. Returns NULL with a message. */
http_server *http_server_new(app *a, char *err, size_t errlen);
/* Stops accepting; requests in flight are still answered. */
void http_server_close(http_server *h);
/* Frees the server; NULL is allowed. */
void http_server_free(http_server *h);
/* Requests received and not answered yet, and streams still ending. */
size_t http_server_busy(const http_server *h);
/* Takes over q's request for a streamed answer (http_stream.c): adds the
 * headers every answer carries, stops counting it as busy and frees q.
 * The caller answers the returned request itself. */
struct evhttp_request *http_detach(http_req *q);
/* A connection whose close callback the caller took over has closed. */
void http_server_conn_closed(http_server *h, struct evhttp_connection *evcon);
/* Counts (+1) or stops counting (-1) a stream that is ending as busy, so
 * that shutdown waits for its last bytes. */
void http_server_hold(http_server *h, int delta);

/* Sends a JSON body (may be NULL) and frees q. */
void http_reply(http_req *q, int status, struct evbuffer *body);
/* Sends `body` with a content type and frees q. */
void http_reply_type(http_req *q, int status, const char *type, struct evbuffer *body);
/* Sends an application/problem+json error and frees q. `slug` names the
 * problem type (/problems/{slug}); errs may be NULL. */
void http_problem(http_req *q, int status, const char *slug, const char *detail,
                  const errlist *errs);
/* The standard answer when Redis is unreachable: 503 with Retry-After. */
void http_unavailable(http_req *q);
/* Appends s as a JSON string literal (quoted, escaped). */
/* Parses the body as a JSON object; answers 400 and returns NULL if it is
 * not one. The caller owns the object. */
struct json_t *http_body_object(http_req *q);
/* Adds an "unknown member" error, by JSON Pointer, for each member of obj
 * not in `allowed` (NULL-terminated). */
void http_only_members(struct json_t *obj, const char *const *allowed, errlist *errs);
/* The string member `name` of obj, or NULL with a problem in errs (by JSON
 * Pointer) when it is required and missing (or null), not a string, holds a
 * NUL, or (max > 0) is not 1 to max characters long. */
const char *http_string_member(struct json_t *obj, const char *name, bool required, size_t max,
                               errlist *errs);
void http_json_str(struct evbuffer *b, const char *s);
/* Value of query parameter `name` (decoded into buf), or NULL if absent. */
const char *http_query(const http_req *q, const char *name, char *buf, size_t buflen);
/* The request body as a NUL-terminated string (valid while q lives); len out. */
const char *http_body(http_req *q, size_t *len);
/* Request header value, or NULL. */
const char *http_header(const http_req *q, const char *name);
/* The rules in force in the request's org, or NULL when it stored none. */
const struct rules *http_rules(const http_req *q);
/* The same for reads: an org that stored none has no challenges. */
const struct rules *http_read_rules(const http_req *q);

/* Handlers, one family per file. */
void http_events_post(http_req *q);
void http_challenges_list(http_req *q);
void http_board_get(http_req *q);
void http_board_around(http_req *q);
void http_teams_get(http_req *q);
void http_periods_get(http_req *q);
void http_export_get(http_req *q);
void http_stream_get(http_req *q);
void http_leader_get(http_req *q);
void http_admin_leader_put(http_req *q);
void http_admin_leader_get(http_req *q);
void http_admin_leader_delete(http_req *q);
void http_admin_team_put(http_req *q);
void http_admin_team_get(http_req *q);
void http_admin_token_post(http_req *q);
void http_admin_token_delete(http_req *q);
void http_rules_get(http_req *q);
void http_rules_put(http_req *q);
void http_rescore_post(http_req *q);
void http_adjust_post(http_req *q);
void http_adjust_list(http_req *q);
void http_webhooks_post(http_req *q);
void http_webhooks_list(http_req *q);
void http_webhooks_get(http_req *q);
void http_webhooks_delete(http_req *q);
void http_webhooks_enable(http_req *q);
void http_webhooks_test(http_req *q);
void http_webhooks_deliveries(http_req *q);
void http_widget_js(http_req *q);
void http_embed_get(http_req *q);
void http_orgs_post(http_req *q);
void http_orgs_list(http_req *q);
void http_orgs_get(http_req *q);
void http_orgs_patch(http_req *q);
void http_orgs_delete(http_req *q);

#endif
