/*
 * test_rules.c - unit tests of rules.c: validation, compilation, points.
 *
 * Documents are written with ' for " so that they stay readable; q() turns
 * them into JSON. Every error case asserts the exact JSON Pointer and a part
 * of the message that tells the person what is expected, and that the case
 * produces that one error only. The tests need the zones Europe/London and
 * America/New_York from the system's zoneinfo (or $PODIUM_ZONEINFO).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"
#include "tz.h"

/* The rule set of SPEC section 4, verbatim. */
static const char spec_example[] =
    "{\n"
    "  \"activities\": {\n"
    "    \"post\": {\"points\": 10, \"daily_cap\": 3},\n"
    "    \"reply\": {\"points\": 3, \"daily_cap\": 10, \"cooldown\": \"2m\"},\n"
    "    \"stakeholder_interaction\": {\"points\": 15}\n"
    "  },\n"
    "  \"multipliers\": {\n"
    "    \"channel\": {\"linkedin\": 1.5},\n"
    "    \"stakeholder\": {\"customer\": 2, \"investor\": 2}\n"
    "  },\n"
    "  \"bonuses\": {\"first_of_day\": 2, \"streak\": {\"days\": 5, \"points\": 20}},\n"
    "  \"campaigns\": [{\"name\": \"Results week\", \"starts\": \"2026-11-30T00:00:00Z\", "
    "\"ends\": \"2026-12-07T00:00:00Z\", \"multiplier\": 2}],\n"
    "  \"challenges\": [\n"
    "    {\"id\": \"weekly\", \"name\": \"Weekly social\", \"period\": \"week\", \"timezone\": "
    "\"Europe/London\", \"week_starts\": \"monday\", \"grace\": \"15m\",\n"
    "     \"activities\": [\"post\", \"reply\", \"stakeholder_interaction\"],\n"
    "     \"goals\": [{\"id\": \"connector\", \"activity\": \"stakeholder_interaction\", "
    "\"count\": 5, \"bonus\": 25, \"badge\": \"Connector\"}]},\n"
    "    {\"id\": \"q4-stakeholders\", \"name\": \"Q4 stakeholder sprint\", \"period\": "
    "\"fixed\",\n"
    "     \"starts\": \"2026-10-01T00:00:00Z\", \"ends\": \"2027-01-01T00:00:00Z\",\n"
    "     \"activities\": [\"stakeholder_interaction\"], \"scoring\": \"count\", \"teams\": "
    "[\"exec\"]}\n"
    "  ]\n"
    "}\n";

/* A small valid document; DOC(top, ch) adds top-level members after
 * "activities" and members to its one challenge. */
#define ACTS         "'activities':{'post':{'points':10},'reply':{'points':3}}"
#define CH0          "'id':'weekly','name':'Weekly','period':'week','activities':['post']"
#define DOC(top, ch) "{" ACTS top ",'challenges':[{" CH0 ch "}]}"

/* Returns a malloc'd copy of s with every ' turned into ". */
static char *q(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'')
            *p = '"';
    return out;
}

/* Parses a document written with ' for ". */
static rules *parse_q(const char *doc, errlist *errs)
{
    char *json = q(doc);
    rules *r = rules_parse(json, strlen(json), errs);
    free(json);
    return r;
}

/* Prints an error list, to explain a failed expectation. */
static void dump(const char *what, const errlist *errs)
{
    print_error("%s\n", what);
    for (size_t i = 0; i < errs->n; i++)
        print_error("  %s: %s\n", errs->items[i].pointer, errs->items[i].message);
}

/* True if errs holds an error at `pointer` whose message contains `part`. */
static bool has_error(const errlist *errs, const char *pointer, const char *part)
{
    for (size_t i = 0; i < errs->n; i++)
        if (strcmp(errs->items[i].pointer, pointer) == 0 &&
            strstr(errs->items[i].message, part) != NULL)
            return true;
    return false;
}

/* The SPEC example compiles to exactly the values it states. */
static void test_spec_example(void **state)
{
    (void)state;
    errlist errs = {0};
    rules *r = rules_parse(spec_example, strlen(spec_example), &errs);
    if (r == NULL)
        dump("spec example refused", &errs);
    assert_non_null(r);
    assert_int_equal(errs.n, 0);

    assert_int_equal(r->n_activities, 3);
    assert_string_equal(r->activities[0].id, "post");
    assert_string_equal(r->activities[1].id, "reply");
    assert_string_equal(r->activities[2].id, "stakeholder_interaction");
    assert_true(r->activities[0].points == 10.0);
    assert_true(r->activities[1].points == 3.0);
    assert_true(r->activities[2].points == 15.0);
    assert_int_equal(r->activities[0].daily_cap, 3);
    assert_int_equal(r->activities[1].daily_cap, 10);
    assert_int_equal(r->activities[2].daily_cap, 0);
    assert_int_equal(r->activities[0].cooldown, 0);
    assert_int_equal(r->activities[1].cooldown, 120);

    assert_int_equal(r->n_channel, 1);
    assert_string_equal(r->channel[0].name, "linkedin");
    assert_true(r->channel[0].factor == 1.5);
    assert_int_equal(r->n_stakeholder, 2);
    assert_string_equal(r->stakeholder[0].name, "customer");
    assert_string_equal(r->stakeholder[1].name, "investor");
    assert_true(rules_factor_of(r->stakeholder, r->n_stakeholder, "investor") == 2.0);

    assert_int_equal(r->first_of_day, 2);
    assert_int_equal(r->streak_days, 5);
    assert_int_equal(r->streak_points, 20);

    assert_int_equal(r->n_campaigns, 1);
    assert_string_equal(r->campaigns[0].name, "Results week");
    assert_int_equal(r->campaigns[0].starts, INT64_C(1795996800));
    assert_int_equal(r->campaigns[0].ends, INT64_C(1796601600));
    assert_true(r->campaigns[0].multiplier == 2.0);

    assert_int_equal(r->n_challenges, 2);
    const rules_challenge *w = &r->challenges[0];
    assert_string_equal(w->id, "weekly");
    assert_string_equal(w->name, "Weekly social");
    assert_int_equal(w->period.kind, PERIOD_WEEK);
    assert_non_null(w->zone);
    assert_ptr_equal(w->period.zone, w->zone);
    assert_string_equal(tz_name(w->zone), "Europe/London");
    assert_int_equal(w->period.week_start, 0);
    assert_int_equal(w->grace, 900);
    assert_int_equal(w->scoring, RULES_SCORE_POINTS);
    assert_true(w->counts[0] && w->counts[1] && w->counts[2]);
    assert_false(w->counts[3]);
    assert_int_equal(w->n_goals, 1);
    assert_string_equal(w->goals[0].id, "connector");
    assert_int_equal(w->goals[0].activity, 2);
    assert_int_equal(w->goals[0].count, 5);
    assert_int_equal(w->goals[0].bonus, 25);
    assert_string_equal(w->goals[0].badge, "Connector");
    assert_null(w->teams);
    assert_null(w->leaders);

    const rules_challenge *f = &r->challenges[1];
    assert_string_equal(f->id, "q4-stakeholders");
    assert_int_equal(f->period.kind, PERIOD_FIXED);
    assert_int_equal(f->period.fixed_start, INT64_C(1790812800));
    assert_int_equal(f->period.fixed_end, INT64_C(1798761600));
    assert_string_equal(tz_name(f->zone), "UTC");
    assert_ptr_equal(f->period.zone, f->zone);
    assert_int_equal(f->grace, 900);
    assert_int_equal(f->scoring, RULES_SCORE_COUNT);
    assert_false(f->counts[0] || f->counts[1]);
    assert_true(f->counts[2]);
    assert_int_equal(f->n_goals, 0);
    assert_int_equal(f->n_teams, 1);
    assert_string_equal(f->teams[0], "exec");
    assert_null(f->leaders);

    assert_int_equal(rules_activity_index(r, "reply"), 1);
    assert_int_equal(rules_activity_index(r, "like"), -1);
    assert_int_equal(rules_activity_index(r, NULL), -1);
    assert_int_equal(rules_challenge_index(r, "q4-stakeholders"), 1);
    assert_int_equal(rules_challenge_index(r, "monthly"), -1);
    assert_string_equal(r->source, spec_example);
    rules_free(r);
    errlist_clear(&errs);
}

/* Lists of teams and leaders are bounded, so that a call carries them cheaply. */
static void test_id_list_limits(void **state)
{
    (void)state;
    char doc[16384], list[12000];
    size_t n = 0;
    for (int i = 0; i <= RULES_MAX_TEAMS; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s't%d'", i ? "," : "", i);
    snprintf(doc, sizeof(doc), DOC("", ",'teams':[%s]"), list);
    errlist errs = {0};
    assert_null(parse_q(doc, &errs));
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.items[0].pointer, "/challenges/0/teams");
    assert_non_null(strstr(errs.items[0].message, "at most 100 team ids, got 101"));
    errlist_clear(&errs);
    /* Exactly the limit is fine. */
    char *last = strrchr(list, ',');
    *last = '\0';
    snprintf(doc, sizeof(doc), DOC("", ",'teams':[%s]"), list);
    rules *r = parse_q(doc, &errs);
    assert_non_null(r);
    assert_int_equal(r->challenges[0].n_teams, RULES_MAX_TEAMS);
    assert_false(r->challenges[0].team_average); /* "total" unless said */
    rules_free(r);
    r = parse_q(DOC("", ",'team_ranking':'average'"), &errs);
    assert_non_null(r);
    assert_true(r->challenges[0].team_average);
    rules_free(r);
}

/* Defaults and accepted edge values compile as documented. */
/* "digest_at" compiles to seconds after the period's local start. */
static void test_digest_at(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        int64_t want;
    } cases[] = {
        {DOC("", ""), -1},
        {DOC("", ",'digest_at':'thursday 10:00'"), 3 * 86400 + 36000},
        {DOC("", ",'digest_at':'monday 0:05'"), 300},
        {DOC("", ",'week_starts':'sunday','digest_at':'thursday 10:00'"), 4 * 86400 + 36000},
        {DOC("", ",'week_starts':'friday','digest_at':'thursday 23:59'"), 6 * 86400 + 86340},
        {DOC("", ",'digest_at':'82h'"), 82 * 3600},
        {"{" ACTS ",'challenges':[{'id':'m','name':'M','period':'month','digest_at':'14d',"
         "'activities':['post']}]}",
         14 * 86400},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        errlist errs = {0};
        rules *r = parse_q(cases[i].doc, &errs);
        if (r == NULL)
            dump(cases[i].doc, &errs);
        assert_non_null(r);
        assert_int_equal(r->challenges[0].digest_at, cases[i].want);
        rules_free(r);
    }
}

static void test_defaults_and_edges(void **state)
{
    (void)state;
    errlist errs = {0};
    rules *r = parse_q(
        "{'activities':{'post':{'points':-10000,'daily_cap':3.0,'cooldown':'0'},"
        "'a.b_c-9':{'points':0.25,'daily_cap':10000,'cooldown':'7d'}},"
        "'multipliers':{'channel':{},'stakeholder':{'press':100}},"
        "'bonuses':{'streak':{'days':365,'points':0}},"
        "'challenges':["
        "{'id':'w','name':'Sunday weeks','period':'week','week_starts':'sunday',"
        "'timezone':'America/New_York','grace':'0','activities':['a.b_c-9','post']},"
        "{'id':'m','name':'" /* 100 two-byte characters */
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "','period':'month','activities':['post'],'goals':[{'id':'g','activity':'post','count':1}]}"
        ","
        "{'id':'all-time','name':'All time','period':'all','activities':['post'],'grace':'7d'},"
        "{'id':'f','name':'F','period':'fixed','starts':'2026-01-01T01:00:00+01:00',"
        "'ends':'2026-01-01T00:00:01.000Z','activities':['post']}]}",
        &errs);
    if (r == NULL)
        dump("edge document refused", &errs);
    assert_non_null(r);
    assert_true(r->activities[0].points == -10000.0);
    assert_int_equal(r->activities[0].daily_cap, 3);
    assert_int_equal(r->activities[0].cooldown, 0);
    assert_string_equal(r->activities[1].id, "a.b_c-9");
    assert_true(r->activities[1].points == 0.25);
    assert_int_equal(r->activities[1].cooldown, 7 * 86400);
    assert_int_equal(r->n_channel, 0);
    assert_true(r->stakeholder[0].factor == 100.0);
    assert_int_equal(r->first_of_day, 0);
    assert_int_equal(r->streak_days, 365);
    assert_int_equal(r->streak_points, 0);
    assert_int_equal(r->n_challenges, 4);
    assert_int_equal(r->challenges[0].period.week_start, 6);
    assert_string_equal(tz_name(r->challenges[0].zone), "America/New_York");
    assert_int_equal(r->challenges[0].grace, 0);
    assert_true(r->challenges[0].counts[0] && r->challenges[0].counts[1]);
    assert_int_equal(r->challenges[1].period.kind, PERIOD_MONTH);
    assert_int_equal(r->challenges[1].goals[0].bonus, 0);
    assert_null(r->challenges[1].goals[0].badge);
    assert_int_equal(r->challenges[2].period.kind, PERIOD_ALL);
    assert_int_equal(r->challenges[2].grace, 7 * 86400);
    assert_int_equal(r->challenges[3].period.fixed_start, INT64_C(1767225600));
    assert_int_equal(r->challenges[3].period.fixed_end, INT64_C(1767225601));
    rules_free(r);
    errlist_clear(&errs);
}

typedef struct err_case {
    const char *doc;     /* with ' for " */
    const char *pointer; /* the one error's pointer */
    const char *part;    /* part of its message */
} err_case;

/* Each document has exactly one mistake, reported at the right place. */
static void test_single_errors(void **state)
{
    (void)state;
    static const err_case cases[] = {
        /* the document */
        {"[]", "",
         "expected a rule set object with \"activities\" and \"challenges\", got an array"},
        {DOC(",'version':2", ""), "/version",
         "unknown member; expected one of activities, multipliers, bonuses, campaigns, challenges"},
        {"{'challenges':[{" CH0 "}]}", "/activities", "missing; expected an object of activity"},
        /* activities */
        {"{'activities':[],'challenges':[{" CH0 "}]}", "/activities",
         "expected an object of activity types, got an array"},
        {"{'activities':{},'challenges':[{" CH0 "}]}", "/activities",
         "expected at least one activity type, got none"},
        {"{'activities':{'Post':{'points':1}},'challenges':[{'id':'w','name':'W','period':'all',"
         "'activities':['Post']}]}",
         "/activities/Post", "invalid activity type; expected an id: 1 to 64 of a-z"},
        {"{'activities':{'post':10},'challenges':[{" CH0 "}]}", "/activities/post",
         "expected an object such as {\"points\": 10}, got a number"},
        {"{'activities':{'post':{}},'challenges':[{" CH0 "}]}", "/activities/post/points",
         "missing; expected a number from -10000 to 10000"},
        {"{'activities':{'post':{'points':'10'}},'challenges':[{" CH0 "}]}",
         "/activities/post/points", "expected a number from -10000 to 10000, got a string"},
        {"{'activities':{'post':{'points':10001}},'challenges':[{" CH0 "}]}",
         "/activities/post/points", "expected a number from -10000 to 10000, got 10001"},
        {"{'activities':{'post':{'points':-10000.5}},'challenges':[{" CH0 "}]}",
         "/activities/post/points", "got -10000.5"},
        {"{'activities':{'post':{'points':1,'daily_cap':0}},'challenges':[{" CH0 "}]}",
         "/activities/post/daily_cap", "expected an integer from 1 to 10000, got 0"},
        {"{'activities':{'post':{'points':1,'daily_cap':2.5}},'challenges':[{" CH0 "}]}",
         "/activities/post/daily_cap", "expected an integer from 1 to 10000, got 2.5"},
        {"{'activities':{'post':{'points':1,'daily_cap':true}},'challenges':[{" CH0 "}]}",
         "/activities/post/daily_cap", "got true"},
        {"{'activities':{'post':{'points':1,'cooldown':'2 minutes'}},'challenges':[{" CH0 "}]}",
         "/activities/post/cooldown",
         "expected a duration such as \"90s\", \"2m\", \"1h\" or \"1d\", at most 7d, got \"2 "
         "minutes\""},
        {"{'activities':{'post':{'points':1,'cooldown':'8d'}},'challenges':[{" CH0 "}]}",
         "/activities/post/cooldown", "at most 7d, got \"8d\""},
        {"{'activities':{'post':{'points':1,'cooldown':120}},'challenges':[{" CH0 "}]}",
         "/activities/post/cooldown", "got a number"},
        {"{'activities':{'post':{'points':1,'a/b~c':1}},'challenges':[{" CH0 "}]}",
         "/activities/post/a~1b~0c", "unknown member; expected one of points, daily_cap, cooldown"},
        /* multipliers */
        {DOC(",'multipliers':[]", ""), "/multipliers", "got an array"},
        {DOC(",'multipliers':{'channels':{}}", ""), "/multipliers/channels",
         "unknown member; expected one of channel, stakeholder (did you mean \"channel\"?)"},
        {DOC(",'multipliers':{'channel':{'linkedin':0}}", ""), "/multipliers/channel/linkedin",
         "expected a factor greater than 0 and at most 100, such as 1.5, got 0"},
        {DOC(",'multipliers':{'channel':{'linkedin':100.5}}", ""), "/multipliers/channel/linkedin",
         "got 100.5"},
        {DOC(",'multipliers':{'stakeholder':{'press':'2'}}", ""), "/multipliers/stakeholder/press",
         "got a string"},
        {DOC(",'multipliers':{'channel':{'LinkedIn':2}}", ""), "/multipliers/channel/LinkedIn",
         "invalid name; expected an id"},
        {DOC(",'multipliers':{'stakeholder':3}", ""), "/multipliers/stakeholder",
         "expected an object of factors such as {\"linkedin\": 1.5}, got a number"},
        /* bonuses */
        {DOC(",'bonuses':{'first_of_day':-1}", ""), "/bonuses/first_of_day",
         "expected an integer from 0 to 10000, got -1"},
        {DOC(",'bonuses':{'streak':{'days':1,'points':5}}", ""), "/bonuses/streak/days",
         "expected an integer from 2 to 365, got 1"},
        {DOC(",'bonuses':{'streak':{'days':5}}", ""), "/bonuses/streak/points",
         "missing; expected an integer from 0 to 10000"},
        {DOC(",'bonuses':{'streak':5}", ""), "/bonuses/streak",
         "expected an object such as {\"days\": 5, \"points\": 20}, got a number"},
        {DOC(",'bonuses':{'first_of_the_day':2}", ""), "/bonuses/first_of_the_day",
         "(did you mean \"first_of_day\"?)"},
        /* campaigns */
        {DOC(",'campaigns':{}", ""), "/campaigns", "expected an array of campaigns, got an object"},
        {DOC(",'campaigns':[{'starts':'2026-11-30T00:00:00Z','ends':'2026-12-07T00:00:00Z',"
             "'multiplier':2}]",
             ""),
         "/campaigns/0/name", "missing; expected a name of 1 to 100 characters"},
        {DOC(",'campaigns':[{'name':'','starts':'2026-11-30T00:00:00Z','ends':'2026-12-07T00:00:"
             "00Z','multiplier':2}]",
             ""),
         "/campaigns/0/name", "expected a name of 1 to 100 characters, got 0 characters"},
        {DOC(",'campaigns':[{'name':'R','starts':'2026-11-31T00:00:00Z','ends':'2026-12-07T00:00:"
             "00Z','multiplier':2}]",
             ""),
         "/campaigns/0/starts",
         "expected an RFC 3339 time in whole seconds such as \"2026-11-30T00:00:00Z\", got "
         "\"2026-11-31T00:00:00Z\""},
        {DOC(",'campaigns':[{'name':'R','starts':'2026-11-30T00:00:00.5Z','ends':'2026-12-07T00:"
             "00:00Z','multiplier':2}]",
             ""),
         "/campaigns/0/starts", "in whole seconds"},
        {DOC(",'campaigns':[{'name':'R','starts':'2026-12-07T00:00:00Z','ends':'2026-12-07T01:00:"
             "00+01:00','multiplier':2}]",
             ""),
         "/campaigns/0/ends", "expected a time after \"starts\", got one at or before it"},
        {DOC(",'campaigns':[{'name':'R','starts':'2026-11-30T00:00:00Z','ends':'2026-12-07T00:00:"
             "00Z','multiplier':0}]",
             ""),
         "/campaigns/0/multiplier", "greater than 0 and at most 100"},
        {DOC(",'campaigns':['x']", ""), "/campaigns/0", "expected a campaign object, got a string"},
        /* challenges */
        {"{" ACTS "}", "/challenges", "missing; expected a non-empty array of challenges"},
        {"{" ACTS ",'challenges':[]}", "/challenges",
         "expected a non-empty array of challenges, got an empty array"},
        {"{" ACTS ",'challenges':{}}", "/challenges", "got an object"},
        {"{" ACTS ",'challenges':[1]}", "/challenges/0",
         "expected a challenge object, got a number"},
        {"{" ACTS ",'challenges':[{'name':'W','period':'all','activities':['post']}]}",
         "/challenges/0/id", "missing; expected an id"},
        {"{" ACTS ",'challenges':[{'id':'Weekly!','name':'W','period':'all','activities':['post']}"
         "]}",
         "/challenges/0/id", "got \"Weekly!\""},
        {"{" ACTS ",'challenges':[{" CH0 "},{'id':'m','name':'M','period':'month','activities':["
         "'post']},{" CH0 "}]}",
         "/challenges/2/id", "duplicate challenge id \"weekly\"; already at /challenges/0/id"},
        {"{" ACTS ",'challenges':[{'id':'w','period':'all','activities':['post']}]}",
         "/challenges/0/name", "missing; expected a name of 1 to 100 characters"},
        {"{" ACTS ",'challenges':[{'id':'w','name':'W','activities':['post']}]}",
         "/challenges/0/period",
         "missing; expected \"week\", \"month\", \"fixed\", \"all\" or \"interval\""},
        {"{" ACTS ",'challenges':[{'id':'w','name':'W','period':'weekly','activities':['post']}]}",
         "/challenges/0/period",
         "expected \"week\", \"month\", \"fixed\", \"all\" or \"interval\", got \"weekly\""},
        {DOC("", ",'timezone':'Europe/Lundon'"), "/challenges/0/timezone",
         "unknown time zone \"Europe/Lundon\"; expected an IANA name such as \"Europe/London\""},
        {DOC("", ",'timezone':'../../etc/passwd'"), "/challenges/0/timezone",
         "unknown time zone \"../../etc/passwd\""},
        {DOC("", ",'timezone':1"), "/challenges/0/timezone",
         "expected an IANA time zone such as \"Europe/London\", got a number"},
        {DOC("", ",'week_starts':'funday'"), "/challenges/0/week_starts",
         "expected a weekday from \"monday\" to \"sunday\", got \"funday\""},
        {"{" ACTS ",'challenges':[{'id':'m','name':'M','period':'month','week_starts':'sunday',"
         "'activities':['post']}]}",
         "/challenges/0/week_starts", "only allowed with \"period\": \"week\""},
        {DOC("", ",'grace':'1w'"), "/challenges/0/grace", "got \"1w\""},
        {DOC("", ",'grace':'169h'"), "/challenges/0/grace", "at most 7d"},
        {"{" ACTS ",'challenges':[{'id':'w','name':'W','period':'all'}]}",
         "/challenges/0/activities",
         "missing; expected a non-empty array of activity types, such as [\"post\", \"reply\"]"},
        {"{" ACTS ",'challenges':[{'id':'w','name':'W','period':'all','activities':[]}]}",
         "/challenges/0/activities", "got an empty array"},
        {"{" ACTS ",'challenges':[{'id':'w','name':'W','period':'all','activities':'post'}]}",
         "/challenges/0/activities", "got a string"},
        {"{" ACTS ",'challenges':[{'id':'w','name':'W','period':'all','activities':['post',"
         "'posts']}]}",
         "/challenges/0/activities/1",
         "unknown activity type \"posts\"; expected one of the ids in /activities: post, reply"},
        {"{" ACTS ",'challenges':[{'id':'w','name':'W','period':'all','activities':['post','reply',"
         "'post']}]}",
         "/challenges/0/activities/2",
         "duplicate activity type \"post\"; already at /challenges/0/activities/0"},
        {"{" ACTS ",'challenges':[{'id':'w','name':'W','period':'all','activities':[null]}]}",
         "/challenges/0/activities/0", "expected an activity type from /activities, got null"},
        {DOC("", ",'scoring':'sum'"), "/challenges/0/scoring",
         "expected \"points\" or \"count\", got \"sum\""},
        {DOC("", ",'team_ranking':'median'"), "/challenges/0/team_ranking",
         "expected \"total\" or \"average\", got \"median\""},
        {DOC("", ",'goal':[]"), "/challenges/0/goal", "(did you mean \"goals\"?)"},
        /* goals */
        {DOC("", ",'goals':{}"), "/challenges/0/goals",
         "expected an array of goals, got an object"},
        {DOC("", ",'goals':[{'id':'g','activity':'like','count':5}]"),
         "/challenges/0/goals/0/activity", "unknown activity type \"like\""},
        {DOC("", ",'goals':[{'id':'g','activity':'reply','count':5}]"),
         "/challenges/0/goals/0/activity",
         "activity type \"reply\" is not counted by this challenge"},
        {DOC("", ",'goals':[{'id':'g','activity':'post','count':0}]"),
         "/challenges/0/goals/0/count", "expected an integer from 1 to 10000, got 0"},
        {DOC("", ",'goals':[{'id':'g','activity':'post','count':1,'bonus':10001}]"),
         "/challenges/0/goals/0/bonus", "expected an integer from 0 to 10000, got 10001"},
        {DOC("", ",'goals':[{'activity':'post','count':1}]"), "/challenges/0/goals/0/id",
         "missing; expected an id"},
        {DOC("", ",'goals':[{'id':'g','activity':'post','count':1},{'id':'g','activity':'post',"
                 "'count':2}]"),
         "/challenges/0/goals/1/id",
         "duplicate goal id \"g\"; already at /challenges/0/goals/0/id"},
        {DOC("", ",'goals':[{'id':'g','activity':'post','count':1,'badge':'"
                 "12345678901234567890123456789012345678901234567890123456789012345'}]"),
         "/challenges/0/goals/0/badge",
         "expected a badge name of 1 to 64 characters, got 65 characters"},
        {DOC("", ",'goals':[7]"), "/challenges/0/goals/0", "expected a goal object, got a number"},
        /* teams and leaders */
        {DOC("", ",'teams':[]"), "/challenges/0/teams",
         "expected a non-empty array of team ids (leave it out to let everybody take part), got "
         "an empty array"},
        {DOC("", ",'teams':['Exec']"), "/challenges/0/teams/0", "got \"Exec\""},
        {DOC("", ",'teams':['exec','sales','exec']"), "/challenges/0/teams/2",
         "duplicate team \"exec\"; already at /challenges/0/teams/0"},
        {DOC("", ",'leaders':'alice'"), "/challenges/0/leaders", "leader ids"},
        /* fixed spans */
        {"{" ACTS ",'challenges':[{'id':'f','name':'F','period':'fixed','ends':'2027-01-01T00:00:"
         "00Z','activities':['post']}]}",
         "/challenges/0/starts", "missing; expected an RFC 3339 time"},
        {"{" ACTS ",'challenges':[{'id':'f','name':'F','period':'fixed','starts':'2027-01-01T00:00:"
         "00Z','ends':'2026-10-01T00:00:00Z','activities':['post']}]}",
         "/challenges/0/ends", "expected a time after \"starts\""},
        {DOC("", ",'starts':'2026-10-01T00:00:00Z'"), "/challenges/0/starts",
         "only allowed with \"period\": \"fixed\" or \"interval\""},
        {DOC("", ",'ends':'2026-10-01T00:00:00Z'"), "/challenges/0/ends",
         "only allowed with \"period\": \"fixed\""},
        /* interval periods */
        {"{" ACTS ",'challenges':[{'id':'s','name':'S','period':'interval','starts':'2026-11-02T00:"
         "00:00Z','activities':['post']}]}",
         "/challenges/0/length", "missing; expected a duration such as \"14d\""},
        {"{" ACTS ",'challenges':[{'id':'s','name':'S','period':'interval','length':'14d',"
         "'activities':['post']}]}",
         "/challenges/0/starts", "missing; expected an RFC 3339 time"},
        {"{" ACTS ",'challenges':[{'id':'s','name':'S','period':'interval','length':'0s','starts':"
         "'2026-11-02T00:00:00Z','activities':['post']}]}",
         "/challenges/0/length", "from 1s to 366d, got \"0s\""},
        {"{" ACTS ",'challenges':[{'id':'s','name':'S','period':'interval','length':'367d','starts'"
         ":'2026-11-02T00:00:00Z','activities':['post']}]}",
         "/challenges/0/length", "got \"367d\""},
        {"{" ACTS ",'challenges':[{'id':'s','name':'S','period':'interval','length':'1d','starts':"
         "'2026-11-02T00:00:00Z','ends':'2026-12-02T00:00:00Z','activities':['post']}]}",
         "/challenges/0/ends", "only allowed with \"period\": \"fixed\""},
        {DOC("", ",'length':'14d'"), "/challenges/0/length",
         "only allowed with \"period\": \"interval\""},
        /* midway digests */
        {DOC("", ",'digest_at':'funday 10:00'"), "/challenges/0/digest_at",
         "expected a weekday and local time such as \"thursday 10:00\""},
        {DOC("", ",'digest_at':'thursday 25:00'"), "/challenges/0/digest_at",
         "got \"thursday 25:00\""},
        {DOC("", ",'digest_at':'7d'"), "/challenges/0/digest_at",
         "expected a time before the period ends (within 604800s of its start), got \"7d\""},
        {DOC("", ",'digest_at':3"), "/challenges/0/digest_at", "got a number"},
        {"{" ACTS ",'challenges':[{'id':'m','name':'M','period':'month','digest_at':'thursday "
         "10:00','activities':['post']}]}",
         "/challenges/0/digest_at", "a weekday only goes with \"period\": \"week\""},
        {"{" ACTS ",'challenges':[{'id':'a','name':'A','period':'all','digest_at':'1d',"
         "'activities':['post']}]}",
         "/challenges/0/digest_at", "not with \"period\": \"all\""},
        /* text that is not JSON */
        {"", "", "invalid JSON at line 1, column 0"},
        {"{'activities':{'post':{'points':1},'post':{'points':2}}}", "",
         "invalid JSON at line 1, column 41: duplicate object key near '\"post\"'"},
        {"{'a':\n  'b',\n  }", "", "invalid JSON at line 3, column 3: string or '}' expected"},
        {"{'a':99999999999999999999}", "", "too big integer"},
        {"{} x", "", "end of file expected"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        errlist errs = {0};
        rules *r = parse_q(cases[i].doc, &errs);
        bool ok = r == NULL && errs.n == 1 &&
                  strcmp(errs.items[0].pointer, cases[i].pointer) == 0 &&
                  strstr(errs.items[0].message, cases[i].part) != NULL;
        if (!ok) {
            print_error("case %zu: %s\n  want %s: ...%s...\n", i, cases[i].doc, cases[i].pointer,
                        cases[i].part);
            dump("  got:", &errs);
        }
        rules_free(r);
        errlist_clear(&errs);
        assert_true(ok);
    }
}

/* A typo gives the unknown member, with a suggestion, and the missing one. */
static void test_typo(void **state)
{
    (void)state;
    errlist errs = {0};
    rules *r = parse_q("{'activities':{'post':{'point':10}},'challenges':[{" CH0 "}]}", &errs);
    assert_null(r);
    assert_int_equal(errs.n, 2);
    assert_string_equal(errs.items[0].pointer, "/activities/post/point");
    assert_string_equal(errs.items[0].message, "unknown member; expected one of points, daily_cap, "
                                               "cooldown (did you mean \"points\"?)");
    assert_string_equal(errs.items[1].pointer, "/activities/post/points");
    assert_string_equal(errs.items[1].message, "missing; expected a number from -10000 to 10000");
    errlist_clear(&errs);
}

/* One walk reports every mistake of every section. */
static void test_many_errors(void **state)
{
    (void)state;
    errlist errs = {0};
    rules *r = parse_q(
        "{'activites':1,"
        "'activities':{'post':{'points':20000},'reply':{'points':1,'daily_cap':0,'cooldown':'x'}},"
        "'multipliers':{'channel':{'linkedin':-1}},"
        "'bonuses':{'streak':{'days':400,'points':1}},"
        "'campaigns':[{'name':'C','starts':'2026-12-07T00:00:00Z','ends':'2026-11-30T00:00:00Z',"
        "'multiplier':2}],"
        "'challenges':[{'id':'w','name':'W','period':'week','timezone':'Mars/Olympus',"
        "'activities':['post','nope'],'goals':[{'id':'g','activity':'reply','count':3}]},"
        "{'id':'w','name':'','period':'fixed','activities':['reply']}]}",
        &errs);
    static const char *const want[][2] = {
        {"/activites", "(did you mean \"activities\"?)"},
        {"/activities/post/points", "got 20000"},
        {"/activities/reply/daily_cap", "got 0"},
        {"/activities/reply/cooldown", "got \"x\""},
        {"/multipliers/channel/linkedin", "got -1"},
        {"/bonuses/streak/days", "got 400"},
        {"/campaigns/0/ends", "after \"starts\""},
        {"/challenges/0/timezone", "unknown time zone \"Mars/Olympus\""},
        {"/challenges/0/activities/1", "unknown activity type \"nope\""},
        {"/challenges/0/goals/0/activity", "not counted by this challenge"},
        {"/challenges/1/id", "duplicate challenge id \"w\""},
        {"/challenges/1/name", "got 0 characters"},
        {"/challenges/1/starts", "missing"},
        {"/challenges/1/ends", "missing"},
    };
    size_t n = sizeof(want) / sizeof(want[0]);
    assert_null(r);
    if (errs.n != n)
        dump("many errors", &errs);
    assert_int_equal(errs.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(errs.items[i].pointer, want[i][0]);
        assert_non_null(strstr(errs.items[i].message, want[i][1]));
    }
    errlist_clear(&errs);
}

/* Too many activities or challenges: reported once, and every extra one is
 * still checked; the list keeps ERRLIST_MAX errors and the parse fails. */
static void test_limits(void **state)
{
    (void)state;
    size_t cap = 16384, o = 0;
    char *doc = malloc(cap);
    assert_non_null(doc);
    o += (size_t)snprintf(doc + o, cap - o, "{'activities':{");
    for (int i = 0; i < RULES_MAX_ACTIVITIES + 1; i++)
        o += (size_t)snprintf(doc + o, cap - o, "%s'a%d':{'points':%d}", i ? "," : "", i,
                              i == RULES_MAX_ACTIVITIES ? 99999 : 1);
    o += (size_t)snprintf(doc + o, cap - o, "},'challenges':[");
    for (int i = 0; i < RULES_MAX_CHALLENGES + 1; i++)
        o += (size_t)snprintf(doc + o, cap - o,
                              "%s{'id':'c%d','name':'C','period':'all','activities':['a%d']}",
                              i ? "," : "", i, i == RULES_MAX_CHALLENGES ? 999 : i);
    o += (size_t)snprintf(doc + o, cap - o, "]}");
    assert_true(o < cap);

    errlist errs = {0};
    rules *r = parse_q(doc, &errs);
    assert_null(r);
    if (errs.n != 4)
        dump("limits", &errs);
    assert_int_equal(errs.n, 4);
    assert_true(has_error(&errs, "/activities", "expected at most 64 activity types, got 65"));
    assert_true(has_error(&errs, "/activities/a64/points", "got 99999"));
    assert_true(has_error(&errs, "/challenges", "expected at most 32 challenges, got 33"));
    assert_true(has_error(&errs, "/challenges/32/activities/0", "unknown activity type \"a999\""));
    errlist_clear(&errs);

    /* 150 bad activities: 151 errors found, ERRLIST_MAX kept. */
    o = (size_t)snprintf(doc, cap, "{'activities':{");
    for (int i = 0; i < 150; i++)
        o += (size_t)snprintf(doc + o, cap - o, "%s'a%d':{'points':'x'}", i ? "," : "", i);
    snprintf(doc + o, cap - o,
             "},'challenges':[{'id':'c','name':'C','period':'all',"
             "'activities':['a0']}]}");
    r = parse_q(doc, &errs);
    assert_null(r);
    assert_int_equal(errs.n, ERRLIST_MAX);
    errlist_clear(&errs);
    free(doc);
}

/* NULL text, and odd bytes, are refused with a readable message. */
static void test_bad_text(void **state)
{
    (void)state;
    errlist errs = {0};
    assert_null(rules_parse(NULL, 0, &errs));
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.items[0].pointer, "");
    assert_non_null(strstr(errs.items[0].message, "line 1, column 0"));
    errlist_clear(&errs);

    static const char nul[] = "{\"activities\":\0{}}";
    assert_null(rules_parse(nul, sizeof(nul) - 1, &errs));
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.items[0].message, "invalid JSON at line 1, column"));
    errlist_clear(&errs);

    static const char latin1[] = "{\"activities\":{\"caf\xe9\":{\"points\":1}}}";
    assert_null(rules_parse(latin1, sizeof(latin1) - 1, &errs));
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.items[0].message, "invalid JSON at line 1, column"));
    for (const unsigned char *p = (const unsigned char *)errs.items[0].message; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7F); /* the byte was replaced, not echoed */
    errlist_clear(&errs);

    /* user text in messages is cut after 32 characters, whole */
    rules *r = parse_q(DOC("", ",'scoring':'"
                               "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                               "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                               "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                               "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                               "xyz'"),
                       &errs);
    assert_null(r);
    assert_int_equal(errs.n, 1);
    assert_non_null(
        strstr(errs.items[0].message,
               "got \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
               "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
               "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
               "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...\""));
    errlist_clear(&errs);

    /* quotes are escaped and control characters replaced */
    r = parse_q(DOC("", ",'scoring':'a\\'b\\tc'"), &errs);
    assert_null(r);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.items[0].message, "got \"a\\\"b?c\""));
    errlist_clear(&errs);
}

/* A rule set with every multiplier kind, for the points table. */
static const char points_doc[] =
    "{'activities':{'post':{'points':10},'reply':{'points':3},'neg':{'points':-3},"
    "'half':{'points':2.5},'mhalf':{'points':-2.5},'low':{'points':2.4},'p15':{'points':15},"
    "'max':{'points':10000},'zero':{'points':0}},"
    "'multipliers':{'channel':{'linkedin':1.5,'x':4.1,'big':100},"
    "'stakeholder':{'customer':2,'press':0.5,'big':100}},"
    "'challenges':[{'id':'w','name':'W','period':'all','activities':['post']}]}";

typedef struct points_case {
    const char *activity, *channel, *stakeholder;
    int64_t want;
} points_case;

/* Points are base x channel x stakeholder, rounded half away from zero. */
static void test_points(void **state)
{
    (void)state;
    static const points_case cases[] = {
        {"post", NULL, NULL, 10},
        {"post", "linkedin", NULL, 15},
        {"post", "linkedin", "customer", 30},
        {"post", "unknown", "unknown", 10}, /* absent names count as 1 */
        {"post", "", "", 10},               /* an event's "no channel" */
        {"reply", "linkedin", NULL, 5},     /* 4.5 */
        {"neg", "linkedin", NULL, -5},      /* -4.5 */
        {"half", NULL, NULL, 3},
        {"mhalf", NULL, NULL, -3},
        {"low", NULL, NULL, 2},
        {"reply", NULL, "press", 2}, /* 1.5 */
        {"p15", "x", NULL, 62},      /* 61.5, which binary makes 61.4999... */
        {"reply", "x", "press", 6},  /* 6.15 */
        {"max", "big", "big", 100000000},
        {"zero", "big", "customer", 0},
    };
    errlist errs = {0};
    rules *r = parse_q(points_doc, &errs);
    if (r == NULL)
        dump("points doc refused", &errs);
    assert_non_null(r);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int a = rules_activity_index(r, cases[i].activity);
        assert_true(a >= 0);
        int64_t got = rules_points(r, (size_t)a, cases[i].channel, cases[i].stakeholder);
        if (got != cases[i].want)
            print_error("case %zu: %s %s %s\n", i, cases[i].activity,
                        cases[i].channel ? cases[i].channel : "-",
                        cases[i].stakeholder ? cases[i].stakeholder : "-");
        assert_int_equal(got, cases[i].want);
    }
    assert_int_equal(rules_points(r, r->n_activities, NULL, NULL), 0);
    assert_int_equal(rules_points(NULL, 0, NULL, NULL), 0);
    assert_true(rules_factor_of(r->channel, r->n_channel, "linkedin") == 1.5);
    assert_true(rules_factor_of(r->channel, r->n_channel, NULL) == 1.0);
    assert_true(rules_factor_of(NULL, 0, "linkedin") == 1.0);
    rules_free(r);
}

/* The worked example of docs/rules.md, verbatim, and its table of points. */
static void test_docs_example(void **state)
{
    (void)state;
    static const char doc[] =
        "{\n"
        "  \"activities\": {\n"
        "    \"post\": {\"points\": 10, \"daily_cap\": 3},\n"
        "    \"article\": {\"points\": 25, \"daily_cap\": 1},\n"
        "    \"reply\": {\"points\": 3, \"daily_cap\": 10},\n"
        "    \"stakeholder_interaction\": {\"points\": 15, \"daily_cap\": 5}\n"
        "  },\n"
        "  \"multipliers\": {\n"
        "    \"channel\": {\"linkedin\": 1.5, \"intranet\": 0.5},\n"
        "    \"stakeholder\": {\"customer\": 2, \"investor\": 2}\n"
        "  },\n"
        "  \"challenges\": [\n"
        "    {\"id\": \"weekly\", \"name\": \"Weekly social\", \"period\": \"week\",\n"
        "     \"timezone\": \"Europe/London\", \"week_starts\": \"monday\", \"grace\": \"15m\",\n"
        "     \"activities\": [\"post\", \"article\", \"reply\", \"stakeholder_interaction\"]},\n"
        "    {\"id\": \"q4-stakeholders\", \"name\": \"Q4 stakeholder sprint\", \"period\": "
        "\"fixed\",\n"
        "     \"starts\": \"2026-10-01T00:00:00Z\", \"ends\": \"2027-01-01T00:00:00Z\",\n"
        "     \"activities\": [\"stakeholder_interaction\"], \"scoring\": \"count\"}\n"
        "  ]\n"
        "}\n";
    static const points_case cases[] = {
        {"post", NULL, NULL, 10},
        {"post", "linkedin", NULL, 15},
        {"reply", "intranet", NULL, 2},
        {"stakeholder_interaction", NULL, "customer", 30},
        {"stakeholder_interaction", "linkedin", "investor", 45},
    };
    errlist errs = {0};
    rules *r = rules_parse(doc, strlen(doc), &errs);
    if (r == NULL)
        dump("docs example refused", &errs);
    assert_non_null(r);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int a = rules_activity_index(r, cases[i].activity);
        assert_true(a >= 0);
        assert_int_equal(rules_points(r, (size_t)a, cases[i].channel, cases[i].stakeholder),
                         cases[i].want);
    }
    int si = rules_activity_index(r, "stakeholder_interaction");
    assert_true(r->challenges[0].counts[si] && r->challenges[1].counts[si]);
    assert_false(r->challenges[1].counts[rules_activity_index(r, "post")]);
    rules_free(r);
}

/* examples/rules.json is valid and uses the whole language. */
static void test_examples_file(void **state)
{
    (void)state;
    char path[4096];
    const char *slash = strrchr(__FILE__, '/');
    assert_non_null(slash); /* CMake compiles with absolute paths */
    snprintf(path, sizeof(path), "%.*s/../../examples/rules.json", (int)(slash - __FILE__),
             __FILE__);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        print_error("cannot open %s\n", path);
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_true(n > 0 && n < sizeof(buf));

    errlist errs = {0};
    rules *r = rules_parse(buf, n, &errs);
    if (r == NULL)
        dump("examples/rules.json refused", &errs);
    assert_non_null(r);
    assert_int_equal(r->n_challenges, 4);
    assert_int_equal(r->challenges[0].period.kind, PERIOD_WEEK);
    assert_int_equal(r->challenges[1].period.kind, PERIOD_MONTH);
    assert_int_equal(r->challenges[2].period.kind, PERIOD_FIXED);
    assert_int_equal(r->challenges[3].period.kind, PERIOD_ALL);
    assert_true(r->activities[2].cooldown == 120 && r->first_of_day == 2 && r->streak_days == 5);
    assert_int_equal(r->n_campaigns, 1);
    assert_int_equal(r->challenges[0].n_goals, 1);
    rules_free(r);
    errlist_clear(&errs);
}

/* Hand-built rules beyond the validated ranges saturate instead of overflowing. */
static void test_points_saturate(void **state)
{
    (void)state;
    static rules r; /* large: keep it off the stack */
    rules_factor f = {.name = "big", .factor = 1e300};
    memset(&r, 0, sizeof(r));
    r.n_activities = 3;
    r.activities[0].points = 1e10;
    r.activities[1].points = -1e10;
    r.activities[2].points = NAN;
    r.channel = &f;
    r.n_channel = 1;
    assert_int_equal(rules_points(&r, 0, NULL, NULL), INT64_C(10000000000));
    assert_int_equal(rules_points(&r, 0, "big", NULL), INT64_MAX);
    assert_int_equal(rules_points(&r, 1, "big", NULL), INT64_MIN);
    assert_int_equal(rules_points(&r, 2, NULL, NULL), 0);
    rules_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),       cmocka_unit_test(test_id_list_limits),
        cmocka_unit_test(test_defaults_and_edges), cmocka_unit_test(test_digest_at),
        cmocka_unit_test(test_single_errors),      cmocka_unit_test(test_typo),
        cmocka_unit_test(test_many_errors),        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_bad_text),           cmocka_unit_test(test_points),
        cmocka_unit_test(test_points_saturate),    cmocka_unit_test(test_docs_example),
        cmocka_unit_test(test_examples_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
