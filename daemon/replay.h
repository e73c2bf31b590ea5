/*
 * replay.h - rebuilding a board from the event log (rescore).
 *
 * A rescore of one challenge's period reads the org's event log over the
 * range of arrival times that can hold the period's events, plans each
 * event under the given rules (scoring.c), and scores them with score.lua
 * into keys set aside for the job ("podium:{org}:rs:<job>:..."), in calls
 * of at most 250 events, one at a time, so that Redis is never blocked for
 * more than a few milliseconds. At the end swap.lua checks that the log
 * did not grow in range meanwhile (otherwise the replay reads on and tries
 * again), applies the board's admin adjustments (kept per board by
 * adjust.lua, whenever they were made), and
 * puts the rebuilt board, team board and team counts in place of the live
 * ones in one step (UNLINK, then RENAME). The other keys of the job are
 * then unlinked.
 *
 * The replay judges limits and bonuses from the period's own events: a URL
 * first scored in an earlier period, a streak begun before the period and a
 * cooldown across its start are not seen. Badges are not awarded again.
 */
#ifndef PODIUM_REPLAY_H
#define PODIUM_REPLAY_H

#include <stdint.h>

#include "period.h"
#include "rules.h"

struct json_t;
struct store;

/* Called once when the rescore ends: error NULL on success (events
 * replayed, adjustments applied, the board's new version), else what went
 * wrong. */
typedef void replay_done_fn(void *arg, const char *error, int64_t events, int64_t adjustments,
                            int64_t version);

/* Starts rescoring period `per` of challenge `challenge` of rules r (copied:
 * the caller keeps r) for org. Returns 0, or -1 when the store is not ready
 * (done is then not called). */
int replay_rescore(struct store *st, const char *org, const rules *r, int challenge,
                   const period *per, replay_done_fn *done, void *arg);

/* Called once when a preview ends: error NULL and top a JSON array of
 * {"rank", "leader", "score"} (the callee takes ownership), or an error. */
typedef void replay_top_fn(void *arg, const char *error, struct json_t *top);

/* Replays period `per` of challenge `challenge` under rules r (copied) into
 * keys set aside, reads the top n of the board so built, and removes every
 * key it wrote: a dry run's view of a board under other rules. Admin
 * adjustments are not applied. Returns -1 when the store is not ready. */
int replay_top(struct store *st, const char *org, const rules *r, int challenge, const period *per,
               int n, replay_top_fn *done, void *arg);

#endif
