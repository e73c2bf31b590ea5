/*
 * sse.h - the subscriber hub of Server-Sent Events streams.
 *
 * A stream (http_stream.c) subscribes to one challenge's board: a fixed
 * period or "current" (followed into the next period at each boundary),
 * and a top N. Subscribers that want the same thing share one `feed`,
 * which fetches the page through the read cache (boards.c, the renderer of
 * GET .../leaderboard), compares its top N with what it sent last, and
 * formats each event once for all of its subscribers. The hub learns of
 * board changes from the read cache's listener (this daemon's writes and,
 * through push.c, other daemons'), of closed periods from push.c, and
 * checks the versions of watched boards once per sse_interval in case a
 * message was lost (one HMGET per org with streams). A feed holds its org's
 * context (orgs.h), whose rules name its challenge.
 *
 * Event ids. A standings event is "{period}.{version}.{mark}" and a
 * period_closed event "{period}.closed"; the mark is the newest closed
 * period of the challenge the stream had passed on ("-": none existed).
 * A client that comes back with Last-Event-ID gets every period_closed
 * after its mark (close.lua "after" reads podium:{org}:closedp:{ch}), then the
 * current standings: standings are full snapshots, so nothing is lost.
 * The period alone would not do: with a grace time the previous period
 * closes after the stream has moved on to the next one.
 *
 * Output. The hub writes to the subscriber's bufferevent (owned by the
 * HTTP connection): straight to the socket when nothing is queued, else
 * into its output buffer by reference to the one formatted event. A
 * subscriber whose unsent output passes sse_max_buffer is cut off.
 * A callback subscriber (sse_subscribe_fn: msgpack-RPC `subscribe`) gets
 * the same events through its sink, as name, id and raw JSON data, and no
 * heartbeats; it is cut off when its sink says its output is full.
 */
#ifndef PODIUM_SSE_H
#define PODIUM_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "event.h"
#include "period.h"

struct bufferevent;
typedef struct sse sse;
typedef struct sse_sub sse_sub;

#define SSE_MAX_MISSED 20 /* period_closed events replayed on a resume, at most */
#define SSE_ID_MAX     64 /* bytes of a Last-Event-ID kept */

/* The hub asks the owner to end a stream: `clean` (end the reply, close
 * after it) or cut at once. The hub forgets the subscriber before the
 * call; the owner must not call sse_unsubscribe for it afterwards. */
typedef void sse_end_fn(void *arg, bool clean);

/* A callback subscriber's output: event `name` ("standings" or
 * "period_closed") with `id` and its JSON data (len bytes, not
 * NUL-terminated), all borrowed for the call. Returns false when the
 * owner's output is full: the hub then cuts the subscriber off later, from
 * an event of its own, through sse_end_fn (clean false). The sink must not
 * call into the hub. */
typedef bool sse_sink_fn(void *arg, const char *name, const char *id, const char *data, size_t len);

/* What a stream asks for. */
typedef struct sse_params {
    char org[EVENT_NAME_MAX + 1];
    char challenge[EVENT_NAME_MAX + 1];
    char period[PERIOD_ID_MAX]; /* "" follows the current period; else a fixed id */
    int64_t limit;              /* top N */
    char last_id[SSE_ID_MAX];   /* Last-Event-ID, "" when none */
} sse_params;

/* Creates the hub; `a` (base, cfg, st, bc, orgs) is borrowed. NULL on failure. */
sse *sse_new(app *a);
/* Frees the hub and every subscriber left (without telling their owners).
 * Free it after the store and the read cache, whose last callbacks reach
 * it. NULL is allowed. */
void sse_free(sse *h);
/* Adds a subscriber writing to bev (`chunked`: HTTP/1.1 chunked framing).
 * The standings follow as soon as they are read. NULL when the hub is
 * shutting down. */
sse_sub *sse_subscribe(sse *h, const sse_params *p, struct bufferevent *bev, bool chunked,
                       sse_end_fn *end, void *arg);
/* Adds a callback subscriber: sink gets each event, end tells of an end
 * the hub decided (clean: the challenge left the rules or SIGTERM; not
 * clean: the sink said its output is full). The standings may reach the
 * sink before this returns. NULL when the hub is shutting down. */
sse_sub *sse_subscribe_fn(sse *h, const sse_params *p, sse_sink_fn *sink, sse_end_fn *end,
                          void *arg);
/* The owner's connection is gone: forget the subscriber. */
void sse_unsubscribe(sse_sub *s);
/* SIGTERM: ends every stream (cleanly when its output is flushed, else
 * cut) and refuses new ones. */
void sse_shutdown(sse *h);
/* Subscribers held. */
size_t sse_subscribers(const sse *h);
/* A board of org reached `version` (the read cache's listener). */
void sse_board_changed(sse *h, const char *org, const char *board, int64_t version);
/* The closer closed period `per` of challenge ch (push.c). */
void sse_period_closed(sse *h, const char *org, const char *ch, const char *per);
/* Messages of org may have been lost (its push channel resubscribed):
 * look again. */
void sse_resync(sse *h, const char *org);
/* Org's state changed: when it is no longer served (suspended, gone),
 * every stream of it ends. */
void sse_org_state(sse *h, const char *org, bool serving);
/* The mark of a Last-Event-ID: the newest closed period it says the client
 * saw, "" for "none existed" ("-"); false when the id is not one of ours.
 * Exposed for tests. */
bool sse_id_mark(const char *id, char *mark, size_t marklen) __attribute__((warn_unused_result));

#endif
