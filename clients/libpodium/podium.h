/*
 * podium.h - libpodium, a small C client of podiumd's binary protocol
 * (proto/PROTOCOL.md), on the shared codec (proto/pcodec.h).
 *
 * Two forms:
 *   - blocking (podium_connect, podium_call): one request at a time on a
 *     plain socket, for tools and scripts;
 *   - libevent (podium_async_*): many requests in flight on one connection,
 *     answered through callbacks as they complete, in any order (matched by
 *     msgid), for load generators and services.
 *
 * Params are written by a callback onto a msgpack_packer (NULL: an empty
 * map); answers come as decoded messages whose objects live until
 * pcodec_msg_free (blocking) or the end of the callback (async). An answer
 * with a non-nil `error` is a refusal (its map has code, status, message
 * and errors); a NULL answer in the async form means the connection was
 * lost before the request was answered.
 */
#ifndef PODIUM_CLIENT_H
#define PODIUM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcodec.h"

struct event_base;

/* Packs a request's params (one msgpack object) onto pk. */
typedef void podium_pack_fn(msgpack_packer *pk, void *arg);

/* ----------------------------------------------------------- blocking */

typedef struct podium podium;

/* Connects to host:port (IPv4 or IPv6 address, or a name). NULL with a
 * message in err on failure. */
podium *podium_connect(const char *host, int port, char *err, size_t errlen);
/* Closes and frees; NULL is allowed. */
void podium_close(podium *p);
/* Sends method with params and waits for its answer into *out (free it
 * with pcodec_msg_free). Returns 0, or -1 with a message in err when the
 * connection failed (the connection is then unusable). */
int podium_call(podium *p, const char *method, podium_pack_fn *params, void *arg, pcodec_msg *out,
                char *err, size_t errlen) __attribute__((warn_unused_result));
/* auth with token: 0 when accepted; -1 with the refusal or failure in err. */
int podium_auth(podium *p, const char *token, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* ----------------------------------------------------------- libevent */

typedef struct podium_async podium_async;

/* The answer to one request (NULL: the connection was lost first). */
typedef void podium_done_fn(void *arg, const pcodec_msg *answer);
/* A notification from the server (later protocol versions). */
typedef void podium_notify_fn(void *arg, const pcodec_msg *note);

/* Starts connecting to host:port (a numeric address) on base. Requests may
 * be sent at once; they go out when connected. NULL on failure. */
podium_async *podium_async_new(struct event_base *base, const char *host, int port,
                               podium_notify_fn *on_note, void *note_arg);
/* Sends method with params; done fires exactly once. Returns -1 (done
 * never fires) when the connection is lost or PODIUM_ASYNC_MAX requests
 * are in flight. */
int podium_async_call(podium_async *a, const char *method, podium_pack_fn *params, void *arg,
                      podium_done_fn *done, void *done_arg) __attribute__((warn_unused_result));
/* Requests sent and not answered yet. */
size_t podium_async_inflight(const podium_async *a);
/* True once the connection is lost (every pending done fired with NULL). */
bool podium_async_failed(const podium_async *a);
/* Closes; pending requests' done fire with NULL. NULL is allowed. Not from
 * inside one of its own callbacks. */
void podium_async_free(podium_async *a);

#define PODIUM_ASYNC_MAX 65536 /* requests in flight per connection, at most */

#endif
