/*
 * push.h - the org's push channel: live changes shared by every podiumd.
 *
 * Several podiumd processes may serve one org; each learns of the others'
 * writes through the Redis channel podium:{org}:push (keys.h). A daemon
 * that changed boards announces them there, coalesced: at most one
 * PUBLISH per PUSH_WINDOW_MS however many score.lua calls ran, each line
 * "board {ch}:{per} {version}". The closer announces closed periods there
 * ("closed {ch} {per}"). One push per org in use (orgs.c) listens while the
 * org has live streams on this daemon (push_listen), and hands what it hears
 * on: board versions to the read cache (boards_learn_version, which tells
 * its listener), closed periods and resubscriptions to the caller.
 *
 * Only streams need the messages: the read cache of a daemon that hears
 * none serves pages at most BOARDS_TTL_MS old, and streams also check the
 * versions they watch once per sse_interval. So a PUBLISH that reached
 * nobody makes the next wait PUSH_QUIET_MS: an org whose boards nobody
 * streams costs one PUBLISH a second, not one per score.lua call.
 */
#ifndef PODIUM_PUSH_H
#define PODIUM_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct boards;
typedef struct push push;

#define PUSH_WINDOW_MS 50
#define PUSH_QUIET_MS  1000 /* between two announcements nobody listens to */
#define PUSH_MAX_LINES 256  /* boards per message; more are sent at once */

/* What push hears besides board versions. */
typedef struct push_handlers {
    /* The closer closed period `per` of challenge ch (strings valid during the call). */
    void (*closed)(void *arg, const char *org, const char *ch, const char *per);
    /* The subscription was (re)established: messages may have been lost. */
    void (*resync)(void *arg);
    void *arg;
} push_handlers;

/* Makes org's announcer (not listening yet). Store and boards are
 * borrowed; NULL on failure. */
push *push_new(struct event_base *base, struct store *st, struct boards *bc, const char *org,
               const push_handlers *h);
/* Listens to the org's channel, or stops (false). */
void push_listen(push *p, bool on);
/* Unsubscribes and frees it (a pending announcement is dropped); NULL is
 * allowed. No store callback holds it once unsubscribed. */
void push_free(push *p);
/* Announces, soon, that this daemon brought `board` to `version`. */
void push_note(push *p, const char *board, int64_t version);
/* Parses one message line into its kind ("board"/"closed") and two words;
 * false if it is neither. Exposed for tests. */
bool push_parse_line(const char *line, size_t len, char *kind, size_t kindlen, char *a, size_t alen,
                     char *b, size_t blen) __attribute__((warn_unused_result));

#endif
