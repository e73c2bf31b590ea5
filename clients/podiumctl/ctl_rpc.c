/*
 * ctl_rpc.c - podiumctl's reads over msgpack-RPC (ctl_rpc.h), with
 * libpodium's blocking form: one connection per command, auth, one call.
 */
#include "ctl_rpc.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "podium.h"
#include "rpc_json.h"

/* The params packer of podium_call: a JSON object (NULL: an empty map),
 * packed by the daemon's own converter and written through the packer. */
static void pack_params(msgpack_packer *pk, void *arg)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char *text = arg ? json_dumps(arg, JSON_COMPACT) : NULL;
    if (text && rpc_json_pack_text(&sb, text, strlen(text)) == 0)
        pk->callback(pk->data, sb.data, sb.size);
    else
        msgpack_pack_map(pk, 0);
    free(text);
    msgpack_sbuffer_destroy(&sb);
}

/* A msgpack object as a JSON value (caller owns); null when it has no JSON
 * form (podiumd sends none such). */
static json_t *to_json(const msgpack_object *o)
{
    errlist errs = {0};
    json_t *j = rpc_json_from(o, "", &errs);
    errlist_clear(&errs);
    return j ? j : json_null();
}

/* Splits "host:port" or "[v6]:port" into host (in buf) and port; false when
 * there is no port. */
static bool split_hostport(const char *hostport, char *buf, size_t len, char **host, int *port)
{
    snprintf(buf, len, "%s", hostport);
    char *colon = strrchr(buf, ':');
    if (colon == NULL)
        return false;
    *colon = '\0';
    *port = atoi(colon + 1);
    *host = buf;
    if (buf[0] == '[' && colon > buf && colon[-1] == ']') { /* [::1]:7421 */
        colon[-1] = '\0';
        (*host)++;
    }
    return true;
}

/* State of a watch over RPC. */
struct rwatch {
    struct event_base *base;
    podium_async *a;
    ctl_rpc_event_fn *fn;
    void *arg;
    long status;
    char *err;
    size_t errlen;
};

/* auth and subscribe answers: a refusal ends the watch. */
static void on_answer(void *arg, const pcodec_msg *m)
{
    struct rwatch *w = arg;
    if (m == NULL || (m->error && m->error->type != MSGPACK_OBJECT_NIL)) {
        json_t *e = m ? to_json(m->error) : NULL;
        w->status = m ? (long)json_integer_value(json_object_get(e, "status")) : 0;
        const char *msg = json_string_value(json_object_get(e, "message"));
        snprintf(w->err, w->errlen, "%s", msg ? msg : "connection lost");
        json_decref(e);
        event_base_loopbreak(w->base);
    }
}

/* A notification: [2, name, {"subscription", "id", "data"}]. */
static void on_note(void *arg, const pcodec_msg *m)
{
    struct rwatch *w = arg;
    char name[64];
    const msgpack_object *data = pcodec_map_get(m->params, "data");
    if (data == NULL)
        return;
    snprintf(name, sizeof(name), "%.*s", (int)m->method_len, m->method);
    json_t *j = to_json(data);
    w->fn(w->arg, name, j);
    json_decref(j);
}

/* Twice a second: has the connection gone? */
static void on_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rwatch *w = arg;
    if (podium_async_failed(w->a)) {
        snprintf(w->err, w->errlen, "connection lost");
        event_base_loopbreak(w->base);
    }
}

/* Packs {"token": ...}. */
static void pack_token(msgpack_packer *pk, void *arg)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_str(pk, 5);
    msgpack_pack_str_body(pk, "token", 5);
    msgpack_pack_str(pk, strlen(arg));
    msgpack_pack_str_body(pk, arg, strlen(arg));
}

long ctl_rpc_watch(const char *hostport, const char *token, const json_t *params,
                   ctl_rpc_event_fn *fn, void *arg, char *err, size_t errlen)
{
    char buf[256], *host;
    int port;
    if (!split_hostport(hostport, buf, sizeof(buf), &host, &port)) {
        snprintf(err, errlen, "--rpc wants HOST:PORT, got %s", hostport);
        return 400;
    }
    struct rwatch w = {
        .base = event_base_new(), .fn = fn, .arg = arg, .err = err, .errlen = errlen};
    snprintf(err, errlen, "connection lost");
    w.a = w.base ? podium_async_new(w.base, host, port, on_note, &w) : NULL;
    if (w.a == NULL) {
        snprintf(err, errlen, "cannot connect to %s (a numeric address is needed)", hostport);
        if (w.base)
            event_base_free(w.base);
        return 0;
    }
    struct event *tick = event_new(w.base, -1, EV_PERSIST, on_check, &w);
    struct timeval half = {0, 500000};
    event_add(tick, &half);
    if ((token && *token &&
         podium_async_call(w.a, "auth", pack_token, (void *)token, on_answer, &w) < 0) ||
        podium_async_call(w.a, "subscribe", pack_params, (void *)params, on_answer, &w) < 0)
        snprintf(err, errlen, "cannot send the subscription");
    else
        event_base_dispatch(w.base);
    event_free(tick);
    podium_async_free(w.a);
    event_base_free(w.base);
    return w.status;
}

json_t *ctl_rpc_call(const char *hostport, const char *token, const char *method,
                     const json_t *params, long *status, json_t **error, char *err, size_t errlen)
{
    char buf[256], *h;
    int port;
    *status = 0;
    *error = NULL;
    if (!split_hostport(hostport, buf, sizeof(buf), &h, &port)) {
        snprintf(err, errlen, "--rpc wants HOST:PORT, got %s", hostport);
        return NULL;
    }
    podium *p = podium_connect(h, port, err, errlen);
    if (p == NULL)
        return NULL;
    pcodec_msg m;
    json_t *result = NULL;
    if (token && *token && podium_auth(p, token, err, errlen) < 0) {
        *status = 401;
        podium_close(p);
        return NULL;
    }
    if (podium_call(p, method, pack_params, (void *)params, &m, err, errlen) < 0) {
        podium_close(p);
        return NULL;
    }
    if (m.error && m.error->type != MSGPACK_OBJECT_NIL) {
        *error = to_json(m.error);
        *status = (long)json_integer_value(json_object_get(*error, "status"));
        snprintf(err, errlen, "%s",
                 json_string_value(json_object_get(*error, "message"))
                     ? json_string_value(json_object_get(*error, "message"))
                     : "refused");
    } else if (m.result) {
        result = to_json(m.result);
        *status = 200;
    }
    pcodec_msg_free(&m);
    podium_close(p);
    return result;
}
