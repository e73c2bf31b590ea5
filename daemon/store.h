/*
 * store.h - the daemon's only door to Redis.
 *
 * One hiredis async connection for commands, driven by the daemon's
 * event_base. The store reconnects with exponential backoff, loads the Lua
 * scripts (SCRIPT LOAD) after each connect, and runs them with EVALSHA,
 * sending the script body again when Redis answers NOSCRIPT (after a restart
 * or SCRIPT FLUSH). A second connection, opened by the first
 * store_subscribe, carries pub/sub subscriptions and is re-established (and
 * resubscribed) after every loss with the same backoff. Subscriptions come
 * and go with the orgs this daemon serves (orgs.c).
 *
 * Every callback fires exactly once: with the reply, or with NULL when the
 * command could not be completed (connection lost). Replies are only valid
 * inside the callback. Other modules read them through the accessors below,
 * so that hiredis stays inside store.c.
 */
#ifndef PODIUM_STORE_H
#define PODIUM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct store store;
typedef struct store_reply store_reply;
typedef struct store_sub store_sub;

typedef void store_cb(void *arg, const store_reply *r);
typedef void store_ready_cb(void *arg, bool ready);
/* A message on a subscribed channel (valid only during the call), or msg
 * NULL when the subscription was (re)established: messages published while
 * it was down are lost, so the subscriber should look at the state again. */
typedef void store_message_cb(void *arg, const char *msg, size_t len);

/* The Lua scripts of daemon/scripts/, by file name. */
typedef enum {
    STORE_SCRIPT_SCORE,      /* score.lua: apply a batch of events */
    STORE_SCRIPT_PAGE,       /* page.lua: one page of a board, or the part around a leader */
    STORE_SCRIPT_LEADER,     /* leader.lua: a leader's standings on several boards */
    STORE_SCRIPT_TOKEN,      /* token.lua: create or delete a token's two entries */
    STORE_SCRIPT_RULES,      /* rules.lua: store a new rule set version and announce it */
    STORE_SCRIPT_TEAMS,      /* teams.lua: a challenge period's team board */
    STORE_SCRIPT_SWAP,       /* swap.lua: put a rescored board in place */
    STORE_SCRIPT_ERASE,      /* erase.lua: the Redis steps of erasing a leader */
    STORE_SCRIPT_VISIBILITY, /* visibility.lua: hide or show a leader on one board */
    STORE_SCRIPT_ADJUST,     /* adjust.lua: an admin's score adjustment, with its audit entry */
    STORE_SCRIPT_CLOSE,      /* close.lua: closing periods (closer.c), closed ones (SSE) */
    STORE_SCRIPT_OUTBOX,     /* outbox.lua: webhook endpoints, deliveries and their history */
    STORE_SCRIPT_DUE,        /* due.lua: claim and reschedule background work across orgs */
    STORE_SCRIPT_ORGS,       /* orgs.lua: the registry of orgs, and an org's usage */
    STORE_SCRIPT_COUNT
} store_script_id;

/* Creates a store for `uri` ("redis://[[user]:pass@]host:port[/db]" or "unix:/path") and
 * starts connecting. `on_ready` is told each time readiness changes. */
store *store_new(struct event_base *base, const char *uri, store_ready_cb *on_ready, void *arg);
/* Closes the connection; pending callbacks fire with NULL. NULL is allowed. */
void store_free(store *s);
/* True while connected with every script loaded. */
bool store_ready(const store *s);
/* Subscribes to `channel` (copied) on the pub/sub connection until
 * store_unsubscribe: cb is called as store_message_cb says, also after
 * every reconnect. Works whether or not the store is ready. NULL only when
 * the channel name is longer than the store takes. */
store_sub *store_subscribe(store *s, const char *channel, store_message_cb *cb, void *arg)
    __attribute__((warn_unused_result));
/* Ends a subscription: cb is not called again (NULL is allowed). */
void store_unsubscribe(store_sub *sb);
/* Sends a command. Returns -1 (and does not call cb) when not ready. */
int store_command(store *s, store_cb *cb, void *arg, int argc, const char **argv,
                  const size_t *argvlen) __attribute__((warn_unused_result));
/* Runs script `id` with nkeys keys then args, given as argv/argvlen
 * (without the EVALSHA, sha and numkeys words, which the store adds).
 * Returns -1 (and does not call cb) when not ready. */
int store_script(store *s, store_script_id id, int nkeys, int argc, const char **argv,
                 const size_t *argvlen, store_cb *cb, void *arg)
    __attribute__((warn_unused_result));

/* Reply accessors; all accept NULL and answer as for an empty reply. */
bool store_reply_is_error(const store_reply *r);
bool store_reply_is_nil(const store_reply *r);
/* The string of a string, status or error reply (NULL otherwise); len may be NULL. */
const char *store_reply_str(const store_reply *r, size_t *len);
/* The integer of an integer reply, or a string reply parsed as one (0 otherwise). */
int64_t store_reply_int(const store_reply *r);
/* Number of elements of an array reply (0 otherwise). */
size_t store_reply_len(const store_reply *r);
/* Element i of an array reply, or NULL. */
const store_reply *store_reply_at(const store_reply *r, size_t i);

#endif
