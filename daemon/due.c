/*
 * due.c - polling the due sets and handing out tickets (see due.h).
 *
 * One poll at a time: a timer every DUE_POLL_MS (or due_kick) sends
 * due.lua "claim" with, per kind, the room its handler has now and the
 * lease end; the reply becomes one ticket per claimed org, handed to the
 * kind's handler at once. A ticket remembers the lease end it was claimed
 * with, which due.lua "done" compares with the entry's score before it
 * sets the next due time.
 *
 * Ownership: tickets are owned by their handler from the handing out to
 * due_done, which sends the done call (fire and forget: a lost one leaves
 * the lease to run out, and the entry fires again) and frees them.
 */
#include "due.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "keys.h"
#include "log.h"
#include "store.h"
#include "util.h"

struct handler {
    due_fn *fn;
    due_room_fn *room;
    void *arg;
};

struct due {
    store *st;
    struct event *timer, *kick;
    struct handler h[DUE_KINDS];
    int64_t lease_end; /* of the claim in flight */
    bool polling, stopping;
};

struct due_ticket {
    due *d;
    due_kind kind;
    int64_t claimed; /* the entry's score once claimed: the lease end */
    char org[EVENT_NAME_MAX + 1];
};

char due_kind_letter(due_kind k)
{
    static const char letters[] = "cwd";
    return letters[k];
}

/* Claim reply: one ticket per org, to its kind's handler. */
static void on_claimed(void *arg, const store_reply *r)
{
    due *d = arg;
    d->polling = false;
    if (r == NULL || store_reply_is_error(r) || store_reply_len(r) != DUE_KINDS)
        return;
    for (int k = 0; k < DUE_KINDS; k++) {
        const store_reply *list = store_reply_at(r, (size_t)k);
        for (size_t i = 0; i < store_reply_len(list); i++) {
            const char *org = store_reply_str(store_reply_at(list, i), NULL);
            if (org == NULL || !util_valid_id(org) || d->h[k].fn == NULL)
                continue; /* not a valid org id: its lease runs out, harmlessly */
            due_ticket *t = calloc(1, sizeof(*t));
            if (t == NULL)
                abort();
            *t = (due_ticket){.d = d, .kind = (due_kind)k, .claimed = d->lease_end};
            snprintf(t->org, sizeof(t->org), "%s", org);
            d->h[k].fn(d->h[k].arg, t->org, t);
        }
    }
}

/* Sends one claim for every kind with room. */
static void poll_now(due *d)
{
    if (d->polling || d->stopping || !store_ready(d->st))
        return;
    char keys[DUE_KINDS][KEYS_MAX], now[24], lease[24], room[DUE_KINDS][24];
    const char *argv[3 + 2 * DUE_KINDS];
    int64_t t = util_now_ms();
    size_t any = 0;
    d->lease_end = t + DUE_LEASE_MS;
    util_i64toa(t, now);
    util_i64toa(d->lease_end, lease);
    for (int k = 0; k < DUE_KINDS; k++) {
        keys_due(keys[k], due_kind_letter((due_kind)k));
        argv[k] = keys[k];
        size_t n = d->h[k].fn ? d->h[k].room(d->h[k].arg) : 0;
        n = n > DUE_CLAIM_MAX ? DUE_CLAIM_MAX : n;
        any += n;
        util_i64toa((int64_t)n, room[k]);
        argv[DUE_KINDS + 3 + k] = room[k];
    }
    if (any == 0)
        return;
    argv[DUE_KINDS] = "claim";
    argv[DUE_KINDS + 1] = now;
    argv[DUE_KINDS + 2] = lease;
    size_t lens[3 + 2 * DUE_KINDS];
    for (size_t i = 0; i < 3 + 2 * DUE_KINDS; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(d->st, STORE_SCRIPT_DUE, DUE_KINDS, 3 + 2 * DUE_KINDS, argv, lens, on_claimed,
                     d) == 0)
        d->polling = true;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    poll_now(arg);
}

due *due_new(struct event_base *base, store *st)
{
    due *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->st = st;
    d->timer = event_new(base, -1, EV_PERSIST, on_timer, d);
    d->kick = event_new(base, -1, 0, on_timer, d);
    if (d->timer == NULL || d->kick == NULL) {
        due_free(d);
        return NULL;
    }
    struct timeval tv = {DUE_POLL_MS / 1000, (DUE_POLL_MS % 1000) * 1000};
    event_add(d->timer, &tv);
    return d;
}

void due_free(due *d)
{
    if (d == NULL)
        return;
    if (d->timer)
        event_free(d->timer);
    if (d->kick)
        event_free(d->kick);
    free(d);
}

void due_handle(due *d, due_kind k, due_fn *fn, due_room_fn *room, void *arg)
{
    d->h[k] = (struct handler){fn, room, arg};
}

void due_stop(due *d)
{
    if (d)
        d->stopping = true;
}

void due_kick(due *d)
{
    if (d && !d->stopping)
        event_active(d->kick, EV_TIMEOUT, 0);
}

/* Reply of a write nobody waits for. */
static void on_ignored(void *arg, const store_reply *r)
{
    (void)arg;
    if (r && store_reply_is_error(r))
        log_warn("due: %s", store_reply_str(r, NULL));
}

int due_schedule_cb(due *d, due_kind k, const char *org, int64_t at_ms, store_cb *cb, void *arg)
{
    char key[KEYS_MAX], at[24];
    keys_due(key, due_kind_letter(k));
    util_i64toa(at_ms, at);
    const char *argv[] = {"ZADD", key, "LT", at, org};
    return store_command(d->st, cb, arg, 5, argv, NULL);
}

void due_schedule(due *d, due_kind k, const char *org, int64_t at_ms)
{
    if (due_schedule_cb(d, k, org, at_ms, on_ignored, NULL) < 0)
        log_debug("due: Redis not ready; %c %s is found at its next write", due_kind_letter(k),
                  org);
}

void due_done(due_ticket *t, int64_t next_ms)
{
    char key[KEYS_MAX], claimed[24], next[24];
    keys_due(key, due_kind_letter(t->kind));
    util_i64toa(t->claimed, claimed);
    util_i64toa(next_ms > 0 ? next_ms : 0, next);
    const char *argv[] = {key, "done", t->org, claimed, next};
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(t->d->st, STORE_SCRIPT_DUE, 1, 5, argv, lens, on_ignored, NULL) < 0)
        log_debug("due: Redis not ready; %c %s is due again when its lease ends",
                  due_kind_letter(t->kind), t->org);
    free(t);
}

void due_drop(due_ticket *t)
{
    free(t);
}

const char *due_ticket_org(const due_ticket *t)
{
    return t->org;
}
