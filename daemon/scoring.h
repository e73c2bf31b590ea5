/*
 * scoring.h - the rules engine's C half: plans events, builds score.lua
 * calls, and reads their results.
 *
 * Scoring is split in two. What needs only the rules and the event is done
 * here, in the daemon: the activity, its points (base x channel and
 * stakeholder multipliers x campaigns whose window holds `at`, rounded), the
 * challenges it counts in (by activity, leader list and open period) and
 * an explanation of the points. What needs shared state (idempotency,
 * limits, bonuses, boards, the log) is done by score.lua, atomically, so
 * that any number of daemons stay correct; its header lists those rules.
 *
 * A call is built in a `scorecall`, whose buffers are reused from call to
 * call: begin, add each group (request) of planned events, finish, send
 * argv with store_script(STORE_SCRIPT_SCORE). Ingest uses it for live
 * traffic; replays (rescore, dry run) use it with keys of their own.
 *
 * Result strings, as score.lua returns and stores them:
 *   dup|points|reasons|explanation|name|points|score|rank|notes|name|...
 * dup is 1 for a duplicate; reasons the limits hit ("daily_cap,cooldown");
 * explanation a JSON object; per standing (board "challenge:period") the
 * points added there, the score after the event and the rank after the call
 * ("" when not on the board or not asked for) and notes: comma-separated
 * "daily_cap", "cooldown", "duplicate_url", "first_of_day:<points>",
 * "streak:<points>:<days>", "goal:<id>:<points>".
 */
#ifndef PODIUM_SCORING_H
#define PODIUM_SCORING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errlist.h"
#include "event.h"
#include "period.h"
#include "rules.h"

/* One challenge an event counts in, and the period that holds it. The
 * event also counts on the challenge's all-time board unless the period is
 * "all" already. */
typedef struct score_std {
    int challenge;
    period per;
} score_std;

/* One event's planned work. */
typedef struct score_plan {
    int activity;
    bool generated;     /* the id was made by the daemon: no idempotency */
    int64_t points;     /* base x multipliers x campaigns, rounded */
    char explain[1024]; /* JSON object: base and each multiplier applied */
    char url[33];       /* first 32 hex digits of the URL's key (url.h), "" = none */
    /* The event falls in a closed period but has an id: it is accepted only
     * as a retry (score.lua answers its first result), else refused with
     * this message for its "/at". "" otherwise. */
    char closed[160];
    size_t n_std, first; /* challenges are stds[first .. first + n_std) */
} score_plan;

/* Plans ev under rules r: fills p and appends its challenges to stds (room
 * for r->n_challenges more). ptr is the event's JSON Pointer for errors
 * ("/events/3" or ""). False, with errs, when the type is unknown or `at`
 * falls in a closed period. */
bool score_plan_event(const rules *r, const event *ev, const char *ptr, int64_t now_ms,
                      score_plan *p, score_std *stds, size_t *n_stds, errlist *errs);
/* Plans an event of the log for a replay of one challenge's period: like
 * score_plan_event without the closed-period check, keeping only that
 * challenge and period. False when the event does not count there. */
bool score_plan_replay(const rules *r, const event *ev, int challenge, const char *period_id,
                       score_plan *p, score_std *std);

typedef struct score_standing {
    char challenge[EVENT_NAME_MAX + 1];
    char period[PERIOD_ID_MAX];
    int64_t points;    /* added on this board by the event, bonuses included */
    int64_t score;     /* the leader's score after the event */
    int64_t rank;      /* competition rank after the whole call; 0 = not on the board */
    const char *notes; /* limits and bonuses, see above; points into the result string */
    size_t notes_len;
} score_standing;

typedef struct score_result {
    const char *id; /* the event's id (given or generated); owned by the batch */
    bool duplicate;
    int64_t points;      /* base x multipliers, 0 when limits stopped it everywhere */
    char reasons[64];    /* comma-separated limits hit, "" if none */
    const char *explain; /* JSON object, "{}" when unknown; points into the result string */
    size_t explain_len;
    size_t n_std;
    score_standing *std; /* period and all-time boards */
} score_result;

/* Number of standings in a result string (to size score_result.std). */
size_t score_result_count(const char *s, size_t len);
/* Parses one result string into res, writing at most max_std standings.
 * res->explain and the notes point into s, which must outlive res. */
void score_result_parse(const char *s, size_t len, score_result *res, size_t max_std);

typedef struct scorecall scorecall;

/* How a call scores. Live scoring uses the org's own keys. A replay
 * (rescore, dry run) sets `aside`: every key but the leaders hash then gets
 * that prefix after "podium:{org}:", and score.lua neither checks ids, nor
 * writes the log, links or badges. */
typedef struct scorecall_opts {
    int64_t idempotency_ttl; /* seconds */
    const char *aside;       /* NULL or "" for live scoring, else e.g. "rs:1f2e" */
    bool period_only;        /* score period boards only, not all-time boards */
} scorecall_opts;

/* The KEYS of the call being built (after scorecall_finish): n names. */
size_t scorecall_keys(const scorecall *c, const char ***keys, const size_t **lens);

scorecall *scorecall_new(void);
void scorecall_free(scorecall *c);
/* Starts a call for org at now_ms. */
void scorecall_begin(scorecall *c, const char *org, int64_t now_ms, const scorecall_opts *o);
/* Adds one group: n events with their plans and challenges, under rules r.
 * `ranks` false spares Redis the rank lookups of this group. */
void scorecall_add(scorecall *c, const rules *r, const event *ev, const score_plan *plans,
                   const score_std *stds, size_t n, bool ranks);
/* Finishes the call: *nkeys, *argv and *lens for store_script, valid until
 * the next begin. Returns argc. */
int scorecall_finish(scorecall *c, int *nkeys, const char ***argv, const size_t **lens);

#endif
