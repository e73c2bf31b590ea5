/*
 * rules.h - the rule set of an org, validated and compiled into plain structs.
 *
 * The JSON document (SPEC section 4, docs/rules.md) is parsed and checked
 * once per version; every error is reported with its JSON Pointer (and line
 * and column when the text is not JSON at all). The hot path reads only the
 * compiled structs below, never JSON. A compiled rule set is immutable and
 * owned by whoever called rules_parse.
 */
#ifndef PODIUM_RULES_H
#define PODIUM_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errlist.h"
#include "period.h"

#define RULES_MAX_ACTIVITIES 64
#define RULES_MAX_CHALLENGES 32
#define RULES_MAX_TEAMS      100  /* ids in a challenge's "teams" */
#define RULES_MAX_LEADERS    1000 /* ids in a challenge's "leaders" */

typedef struct rules_activity {
    char *id;
    double points;        /* base points, may be fractional; results are rounded */
    char points_text[24]; /* points as explanations show them ("%.6g") */
    int64_t daily_cap;    /* scored events per local day and challenge; 0 = no cap */
    int64_t cooldown;     /* seconds between scored events of this type; 0 = none */
} rules_activity;

typedef struct rules_factor {
    char *name; /* channel or stakeholder name */
    double factor;
    char text[24]; /* factor as explanations show it ("%.6g") */
} rules_factor;

typedef struct rules_campaign {
    char *name;
    int64_t starts, ends; /* Unix seconds, [starts, ends) */
    double multiplier;
    char text[24]; /* multiplier as explanations show it ("%.6g") */
} rules_campaign;

typedef struct rules_goal {
    char *id;
    size_t activity; /* index into rules.activities */
    int64_t count;
    int64_t bonus;
    char *badge;
} rules_goal;

typedef enum { RULES_SCORE_POINTS, RULES_SCORE_COUNT } rules_scoring;

typedef struct rules_challenge {
    char *id;
    char *name;
    period_spec period; /* period.zone points at `zone` below */
    struct tz *zone;    /* owned; UTC when the rules name none */
    int64_t grace;      /* seconds after a period's end during which it still takes events */
    rules_scoring scoring;
    bool team_average; /* team boards rank by points per member who scored, not by total */
    int64_t digest_at; /* mid-period digests: seconds of local time after the period's
                        * local start (interval: after its start); -1 = none */
    bool counts[RULES_MAX_ACTIVITIES]; /* counts[i]: activity i scores here */
    rules_goal *goals;
    size_t n_goals;
    char **teams; /* eligibility by team; NULL = everybody */
    size_t n_teams;
    char **leaders; /* eligibility by leader; NULL = everybody */
    size_t n_leaders;
} rules_challenge;

typedef struct rules {
    rules_activity activities[RULES_MAX_ACTIVITIES];
    size_t n_activities;
    rules_factor *channel;
    size_t n_channel;
    rules_factor *stakeholder;
    size_t n_stakeholder;
    int64_t first_of_day; /* bonus points, 0 = none */
    int64_t streak_days, streak_points;
    rules_campaign *campaigns;
    size_t n_campaigns;
    rules_challenge challenges[RULES_MAX_CHALLENGES];
    size_t n_challenges;
    char *source;  /* the document as given, NUL-terminated */
    unsigned refs; /* holders: rules_parse makes one, rules_hold adds, rules_free drops */
} rules;

/* Parses and validates a rule set. On success returns the compiled rules
 * (caller owns, rules_free); on failure returns NULL with every problem in
 * errs. A parse error is reported at pointer "" with "line L, column C". */
rules *rules_parse(const char *text, size_t len, errlist *errs);
/* Drops one hold on compiled rules, freeing them with the last; NULL is
 * allowed. Rules in force are shared: an org's rule set, the requests
 * checked against it and the jobs that read it each hold them. */
void rules_free(rules *r);
/* Adds a hold on r (freed by as many rules_free); returns r. */
rules *rules_hold(const rules *r);
/* A rule set with no activities and no challenges, never freed: what an
 * org that stored none reads as (no challenges, no boards). */
const rules *rules_empty(void);
/* Index of activity `id`, or -1. */
int rules_activity_index(const rules *r, const char *id);
/* Index of challenge `id`, or -1. */
int rules_challenge_index(const rules *r, const char *id);
/* Factor for `name` in a multiplier table; 1 when name is NULL or absent. */
double rules_factor_of(const rules_factor *t, size_t n, const char *name);
/* Rounds points half away from zero (see rules.c). */
int64_t rules_round_points(double v);
/* Base points of activity a for an event with the given channel and
 * stakeholder (either may be NULL): points x multipliers, rounded half away
 * from zero. */
int64_t rules_points(const rules *r, size_t activity, const char *channel, const char *stakeholder);

#endif
