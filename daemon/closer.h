/*
 * closer.h - closes each challenge's periods exactly once, and archives them.
 *
 * A period closes at its end plus the challenge's grace time (and one more
 * second, the longest that another daemon's read cache may hold an older
 * page). Every podiumd runs a closer; the first to claim a period in Redis
 * closes it, the others see it busy or done (close.lua). A daemon
 * that was down at the boundary closes the period when it is back, and the
 * periods since the last one closed (up to CLOSER_CATCHUP of them; a
 * challenge with none closed yet starts with the latest). A period in which
 * nobody scored closes quietly: recorded, not listed, announced or pushed.
 *
 * Closing a period, in steps that a daemon which dies half-way leaves for
 * another to finish:
 *   1. archive: the final top of the board, with movement against the period
 *      before, read once and kept with the job;
 *   2. walk: the board CLOSER_CHUNK leaders at a time (each step about 2 ms
 *      of Redis and as much of this daemon's loop for 500), writing each leader's
 *      digest (rank, score, gap to the place above, streak, the activity
 *      that would score most) and place badges for ranks 1 to 3;
 *   3. finish: the archive becomes the period's record (GET
 *      /v1/challenges/{id}/periods), the board's keys are scheduled for
 *      deletion after `retention`, and "closed <ch> <per>" is published on
 *      the org's push channel.
 * Events for a closed period are refused by time already (scoring.c), so
 * the board is frozen before the closer reads it.
 *
 * A challenge with "digest_at" also gets midway digests once per period, at
 * that moment (or when a daemon is back, while the period runs): the same
 * walk, with current ranks and no badges, as job:digest and digested:{ch}.
 *
 * The closer also sweeps what has outlived `retention`: boards go with
 * UNLINK, which frees them in Redis's background thread.
 *
 * When: each org's next close, midway digest or expiry is an entry of the
 * due index (due.h, kind "c"), so a daemon serving many orgs works only on
 * those with work due. A daemon that loads an org's rules (orgs.c) makes
 * its next close due (closer_rules_changed), so a new or changed rule set,
 * or an install from before the due index, is looked at in time.
 */
#ifndef PODIUM_CLOSER_H
#define PODIUM_CLOSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "rules.h"

#define CLOSER_CHUNK   500 /* leaders per step of the walk */
#define CLOSER_CATCHUP 8   /* most periods closed late, per challenge */
#define CLOSER_TOP     10  /* standings kept in a period's record */

typedef struct closer closer;
struct org;

/* Starts closing the periods of every org's challenges, as the rules in
 * force define them, when the due index says they are due. `retention` is
 * in seconds (0: keep forever). The app (with a->due and a->orgs) is
 * borrowed. NULL on failure. */
closer *closer_new(app *a, int64_t retention);
/* Starts no new step; a step in flight completes. */
void closer_stop(closer *c);
/* Frees it; NULL is allowed. Free it after the store, whose last callbacks
 * still reach it. */
void closer_free(closer *c);
/* Other rules are in force in org o: its next close is due when they say. */
void closer_rules_changed(closer *c, struct org *o);
/* When the next close or midway digest of rules r falls due after `now`
 * (Unix s), or 0 when none ever does. */
int64_t closer_next_due(const rules *r, int64_t now);

/* Builds the sentence of a digest into out: "You are 4th in Weekly social,
 * 12 points behind 3rd; a stakeholder interaction is worth 30 points."
 * above_rank 0 means there is nobody above; activity NULL leaves the
 * suggestion out. `final` words it for a closed period. */
void closer_digest_text(char *out, size_t len, bool final, const char *challenge_name, int64_t rank,
                        bool tied, int64_t score, int64_t above_rank, int64_t above_score,
                        bool count, const char *activity, int64_t points);

#endif
