/*
 * visibility.h - hiding a leader who opted out, and showing them again.
 *
 * A hidden leader ("hidden": true in the profile, PUT /v1/admin/leaders)
 * keeps scoring, but on each board's hidden twin: out of every board page,
 * out of the other leaders' ranks and out of the team boards. Changing the
 * flag moves the leader's standings between the boards and their twins:
 * SCAN over the org's boards (or twins, to show), one small script per
 * board (visibility.lua), so that Redis is never busy for long.
 */
#ifndef PODIUM_VISIBILITY_H
#define PODIUM_VISIBILITY_H

#include <stdbool.h>

struct store;
struct boards;

/* Called once: error NULL on success, with the number of boards changed. */
typedef void visibility_done_fn(void *arg, const char *error, int boards);

/* Moves leader's standings in org to the hidden twins (hidden) or back.
 * The read cache bc learns the boards' new versions. Returns -1 when the
 * store is not ready (done is then not called). */
int visibility_set(struct store *st, struct boards *bc, const char *org, const char *leader,
                   bool hidden, visibility_done_fn *done, void *arg);

#endif
