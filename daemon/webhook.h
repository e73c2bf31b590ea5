/*
 * webhook.h - the webhook outbox and its delivery engine.
 *
 * Producers (the period closer, the admin API's test event) put events in
 * the org's outbox in Redis with webhook_enqueue: one Lua call records, for
 * each payload, one delivery to every enabled endpoint of the org that is
 * subscribed to the event type, idempotently per dedupe key. Nothing is
 * sent from the producer's call: the org's entry in the due index (due.h)
 * becomes due, and a daemon that claims it (at once, when it enqueued
 * something itself) claims the org's due deliveries with a lease and sends
 * them with libcurl's multi-socket API on the daemon's event_base, never
 * blocking the loop.
 *
 * Guarantees: a delivery is sent by one daemon at a time (the claim is
 * atomic and the lease outlasts an attempt); it leaves the outbox only when
 * delivered, failed for good (3 days of retries) or dropped (its endpoint
 * disabled or deleted), so a daemon that stops or crashes loses nothing:
 * on SIGTERM (webhook_stop, then webhook_release) unfinished attempts are
 * given back at once, after a crash they come back when the lease ends.
 * When a receiver took a request but its answer never reached the daemon,
 * the delivery is sent again with the same webhook-id: receivers dedupe by
 * it, as Standard Webhooks asks.
 *
 * Outcome of an attempt: 2xx delivered; 410 disables the endpoint and drops
 * its pending deliveries; anything else (other statuses, timeouts,
 * connection errors) is retried after a delay drawn at random below
 * webhook_retry_base * 2^(attempts-1), at most 1 h (full jitter), or at the
 * time a Retry-After header names, within the 3-day window.
 *
 * Webhook URLs are secrets: they are never logged nor put in messages;
 * log lines name the endpoint and delivery ids.
 */
#ifndef PODIUM_WEBHOOK_H
#define PODIUM_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"

struct event_base;
struct store;
struct config;
struct due;
typedef struct webhook webhook;

#define WEBHOOK_ENQUEUE_MAX  1000                 /* payloads per webhook_enqueue */
#define WEBHOOK_KEY_CHARS    200                  /* bytes of a dedupe key at most */
#define WEBHOOK_WINDOW_MS    (3 * 86400 * 1000LL) /* how long a delivery is retried */
#define WEBHOOK_BACKOFF_CAP  (3600 * 1000LL)      /* longest delay between attempts */
#define WEBHOOK_HISTORY      100                  /* finished deliveries kept per endpoint */
#define WEBHOOK_DEDUPE_TTL_S (4 * 86400)          /* a dedupe key outlives the retry window */

/* The end of an enqueue: error NULL on success, with how many deliveries
 * were queued and how many payloads were skipped as already queued (same
 * dedupe key); else a message for a log, with both counts 0. */
typedef void webhook_done_cb(void *arg, const char *error, size_t queued, size_t skipped);
/* What became of a test enqueue. */
typedef enum {
    WEBHOOK_TEST_QUEUED,   /* delivery holds the new delivery's id */
    WEBHOOK_TEST_NONE,     /* the org has no such endpoint */
    WEBHOOK_TEST_DISABLED, /* the endpoint is disabled */
    WEBHOOK_TEST_ERROR,    /* Redis did not answer */
} webhook_test_status;
/* The end of a test enqueue; delivery is NULL unless QUEUED. */
typedef void webhook_test_cb(void *arg, webhook_test_status status, const char *delivery);

/* Creates the engine on a->base; it takes the due index's "w" entries
 * (due.h) of active orgs and claims from the outboxes they name.
 * Settings come from cfg (webhook_*), which must outlive the engine.
 * Returns NULL when libcurl cannot start. */
webhook *webhook_new(app *a);
/* The store became ready: outboxes listed the way daemons before the due
 * index did are moved to it, once. */
void webhook_store_ready(webhook *w);
/* Stops at once: transfers are abandoned (their leases run out), callbacks
 * of enqueues in flight fire with an error. NULL is allowed. */
void webhook_free(webhook *w);

/*
 * Queues n payloads of event `type` ("period_closed", "digest") for org:
 * payloads[i] (lens[i] bytes of JSON, an object as webhook_body.h renders)
 * goes to every enabled endpoint of the org subscribed to `type`, unless a
 * payload with dedupe key keys[i] was queued in the last 4 days, in which
 * case it is skipped (so a caller may retry a batch safely). One Lua call,
 * atomic: all of the batch is queued or none. n is 1 to
 * WEBHOOK_ENQUEUE_MAX (the closer sends ~500 per call). Arguments are
 * copied. Returns 0, and cb fires exactly once, later, from the event loop;
 * or -1 when Redis is not ready, the engine is stopping, or an argument is
 * bad (unknown type, n out of range, an empty or too long key, a payload
 * that is not a JSON object), and cb never fires.
 */
int webhook_enqueue(webhook *w, const char *org, const char *type, size_t n,
                    const char *const *keys, const char *const *payloads, const size_t *lens,
                    webhook_done_cb *cb, void *arg) __attribute__((warn_unused_result));
/* Queues a `test` event to endpoint `endpoint` of org, whether or not it
 * is subscribed to anything. Returns 0 and cb fires once, or -1 when Redis
 * is not ready (cb never fires). */
int webhook_enqueue_test(webhook *w, const char *org, const char *endpoint, webhook_test_cb *cb,
                         void *arg) __attribute__((warn_unused_result));

/* SIGTERM: claims nothing more; attempts in flight go on. */
void webhook_stop(webhook *w);
/* End of the drain: abandons the attempts still in flight and gives their
 * deliveries back (due now) for another daemon or the next start. */
void webhook_release(webhook *w);
/* Attempts in flight plus Redis calls awaited: shutdown waits for 0. */
size_t webhook_busy(const webhook *w);

/* The delay before the next attempt after `attempts` failed ones (>= 1):
 * u (0 <= u < 1) times min(cap, base * 2^(attempts-1)). Pure; for tests. */
int64_t webhook_backoff_ms(int64_t attempts, int64_t base_ms, int64_t cap_ms, double u);
/* The Unix ms a Retry-After value (delay-seconds or an HTTP date) names,
 * given the time now; -1 when it is neither. Pure; for tests. */
int64_t webhook_retry_after_ms(const char *value, int64_t now_ms);

#endif
