/*
 * due.h - one index of background work due across every org.
 *
 * Work that falls due at a time (a period to close, a digest to send, keys
 * to expire, a webhook delivery to retry, an org to erase) is found through
 * the due sets in Redis (keys.h: podium:{#}:due:{kind}, due.lua): per kind,
 * each org with such work and the Unix ms it is due. Every podiumd polls
 * them once per DUE_POLL_MS with one call, claims what is due (moving it
 * DUE_LEASE_MS ahead, so that one daemon works on an org's entry at a
 * time, and another takes over if it dies) and hands each claim, a
 * `ticket`, to the kind's handler. So the cost of background work follows
 * the orgs that have work due, not the number of orgs: an idle org costs
 * nothing until its next due time.
 *
 * Writers that make work due call due_schedule (ZADD LT: sooner only); a
 * handler ends each ticket with due_done and the next due time it worked
 * out, which is kept unless a writer moved the entry meanwhile. A handler
 * caps the next time at DUE_HEARTBEAT_MS ahead, so that an entry whose
 * work was made due in a race with due_done is looked at again by then.
 */
#ifndef PODIUM_DUE_H
#define PODIUM_DUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
#include "store.h"

typedef struct due due;
typedef struct due_ticket due_ticket;

#define DUE_POLL_MS      1000
#define DUE_LEASE_MS     30000
#define DUE_HEARTBEAT_MS 3600000
#define DUE_CLAIM_MAX    64 /* claims per kind and poll, at most */

typedef enum { DUE_CLOSE, DUE_WEBHOOK, DUE_DELETE, DUE_KINDS } due_kind;

/* A handler takes a ticket for org (valid during the call; due_ticket_org
 * keeps it) and ends it with due_done exactly once, now or later. */
typedef void due_fn(void *arg, const char *org, due_ticket *t);
/* How many more tickets the handler would take now. */
typedef size_t due_room_fn(void *arg);

/* Starts polling on base; the store is borrowed. NULL on failure. */
due *due_new(struct event_base *base, struct store *st);
/* Frees it; NULL is allowed. Free it after the store and after every
 * handler (their tickets point here). */
void due_free(due *d);
/* Installs the handler of kind k (before the first poll finds any). */
void due_handle(due *d, due_kind k, due_fn *fn, due_room_fn *room, void *arg);
/* Claims nothing more (SIGTERM); tickets out are still ended. */
void due_stop(due *d);
/* Polls at once (work was made due here). */
void due_kick(due *d);
/* Makes work of kind k due in org at at_ms, or sooner if it was already. */
void due_schedule(due *d, due_kind k, const char *org, int64_t at_ms);
/* The same, telling cb Redis's answer (NULL: the connection went). -1
 * (cb not called) when the store is not ready. */
int due_schedule_cb(due *d, due_kind k, const char *org, int64_t at_ms, store_cb *cb, void *arg)
    __attribute__((warn_unused_result));
/* Ends a ticket: the org's next work of its kind is due at next_ms (0: it
 * has none). Frees the ticket. */
void due_done(due_ticket *t, int64_t next_ms);
/* Frees a ticket without telling Redis (at exit): its lease runs out and
 * another daemon takes the work over. NULL is allowed. */
void due_drop(due_ticket *t);
/* The org of a ticket (valid until due_done). */
const char *due_ticket_org(const due_ticket *t);
/* The letter of a kind in its key. */
char due_kind_letter(due_kind k);

#endif
