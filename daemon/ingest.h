/*
 * ingest.h - the one batching point between front ends and Redis.
 *
 * Front ends (HTTP, msgpack-RPC) hand over parsed events with
 * ingest_submit. Ingest checks them against the org's rules (known type, period
 * still open), works out each event's base points and the boards it counts
 * in, and queues them. Queued requests of an org are gathered into one
 * score.lua call: a call is sent when the gathering window (batch_window
 * microseconds) ends, and while four calls of the org are in flight further
 * requests wait and join the next one, so that under load batches grow by
 * themselves; orgs do not wait for each other. A request's events
 * are never split across calls, so each request is applied atomically.
 */
#ifndef PODIUM_INGEST_H
#define PODIUM_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errlist.h"
#include "event.h"
#include "period.h"
#include "rules.h"
#include "scoring.h"

struct event_base;
struct store;
typedef struct ingest ingest;

/* Outcome of a queued request. */
typedef enum {
    INGEST_OK,
    INGEST_UNKNOWN_LEADER, /* nothing stored; errs names the events */
    INGEST_CLOSED,         /* nothing stored; events in closed periods that were not
                              retries of earlier ones, named in errs */
    INGEST_UNAVAILABLE,    /* Redis unreachable or failed; nothing known to be stored */
} ingest_status;

/* Results of a request, one per event (see scoring.h). */
typedef score_standing ingest_standing;
typedef score_result ingest_result;

/* Called once per submitted request. `results` has one entry per event on
 * INGEST_OK; errs is set on INGEST_UNKNOWN_LEADER. Both are valid only
 * during the call. The batch is freed by ingest after the call. */
typedef void ingest_done_fn(void *arg, ingest_status st, const event_batch *b,
                            const ingest_result *results, const errlist *errs);
/* Told of each board ("challenge:period") of org whose version a call changed. */
typedef void ingest_version_fn(void *arg, const char *org, const char *board, int64_t version);

typedef struct ingest_options {
    int64_t window_us;       /* gathering window */
    int64_t max_events;      /* events per call (a bigger request goes alone) */
    int64_t idempotency_ttl; /* seconds */
    ingest_version_fn *on_version;
    void *on_version_arg;
} ingest_options;

/* Creates the batcher; the store is borrowed. */
ingest *ingest_new(struct event_base *base, struct store *st, const ingest_options *o);
/* Frees the batcher; queued requests are answered INGEST_UNAVAILABLE. */
void ingest_free(ingest *in);
/* Checks a request of org against rules r (held until it is answered) and
 * queues it. On 0 ingest owns *b (emptied here) and will call done exactly
 * once. On -1 errs says what is wrong (400/422) and nothing was queued; on
 * -2 the store is not ready or r is NULL (503). With `ranks` false the
 * standings carry no rank (rank 0), which spares Redis one lookup per
 * leader and board. */
int ingest_submit(ingest *in, const char *org, const rules *r, event_batch *b, int64_t now_ms,
                  bool ranks, errlist *errs, ingest_done_fn *done, void *arg)
    __attribute__((warn_unused_result));
/* Requests queued or in flight. */
size_t ingest_busy(const ingest *in);

#endif
