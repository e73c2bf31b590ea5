/*
 * boards.h - the read cache: leaderboard pages rendered once per change.
 *
 * A page (one board, offset and limit, or the part around one leader) is
 * fetched with page.lua, rendered to JSON once and kept with the board's
 * version. It is served from memory while no newer version of the board is
 * known and it is younger than BOARDS_TTL_MS. This daemon learns of new
 * versions from its own score.lua calls at once (boards_note_version);
 * writes made through other daemons show within BOARDS_TTL_MS. Concurrent
 * misses of one page wait for a single fetch.
 */
#ifndef PODIUM_BOARDS_H
#define PODIUM_BOARDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "period.h"
#include "rules.h"

struct store;
struct evbuffer;
typedef struct boards boards;

#define BOARDS_TTL_MS      1000
#define BOARDS_MAX_ENTRIES 20000

/* A rendered page; valid during the callback only. */
typedef struct boards_page {
    const char *body; /* JSON */
    size_t len;
    const char *etag; /* quoted entity tag */
    bool found;       /* false for "around" when the leader is not on the board */
} boards_page;

/* Called once with the page, or NULL when Redis could not be asked. */
typedef void boards_cb(void *arg, const boards_page *page);
/* Told that board "challenge:period" of org reached `version`; `local` is
 * true when this daemon made the change (boards_note_version), false when
 * it learnt of it from elsewhere (boards_learn_version). */
typedef void boards_change_fn(void *arg, const char *org, const char *board, int64_t version,
                              bool local);

/* Creates the cache; the store is borrowed. */
boards *boards_new(struct store *st);
/* Frees the cache; waiting callers are answered with NULL. NULL is allowed. */
void boards_free(boards *bc);
/* Records that this daemon brought board "challenge:period" of org to
 * `version` (every writer calls it: ingest, adjustments, rescore,
 * visibility, erase). */
void boards_note_version(void *bc, const char *org, const char *board, int64_t version);
/* Records a version that another daemon wrote (push.c, sse.c). */
void boards_learn_version(boards *bc, const char *org, const char *board, int64_t version);
/* The newest version of a board this daemon knows of (0: none). */
int64_t boards_known_version(boards *bc, const char *org, const char *board);
/* Installs the one listener told of every raised version (NULL: none). */
void boards_set_on_change(boards *bc, boards_change_fn *fn, void *arg);
/* Serves a page of challenge ch in period per (prev: the period before, or
 * NULL): `limit` entries from `offset`, or, when around is non-NULL, up to
 * `limit` entries on each side of that leader. */
void boards_get(boards *bc, const char *org, const rules_challenge *ch, const period *per,
                const period *prev, int64_t offset, int64_t limit, const char *around,
                boards_cb *cb, void *arg);
/* Appends the JSON of GET /v1/challenges (no newline): each challenge of
 * r with its current period at `now` (Unix s) and its next reset. */
void boards_challenges_json(struct evbuffer *b, const rules *r, int64_t now);

/* Resolves the period a board read asks for (id: "current", "previous",
 * "all" or a period id of ch) at `now` into per, and the period before it
 * into prev (*has_prev false when there is none). False with a message for
 * the person who asked in why (whylen bytes) when the id names no board of
 * ch. Shared by every front end's board reads. */
bool boards_resolve_period(const rules_challenge *ch, const char *id, int64_t now, period *per,
                           period *prev, bool *has_prev, char *why, size_t whylen)
    __attribute__((warn_unused_result));

#endif
