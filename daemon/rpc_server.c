/*
 * rpc_server.c - msgpack-RPC listener, connections, framing, auth, limits.
 *
 * A connection goes: accept (over max_connections: one error answer, then
 * closed) -> bytes read by its bufferevent -> conn_process hands at most
 * RPC_READ_CHUNK bytes at a time to the codec and dispatches each decoded
 * request -> the method answers, now or from a Redis callback, through
 * rpc_reply_*, which write to the connection's output and free the call.
 *
 * Back-pressure instead of errors: while a connection has RPC_MAX_INFLIGHT
 * requests in flight, RPC_MAX_OUTPUT unsent answer bytes, or an `auth` not
 * yet answered (so requests after it see its outcome), conn_process stops
 * taking requests; the input buffer then fills to its watermark and
 * libevent stops reading the socket. A completion or a drained output
 * restarts it. So a connection holds at most the watermark, one chunk and
 * one frame of input, whatever the client sends.
 *
 * A malformed frame (pcodec_next < 0) is answered with an error (msgid nil
 * when unknown) and the connection is closed once the requests before it
 * are answered; nothing of that frame or after it is acted on.
 *
 * Subscriptions (method `subscribe`) are callback subscribers of the SSE
 * hub (sse_subscribe_fn), held in a fixed table of RPC_MAX_SUBS slots of
 * the connection; each slot is its sink's argument. The sink packs a
 * notification per event and subscription and writes it to the output
 * like an answer. Notifications cannot be held back like requests, so a
 * connection whose unsent output passes RPC_MAX_OUTPUT after one is cut
 * off (the hub calls on_sub_end from its reaper, outside any callback of
 * the connection). Closing a connection drops its subscriptions.
 *
 * Ownership: a connection lives until it is closed AND has no call in
 * flight; closing frees the bufferevent at once, and calls that complete
 * later find conn->bev NULL and drop their answer. Re-entrancy: methods
 * may answer before returning (cache hits); `in_process` keeps such an
 * answer from re-entering conn_process, whose loop picks up from there.
 */
#include "rpc_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "orgs.h"
#include "pcodec.h"
#include "rpc_json.h"
#include "util.h"

#define RPC_INPUT_MAX  (256 * 1024) /* read watermark of a connection's input buffer */
#define RPC_LINGER_SEC 2            /* how long a refused client may go on sending */

/* One subscription of a connection; id 0 marks a free slot. */
struct rpc_sub {
    rpc_conn *c;
    sse_sub *sub; /* the hub's subscriber; NULL while free */
    uint32_t id;  /* unique on the connection, from 1 */
};

struct rpc_conn {
    rpc_server *srv;         /* NULL once the server is freed */
    struct bufferevent *bev; /* NULL once closed */
    pcodec_decoder *dec;
    auth_identity who;
    struct org *org;        /* who's org, held; NULL for the operator */
    auth_identity checking; /* an identity being checked (auth, re-check) */
    bool authed;
    bool suspended; /* unauthenticated because its token's org was suspended meanwhile */
    char token[AUTH_TOKEN_MAX + 2]; /* of the last auth; a credential, never logged */
    int64_t auth_ms;                /* when the token was last found valid */
    bool auth_pending;              /* an `auth` is being checked: later requests wait */
    bool ending; /* malformed input or too many connections: answer, then close */
    bool eof;    /* the client closed its side: answer what it sent, then close */
    bool in_process;
    bool lingering;  /* answered and half-closed: input is read and dropped until EOF */
    bool read_armed; /* the read timeout runs: a frame is begun */
    size_t inflight;
    struct rpc_sub subs[RPC_MAX_SUBS];
    size_t nsubs;
    uint32_t last_sub_id;
    char peer[64];
    rpc_conn *prev, *next;
};

struct rpc_server {
    app *a;
    struct evconnlistener *lev;
    rpc_conn *conns; /* open and closed-with-calls-in-flight alike */
    size_t nopen;
    size_t inflight;
    bool closing;
    msgpack_sbuffer sb; /* scratch for one answer */
    msgpack_packer pk;
    msgpack_sbuffer nsb; /* scratch for one notification */
    msgpack_packer npk;
    pcodec_limits lim;
};

static void conn_process(rpc_conn *c);

/* Frees a connection that is closed and has nothing in flight. */
static void conn_free(rpc_conn *c)
{
    if (c->srv) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->srv->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    pcodec_decoder_free(c->dec);
    org_release(c->org);
    free(c);
}

/* Ends every subscription of c (its connection is going). */
static void conn_drop_subs(rpc_conn *c)
{
    for (size_t i = 0; i < RPC_MAX_SUBS && c->nsubs > 0; i++) {
        struct rpc_sub *u = &c->subs[i];
        if (u->id == 0)
            continue;
        sse_unsubscribe(u->sub);
        *u = (struct rpc_sub){0};
        c->nsubs--;
    }
}

/* Closes the socket now; the struct goes when its last call is answered. */
static void conn_close(rpc_conn *c)
{
    conn_drop_subs(c);
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        if (c->srv)
            c->srv->nopen--;
        log_debug("rpc: %s closed (%zu requests in flight)", c->peer, c->inflight);
    }
    if (c->inflight == 0)
        conn_free(c);
}

/* After a turn of work: closes an ending connection once all is answered
 * and sent, or arms the read timeout while a frame is half there. */
static void conn_check(rpc_conn *c)
{
    if (c->bev == NULL) {
        if (c->inflight == 0)
            conn_free(c);
        return;
    }
    bool ending = c->ending || (c->srv && c->srv->closing) ||
                  (c->eof && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0);
    if (ending && c->inflight == 0 && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        /* Closing a socket with unread input sends RST, which can destroy
         * the error answer before the client reads it: when the client may
         * still be sending, half-close and drop its input for a while. */
        if (!c->ending || c->eof || (c->srv && c->srv->closing)) {
            conn_close(c);
            return;
        }
        if (!c->lingering) {
            c->lingering = true;
            shutdown(bufferevent_getfd(c->bev), SHUT_WR);
            struct timeval tv = {RPC_LINGER_SEC, 0};
            bufferevent_set_timeouts(c->bev, &tv, &tv);
            bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
            bufferevent_enable(c->bev, EV_READ);
        }
        return;
    }
    if (c->lingering)
        return;
    bool begun = pcodec_pending(c->dec) > 0;
    if (c->srv && begun != c->read_armed) { /* only on a change: re-arming costs */
        struct timeval tv = {(time_t)c->srv->a->cfg->read_timeout, 0};
        bufferevent_set_timeouts(c->bev, begun ? &tv : NULL, &tv);
        c->read_armed = begun;
    }
}

/* Writes the scratch buffer to the call's connection, if still open. */
static void flush_scratch(rpc_server *s, rpc_conn *c)
{
    if (c->bev && s->sb.size)
        bufferevent_write(c->bev, s->sb.data, s->sb.size);
    msgpack_sbuffer_clear(&s->sb);
}

/* Something c waited for (a call, a token re-check) is over: let it go on. */
static void conn_unref(rpc_conn *c)
{
    c->inflight--;
    if (c->srv)
        c->srv->inflight--;
    if (c->in_process)
        return;
    if (c->bev)
        conn_process(c); /* ends with conn_check */
    else if (c->inflight == 0)
        conn_free(c);
}

/* A call is answered: forget it and let its connection go on. */
static void call_done(rpc_call *call)
{
    rpc_conn *c = call->conn;
    org_release(call->org);
    free(call);
    conn_unref(c);
}

msgpack_packer *rpc_reply_begin(rpc_call *call)
{
    rpc_conn *c = call->conn;
    if (c->bev == NULL || c->srv == NULL)
        return NULL;
    rpc_server *s = c->srv;
    msgpack_sbuffer_clear(&s->sb);
    if (pcodec_pack_response(&s->pk, call->msgid) < 0 || msgpack_pack_nil(&s->pk) < 0)
        abort(); /* the sbuffer aborts on no memory before this */
    return &s->pk;
}

void rpc_reply_end(rpc_call *call)
{
    rpc_conn *c = call->conn;
    if (c->bev && c->srv)
        flush_scratch(c->srv, c);
    call_done(call);
}

/* Packs an error answer for msgid (< 0: nil) into the scratch buffer. */
static void pack_error(rpc_server *s, int64_t msgid, int status, const char *code,
                       const char *message, const errlist *errs)
{
    size_t n = errs ? errs->n : 0;
    const char **ptrs = NULL, **msgs = NULL;
    if (n) {
        ptrs = calloc(n, sizeof(*ptrs));
        msgs = calloc(n, sizeof(*msgs));
        if (ptrs == NULL || msgs == NULL)
            abort();
        for (size_t i = 0; i < n; i++) {
            ptrs[i] = errs->items[i].pointer;
            msgs[i] = errs->items[i].message;
        }
    }
    msgpack_sbuffer_clear(&s->sb);
    if (pcodec_pack_response(&s->pk, msgid) < 0 ||
        pcodec_pack_error(&s->pk, code, status, message, n, ptrs, msgs) < 0 ||
        msgpack_pack_nil(&s->pk) < 0)
        abort();
    free(ptrs);
    free(msgs);
}

void rpc_reply_error(rpc_call *call, int status, const char *code, const char *message,
                     const errlist *errs)
{
    rpc_conn *c = call->conn;
    if (c->bev && c->srv) {
        pack_error(c->srv, call->msgid, status, code, message, errs);
        flush_scratch(c->srv, c);
    }
    call_done(call);
}

void rpc_reply_json(rpc_call *call, const char *json, size_t len)
{
    msgpack_packer *pk = rpc_reply_begin(call);
    if (pk && rpc_json_pack_text(&call->conn->srv->sb, json, len) < 0) {
        log_err("rpc: an answer rendered as JSON could not be read back");
        rpc_conn *c = call->conn;
        pack_error(c->srv, call->msgid, 500, "internal", "The answer could not be encoded.", NULL);
    }
    rpc_reply_end(call);
}

/* Sends an error that ends the connection (malformed input, over a limit). */
static void conn_fail(rpc_conn *c, int64_t msgid, int status, const char *code, const char *message)
{
    if (c->bev && c->srv) {
        pack_error(c->srv, msgid, status, code, message, NULL);
        flush_scratch(c->srv, c);
    }
    c->ending = true;
}

/* Makes `next` the connection's identity, with org o (taken over). */
static void conn_authed(rpc_conn *c, struct org *o)
{
    org_release(c->org);
    c->org = o;
    c->who = c->checking;
    c->authed = true;
    c->suspended = false;
    c->auth_ms = util_now_ms();
}

/* Forgets the connection's identity. */
static void conn_unauthed(rpc_conn *c)
{
    c->authed = false;
    c->suspended = false;
    org_release(c->org);
    c->org = NULL;
    memset(c->token, 0, sizeof(c->token));
}

/* Answers an `auth` that succeeded. */
static void auth_answer(rpc_call *call)
{
    rpc_conn *c = call->conn;
    msgpack_packer *pk = rpc_reply_begin(call);
    if (pk) {
        const auth_identity *who = &c->who;
        int rc = msgpack_pack_map(pk, 4);
        rc |= pcodec_pack_cstr(pk, "protocol");
        rc |= msgpack_pack_int(pk, PCODEC_PROTOCOL);
        rc |= pcodec_pack_cstr(pk, "role");
        rc |= pcodec_pack_cstr(pk, auth_role_name(who->role));
        rc |= pcodec_pack_cstr(pk, "org");
        rc |= pcodec_pack_cstr(pk, who->role == ROLE_OPERATOR ? NULL : who->org);
        rc |= pcodec_pack_cstr(pk, "leader");
        rc |= pcodec_pack_cstr(pk, who->role == ROLE_LEADER ? who->leader : NULL);
        if (rc)
            abort();
    }
    rpc_reply_end(call);
}

/* The org of an `auth`'s token is known. */
static void on_auth_org(void *arg, struct org *o)
{
    rpc_call *call = arg;
    rpc_conn *c = call->conn;
    c->auth_pending = false;
    int status;
    const char *slug, *why = o ? org_refusal(o, c->checking.incarnation, &status, &slug) : NULL;
    if (o == NULL || why) {
        org_release(o);
        conn_unauthed(c);
        if (o == NULL)
            rpc_reply_error(call, 503, "unavailable",
                            "The token store (Redis) cannot be reached; retry in a moment.", NULL);
        else
            rpc_reply_error(call, status, slug, why, NULL);
        return;
    }
    conn_authed(c, o);
    auth_answer(call);
}

/* `auth` answered by the token store. */
static void on_auth(void *arg, const auth_identity *who, bool unavailable)
{
    rpc_call *call = arg;
    rpc_conn *c = call->conn;
    if (who == NULL) {
        c->auth_pending = false;
        conn_unauthed(c);
        if (unavailable)
            rpc_reply_error(call, 503, "unavailable",
                            "The token store (Redis) cannot be reached; retry in a moment.", NULL);
        else
            rpc_reply_error(call, 401, "unauthorized", "The token is not valid.", NULL);
        return;
    }
    c->checking = *who;
    if (who->role == ROLE_OPERATOR) {
        c->auth_pending = false;
        conn_authed(c, NULL);
        auth_answer(call);
        return;
    }
    orgs_acquire(call->a->orgs, who->org, on_auth_org, call); /* may answer before returning */
}

/* The map a request's params hold: a map, [map], nil or []. NULL if none
 * of those; *empty is set for nil and []. */
static const msgpack_object *params_of(const msgpack_object *p, bool *empty)
{
    *empty = false;
    if (p->type == MSGPACK_OBJECT_MAP)
        return p;
    if (p->type == MSGPACK_OBJECT_NIL ||
        (p->type == MSGPACK_OBJECT_ARRAY && p->via.array.size == 0)) {
        *empty = true;
        return NULL;
    }
    if (p->type == MSGPACK_OBJECT_ARRAY && p->via.array.size == 1 &&
        p->via.array.ptr[0].type == MSGPACK_OBJECT_MAP)
        return &p->via.array.ptr[0];
    return NULL;
}

/* Handles one decoded request of c. */
static void dispatch(rpc_conn *c, const pcodec_msg *m)
{
    rpc_server *s = c->srv;
    if (m->kind != PCODEC_REQUEST) {
        log_info("rpc: %s sent a message of type %d; closing", c->peer, (int)m->kind);
        conn_fail(c, m->has_msgid ? (int64_t)m->msgid : -1, 400, "malformed-message",
                  "A client sends requests only ([0, msgid, method, params]).");
        return;
    }
    rpc_call *call = calloc(1, sizeof(*call));
    if (call == NULL)
        abort();
    call->conn = c;
    call->a = s->a;
    call->who = c->who;
    call->org = c->authed && c->org ? org_hold(c->org) : NULL;
    call->msgid = m->msgid;
    c->inflight++;
    s->inflight++;
    bool empty;
    const msgpack_object *params = params_of(m->params, &empty);
    if (params == NULL && !empty) {
        rpc_reply_error(call, 400, "invalid-params",
                        "params must be a map, an array holding one map, nil or [].", NULL);
        return;
    }
    if (m->method_len == 4 && memcmp(m->method, "ping", 4) == 0) {
        msgpack_packer *pk = rpc_reply_begin(call);
        if (pk) {
            int rc = msgpack_pack_map(pk, 2);
            rc |= pcodec_pack_cstr(pk, "protocol");
            rc |= msgpack_pack_int(pk, PCODEC_PROTOCOL);
            rc |= pcodec_pack_cstr(pk, "server");
            rc |= pcodec_pack_cstr(pk, "podiumd " PODIUM_VERSION);
            if (rc)
                abort();
        }
        rpc_reply_end(call);
        return;
    }
    if (m->method_len == 4 && memcmp(m->method, "auth", 4) == 0) {
        const msgpack_object *t = pcodec_map_get(params, "token");
        char token[AUTH_TOKEN_MAX + 2];
        if (t == NULL || t->type != MSGPACK_OBJECT_STR || t->via.str.size >= sizeof(token) ||
            memchr(t->via.str.ptr, 0, t->via.str.size)) {
            errlist errs = {0};
            errlist_add(&errs, "/token", "must be a token string");
            conn_unauthed(c);
            rpc_reply_error(call, 400, "invalid-params", "auth needs {\"token\": \"...\"}.", &errs);
            errlist_clear(&errs);
            return;
        }
        memcpy(token, t->via.str.ptr, t->via.str.size);
        token[t->via.str.size] = '\0';
        memcpy(c->token, token, sizeof(c->token));
        c->auth_pending = true;
        auth_check(s->a->au, token, on_auth, call); /* may answer before returning */
        return;
    }
    if (!c->authed && c->suspended) {
        rpc_reply_error(call, 403, "org-suspended",
                        "This connection's organisation was suspended: its data is kept, but no "
                        "request is served until an operator resumes it.",
                        NULL);
        return;
    }
    if (!c->authed) {
        rpc_reply_error(call, 401, "unauthorized",
                        "Call auth with a token first; only ping works without one.", NULL);
        return;
    }
    static const msgpack_object none = {.type = MSGPACK_OBJECT_NIL};
    if (!rpc_methods_call(call, m->method, m->method_len, params ? params : &none))
        rpc_reply_error(call, 404, "unknown-method",
                        "No such method; PROTOCOL.md lists them (ping, auth, post_events, "
                        "challenges, leaderboard, around, leader, subscribe, unsubscribe; "
                        "for the operator create_org, list_orgs, get_org, update_org, "
                        "delete_org).",
                        NULL);
}

/* ------------------------------------------------------------ subscriptions */

/* The hub's sink: packs one notification for subscription u and queues it;
 * false (cut me off) when the connection's unsent output passes
 * RPC_MAX_OUTPUT. */
static bool on_notify(void *arg, const char *name, const char *id, const char *data, size_t len)
{
    struct rpc_sub *u = arg;
    rpc_conn *c = u->c;
    if (c->bev == NULL || c->srv == NULL)
        return true; /* cannot happen: closing drops the subscriptions first */
    rpc_server *s = c->srv;
    msgpack_sbuffer_clear(&s->nsb);
    int rc = pcodec_pack_notification(&s->npk, name);
    rc |= msgpack_pack_map(&s->npk, 3);
    rc |= pcodec_pack_cstr(&s->npk, "subscription");
    rc |= msgpack_pack_uint32(&s->npk, u->id);
    rc |= pcodec_pack_cstr(&s->npk, "id");
    rc |= pcodec_pack_cstr(&s->npk, id);
    rc |= pcodec_pack_cstr(&s->npk, "data");
    if (rc)
        abort();
    if (rpc_json_pack_text(&s->nsb, data, len) < 0) {
        log_err("rpc: a %s event's data is not JSON podiumd can pack; sent as nil", name);
        if (msgpack_pack_nil(&s->npk) < 0)
            abort();
    }
    bufferevent_write(c->bev, s->nsb.data, s->nsb.size);
    msgpack_sbuffer_clear(&s->nsb);
    return evbuffer_get_length(bufferevent_get_output(c->bev)) <= RPC_MAX_OUTPUT;
}

/* The hub ended subscription u: it forgot it (clean: the challenge left the
 * rules, or SIGTERM), or cuts off a connection that does not read. */
static void on_sub_end(void *arg, bool clean)
{
    struct rpc_sub *u = arg;
    rpc_conn *c = u->c;
    *u = (struct rpc_sub){0};
    c->nsubs--;
    if (clean || c->bev == NULL)
        return;
    log_info("rpc: %s cut off: over %d bytes of notifications and answers unsent", c->peer,
             RPC_MAX_OUTPUT);
    conn_close(c); /* from the hub's reaper: no callback of c is running */
}

void rpc_subscribe(rpc_call *call, const sse_params *p)
{
    rpc_conn *c = call->conn;
    if (c->bev == NULL || c->srv == NULL) {
        rpc_reply_end(call); /* gone: nothing to answer */
        return;
    }
    if (c->nsubs >= RPC_MAX_SUBS) {
        char msg[120];
        snprintf(msg, sizeof(msg),
                 "A connection holds at most %d subscriptions; unsubscribe one first.",
                 RPC_MAX_SUBS);
        rpc_reply_error(call, 409, "too-many-subscriptions", msg, NULL);
        return;
    }
    struct rpc_sub *u = c->subs;
    while (u->id != 0)
        u++;
    if (++c->last_sub_id == 0)
        c->last_sub_id = 1; /* after 2^32 subscriptions; the slots in use are not checked */
    *u = (struct rpc_sub){.c = c, .id = c->last_sub_id};
    c->nsubs++;
    /* The answer goes out first, so that the client knows the id of the
     * standings the hub may send before sse_subscribe_fn returns. */
    msgpack_packer *pk = rpc_reply_begin(call);
    int rc = msgpack_pack_map(pk, 1);
    rc |= pcodec_pack_cstr(pk, "subscription");
    rc |= msgpack_pack_uint32(pk, u->id);
    if (rc)
        abort();
    flush_scratch(c->srv, c);
    u->sub = sse_subscribe_fn(c->srv->a->sse, p, on_notify, on_sub_end, u);
    if (u->sub == NULL) { /* the hub is shutting down: the connection closes soon */
        *u = (struct rpc_sub){0};
        c->nsubs--;
    }
    call_done(call);
}

void rpc_unsubscribe(rpc_call *call, int64_t id)
{
    rpc_conn *c = call->conn;
    struct rpc_sub *u = NULL;
    for (size_t i = 0; i < RPC_MAX_SUBS && id > 0; i++)
        if (c->subs[i].id == (uint64_t)id)
            u = &c->subs[i];
    if (u == NULL) {
        rpc_reply_error(call, 404, "not-found",
                        "No subscription of this connection has this id (it may have ended).",
                        NULL);
        return;
    }
    sse_unsubscribe(u->sub);
    *u = (struct rpc_sub){0};
    c->nsubs--;
    msgpack_packer *pk = rpc_reply_begin(call);
    if (pk) {
        int rc = msgpack_pack_map(pk, 1);
        rc |= pcodec_pack_cstr(pk, "unsubscribed");
        rc |= msgpack_pack_true(pk);
        if (rc)
            abort();
    }
    rpc_reply_end(call);
}

/* The org of a re-checked token is known. */
static void on_recheck_org(void *arg, struct org *o)
{
    rpc_conn *c = arg;
    c->auth_pending = false;
    int status;
    const char *slug;
    if (o == NULL) {
        c->auth_ms = util_now_ms(); /* Redis is away: methods will say so; ask again later */
    } else if (org_refusal(o, c->checking.incarnation, &status, &slug)) {
        log_info("rpc: %s: its token's org is %s", c->peer, orgs_state_name(org_get_state(o)));
        bool suspended = org_get_state(o) == ORG_SUSPENDED;
        org_release(o);
        conn_unauthed(c);
        c->suspended = suspended;
    } else {
        conn_authed(c, o);
    }
    conn_unref(c);
}

/* The re-check of an authenticated connection's token is answered. */
static void on_recheck(void *arg, const auth_identity *who, bool unavailable)
{
    rpc_conn *c = arg;
    if (unavailable) {
        c->auth_pending = false;
        c->auth_ms = util_now_ms(); /* Redis is away: methods will say so; ask again later */
    } else if (who == NULL) {
        c->auth_pending = false;
        log_info("rpc: %s: its token is no longer valid", c->peer);
        conn_unauthed(c);
    } else if (who->role == ROLE_OPERATOR) {
        c->auth_pending = false;
        c->checking = *who;
        conn_authed(c, NULL);
    } else {
        c->checking = *who;
        orgs_acquire(c->srv->a->orgs, who->org, on_recheck_org, c); /* may answer at once */
        return;
    }
    conn_unref(c);
}

/* Like HTTP, which looks every request's token up (cached AUTH_CACHE_MS),
 * a connection's token is looked up again once it is that old, so that a
 * deleted token stops working on open connections too. Requests wait. */
static void recheck_token(rpc_conn *c)
{
    c->auth_pending = true;
    c->inflight++;
    c->srv->inflight++;
    auth_check(c->srv->a->au, c->token, on_recheck, c); /* may answer before returning */
}

/* Decodes and dispatches what c has received, as far as its limits allow. */
static void conn_process(rpc_conn *c)
{
    if (c->in_process || c->bev == NULL)
        return;
    c->in_process = true;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    while (c->bev && c->srv && !c->ending && !c->auth_pending && !c->srv->closing &&
           c->inflight < RPC_MAX_INFLIGHT && evbuffer_get_length(out) < RPC_MAX_OUTPUT) {
        if (c->authed && util_now_ms() - c->auth_ms > AUTH_CACHE_MS) {
            recheck_token(c);
            continue;
        }
        pcodec_msg m;
        int rc = pcodec_next(c->dec, &m);
        if (rc == 1) {
            dispatch(c, &m);
            pcodec_msg_free(&m);
            continue;
        }
        if (rc < 0) {
            log_info("rpc: %s sent a malformed message (%s); closing", c->peer,
                     pcodec_error(c->dec));
            char msg[256];
            snprintf(msg, sizeof(msg), "Malformed message: %s. Nothing of it was acted on.",
                     pcodec_error(c->dec));
            conn_fail(c, m.has_msgid ? (int64_t)m.msgid : -1, 400, "malformed-message", msg);
            break;
        }
        size_t n = evbuffer_get_length(in);
        if (n == 0)
            break;
        if (n > RPC_READ_CHUNK)
            n = RPC_READ_CHUNK;
        unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
        if (p == NULL || pcodec_feed(c->dec, p, n) < 0) {
            conn_fail(c, -1, 503, "unavailable", "Out of memory.");
            break;
        }
        evbuffer_drain(in, n);
    }
    c->in_process = false;
    conn_check(c);
}

/* Bytes arrived. */
static void on_read(struct bufferevent *bev, void *arg)
{
    rpc_conn *c = arg;
    if (c->lingering) {
        struct evbuffer *in = bufferevent_get_input(bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    conn_process(c);
}

/* The output drained (to its low watermark, 0): maybe restart or close. */
static void on_write(struct bufferevent *bev, void *arg)
{
    conn_process(arg);
}

/* EOF, error or timeout on a connection. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    rpc_conn *c = arg;
    if ((what & BEV_EVENT_EOF) && !c->lingering) {
        /* The client is done sending; what it sent is still answered. */
        c->eof = true;
        bufferevent_disable(c->bev, EV_READ);
        conn_process(c); /* may free c */
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) && !c->lingering)
        log_info("rpc: %s sent part of a message and nothing for read_timeout; closing", c->peer);
    conn_close(c);
}

/* A new connection. */
static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    rpc_server *s = arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    rpc_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->srv = s;
    c->dec = pcodec_decoder_new(&s->lim);
    c->bev = bufferevent_socket_new(s->a->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->dec == NULL || c->bev == NULL) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        pcodec_decoder_free(c->dec);
        free(c);
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
    snprintf(c->peer, sizeof(c->peer), "%s:%u", ip,
             sa->sa_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)sa)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)sa)->sin_port));
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nopen++;
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, RPC_INPUT_MAX);
    /* A client that takes no answer bytes for read_timeout is cut off, as
     * evhttp does for HTTP; it runs only while answers wait to be sent. */
    struct timeval wt = {(time_t)s->a->cfg->read_timeout, 0};
    bufferevent_set_timeouts(c->bev, NULL, &wt);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    log_debug("rpc: %s connected", c->peer);
    if (s->nopen > (size_t)s->a->cfg->max_connections) {
        conn_fail(c, -1, 503, "too-many-connections",
                  "The server holds as many connections as it may (max_connections); retry in "
                  "a moment.");
        conn_check(c);
    }
}

/* The listener failed to accept (out of descriptors): log it, go on. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    log_warn("rpc: accept failed: %s", evutil_socket_error_to_string(err));
}

rpc_server *rpc_server_new(app *a, char *err, size_t errlen)
{
    const config *cfg = a->cfg;
    char host[256], portstr[16];
    int port;
    if (config_parse_hostport(cfg->rpc_listen, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen, "rpc_listen: cannot parse '%s'", cfg->rpc_listen);
        return NULL;
    }
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "rpc_listen: cannot resolve '%s': %s", host, gai_strerror(gai));
        return NULL;
    }
    rpc_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    s->a = a;
    s->lim = pcodec_default_limits();
    s->lim.frame = (size_t)cfg->max_body;
    msgpack_sbuffer_init(&s->sb);
    msgpack_packer_init(&s->pk, &s->sb, msgpack_sbuffer_write);
    msgpack_sbuffer_init(&s->nsb);
    msgpack_packer_init(&s->npk, &s->nsb, msgpack_sbuffer_write);
    s->lev = evconnlistener_new_bind(
        a->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        -1, ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (s->lev == NULL) {
        snprintf(err, errlen, "rpc_listen: cannot listen on %s: %s", cfg->rpc_listen,
                 strerror(errno));
        msgpack_sbuffer_destroy(&s->sb);
        msgpack_sbuffer_destroy(&s->nsb);
        free(s);
        return NULL;
    }
    evconnlistener_set_error_cb(s->lev, on_accept_error);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    int p = port;
    if (getsockname(evconnlistener_get_fd(s->lev), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
            p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            log_info("rpc: listening on [%s]:%d", ip, p);
        } else {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
            p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            log_info("rpc: listening on %s:%d", ip, p);
        }
    }
    return s;
}

void rpc_server_close(rpc_server *s)
{
    if (s == NULL)
        return;
    s->closing = true;
    if (s->lev) {
        evconnlistener_free(s->lev);
        s->lev = NULL;
    }
    for (rpc_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->bev)
            bufferevent_disable(c->bev, EV_READ);
        conn_check(c); /* idle ones close now */
    }
}

void rpc_server_free(rpc_server *s)
{
    if (s == NULL)
        return;
    if (s->lev)
        evconnlistener_free(s->lev);
    for (rpc_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_drop_subs(c);
        if (c->bev) {
            bufferevent_free(c->bev);
            c->bev = NULL;
        }
        c->srv = NULL;
        c->prev = c->next = NULL;
        if (c->inflight == 0)
            conn_free(c);
    }
    msgpack_sbuffer_destroy(&s->sb);
    msgpack_sbuffer_destroy(&s->nsb);
    free(s);
}

void rpc_server_org_changed(rpc_server *s, const char *org)
{
    for (rpc_conn *c = s ? s->conns : NULL; c; c = c->next)
        if (c->authed && c->who.role != ROLE_OPERATOR && strcmp(c->who.org, org) == 0)
            c->auth_ms = 0;
}

size_t rpc_server_busy(const rpc_server *s)
{
    if (s == NULL)
        return 0;
    size_t n = s->inflight;
    for (const rpc_conn *c = s->conns; c; c = c->next)
        if (c->bev && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
            n++;
    return n;
}
