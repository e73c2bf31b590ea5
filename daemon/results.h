/*
 * results.h - how a scored event reads: JSON for clients, one sentence for
 * phones. Shared by POST /v1/events and the leader page's recent events.
 *
 * JSON of one result:
 *   {"id", "points", "duplicate", "reasons": [...], "explain": {"base",
 *    "multipliers": [{"kind", "name", "factor"}]}, "standings": [{"challenge",
 *    "period", "points", "score", "rank", "limits": [...], "bonuses": [{"kind":
 *    "first_of_day"|"streak"|"goal", "points", "days"?, "goal"?, "badge"?}]}]}
 * Badge texts come from the rules given (the rules in force), so a goal
 * removed since shows its id only.
 */
#ifndef PODIUM_RESULTS_H
#define PODIUM_RESULTS_H

#include <stddef.h>

#include "rules.h"
#include "scoring.h"

struct evbuffer;

/* Appends one result as a JSON object. r may be NULL. */
void results_json(struct evbuffer *b, const rules *r, const score_result *res);
/* Appends one sentence (with "\n") for n results of one request. */
void results_text(struct evbuffer *b, const rules *r, const score_result *res, size_t n);

#endif
