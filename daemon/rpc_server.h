/*
 * rpc_server.h - the msgpack-RPC front end (proto/PROTOCOL.md) on rpc_listen.
 *
 * rpc_server.c owns the listener and the connections: it reads frames with
 * the shared codec (proto/pcodec.c), keeps each connection's identity
 * (method `auth`), counts requests in flight and answers them as they
 * complete, in any order. rpc_methods.c holds the methods that mirror the
 * HTTP API; both share the call type below. Subscriptions belong to a
 * connection, so rpc_server.c keeps them; rpc_methods.c checks their
 * params.
 */
#ifndef PODIUM_RPC_SERVER_H
#define PODIUM_RPC_SERVER_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "auth.h"
#include "errlist.h"
#include "sse.h"

typedef struct rpc_server rpc_server;
typedef struct rpc_conn rpc_conn;

#define RPC_MAX_INFLIGHT 1024      /* requests in flight per connection before reading stops */
#define RPC_MAX_OUTPUT   (4 << 20) /* unsent answer bytes per connection before reading stops */
#define RPC_READ_CHUNK   65536     /* bytes handed to the decoder at a time */
#define RPC_MAX_SUBS     16        /* subscriptions per connection */

/* One request being answered. Owned by rpc_server.c; every call is
 * answered exactly once with rpc_reply_* (which frees it), possibly after
 * its connection closed (the answer is then dropped). */
struct org;

typedef struct rpc_call {
    rpc_conn *conn;
    app *a;
    auth_identity who; /* the connection's identity when the request came */
    struct org *org;   /* its org, held until answered; NULL for the operator */
    uint32_t msgid;
} rpc_call;

/* Binds cfg->rpc_listen and starts serving. Returns NULL with a message. */
rpc_server *rpc_server_new(app *a, char *err, size_t errlen);
/* Stops accepting and reading; requests in flight are still answered,
 * then each connection closes. */
void rpc_server_close(rpc_server *s);
/* Closes every connection and frees the server; NULL is allowed. Calls
 * still in flight are answered into the void. */
void rpc_server_free(rpc_server *s);
/* Requests in flight, and connections whose answers are not all sent. */
size_t rpc_server_busy(const rpc_server *s);
/* Org `org` was suspended, resumed or deleted: connections of it look
 * their token up again before their next request. NULL is allowed. */
void rpc_server_org_changed(rpc_server *s, const char *org);

/* Answers a call with an error map (see PROTOCOL.md) and frees it. */
void rpc_reply_error(rpc_call *call, int status, const char *code, const char *message,
                     const errlist *errs);
/* Answers a call with a result given as JSON text, packed as msgpack. */
void rpc_reply_json(rpc_call *call, const char *json, size_t len);
/* Starts a successful answer: returns the packer the caller writes the
 * result with (one object), then calls rpc_reply_end. NULL when the
 * connection is gone: the caller then calls rpc_reply_end alone. */
msgpack_packer *rpc_reply_begin(rpc_call *call);
/* Sends what was packed since rpc_reply_begin and frees the call. */
void rpc_reply_end(rpc_call *call);

/* Subscribes the call's connection to the feed p (sse.c) and answers
 * {"subscription": id}, ahead of its first notification; answers
 * too-many-subscriptions past RPC_MAX_SUBS. p is borrowed. */
void rpc_subscribe(rpc_call *call, const sse_params *p);
/* Ends subscription `id` of the call's connection and answers the call
 * ({"unsubscribed": true}, or not-found). */
void rpc_unsubscribe(rpc_call *call, int64_t id);

/* Runs method `name` (not auth or ping) for an authenticated call; false
 * if there is no such method (the call is then still the caller's). */
bool rpc_methods_call(rpc_call *call, const char *name, size_t len, const msgpack_object *params);

#endif
