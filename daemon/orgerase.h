/*
 * orgerase.h - erasing a deleted org's keys, resumably, touching no other org.
 *
 * DELETE /v1/orgs/{id} (orgadmin.c) marks the org "deleting" and makes its
 * erase due in the due index (kind "d"). Whichever daemon claims it walks
 * the org's keys (SCAN MATCH podium:{id}:*, ORGERASE_COUNT a step) and
 * UNLINKs each page, so Redis frees them in its background thread and is
 * never held for long; the registry entry counts the keys erased. The walk
 * is made twice, so that a key written by a request that was already under
 * way when the deletion began goes too. Then the registry entry, the org's
 * id and its due entries go (orgs.lua "purge"): the id may be used again.
 *
 * A daemon that dies half-way leaves the entry claimed until its lease
 * ends; then another daemon (or the same, restarted) walks from the start
 * again, which is cheap for the keys already gone. Every key walked carries
 * the org's hash tag, so no other org's key is touched.
 */
#ifndef PODIUM_ORGERASE_H
#define PODIUM_ORGERASE_H

#include "app.h"

#define ORGERASE_COUNT  1000 /* keys asked for per SCAN step */
#define ORGERASE_PASSES 2

typedef struct orgerase orgerase;

/* Takes the due index's "d" entries (a->due must be set). NULL on failure. */
orgerase *orgerase_new(app *a);
/* Starts no new step; an erase in flight gives its entry back. */
void orgerase_stop(orgerase *e);
/* Frees it; NULL is allowed. Free it after the store. */
void orgerase_free(orgerase *e);

#endif
