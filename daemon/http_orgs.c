/*
 * http_orgs.c - the operator's routes: /v1/orgs and /v1/orgs/{id}.
 *
 * Each handler reads the request the way the operation takes it (path id,
 * query, JSON body) and hands over to orgadmin.c, which checks, acts and
 * answers; this file only turns that answer into HTTP.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "http_server.h"
#include "orgadmin.h"
#include "util.h"

/* An operation's answer, as HTTP. */
static void on_result(void *arg, const orgadmin_result *res)
{
    http_req *q = arg;
    if (res->status >= 400) {
        if (res->status == 503)
            evhttp_add_header(evhttp_request_get_output_headers(q->r), "Retry-After", "1");
        http_problem(q, res->status, res->slug, res->detail, res->errs);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, res->json, res->len);
    evbuffer_add(b, "\n", 1);
    if (res->status == 201) {
        char loc[128];
        snprintf(loc, sizeof(loc), "/v1/orgs/%s", res->id);
        evhttp_add_header(evhttp_request_get_output_headers(q->r), "Location", loc);
    }
    http_reply(q, res->status, b);
}

void http_orgs_post(http_req *q)
{
    json_t *body = http_body_object(q);
    if (body == NULL)
        return;
    orgadmin_create(q->a, body, on_result, q);
    json_decref(body);
}

void http_orgs_list(http_req *q)
{
    char cursor[80] = "", buf[32];
    int64_t limit = 50;
    if (http_query(q, "limit", buf, sizeof(buf)) &&
        !util_parse_i64(buf, 1, ORGADMIN_LIST_MAX, &limit)) {
        errlist errs = {0};
        errlist_add(&errs, "/limit", "must be a whole number from 1 to %d", ORGADMIN_LIST_MAX);
        http_problem(q, 400, "invalid-query", "A query parameter is not valid.", &errs);
        errlist_clear(&errs);
        return;
    }
    http_query(q, "cursor", cursor, sizeof(cursor)); /* "" (or absent): from the first */
    orgadmin_list(q->a, cursor, limit, on_result, q);
}

void http_orgs_get(http_req *q)
{
    orgadmin_get(q->a, q->param[0], on_result, q);
}

void http_orgs_patch(http_req *q)
{
    json_t *body = http_body_object(q);
    if (body == NULL)
        return;
    orgadmin_update(q->a, q->param[0], body, on_result, q);
    json_decref(body);
}

void http_orgs_delete(http_req *q)
{
    orgadmin_delete(q->a, q->param[0], on_result, q);
}
