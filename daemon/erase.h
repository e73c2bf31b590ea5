/*
 * erase.h - erasing a leader (DELETE /v1/admin/leaders/{id}): personal data
 * and events gone, boards recomputed. The phases are described in erase.c.
 */
#ifndef PODIUM_ERASE_H
#define PODIUM_ERASE_H

#include <stdint.h>

struct store;
struct boards;

typedef struct erase_result {
    int64_t boards; /* boards (and hidden boards) the leader was removed from */
    int64_t events; /* events and adjustments removed from the event log */
    int64_t tokens; /* API tokens of the leader deleted */
} erase_result;

/* Called once: error set when a phase failed (what was done stays done; the
 * profile is gone first, so a retry answers 404); else res, NULL when there
 * was no such leader. */
typedef void erase_done_fn(void *arg, const char *error, const erase_result *res);

/* Starts erasing leader of org. Returns -1 when the store is not ready. */
int erase_leader(struct store *st, struct boards *bc, const char *org, const char *leader,
                 erase_done_fn *done, void *arg);

#endif
